"""Fan-out: one Flyte launch plan mapped over many inputs with dynamic task mapping.

Each mapped task instance launches its own execution (named from its map index, so retries of one
instance never touch another) and waits for it; with ``deferrable=True`` the waits cost no worker
slots. ``fetch_outputs=True`` returns each execution's outputs, which the last task summarises.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from flyte_async_provider.operators.flyte import FlyteOperator

LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"

with DAG(
    dag_id="example_flyte_fanout",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    dagrun_timeout=timedelta(minutes=60),
    catchup=False,
    tags=["example", "flyte"],
    params={"seeds": 4},
) as dag:

    @task
    def training_inputs(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One input dict per seed; the mapped operator launches one execution each."""
        seeds = int((params or {}).get("seeds", 4))
        return [{"test_split_ratio": 0.33, "seed": seed} for seed in range(seeds)]

    train = FlyteOperator.partial(
        task_id="train",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name=LAUNCH_PLAN,
        fetch_outputs=True,
        poll_interval=5,
        retries=2,
        retry_delay=timedelta(seconds=30),
    ).expand(inputs=training_inputs())

    @task
    def best_accuracy(results: Any) -> float:
        """Pick the best score across the mapped executions (``results``: their outputs, lazily)."""
        return max(float(r["accuracy"]) for r in results)

    best_accuracy(train.output)
