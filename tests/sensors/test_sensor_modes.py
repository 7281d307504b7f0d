"""FlyteSensor against the emulator: poke, reschedule, deferrable; same typed errors; soft_fail; no kill."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from flyte_async_provider._compat import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import FlyteExecutionFailedError, FlyteExecutionTimedOutError
from flyte_async_provider.hooks.flyte import FlyteHook
from flyte_async_provider.links.flyte import XCOM_CONSOLE_URL_KEY
from flyte_async_provider.phases import ExecutionPhase
from flyte_async_provider.sensors.flyte import FlyteSensor
from support.airflow import FakeTI, make_context
from support.flyte import DOMAIN, GOOD_INPUTS, LAUNCH_PLAN, PROJECT


def _launch(name: str) -> str:
    return FlyteHook().launch(name, launchplan_name=LAUNCH_PLAN, inputs=GOOD_INPUTS)


def _sensor(name: str, **kwargs: Any) -> FlyteSensor:
    kwargs.setdefault("poke_interval", 0.02)
    return FlyteSensor(task_id="wait", execution_name=name, project=PROJECT, domain=DOMAIN, **kwargs)


def test_poke_mode_waits_and_returns_the_execution_name(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    name = _launch("poke-ok")
    ti = FakeTI()
    assert _sensor(name).execute(make_context(ti)) == name
    assert ti.xcoms[XCOM_CONSOLE_URL_KEY].endswith("/executions/poke-ok")


def test_failure_raises_the_same_typed_error_as_the_operator(flyte: Any) -> None:
    flyte.set_default(Outcome.fail("disk full", code="SYSTEM:Disk", kind="SYSTEM"), Advance.after_seconds(0))
    name = _launch("poke-fail")
    with pytest.raises(FlyteExecutionFailedError, match=r"disk full \[SYSTEM:Disk, SYSTEM\]"):
        _sensor(name).execute(make_context())
    with pytest.raises(AirflowSkipException, match="disk full"):
        _sensor(name, soft_fail=True).execute(make_context())


def test_flyte_timeout(flyte: Any) -> None:
    flyte.set_default(Outcome.time_out(), Advance.after_seconds(0))
    with pytest.raises(FlyteExecutionTimedOutError):
        _sensor(_launch("poke-timeout")).execute(make_context())


def test_reschedule_mode_gives_the_slot_back(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.manual())
    name = _launch("resched")

    class TI(FakeTI):
        def get_first_reschedule_date(self, context: Any) -> None:
            return None

    with pytest.raises(AirflowRescheduleException):
        _sensor(name, mode="reschedule", poke_interval=30).execute(make_context(TI()))


def test_sensor_timeout_never_terminates_the_execution(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.manual())
    name = _launch("not-mine")
    with pytest.raises(AirflowSensorTimeout):
        _sensor(name, timeout=0).execute(make_context())
    with pytest.raises(AirflowSkipException):
        _sensor(name, timeout=0, soft_fail=True).execute(make_context())
    assert flyte.execution(PROJECT, DOMAIN, name).closure.phase == ExecutionPhase.UNDEFINED  # nobody waited
    assert flyte.counters().get("TerminateExecution", 0) == 0


def test_deferrable_checks_once_then_defers_without_owning_the_execution(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.manual())
    name = _launch("defer-me")
    with pytest.raises(TaskDeferred) as deferred:
        _sensor(name, deferrable=True, timeout=3600, poke_interval=9).execute(make_context())
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["execution_name"] == name
    assert kwargs["terminate_on_kill"] is False
    assert kwargs["deadline"] is None
    assert kwargs["poll_interval"] == 9.0
    assert deferred.value.timeout == datetime.timedelta(hours=1)

    flyte.complete(PROJECT, DOMAIN, name, Outcome.succeed())
    assert _sensor(name, deferrable=True).execute(make_context()) == name  # already over: no deferral


def test_resume_maps_events_and_applies_soft_fail(flyte: Any) -> None:
    ok = {"status": "success", "execution": "x", "phase": "SUCCEEDED", "console_url": "http://c/x"}
    ti = FakeTI()
    assert _sensor("x").resume_execution("execute_complete", {"event": ok}, make_context(ti)) == "x"
    assert ti.xcoms[XCOM_CONSOLE_URL_KEY] == "http://c/x"
    failed = {"status": "failed", "execution": "x", "phase": "FAILED", "error_message": "boom"}
    with pytest.raises(FlyteExecutionFailedError, match="boom"):
        _sensor("x").resume_execution("execute_complete", {"event": failed}, make_context())
    with pytest.raises(AirflowSkipException):
        _sensor("x", soft_fail=True).resume_execution("execute_complete", {"event": failed}, make_context())
