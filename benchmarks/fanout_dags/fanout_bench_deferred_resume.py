"""Mode ``deferred_resume``: FlyteOperator(deferrable=True, finish_on_triggerer=False), the previous release.

A submit run on a worker, then a resume run (``execute_complete``) on a worker after the trigger fires.
"""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(**CONFIG.dag_kwargs("fanout_bench_deferred_resume")):
    FlyteOperator.partial(
        task_id="flyte", deferrable=True, finish_on_triggerer=False, **CONFIG.flyte_kwargs()
    ).expand(inputs=CONFIG.inputs())
