"""Deferred FlyteOperator tasks that end on the triggerer, and one that must resume on a worker.

``flyte_end`` (plain outputs, nothing that needs a worker): the trigger pushes the outputs and ends the
task. ``flyte_callback`` has an on_success_callback, which Airflow only runs on a worker: it resumes there.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from flyte_async_provider.operators.flyte import FlyteOperator

COMMON: dict[str, Any] = {
    "flyte_conn_id": "flyte_default",
    "project": "flytesnacks",
    "domain": "development",
    "launchplan_name": "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
    "inputs": {"test_split_ratio": 0.5, "seed": 9},
    "poll_interval": 1,
    "deferrable": True,
}


def _print_success(context: Any) -> None:
    print(f"on_success_callback ran for {context['ti'].task_id}")


with DAG(dag_id="e2e_end_from_trigger", schedule=None, catchup=False, tags=["e2e"]) as dag:
    end = FlyteOperator(task_id="flyte_end", fetch_outputs=True, **COMMON)
    FlyteOperator(task_id="flyte_callback", on_success_callback=_print_success, **COMMON)

    @task
    def downstream(outputs: Any) -> Any:
        if not isinstance(outputs, dict):
            raise TypeError(f"expected the Flyte outputs as a dict, got {outputs!r}")
        return sorted(outputs)

    downstream(end.output)
