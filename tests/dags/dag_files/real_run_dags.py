"""Test-only DAG: FlyteOperator runs a workflow whose code the emulator really executes.

The launch plan ``support.workflows.needs_input`` (tests/support/workflows.py: ``n * 2``) is registered
by the test, which also opts its executions into real runs; ``fetch_outputs=True`` returns the
computed outputs, and the downstream task checks the value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from flyte_async_provider.operators.flyte import FlyteOperator

LAUNCH_PLAN = "support.workflows.needs_input"

with DAG(
    dag_id="flyte_real_run",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["test"],
) as dag:
    compute = FlyteOperator(
        task_id="compute",
        project="flytesnacks",
        domain="development",
        launchplan_name=LAUNCH_PLAN,
        inputs={"n": 21},
        fetch_outputs=True,
        poll_interval=0.05,
    )

    @task
    def check(outputs: dict[str, Any]) -> int:
        if outputs != {"o0": 42}:
            raise ValueError(f"expected the computed 21 * 2, got {outputs!r}")
        return int(outputs["o0"])

    check(compute.output)
