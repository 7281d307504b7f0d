"""A deferred FlyteOperator as the quickstart runs it: what a new user reads in its log.

``first_watch`` is run right after a triggerer (re)start (cold) and again (warm) to time the first
status read; its executions hang until the test completes them.
"""

from __future__ import annotations

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(dag_id="e2e_first_hour", schedule=None, catchup=False, tags=["e2e"]) as dag:
    FlyteOperator(
        task_id="first_watch",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        inputs={"test_split_ratio": 0.66, "seed": 5},
        deferrable=True,
    )
