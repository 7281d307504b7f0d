"""Shared settings of the fan-out benchmark's DAGs (``benchmarks/fanout.py`` copies this folder).

The benchmark passes N, the poll interval and the Flyte target to every Airflow component in the
``FANOUT_BENCH`` environment variable (JSON), so the DAG files stay static and every process that parses
them (dag-processor, workers) builds the same DAGs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ENV_VAR = "FANOUT_BENCH"
LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
START_DATE = datetime(2024, 1, 1)


@dataclass(frozen=True)
class BenchConfig:
    """What the benchmark decided: N mapped items, one poll/poke interval for every mode."""

    n: int = 4
    interval: float = 5.0
    project: str = "flytesnacks"
    domain: str = "development"
    conn_id: str = "flyte_default"

    @classmethod
    def from_env(cls) -> BenchConfig:
        data: dict[str, Any] = json.loads(os.environ.get(ENV_VAR) or "{}")
        return cls(**data)

    def inputs(self) -> list[dict[str, Any]]:
        """One Flyte input dict per mapped task instance."""
        return [{"test_split_ratio": 0.33, "seed": seed} for seed in range(self.n)]

    def flyte_kwargs(self) -> dict[str, Any]:
        """FlyteOperator arguments every mode shares."""
        return {
            "flyte_conn_id": self.conn_id,
            "project": self.project,
            "domain": self.domain,
            "launchplan_name": LAUNCH_PLAN,
            "poll_interval": self.interval,
        }

    def dag_kwargs(self, dag_id: str) -> dict[str, Any]:
        """DAG arguments: manual runs only, no per-DAG cap below the fan-out's width, and the same
        retries for every mode (the benchmark reports them): Airflow 3.3.2 fails a task whose next
        run was queued before the executor event of its previous run arrived (apache/airflow#67287),
        which the old reschedule pattern hits when a worker is slow to let go (see fanout.py)."""
        return {
            "dag_id": dag_id,
            "schedule": None,
            "start_date": START_DATE,
            "catchup": False,
            "max_active_tasks": max(64, 2 * self.n),
            "tags": ["benchmark"],
            "default_args": {"retries": 2, "retry_delay": timedelta(seconds=self.interval)},
        }


CONFIG = BenchConfig.from_env()
