"""One event → one result or typed error, whichever mode (deferred, worker wait, sensor) produced it."""

from __future__ import annotations

from typing import Any

import pytest

from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteExecutionAbortedError,
    FlyteExecutionDeadlineError,
    FlyteExecutionFailedError,
    FlyteExecutionTimedOutError,
    FlyteProviderError,
)
from flyte_async_provider.outcome import raise_for_event
from flyte_async_provider.phases import PHASE_TO_STATUS, ExecutionPhase

BASE = {"execution": "abc", "console_url": "http://x/console/projects/p/domains/d/executions/abc"}


def test_success_returns() -> None:
    raise_for_event({**BASE, "status": "success", "phase": "SUCCEEDED"})


@pytest.mark.parametrize(
    ("event", "cls", "needle"),
    [
        (
            {"status": "failed", "phase": "FAILED", "error_message": "OOMKilled", "error_code": "USER:OOM"},
            FlyteExecutionFailedError,
            "OOMKilled [USER:OOM]",
        ),
        (
            {"status": "aborted", "phase": "ABORTED", "abort_cause": "bad data", "abort_principal": "alice"},
            FlyteExecutionAbortedError,
            "aborted by alice: bad data",
        ),
        ({"status": "timed_out", "phase": "TIMED_OUT"}, FlyteExecutionTimedOutError, "timed out"),
        ({"status": "deadline", "phase": "ABORTING"}, FlyteExecutionDeadlineError, "execution_timeout"),
    ],
)
def test_unsuccessful_outcomes_raise_typed_errors_with_flyte_reason_and_url(
    event: dict[str, Any], cls: type[Exception], needle: str
) -> None:
    with pytest.raises(cls) as info:
        raise_for_event({**BASE, **event})
    assert needle in str(info.value)
    assert BASE["console_url"] in str(info.value)
    assert info.value.execution == "abc"  # type: ignore[attr-defined]


def test_error_event_is_an_admin_error_with_code() -> None:
    with pytest.raises(FlyteAdminError) as info:
        raise_for_event({**BASE, "status": "error", "message": "not found", "error_code": "NOT_FOUND"})
    assert info.value.code == "NOT_FOUND"


def test_unknown_status_is_a_provider_error() -> None:
    with pytest.raises(FlyteProviderError, match="Unexpected"):
        raise_for_event({**BASE, "status": "weird"})


def test_phase_helpers() -> None:
    assert {p for p in ExecutionPhase if p.is_terminal} == set(PHASE_TO_STATUS)
    assert ExecutionPhase.parse("running") is ExecutionPhase.RUNNING
    assert ExecutionPhase.parse(9) is ExecutionPhase.ABORTING
