"""Mode ``worker_wait``: FlyteOperator(deferrable=False) polls inside the worker until the end."""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(**CONFIG.dag_kwargs("fanout_bench_worker_wait")):
    FlyteOperator.partial(task_id="flyte", deferrable=False, **CONFIG.flyte_kwargs()).expand(
        inputs=CONFIG.inputs()
    )
