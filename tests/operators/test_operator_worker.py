"""FlyteOperator driven directly (no Airflow DB) against the emulator: waiting, outcomes, kill, deadline."""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import Any

import pytest

from flyte_async_provider._compat import TaskDeferred
from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import (
    FlyteConfigError,
    FlyteExecutionAbortedError,
    FlyteExecutionDeadlineError,
    FlyteExecutionFailedError,
    FlyteNotFoundError,
)
from flyte_async_provider.links.flyte import XCOM_CONSOLE_URL_KEY, XCOM_EXECUTION_NAME_KEY, FlyteExecutionLink
from flyte_async_provider.operators.flyte import FlyteOperator
from flyte_async_provider.phases import ExecutionPhase
from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger
from support.airflow import FakeTI, make_context
from support.flyte import DOMAIN, GOOD_INPUTS, LAUNCH_PLAN, PROJECT
from support.waits import wait_for


def _op(**kwargs: Any) -> FlyteOperator:
    kwargs.setdefault("task_id", "train")
    kwargs.setdefault("launchplan_name", LAUNCH_PLAN)
    kwargs.setdefault("inputs", dict(GOOD_INPUTS))
    kwargs.setdefault("poll_interval", 0.05)
    return FlyteOperator(**kwargs)


def _wait_for_execution(emulator: Any, timeout: float = 30.0) -> str:
    """Bounded wait until the operator (in another thread) has created its execution."""
    names = wait_for(lambda: emulator.backend.names(PROJECT, DOMAIN), timeout, what="an execution created")
    return str(names[0])


def test_waits_in_the_worker_and_returns_the_name_with_link_and_xcom(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    ti = FakeTI(task_id="train")
    op = _op()
    name = op.execute(make_context(ti))
    assert name == ti.xcoms[XCOM_EXECUTION_NAME_KEY]
    url = ti.xcoms[XCOM_CONSOLE_URL_KEY]
    assert url.endswith(f"/console/projects/{PROJECT}/domains/{DOMAIN}/executions/{name}")
    assert FlyteExecutionLink().get_link(op, ti_key=ti) == url  # type: ignore[arg-type]
    assert flyte.execution(PROJECT, DOMAIN, name).closure.phase == ExecutionPhase.SUCCEEDED
    assert flyte.counters()["CreateExecution"] == 1


def test_fetch_outputs_returns_plain_values(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed({"accuracy": 0.87, "n_estimators": 120}), Advance.after_reads(1))
    result = _op(fetch_outputs=True).execute(make_context())
    assert result == {"accuracy": 0.87, "n_estimators": 120}
    json.dumps(result)


def test_fire_and_forget_like_0_0_5(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.manual())
    name = _op(wait_for_completion=False).execute(make_context())
    assert flyte.execution(PROJECT, DOMAIN, name).closure.phase == ExecutionPhase.UNDEFINED  # nobody waited


def test_flyte_failure_raises_typed_error_with_flyte_text_and_url(flyte: Any) -> None:
    flyte.set_default(Outcome.fail("ValueError: bad split", code="USER:ValueError"), Advance.after_reads(1))
    with pytest.raises(FlyteExecutionFailedError) as err:
        _op().execute(make_context())
    assert "ValueError: bad split" in str(err.value)
    assert err.value.phase == "FAILED"
    assert err.value.console_url in str(err.value)


def test_deferrable_defers_with_primitive_kwargs_and_a_deadline(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.manual())
    ti = FakeTI(task_id="train", map_index=3)
    op = _op(deferrable=True, execution_timeout=datetime.timedelta(minutes=10), poll_interval=12)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, FlyteExecutionTrigger)
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "flyte_async_provider.triggers.flyte.FlyteExecutionTrigger"
    json.dumps(kwargs)  # primitives only, and no credentials: only the conn id
    assert kwargs["conn_id"] == "flyte_default"
    assert kwargs["execution_name"] == ti.xcoms[XCOM_EXECUTION_NAME_KEY]
    assert kwargs["poll_interval"] == 12.0
    assert kwargs["map_index"] == 3
    assert before + 600 <= kwargs["deadline"] <= time.time() + 600
    assert XCOM_CONSOLE_URL_KEY in ti.xcoms  # the link works while deferred


def test_deferrable_finishes_at_once_if_already_over(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_seconds(0))
    assert _op(deferrable=True).execute(make_context())


def test_resume_on_a_fresh_instance(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed({"accuracy": 0.5, "n_estimators": 1}), Advance.after_seconds(0))
    name = _op(wait_for_completion=False).execute(make_context())
    event = {"status": "success", "phase": "SUCCEEDED", "execution": name, "console_url": "http://c/x"}
    assert _op(deferrable=True).execute_complete(make_context(), event) == name
    assert _op(deferrable=True, fetch_outputs=True).execute_complete(make_context(), event) == {
        "accuracy": 0.5,
        "n_estimators": 1,
    }
    aborted = {
        "status": "aborted",
        "phase": "ABORTED",
        "execution": name,
        "console_url": "http://c/x",
        "abort_cause": "cleanup",
        "abort_principal": "alice",
    }
    with pytest.raises(FlyteExecutionAbortedError, match="aborted by alice: cleanup") as err:
        _op(deferrable=True).execute_complete(make_context(), aborted)
    assert "http://c/x" in str(err.value)


def test_execution_timeout_in_the_worker_terminates_and_raises_deadline(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.after_reads(1))
    op = _op(execution_timeout=datetime.timedelta(seconds=0.3))
    with pytest.raises(FlyteExecutionDeadlineError, match="execution_timeout") as err:
        op.execute(make_context())
    execution = flyte.execution(PROJECT, DOMAIN, err.value.execution)
    assert execution.closure.phase in (ExecutionPhase.ABORTING, ExecutionPhase.ABORTED)
    assert "execution_timeout" in execution.closure.abort_metadata.cause


@pytest.mark.parametrize("terminate_on_kill", [True, False])
def test_on_kill_terminates_the_execution_only_when_asked(flyte: Any, terminate_on_kill: bool) -> None:
    flyte.set_default(Outcome.hang(), Advance.after_reads(1))
    op = _op(terminate_on_kill=terminate_on_kill)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(make_context())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    name = _wait_for_execution(flyte)
    wait_for(lambda: op.console_url is not None, 30, what="the console URL pushed")
    try:
        op.on_kill()
    finally:
        if worker.is_alive() and terminate_on_kill:
            worker.join(30)
        if worker.is_alive() and terminate_on_kill:  # make sure the thread ends even if on_kill broke
            flyte.terminate(PROJECT, DOMAIN, name, cause="test cleanup", principal="pytest")
            worker.join(30)
    if terminate_on_kill:
        worker.join(30)
        assert not worker.is_alive()
        assert isinstance(errors[0], FlyteExecutionAbortedError)
        cause = flyte.execution(PROJECT, DOMAIN, name).closure.abort_metadata.cause
        assert "dag.task run manual__2026-01-01T00:00:00+00:00 was killed" in cause
    else:
        phase = flyte.execution(PROJECT, DOMAIN, name).closure.phase
        flyte.terminate(PROJECT, DOMAIN, name, cause="test cleanup", principal="pytest")  # end the thread
        worker.join(30)
        assert phase in (0, 1, 2)  # UNDEFINED/QUEUED/RUNNING: on_kill left it alone
        assert isinstance(errors[0], FlyteExecutionAbortedError)
        assert "test cleanup" in str(errors[0])


def test_bad_input_fails_fast_and_submits_nothing(flyte: Any) -> None:
    with pytest.raises(FlyteConfigError, match="missing required input"):
        FlyteOperator(
            task_id="t", task_name="ml_training.pima_diabetes.diabetes.split_traintest_dataset"
        ).execute(make_context())
    with pytest.raises(FlyteNotFoundError):
        _op(launchplan_name="missing.plan").execute(make_context())
    assert flyte.counters().get("CreateExecution", 0) == 0
