"""Mode ``zero_worker``: FlyteOperator.partial(start_from_trigger=True).expand(...), no worker at all.

Every map index starts on the triggerer, which expands its own (literal) inputs there
(``FlyteMappedLaunchTrigger``), submits, watches and ends the task.
"""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(**CONFIG.dag_kwargs("fanout_bench_zero_worker")):
    FlyteOperator.partial(task_id="flyte", start_from_trigger=True, **CONFIG.flyte_kwargs()).expand(
        inputs=CONFIG.inputs()
    )
