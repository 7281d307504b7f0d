"""The example DAGs under dag.test() against the emulator: success, Flyte failure, abort, bad input, fan-out.

Each scenario runs in both waiting modes: in the worker, and deferred (dag.test runs the trigger inline).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import (
    FlyteConfigError,
    FlyteExecutionAbortedError,
    FlyteExecutionDeadlineError,
    FlyteExecutionFailedError,
)
from flyte_async_provider.links.flyte import XCOM_CONSOLE_URL_KEY
from flyte_async_provider.phases import ExecutionPhase
from support.flyte import DOMAIN, GOOD_INPUTS, PROJECT
from support.waits import wait_for

MODES = ["worker", "deferrable"]


def _dag(dag_id: str) -> Any:
    from airflow.sdk.definitions.dag import DAG

    if dag_id == "example_flyte":
        from flyte_async_provider.example_dags.example_flyte import dag
    elif dag_id == "example_flyte_fanout":
        from flyte_async_provider.example_dags.example_flyte_fanout import dag
    else:
        import importlib.util
        from pathlib import Path

        path = Path(__file__).parent / "dag_files" / "retry_dags.py"
        spec = importlib.util.spec_from_file_location("retry_dags_under_test", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = module.dag
    assert isinstance(dag, DAG)
    return dag


class Run:
    """dag.test() with chosen waiting mode; remembers each task's exception."""

    def __init__(self, dag: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dag = dag
        self.errors: dict[str, BaseException] = {}
        deferrable = mode == "deferrable"
        for task in dag.task_dict.values():
            if hasattr(task, "partial_kwargs"):  # mapped FlyteOperator
                monkeypatch.setitem(task.partial_kwargs, "deferrable", deferrable)
                monkeypatch.setitem(task.partial_kwargs, "poll_interval", 0.05)
                continue
            if hasattr(task, "deferrable"):
                monkeypatch.setattr(task, "deferrable", deferrable)
            if hasattr(task, "poll_interval"):
                monkeypatch.setattr(task, "poll_interval", 0.05)
            if hasattr(task, "poke_interval"):
                monkeypatch.setattr(task, "poke_interval", 0.05)
            monkeypatch.setattr(task, "on_failure_callback", [self._remember])

    def _remember(self, context: Any) -> None:
        self.errors[context["ti"].task_id] = context["exception"]

    def __call__(self, **kwargs: Any) -> Any:
        dr = self.dag.test(**kwargs)
        self.states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
        self.tis = {ti.task_id: ti for ti in dr.get_task_instances()}
        return dr


def _xcom(dr: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dr.dag_id, run_id=dr.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture
def seed_dag() -> Any:
    return _dag("example_flyte")


@pytest.mark.parametrize("mode", MODES)
def test_seed_dag_succeeds(flyte: Any, seed_dag: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    run = Run(seed_dag, mode, monkeypatch)
    dr = run()
    assert dr.state == "success", run.errors
    assert run.states == {"diabetes_predictions": "success", "sensor": "success"}
    (name,) = flyte.backend.names(PROJECT, DOMAIN)
    assert _xcom(dr, "diabetes_predictions") == name
    assert _xcom(dr, "sensor") == name
    assert _xcom(dr, "diabetes_predictions", XCOM_CONSOLE_URL_KEY).endswith(f"/executions/{name}")
    spec = flyte.execution(PROJECT, DOMAIN, name).spec
    assert spec.launch_plan.name == "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
    assert flyte.counters()["CreateExecution"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_seed_dag_flyte_failure(
    flyte: Any, seed_dag: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flyte.set_default(
        Outcome.fail("XGBoostError: label must be in [0,1]", code="USER:XGB"), Advance.after_reads(1)
    )
    run = Run(seed_dag, mode, monkeypatch)
    dr = run()
    assert dr.state == "failed"
    assert run.states == {"diabetes_predictions": "failed", "sensor": "upstream_failed"}
    error = run.errors["diabetes_predictions"]
    assert isinstance(error, FlyteExecutionFailedError)
    assert "XGBoostError: label must be in [0,1] [USER:XGB, USER]" in str(error)
    assert error.console_url
    assert error.console_url in str(error)


def _abort_when_launched(emulator: Any, principal: str, cause: str) -> threading.Thread:
    """Another Flyte user stops the execution once it exists (bounded wait)."""

    def stop() -> None:
        names = wait_for(lambda: emulator.backend.names(PROJECT, DOMAIN), 60, what="an execution launched")
        emulator.terminate(PROJECT, DOMAIN, names[0], cause=cause, principal=principal)

    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", MODES)
def test_seed_dag_flyte_abort(flyte: Any, seed_dag: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flyte.set_default(Outcome.hang(), Advance.after_reads(1))
    stopper = _abort_when_launched(flyte, "ops@example.com", "cluster maintenance")
    run = Run(seed_dag, mode, monkeypatch)
    dr = run()
    stopper.join(5)
    assert dr.state == "failed"
    error = run.errors["diabetes_predictions"]
    assert isinstance(error, FlyteExecutionAbortedError)
    assert "aborted by ops@example.com: cluster maintenance" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_seed_dag_bad_input_submits_nothing(
    flyte: Any, seed_dag: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(seed_dag, mode, monkeypatch)
    monkeypatch.setattr(seed_dag.task_dict["diabetes_predictions"], "inputs", {**GOOD_INPUTS, "seed": "five"})
    dr = run()
    assert dr.state == "failed"
    error = run.errors["diabetes_predictions"]
    assert isinstance(error, FlyteConfigError)
    assert "input 'seed'='five'" in str(error)
    assert flyte.counters().get("CreateExecution", 0) == 0


@pytest.mark.parametrize("mode", MODES)
def test_execution_timeout_terminates_the_execution(
    flyte: Any, seed_dag: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime

    flyte.set_default(Outcome.hang(), Advance.after_reads(1))
    run = Run(seed_dag, mode, monkeypatch)
    monkeypatch.setattr(
        seed_dag.task_dict["diabetes_predictions"], "execution_timeout", datetime.timedelta(seconds=1)
    )
    dr = run()
    assert dr.state == "failed"
    error = run.errors["diabetes_predictions"]
    assert isinstance(error, FlyteExecutionDeadlineError), error
    (name,) = flyte.backend.names(PROJECT, DOMAIN)
    assert flyte.execution(PROJECT, DOMAIN, name).closure.phase in (
        ExecutionPhase.ABORTING,
        ExecutionPhase.ABORTED,
    )


@pytest.mark.parametrize("mode", MODES)
def test_fanout_dag_maps_one_launch_plan_over_inputs(
    flyte: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyteidl.core.identifier_pb2 import WorkflowExecutionIdentifier

    flyte.set_default(Outcome.succeed({"accuracy": 0.8, "n_estimators": 10}), Advance.after_reads(1))
    run = Run(_dag("example_flyte_fanout"), mode, monkeypatch)
    dr = run(run_conf={"seeds": 3})
    assert dr.state == "success", run.errors
    names = flyte.backend.names(PROJECT, DOMAIN)
    assert len(names) == 3
    assert flyte.counters()["CreateExecution"] == 3
    seeds = {
        flyte.backend.get_execution_data(WorkflowExecutionIdentifier(project=PROJECT, domain=DOMAIN, name=n))
        .full_inputs.literals["seed"]
        .scalar.primitive.integer
        for n in names
    }
    assert seeds == {0, 1, 2}
    assert _xcom(dr, "best_accuracy") == 0.8  # outputs travelled through XCom as plain values


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_worker_death_reattaches(flyte: Any, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(2))
    run = Run(_dag("flyte_retry_reattach"), mode, monkeypatch)
    dr = run()
    assert dr.state == "success", run.errors
    assert run.tis["train"].try_number == 2
    (name,) = flyte.backend.names(PROJECT, DOMAIN)
    assert name.endswith("-1")  # try 1's execution, re-attached by try 2
    assert flyte.counters()["CreateExecution"] == 1
    assert _xcom(dr, "train") == name


def test_a_task_ended_by_the_trigger_still_succeeds_under_dag_test(
    flyte: Any, seed_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing to push (do_xcom_push=False) the trigger ends the task; dag.test() then resumes it
    with ``event="success"`` anyway, and execute_complete must read the execution back from XCom."""
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    # Only the operator: the seed DAG's sensor reads the return value, which is not pushed here.
    dag = seed_dag.partial_subset(["diabetes_predictions"], include_downstream=False, include_upstream=False)
    run = Run(dag, "deferrable", monkeypatch)
    monkeypatch.setattr(dag.task_dict["diabetes_predictions"], "do_xcom_push", False)
    dr = run()
    assert dr.state == "success", run.errors
    assert run.states == {"diabetes_predictions": "success"}
    (name,) = flyte.backend.names(PROJECT, DOMAIN)
    assert _xcom(dr, "diabetes_predictions", "flyte_execution_name") == name
    assert _xcom(dr, "diabetes_predictions") is None
