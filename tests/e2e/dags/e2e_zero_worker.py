"""Zero-worker FlyteOperator tasks (``start_from_trigger=True``): submitted, watched, ended on the triggerer.

Task ids give the execution names' prefixes (``zero-ok-<digest>-1``...), which the e2e test scripts in
the emulator. ``render_template_as_native_obj`` makes the templated seed an int on the triggerer too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, task

from flyte_async_provider.operators.flyte import FlyteOperator

COMMON: dict[str, Any] = {
    "flyte_conn_id": "flyte_default",
    "project": "flytesnacks",
    "domain": "development",
    "launchplan_name": "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
    "poll_interval": 1,
    "start_from_trigger": True,
}

with DAG(
    dag_id="e2e_zero_worker",
    schedule=None,
    catchup=False,
    render_template_as_native_obj=True,
    tags=["e2e"],
) as dag:
    ok = FlyteOperator(
        task_id="zero_ok",
        inputs={"test_split_ratio": 0.5, "seed": "{{ dag_run.conf.get('seed', 1) }}"},
        labels={"run": "{{ dag_run.conf.get('label', 'none') }}"},
        fetch_outputs=True,
        **COMMON,
    )
    FlyteOperator(task_id="zero_fail", inputs={"test_split_ratio": 0.5, "seed": 2}, **COMMON)
    FlyteOperator(task_id="zero_kill", inputs={"test_split_ratio": 0.5, "seed": 3}, **COMMON)
    FlyteOperator(task_id="zero_restart", inputs={"test_split_ratio": 0.5, "seed": 4}, **COMMON)
    FlyteOperator(
        task_id="zero_timeout",
        inputs={"test_split_ratio": 0.5, "seed": 5},
        execution_timeout=timedelta(seconds=25),
        **COMMON,
    )

    # Mapped over literals: every map index starts on the triggerer with its own inputs (the second
    # one templated, rendered there natively), no worker at all.
    FlyteOperator.partial(task_id="zero_mapped", **COMMON).expand(
        inputs=[
            {"test_split_ratio": 0.5, "seed": 6},
            {"test_split_ratio": 0.5, "seed": "{{ dag_run.conf.get('seed', 1) + 1 }}"},
        ]
    )

    @task
    def seeds() -> list[dict[str, Any]]:
        return [{"test_split_ratio": 0.5, "seed": seed} for seed in (7, 9)]

    @task
    def one_seed(seed: int) -> dict[str, Any]:
        return {"test_split_ratio": 0.5, "seed": seed}

    def same(inputs: dict[str, Any]) -> dict[str, Any]:
        return inputs

    # Mapped over an upstream task's XCom: the trigger reads it through the triggerer, still no worker.
    FlyteOperator.partial(task_id="zero_mapped_xcom", **COMMON).expand(inputs=seeds())
    # Over a mapped upstream's XComs (Airflow 3.3.2's triggerer cannot read those), or .map() of an
    # XCom (Airflow applies the function on a worker): the ordinary deferrable path, one worker run
    # (the submit), then it ends on the triggerer.
    FlyteOperator.partial(task_id="zero_mapped_upmapped", **COMMON).expand(
        inputs=one_seed.expand(seed=[13, 14])
    )
    FlyteOperator.partial(task_id="zero_mapped_fn", **COMMON).expand(inputs=seeds().map(same))

    @task
    def downstream(outputs: Any) -> Any:
        """Reads the zero-worker task's outputs as a worker would, typed (not JSON strings)."""
        if not isinstance(outputs, dict):
            raise TypeError(f"expected the Flyte outputs as a dict, got {outputs!r}")
        return sorted(outputs)

    downstream(ok.output)


with DAG(dag_id="e2e_zero_submit_restart", schedule=None, catchup=False, tags=["e2e"]):
    # The triggerer is killed while this task's CreateExecution is in flight (the test slows it down).
    FlyteOperator(task_id="zero_submit_restart", inputs={"test_split_ratio": 0.5, "seed": 8}, **COMMON)


with DAG(dag_id="e2e_zero_orphan", schedule=None, catchup=False, tags=["e2e"]):
    # Map index 0 is marked failed while no triggerer runs: only the API server can terminate it.
    FlyteOperator.partial(task_id="zero_orphan", **COMMON).expand(
        inputs=[{"test_split_ratio": 0.5, "seed": 15}, {"test_split_ratio": 0.5, "seed": 16}]
    )
