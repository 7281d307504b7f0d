"""The phase machine: each advance mode, each outcome, timestamps; backend with a fake clock + over gRPC."""

from __future__ import annotations

import pytest
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.emulator.backend import Backend
from flyte_async_provider.emulator.errors import FailedPrecondition
from flyte_async_provider.emulator.registration import register_example
from support.admin_rpc import create, create_request, get, list_request
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT
from support.waits import wait_for

Phase = core_execution_pb2.WorkflowExecution


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> Backend:
    b = Backend(clock=clock, default_advance=Advance.manual())
    register_example(b)
    return b


def phase(backend: Backend, name: str) -> str:
    return Phase.Phase.Name(backend.execution(PROJECT, DOMAIN, name).closure.phase)


def read(backend: Backend, name: str) -> str:
    """One status read as GetExecution does it."""
    from flyteidl.admin import execution_pb2

    from support.admin_rpc import ident

    ex = execution_pb2.Execution.FromString(backend.get_execution_bytes(ident(name)))
    return Phase.Phase.Name(ex.closure.phase)


def test_after_seconds_steps_with_exact_timestamps(backend: Backend, clock: FakeClock) -> None:
    backend.script(Outcome.succeed(), Advance.after_seconds(10))
    t0 = clock.now
    backend.create_execution(create_request("timed"))
    assert phase(backend, "timed") == "UNDEFINED"
    clock.now = t0 + 9.999
    assert phase(backend, "timed") == "UNDEFINED"
    clock.now = t0 + 25  # two steps due: QUEUED at +10, RUNNING at +20
    ex = backend.execution(PROJECT, DOMAIN, "timed")
    assert ex.closure.phase == Phase.RUNNING
    assert ex.closure.started_at.ToMicroseconds() == round((t0 + 20) * 1e6)
    assert ex.closure.updated_at == ex.closure.started_at
    clock.now = t0 + 1000  # far later: stops at the terminal phase
    ex = backend.execution(PROJECT, DOMAIN, "timed")
    assert ex.closure.phase == Phase.SUCCEEDED
    assert ex.closure.updated_at.ToMicroseconds() == round((t0 + 40) * 1e6)
    assert ex.closure.duration.ToTimedelta().total_seconds() == pytest.approx(20.0)
    assert ex.closure.created_at.ToMicroseconds() == round(t0 * 1e6)


def test_after_seconds_zero_is_immediate(backend: Backend) -> None:
    backend.script(Outcome.time_out(), Advance.after_seconds(0))
    backend.create_execution(create_request("instant"))
    assert phase(backend, "instant") == "TIMED_OUT"


def test_after_reads_counts_status_reads(backend: Backend) -> None:
    backend.script(Outcome.fail("nope"), Advance.after_reads(2))
    backend.create_execution(create_request("counted"))
    seen = [read(backend, "counted") for _ in range(10)]
    # a read answers the state before it counts: two reads per phase
    assert seen == [
        "UNDEFINED",
        "UNDEFINED",
        "QUEUED",
        "QUEUED",
        "RUNNING",
        "RUNNING",
        "FAILING",
        "FAILING",
        "FAILED",
        "FAILED",
    ]
    assert phase(backend, "counted") == "FAILED"  # the control API's view counts no read


def test_appearing_in_a_list_counts_as_a_read(backend: Backend) -> None:
    backend.script(Outcome.succeed(), Advance.after_reads(1))
    backend.create_execution(create_request("listed"))
    backend.create_execution(create_request("not-listed"))
    for _ in range(3):
        backend.list_executions(PROJECT, DOMAIN, filters="eq(execution_name,listed)")
    assert phase(backend, "listed") == "SUCCEEDING"
    assert phase(backend, "not-listed") == "UNDEFINED"


def test_manual_advance_and_hang(backend: Backend) -> None:
    backend.script(Outcome.hang(), Advance.manual())
    backend.create_execution(create_request("stuck"))
    assert [read(backend, "stuck") for _ in range(5)] == ["UNDEFINED"] * 5
    assert backend.advance(PROJECT, DOMAIN, "stuck") == "QUEUED"
    assert backend.advance(PROJECT, DOMAIN, "stuck") == "RUNNING"
    with pytest.raises(FailedPrecondition, match="until terminated"):
        backend.advance(PROJECT, DOMAIN, "stuck")
    backend.terminate(PROJECT, DOMAIN, "stuck", "enough", "ops")
    assert phase(backend, "stuck") == "ABORTING"
    assert backend.advance(PROJECT, DOMAIN, "stuck") == "ABORTED"
    with pytest.raises(FailedPrecondition):
        backend.advance(PROJECT, DOMAIN, "stuck")


@pytest.mark.parametrize(
    ("outcome", "path"),
    [
        (Outcome.succeed(), ["QUEUED", "RUNNING", "SUCCEEDING", "SUCCEEDED"]),
        (Outcome.fail("x"), ["QUEUED", "RUNNING", "FAILING", "FAILED"]),
        (Outcome.time_out(), ["QUEUED", "RUNNING", "TIMED_OUT"]),
    ],
)
def test_each_outcome_walks_flytes_phases(backend: Backend, outcome: Outcome, path: list[str]) -> None:
    backend.script(outcome, Advance.manual())
    backend.create_execution(create_request("walker"))
    assert [backend.advance(PROJECT, DOMAIN, "walker") for _ in path] == path


def test_fail_sets_execution_error(backend: Backend) -> None:
    backend.script(Outcome.fail("OOM killed", code="SYSTEM:OOM", kind="SYSTEM"), Advance.manual())
    backend.create_execution(create_request("oom"))
    backend.complete(PROJECT, DOMAIN, "oom")
    error = backend.execution(PROJECT, DOMAIN, "oom").closure.error
    assert (error.code, error.message, error.kind) == (
        "SYSTEM:OOM",
        "OOM killed",
        core_execution_pb2.ExecutionError.SYSTEM,
    )


def test_complete_with_another_outcome_and_complete_many(backend: Backend, clock: FakeClock) -> None:
    backend.script(Outcome.hang(), Advance.manual())
    for name in ("m-1", "m-2", "m-3"):
        backend.create_execution(create_request(name))
    backend.complete(PROJECT, DOMAIN, "m-1", Outcome.time_out())
    assert phase(backend, "m-1") == "TIMED_OUT"
    clock.now += 5
    count, at = backend.complete_many(PROJECT, DOMAIN, ["m-1", "m-2", "m-3", "ghost"], Outcome.succeed())
    assert (count, at) == (2, clock.now)
    ex = backend.execution(PROJECT, DOMAIN, "m-2")
    assert ex.closure.phase == Phase.SUCCEEDED
    assert ex.closure.updated_at.ToMicroseconds() == round(clock.now * 1e6)
    # a hang completes as success when no outcome is given
    backend.create_execution(create_request("m-4"))
    assert backend.complete(PROJECT, DOMAIN, "m-4") == "SUCCEEDED"
    with pytest.raises(FailedPrecondition):
        backend.complete(PROJECT, DOMAIN, "m-4")


def test_abort_before_running_has_no_duration(backend: Backend, clock: FakeClock) -> None:
    backend.script(Outcome.succeed(), Advance.after_seconds(1))
    backend.create_execution(create_request("early"))
    backend.terminate(PROJECT, DOMAIN, "early", "changed my mind", "me")
    clock.now += 1
    closure = backend.execution(PROJECT, DOMAIN, "early").closure
    assert closure.phase == Phase.ABORTED
    assert not closure.HasField("started_at")
    assert not closure.HasField("duration")
    assert (closure.abort_metadata.cause, closure.abort_metadata.principal) == ("changed my mind", "me")


def test_script_rules_first_match_wins_then_default(backend: Backend) -> None:
    backend.script(Outcome.fail("by glob"), Advance.manual(), name_pattern="fail-*")
    backend.script(Outcome.time_out(), Advance.manual(), name_pattern=r"slow-\d+")
    backend.script(Outcome.hang(), Advance.manual(), launch_plan="some.other.plan")
    backend.script(Outcome.fail("by launch plan"), Advance.manual(), launch_plan=LAUNCH_PLAN)
    backend.set_default(Outcome.succeed(), Advance.manual())
    for name in ("fail-a", "slow-12", "other"):
        backend.create_execution(create_request(name))
        backend.complete(PROJECT, DOMAIN, name)
    assert phase(backend, "fail-a") == "FAILED"
    assert backend.execution(PROJECT, DOMAIN, "fail-a").closure.error.message == "by glob"
    assert phase(backend, "slow-12") == "TIMED_OUT"
    assert backend.execution(PROJECT, DOMAIN, "other").closure.error.message == "by launch plan"
    backend.clear_script()
    backend.create_execution(create_request("plain"))
    assert backend.complete(PROJECT, DOMAIN, "plain") == "SUCCEEDED"


def test_outcome_and_advance_validate_their_arguments() -> None:
    with pytest.raises(ValueError, match="seconds"):
        Advance.after_seconds(-1)
    with pytest.raises(ValueError, match="reads"):
        Advance.after_reads(0)
    with pytest.raises(ValueError, match="error kind"):
        Outcome.fail("x", kind="WEIRD")
    assert Outcome.from_dict(Outcome.fail("m", "C", "SYSTEM").to_dict()) == Outcome.fail("m", "C", "SYSTEM")
    assert Advance.from_dict(Advance.after_reads(3).to_dict()) == Advance.after_reads(3)


# -- the same over gRPC, with real time -----------------------------------------------------------
def test_after_seconds_over_grpc_reaches_success(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), Advance.after_seconds(0.05))
    create(admin, "real-time")
    final = wait_for(
        lambda: (ex := get(admin, "real-time")).closure.phase == Phase.SUCCEEDED and ex, timeout=10
    )
    assert final.closure.started_at.ToMicroseconds() > final.closure.created_at.ToMicroseconds()
    assert final.closure.duration.ToTimedelta().total_seconds() == pytest.approx(0.1, abs=1e-3)


def test_after_reads_over_grpc_counts_gets_and_lists(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(Outcome.time_out(), Advance.after_reads(1))
    create(admin, "read-driven")
    assert get(admin, "read-driven").closure.phase == Phase.UNDEFINED
    listed = admin.ListExecutions(list_request("value_in(execution_name,read-driven)")).executions
    assert listed[0].closure.phase == Phase.QUEUED
    assert get(admin, "read-driven").closure.phase == Phase.RUNNING
    assert get(admin, "read-driven").closure.phase == Phase.TIMED_OUT


def test_scripted_outputs_must_be_json_like() -> None:
    with pytest.raises(ValueError, match="JSON-like"):
        Outcome.succeed(outputs={"model": object()})
    assert Outcome.succeed(outputs={"a": [1, {"b": None}]}).outputs == {"a": [1, {"b": None}]}
