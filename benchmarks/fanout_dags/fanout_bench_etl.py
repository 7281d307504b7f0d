"""The concurrent ETL DAG: 8 small independent tasks of ~1 s each, triggered during a fan-out."""

from __future__ import annotations

import time

from airflow.sdk import DAG, task
from fanout_bench_common import START_DATE

ETL_TASKS = 8

with DAG(
    dag_id="fanout_bench_etl",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_tasks=ETL_TASKS,
    tags=["benchmark"],
):

    @task
    def step() -> None:
        time.sleep(1)

    for i in range(ETL_TASKS):
        step.override(task_id=f"step_{i}")()
