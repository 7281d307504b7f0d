"""Mode ``trivial_task``: N mapped ``@task`` functions returning a number (the floor of a worker run)."""

from __future__ import annotations

from airflow.sdk import DAG, task
from fanout_bench_common import CONFIG

with DAG(**CONFIG.dag_kwargs("fanout_bench_trivial_task")):

    @task
    def trivial(x: int) -> int:
        return x

    trivial.expand(x=list(range(CONFIG.n)))
