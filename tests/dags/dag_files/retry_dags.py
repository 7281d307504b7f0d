"""Test-only airflow DAG: a FlyteOperator whose worker "dies" on the first try after submitting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator


class WorkerDied(Exception):
    """Stands for the worker process being killed while the Flyte execution keeps running."""


class DiesOnFirstTry(FlyteOperator):
    """Submits (name stored in task_state_store), then dies before waiting, on try 1 only."""

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        if context["ti"].try_number == 1:
            raise WorkerDied(f"worker lost while {external_id} runs")
        return super().poll_until_complete(external_id, context)


with DAG(
    dag_id="flyte_retry_reattach",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["test"],
) as dag:
    DiesOnFirstTry(
        task_id="train",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        inputs={"test_split_ratio": 0.66, "seed": 5},
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
