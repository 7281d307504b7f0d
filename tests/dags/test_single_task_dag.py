"""dag.test() of FlyteOperator(task_name=...) against the emulator: single-task executions end to end.

Same fixtures as test_example_dags.py (``flyte``: the emulator behind ``flyte_default``); both waiting
modes (in the worker, and deferred: dag.test runs the trigger inline).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import FlyteConfigError, FlyteExecutionFailedError
from flyte_async_provider.phases import ExecutionPhase
from support.flyte import DOMAIN, PROJECT

MODE = ["worker", "deferrable"]
MODULE = "ml_training.pima_diabetes.diabetes"
TASK = 1  # flyteidl core.ResourceType.TASK


def _load_dag(monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[Any, dict[str, BaseException]]:
    """The DAG file's DAG, in the chosen waiting mode, remembering each task's exception."""
    path = Path(__file__).parent / "dag_files" / "single_task_dags.py"
    spec = importlib.util.spec_from_file_location("single_task_dags_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    errors: dict[str, BaseException] = {}

    def remember(context: Any) -> None:
        errors[context["ti"].task_id] = context["exception"]

    for task in dag.task_dict.values():
        if hasattr(task, "deferrable"):
            monkeypatch.setattr(task, "deferrable", mode == "deferrable")
        monkeypatch.setattr(task, "on_failure_callback", [remember])
    return dag, errors


def _xcom(dr: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dr.dag_id, run_id=dr.run_id, task_id=task_id, key="return_value")
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


@pytest.mark.parametrize("mode", MODE)
def test_task_name_operator_runs_a_single_task_execution(
    flyte: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    flyte.script(
        Outcome.succeed(outputs={"accuracy": 0.81, "n_estimators": 40}),
        Advance.after_reads(1),
        launch_plan=f"{MODULE}.fit_and_score",  # scripted by launch plan name = the task name
    )
    dag, errors = _load_dag(monkeypatch, mode)
    dr = dag.test()
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert dr.state == "success", errors
    assert states == {"fit": "success", "split": "success", "sensor": "success"}
    assert _xcom(dr, "fit") == {"accuracy": 0.81, "n_estimators": 40}  # fetch_outputs: the task's outputs

    executions = {n: flyte.execution(PROJECT, DOMAIN, n) for n in flyte.backend.names(PROJECT, DOMAIN)}
    assert len(executions) == 2
    launched = {ex.spec.launch_plan.name: ex for ex in executions.values()}
    assert set(launched) == {f"{MODULE}.fit_and_score", f"{MODULE}.split_traintest_dataset"}
    for name, ex in launched.items():
        assert ex.spec.launch_plan.resource_type == TASK
        assert ex.closure.workflow_id.name == f".flytegen.{name}"
        assert ex.closure.phase == ExecutionPhase.SUCCEEDED
    split_name = launched[f"{MODULE}.split_traintest_dataset"].id.name
    assert _xcom(dr, "split") == split_name
    assert _xcom(dr, "sensor") == split_name
    assert flyte.counters()["CreateExecution"] == 2


@pytest.mark.parametrize("mode", MODE)
def test_task_name_operator_sees_the_task_fail(
    flyte: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    flyte.script(
        Outcome.fail("ValueError: test_split_ratio must be within (0, 1)", code="USER:ValueError"),
        Advance.after_reads(1),
        launch_plan=f"{MODULE}.split_traintest_dataset",
    )
    dag, errors = _load_dag(monkeypatch, mode)
    dr = dag.test()
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert dr.state == "failed"
    assert states == {"fit": "success", "split": "failed", "sensor": "upstream_failed"}
    error = errors["split"]
    assert isinstance(error, FlyteExecutionFailedError)
    assert "test_split_ratio must be within (0, 1)" in str(error)


def test_task_name_operator_bad_input_submits_nothing(flyte: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dag, errors = _load_dag(monkeypatch, "worker")
    monkeypatch.setattr(dag.task_dict["fit"], "inputs", {"train_rows": "many", "seed": 5})
    dr = dag.test()
    assert dr.state == "failed"
    assert isinstance(errors["fit"], FlyteConfigError)
    assert "train_rows" in str(errors["fit"])
    assert all(
        not ex.spec.launch_plan.name.endswith("fit_and_score")
        for ex in (flyte.execution(PROJECT, DOMAIN, n) for n in flyte.backend.names(PROJECT, DOMAIN))
    )
