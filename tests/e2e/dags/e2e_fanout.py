"""Scenario 2: 20 mapped FlyteOperator tasks wait on executions that hang (until the test completes them).

Task id ``fanout_hang`` -> execution names ``fanout-hang-<digest>-1``, matched by the emulator's script.
"""

from __future__ import annotations

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator

with DAG(dag_id="e2e_fanout", schedule=None, catchup=False, max_active_tasks=32, tags=["e2e"]) as dag:
    FlyteOperator.partial(
        task_id="fanout_hang",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        poll_interval=2,
    ).expand(inputs=[{"test_split_ratio": 0.5, "seed": seed} for seed in range(20)])
