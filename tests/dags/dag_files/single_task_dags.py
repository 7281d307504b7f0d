"""Test-only airflow DAG: FlyteOperator(task_name=...) runs registered tasks as single-task executions."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator
from flyte_async_provider.sensors.flyte import FlyteSensor

MODULE = "ml_training.pima_diabetes.diabetes"  # the bundled example's tasks, as the emulator registers them

with DAG(
    dag_id="flyte_single_task",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["test"],
) as dag:
    fit = FlyteOperator(
        task_id="fit",
        project="flytesnacks",
        domain="development",
        task_name=f"{MODULE}.fit_and_score",
        inputs={"train_rows": 514, "seed": 5},
        fetch_outputs=True,
        poll_interval=0.05,
    )
    split = FlyteOperator(
        task_id="split",
        project="flytesnacks",
        domain="development",
        task_name=f"{MODULE}.split_traintest_dataset",
        version="v1",
        inputs={"test_split_ratio": 0.33},
        poll_interval=0.05,
    )
    sensor = FlyteSensor(
        task_id="sensor",
        execution_name=split.output,
        project="flytesnacks",
        domain="development",
        poke_interval=0.05,
    )
    split >> sensor
