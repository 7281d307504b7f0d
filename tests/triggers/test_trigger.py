"""FlyteExecutionTrigger against the emulator over real sockets: one event per outcome."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

try:  # how trigger kwargs are stored: airflow.sdk.serde on 3.3, airflow.serialization.serde before
    from airflow.sdk import serde
except ImportError:
    from airflow.serialization import serde  # type: ignore[no-redef]

from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.phases import ExecutionPhase
from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger
from support.admin_rpc import launch
from support.flyte import DOMAIN, PROJECT
from support.triggers import make_trigger, single_event, status_read
from support.waits import eventually


def test_serialize_round_trips_through_airflow_serde_with_primitives_only() -> None:
    trigger = make_trigger("flyte_default", "abc", deadline=1_900_000_000.5, not_found_grace=5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "flyte_async_provider.triggers.flyte.FlyteExecutionTrigger"
    restored_kwargs = serde.deserialize(serde.serialize(kwargs))
    assert isinstance(restored_kwargs, dict)
    assert FlyteExecutionTrigger(**restored_kwargs) == trigger
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in kwargs.values())


async def test_success_event_carries_phase_url_and_timing(flyte_admin_emulator: Any, flyte_conn: str) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.after_reads(1), name_pattern="ok-*")
    launch(flyte_admin_emulator.grpc_endpoint, "ok-1")
    event = await single_event(make_trigger(flyte_conn, "ok-1"))
    assert event["status"] == "success"
    assert event["phase"] == "SUCCEEDED"
    assert event["execution"] == "ok-1"
    assert event["console_url"].endswith("/console/projects/flytesnacks/domains/development/executions/ok-1")
    assert event["started_at"]
    assert event["duration_seconds"] >= 0


async def test_failure_event_carries_flytes_full_error(flyte_admin_emulator: Any, flyte_conn: str) -> None:
    message = "Trainer crashed: " + "x" * 300  # longer than the 100 bytes lists keep
    flyte_admin_emulator.script(
        Outcome.fail(message, code="USER:ValueError", kind="USER"),
        advance=Advance.after_reads(1),
        name_pattern="bad-*",
    )
    launch(flyte_admin_emulator.grpc_endpoint, "bad-1")
    event = await single_event(make_trigger(flyte_conn, "bad-1"))
    assert (event["status"], event["phase"]) == ("failed", "FAILED")
    assert event["error_message"] == message
    assert event["error_code"] == "USER:ValueError"
    assert event["error_kind"] == "USER"


async def test_flyte_side_abort_reports_cause_and_principal(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="hang-*")
    launch(flyte_admin_emulator.grpc_endpoint, "hang-1")
    task = asyncio.ensure_future(single_event(make_trigger(flyte_conn, "hang-1")))
    await status_read(flyte_admin_emulator)
    assert not task.done()
    flyte_admin_emulator.terminate(PROJECT, DOMAIN, "hang-1", "bad input data", "alice@example.com")
    event = await task
    assert event["status"] == "aborted"
    assert event["abort_cause"] == "bad input data"
    assert event["abort_principal"] == "alice@example.com"


async def test_flyte_timeout_is_timed_out(flyte_admin_emulator: Any, flyte_conn: str) -> None:
    flyte_admin_emulator.script(Outcome.time_out(), advance=Advance.after_reads(1), name_pattern="slow-*")
    launch(flyte_admin_emulator.grpc_endpoint, "slow-1")
    event = await single_event(make_trigger(flyte_conn, "slow-1"))
    assert (event["status"], event["phase"]) == ("timed_out", "TIMED_OUT")


async def test_already_terminal_execution_yields_on_the_first_read_not_a_poll_interval_later(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.manual(), name_pattern="done-*")
    launch(flyte_admin_emulator.grpc_endpoint, "done-1")
    flyte_admin_emulator.complete(PROJECT, DOMAIN, "done-1")
    event = await single_event(make_trigger(flyte_conn, "done-1", poll_interval=60), timeout=15)
    assert event["status"] == "success"


async def test_deadline_terminates_execution_and_emits_deadline(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="late-*")
    launch(flyte_admin_emulator.grpc_endpoint, "late-1")
    event = await single_event(make_trigger(flyte_conn, "late-1", deadline=time.time() + 1.0))
    assert event["status"] == "deadline"
    assert "execution_timeout" in event["message"]
    execution = flyte_admin_emulator.execution(PROJECT, DOMAIN, "late-1")
    assert execution.closure.phase in (ExecutionPhase.ABORTING, ExecutionPhase.ABORTED)
    assert "execution_timeout" in execution.closure.abort_metadata.cause


async def test_deadline_already_past_terminates_without_waiting(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="past-*")
    launch(flyte_admin_emulator.grpc_endpoint, "past-1")
    event = await single_event(make_trigger(flyte_conn, "past-1", deadline=time.time() - 5), timeout=10)
    assert event["status"] == "deadline"


async def test_on_kill_terminates_with_a_cause_naming_the_task(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="kill-*")
    launch(flyte_admin_emulator.grpc_endpoint, "kill-1")
    trigger = make_trigger(flyte_conn, "kill-1", map_index=3)
    await trigger.on_kill()
    cause = flyte_admin_emulator.execution(PROJECT, DOMAIN, "kill-1").closure.abort_metadata.cause
    assert "DAG ml, task train[3], run manual__1" in cause
    assert "user stopped" in cause


async def test_on_kill_respects_terminate_on_kill_false(flyte_admin_emulator: Any, flyte_conn: str) -> None:
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="keep-*")
    launch(flyte_admin_emulator.grpc_endpoint, "keep-1")
    await make_trigger(flyte_conn, "keep-1", terminate_on_kill=False).on_kill()
    assert flyte_admin_emulator.counters().get("TerminateExecution", 0) == 0


async def test_on_kill_keeps_the_cause_of_a_terminate_already_under_way(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    """The API server's user-mark listener usually terminates first; Flyte would take a second abort."""
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.manual(), name_pattern="twice-*")
    launch(flyte_admin_emulator.grpc_endpoint, "twice-1")
    flyte_admin_emulator.terminate(PROJECT, DOMAIN, "twice-1", "marked from the API server")
    await make_trigger(flyte_conn, "twice-1").on_kill()
    execution = flyte_admin_emulator.execution(PROJECT, DOMAIN, "twice-1")
    assert execution.closure.abort_metadata.cause == "marked from the API server"
    assert flyte_admin_emulator.counters().get("TerminateExecution", 0) == 0


async def test_on_kill_leaves_a_still_deferred_task_alone(
    flyte_admin_emulator: Any, flyte_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apache/airflow#73454: a reassigned trigger gets the user-action cancel; the task is still deferred."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult

    asked: list[GetTaskStates] = []

    class SupervisorSaysDeferred:  # stands in for the triggerer supervisor, which cannot run here alone
        async def asend(self, msg: GetTaskStates) -> TaskStatesResult:
            asked.append(msg)
            return TaskStatesResult(task_states={"manual__1": {"train": "deferred"}})

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", SupervisorSaysDeferred(), raising=False)
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="moved-*")
    launch(flyte_admin_emulator.grpc_endpoint, "moved-1")
    await make_trigger(flyte_conn, "moved-1").on_kill()
    assert asked
    assert asked[0].task_ids == ["train"]
    assert flyte_admin_emulator.counters().get("TerminateExecution", 0) == 0


async def test_cancel_during_watch_leaves_execution_running(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    """Triggerer shutdown/reassignment cancels run() and calls cleanup(): never a terminate."""
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="stay-*")
    launch(flyte_admin_emulator.grpc_endpoint, "stay-1")
    trigger = make_trigger(flyte_conn, "stay-1")
    task = asyncio.ensure_future(single_event(trigger))
    await status_read(flyte_admin_emulator)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.cleanup()
    assert flyte_admin_emulator.counters().get("TerminateExecution", 0) == 0
    assert flyte_admin_emulator.execution(PROJECT, DOMAIN, "stay-1").closure.phase in (
        ExecutionPhase.UNDEFINED,
        ExecutionPhase.QUEUED,
        ExecutionPhase.RUNNING,
    )


async def test_unknown_execution_ends_with_error_after_grace(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    event = await single_event(make_trigger(flyte_conn, "never-created", not_found_grace=1.0), timeout=15)
    assert event["status"] == "error"
    assert event["error_code"] == "NOT_FOUND"
    assert "not found" in event["message"]


async def test_missing_connection_is_an_error_event() -> None:
    event = await single_event(make_trigger("no_such_flyte_conn", "x"), timeout=10)
    assert event["status"] == "error"
    assert "no_such_flyte_conn" in event["message"]


async def test_on_kill_finishes_terminating_even_if_cancelled_again(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    """Airflow 3.3 repeats the user-action cancel on every state sync; on_kill must still terminate."""
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="again-*")
    launch(flyte_admin_emulator.grpc_endpoint, "again-1")
    # The repeated cancel lands while the TerminateExecution call is in flight (held 0.5 s by the emulator).
    flyte_admin_emulator.inject_fault(rpc="TerminateExecution", latency_seconds=0.5)
    killing = asyncio.ensure_future(make_trigger(flyte_conn, "again-1").on_kill())
    await eventually(
        lambda: flyte_admin_emulator.counters().get("TerminateExecution", 0) == 1,
        what="on_kill to send TerminateExecution",
    )
    killing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killing
    await eventually(
        lambda: flyte_admin_emulator.success_counters().get("TerminateExecution", 0) == 1,
        what="the terminate to be answered",
    )
    phase = flyte_admin_emulator.execution(PROJECT, DOMAIN, "again-1").closure.phase
    assert phase in (ExecutionPhase.ABORTING, ExecutionPhase.ABORTED)


async def test_a_tls_connection_to_a_plaintext_admin_is_one_error_event_naming_the_fix(
    flyte_admin_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an endless "outage": the watch ends at once with what to change."""
    from support.flyte import set_flyte_connection

    set_flyte_connection(
        monkeypatch, "flyte_tls_wrong", flyte_admin_emulator.grpc_endpoint, extra={"insecure": False}
    )
    event = await single_event(make_trigger("flyte_tls_wrong", "any-1"), timeout=30)
    assert event["status"] == "error"
    assert "answers in plaintext" in event["message"]
    assert '"insecure": true' in event["message"]
