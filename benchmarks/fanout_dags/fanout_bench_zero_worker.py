"""Mode ``zero_worker``: N unmapped FlyteOperator(start_from_trigger=True) tasks, started on the triggerer.

Unmapped because Airflow 3.3.2 cannot start mapped task instances on the triggerer with their own
arguments (a mapped ``start_from_trigger`` FlyteOperator runs the ordinary deferrable path; see
docs/operators.md); a loop over the inputs is how a DAG author gets the zero-worker fan-out today.
"""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(**CONFIG.dag_kwargs("fanout_bench_zero_worker")):
    for index, inputs in enumerate(CONFIG.inputs()):
        FlyteOperator(
            task_id=f"flyte_{index}", start_from_trigger=True, inputs=inputs, **CONFIG.flyte_kwargs()
        )
