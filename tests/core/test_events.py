"""The one event builder, terminate rule and phase rules that every mode (trigger, worker, sensor) uses."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flyte_async_provider.admin.models import ExecutionStatus, error_kind_name
from flyte_async_provider.events import deadline_event, ended_event, event_payload
from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteExecutionDeadlineError,
    FlyteExecutionFailedError,
    FlyteInvalidArgumentError,
    FlyteTransientError,
    ended_before_terminate,
)
from flyte_async_provider.outcome import raise_for_event
from flyte_async_provider.phases import TERMINAL_PHASES, ExecutionPhase

URL = "http://x/console/projects/p/domains/d/executions/abc"
CAUSE = "Airflow task t exceeded its execution_timeout; terminated by airflow-provider-flyte-async."


def status(phase: ExecutionPhase, **fields: object) -> ExecutionStatus:
    return ExecutionStatus("p", "d", "abc", phase, **fields)  # type: ignore[arg-type]


def test_ended_event_carries_identity_phase_url_and_flyte_details() -> None:
    started = datetime(2026, 1, 1, tzinfo=timezone.utc)
    state = status(
        ExecutionPhase.FAILED,
        error_code="USER:OOM",
        error_kind="USER",
        error_message="OOMKilled",
        started_at=started,
        duration_seconds=3.5,
    )
    assert ended_event(state, URL) == {
        "status": "failed",
        "phase": "FAILED",
        "project": "p",
        "domain": "d",
        "execution": "abc",
        "console_url": URL,
        "message": "Flyte execution p/d/abc ended FAILED.",
        "error_code": "USER:OOM",
        "error_kind": "USER",
        "error_message": "OOMKilled",
        "started_at": started.isoformat(),
        "duration_seconds": 3.5,
    }


def test_event_payload_leaves_out_unknown_fields() -> None:
    assert event_payload("error", "p", "d", "abc", message="m", error_code=None) == {
        "status": "error",
        "project": "p",
        "domain": "d",
        "execution": "abc",
        "console_url": "",
        "message": "m",
    }


def test_deadline_the_real_end_wins_only_when_we_did_not_terminate() -> None:
    failed = status(ExecutionPhase.FAILED, error_message="boom")
    ended = deadline_event("p", "d", "abc", CAUSE, URL, terminated=False, state=failed)
    with pytest.raises(FlyteExecutionFailedError, match="boom"):
        raise_for_event(ended)
    aborting = status(ExecutionPhase.ABORTING, abort_cause=CAUSE, abort_principal="airflow")
    ours = deadline_event("p", "d", "abc", CAUSE, URL, terminated=True, state=aborting)
    assert (ours["status"], ours["phase"], ours["message"]) == ("deadline", "ABORTING", CAUSE)
    with pytest.raises(FlyteExecutionDeadlineError, match="aborted by airflow"):
        raise_for_event(ours)


def test_deadline_when_terminating_failed_names_the_failure() -> None:
    failure = FlyteTransientError("down", code="UNAVAILABLE", rpc="TerminateExecution")
    event = deadline_event("p", "d", "abc", CAUSE, URL, terminated=False, failure=failure)
    assert event["status"] == "deadline"
    assert event["error_code"] == "UNAVAILABLE"
    assert event["message"].startswith(CAUSE + " Terminating it failed: down")


@pytest.mark.parametrize(
    ("error", "ended"),
    [
        (FlyteInvalidArgumentError("x", code="FAILED_PRECONDITION"), True),
        (FlyteInvalidArgumentError("execution is in a terminal phase", code="INVALID_ARGUMENT"), True),
        (FlyteInvalidArgumentError("bad id", code="INVALID_ARGUMENT"), False),
        (FlyteTransientError("down", code="UNAVAILABLE"), False),
        (FlyteAdminError("terminal", code="INTERNAL"), False),
    ],
)
def test_terminate_refused_because_already_ended(error: FlyteAdminError, ended: bool) -> None:
    assert ended_before_terminate(error) is ended


def test_phase_rules_come_from_execution_phase() -> None:
    assert {p.name for p in TERMINAL_PHASES} == {"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}
    assert 4 in TERMINAL_PHASES  # raw protobuf numbers test the same
    live = {p.name for p in ExecutionPhase if p.is_attachable}
    assert live == {"UNDEFINED", "QUEUED", "RUNNING", "SUCCEEDING", "FAILING"}
    assert ExecutionPhase.named("RUNNING") is ExecutionPhase.RUNNING
    assert ExecutionPhase.named("NOT_FOUND") is None


def test_error_kind_names() -> None:
    assert [error_kind_name(k) for k in (0, 1, 2, None, 7)] == ["UNKNOWN", "USER", "SYSTEM", "UNKNOWN", "7"]
