"""Scenario 9: a user marks the deferred task failed while no triggerer runs (its trigger's only holder died).

Task id ``flyte_orphan`` -> execution names ``flyte-orphan-<digest>-1``, matched by the emulator's script.
"""

from __future__ import annotations

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(dag_id="e2e_orphan", schedule=None, catchup=False, tags=["e2e"]) as dag:
    FlyteOperator(
        task_id="flyte_orphan",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        inputs={"test_split_ratio": 0.5, "seed": 9},
        poll_interval=1,
    )
