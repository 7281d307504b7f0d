"""Mode ``zero_worker``: FlyteOperator(start_from_trigger=True), submitted and watched on the triggerer.

Until FlyteOperator accepts ``start_from_trigger`` this file fails to import (``partial()`` raises a
TypeError); the benchmark reports that instead of a figure.
"""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(**CONFIG.dag_kwargs("fanout_bench_zero_worker")):
    FlyteOperator.partial(task_id="flyte", start_from_trigger=True, **CONFIG.flyte_kwargs()).expand(
        inputs=CONFIG.inputs()
    )
