"""Scenario 7: ``execution_timeout`` shorter than the execution (which hangs).

Airflow does not enforce execution_timeout while a task is deferred; the operator carries it into the
trigger as an absolute deadline, and the trigger terminates the execution when it passes.
Task id ``flyte_timeout`` -> execution names ``flyte-timeout-<digest>-1``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(dag_id="e2e_timeout", schedule=None, catchup=False, tags=["e2e"]) as dag:
    FlyteOperator(
        task_id="flyte_timeout",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        inputs={"test_split_ratio": 0.5, "seed": 7},
        poll_interval=1,
        execution_timeout=timedelta(seconds=30),
    )
