"""The HA scenarios' DAG: a few zero-worker FlyteOperator tasks per run, started many runs at a time.

Few tasks per DAG on purpose: the triggerer deserializes a start-from-trigger task's whole DAG for each
trigger, so 1,000 triggers of one 1,000-task DAG would cost the triggerer a million task
deserializations; many runs of a 10-task DAG cost ten each. Each execution is named from its run and
task (``<run id>-t<k>``), so the tests know every name without asking Airflow.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator

TASKS_PER_RUN = 10
POLL_INTERVAL = float(os.environ.get("HA_POLL_INTERVAL", "5"))

with DAG(
    dag_id="ha_zero_worker",
    schedule=None,
    catchup=False,
    max_active_runs=1000,
    max_active_tasks=100_000,
    tags=["e2e", "ha"],
):
    for k in range(TASKS_PER_RUN):
        FlyteOperator(
            task_id=f"t{k}",
            flyte_conn_id="flyte_default",
            project="flytesnacks",
            domain="development",
            launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
            inputs={"test_split_ratio": 0.5, "seed": k},
            execution_name=f"{{{{ run_id }}}}-t{k}",
            poll_interval=POLL_INTERVAL,
            start_from_trigger=True,
        )
