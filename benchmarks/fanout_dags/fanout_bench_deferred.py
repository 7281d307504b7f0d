"""Mode ``deferred``: FlyteOperator(deferrable=True); the trigger ends the task on success."""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(**CONFIG.dag_kwargs("fanout_bench_deferred")):
    FlyteOperator.partial(task_id="flyte", deferrable=True, **CONFIG.flyte_kwargs()).expand(
        inputs=CONFIG.inputs()
    )
