"""The provider's example DAGs, exposed to the test Airflow's dags folder (airflow DAG file)."""

from flyte_async_provider.example_dags.example_flyte import dag as example_flyte
from flyte_async_provider.example_dags.example_flyte_fanout import dag as example_flyte_fanout

__all__ = ["example_flyte", "example_flyte_fanout"]
