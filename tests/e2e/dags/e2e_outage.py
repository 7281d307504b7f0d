"""Scenario 8: a 30 s Flyte Admin outage while 3 mapped tasks are deferred; all must resume.

Task id ``flyte_outage`` -> execution names ``flyte-outage-<digest>-1`` (phases advanced by the test).
"""

from __future__ import annotations

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(dag_id="e2e_outage", schedule=None, catchup=False, tags=["e2e"]) as dag:
    FlyteOperator.partial(
        task_id="flyte_outage",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        poll_interval=1,
    ).expand(inputs=[{"test_split_ratio": 0.5, "seed": seed} for seed in range(3)])
