"""Gate nodes in real runs: signals through real sockets with unmodified flytekit ``FlyteRemote``.

A workflow file written here is registered and run for real (flytekit's local execution in the
emulator's workers). At a ``wait_for_input`` / ``approve`` gate the run waits for its signal, as on
Flyte: ListSignals shows it, the gate node is RUNNING, ``set_signal`` / ``approve`` / ``reject``
decide; a gate's timeout fails the execution with flytepropeller's error; Terminate kills the
waiting process.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from flyteidl.admin import execution_pb2, node_execution_pb2, signal_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2, types_pb2
from flyteidl.service import admin_pb2_grpc, signal_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator
from flyte_async_provider.emulator.rungates import go_duration
from flyte_async_provider.phases import ExecutionPhase
from support.admin_rpc import ident, literal
from support.flyte import DOMAIN, PROJECT
from support.waits import wait_for

if TYPE_CHECKING:
    from flytekit.remote import FlyteRemote

GATED = textwrap.dedent(
    """
    from datetime import timedelta

    from flytekit import approve, sleep, task, wait_for_input, workflow


    @task
    def prepare(x: int) -> int:
        return x + 1


    @task
    def times(a: int, b: int) -> int:
        return a * b


    @workflow
    def asked(x: int) -> int:
        y = prepare(x=x)
        factor = wait_for_input("factor", timeout=timedelta(minutes=10), expected_type=int)
        return times(a=y, b=factor)


    @workflow
    def approved(x: int) -> int:
        checked = approve(prepare(x=x), "go", timeout=timedelta(minutes=10))
        return times(a=checked, b=10)


    @workflow
    def hurried(x: int) -> int:
        late = wait_for_input("late", timeout=timedelta(seconds=1), expected_type=int)
        return times(a=x, b=late)


    @workflow
    def napped(x: int) -> int:
        pause = sleep(timedelta(seconds=1))
        y = prepare(x=x)
        pause >> y
        return y
    """
)
TERMINAL = {ExecutionPhase.SUCCEEDED, ExecutionPhase.FAILED, ExecutionPhase.ABORTED, ExecutionPhase.TIMED_OUT}
N_PHASE = core_execution_pb2.NodeExecution.Phase


@pytest.fixture
def emu(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> FlyteAdminEmulator:
    """Real runs on; the workflow file registered in-process (its code importable, as --register)."""
    emu = flyte_admin_emulator_factory(
        register_example=False, run_code=True, default_advance=Advance.after_seconds(0.05)
    )
    _register(emu, tmp_path, monkeypatch)
    return emu


def _register(emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend

    code = tmp_path / "gatecode"
    code.mkdir()
    (code / "gateflows.py").write_text(GATED)
    monkeypatch.syspath_prepend(str(code))
    import gateflows

    for workflow in (gateflows.asked, gateflows.approved, gateflows.hurried, gateflows.napped):
        register_in_backend(emu.backend, compile_workflow(workflow, PROJECT, DOMAIN, "v1"))


@pytest.fixture
def remote(emu: FlyteAdminEmulator) -> FlyteRemote:
    from flytekit.configuration import Config, PlatformConfig
    from flytekit.remote import FlyteRemote

    config = Config(platform=PlatformConfig(endpoint=emu.grpc_endpoint, insecure=True))
    return FlyteRemote(config, default_project=PROJECT, default_domain=DOMAIN)


def run(remote: FlyteRemote, workflow: str, name: str, **inputs: Any) -> None:
    launch_plan = remote.fetch_launch_plan(name=f"gateflows.{workflow}", version="v1")
    remote.execute(launch_plan, inputs=inputs, execution_name=name)


def finished(emu: FlyteAdminEmulator, name: str, timeout: float = 120.0) -> execution_pb2.Execution:
    def done() -> execution_pb2.Execution | None:
        execution = emu.execution(PROJECT, DOMAIN, name)
        return execution if ExecutionPhase(execution.closure.phase) in TERMINAL else None

    return wait_for(done, timeout=timeout, interval=0.05, what=f"execution {name} to end")


def assert_succeeded(execution: execution_pb2.Execution) -> None:
    phase = ExecutionPhase(execution.closure.phase)
    assert phase == ExecutionPhase.SUCCEEDED, f"{phase.name}: {execution.closure.error.message}"


def waiting_signal(remote: FlyteRemote, name: str) -> Any:
    """The run's one signal, once the run has reached its gate (ListSignals through flytekit)."""
    signals = wait_for(
        lambda: remote.list_signals(name), timeout=120, interval=0.05, what=f"{name} to reach its gate"
    )
    (signal,) = signals
    return signal


def node_phases(emu: FlyteAdminEmulator, name: str) -> dict[str, str]:
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        listed = stub.ListNodeExecutions(
            node_execution_pb2.NodeExecutionListRequest(workflow_execution_id=ident(name), limit=20)
        )
    return {n.id.node_id: N_PHASE.Name(n.closure.phase) for n in listed.node_executions}


def output(emu: FlyteAdminEmulator, name: str) -> int:
    data = emu.backend.get_execution_data(ident(name))
    return int(data.full_outputs.literals["o0"].scalar.primitive.integer)


def test_a_run_waits_at_wait_for_input_until_set_signal_gives_the_value(
    emu: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    run(remote, "asked", "asked-1", x=4)
    signal = waiting_signal(remote, "asked-1")
    assert signal.id.signal_id == "factor"
    assert signal.id.execution_id == ident("asked-1")  # flyteadmin's key: execution id + the gate's name
    assert signal.type == types_pb2.LiteralType(simple=types_pb2.INTEGER)  # the gate's expected_type
    assert not signal.HasField("value")
    assert ExecutionPhase(emu.execution(PROJECT, DOMAIN, "asked-1").closure.phase) == ExecutionPhase.RUNNING
    # what ran before the gate is done, the gate waits, the rest has not started
    assert node_phases(emu, "asked-1") == {"start-node": "SUCCEEDED", "n0": "SUCCEEDED", "n1": "RUNNING"}

    remote.set_signal("factor", "asked-1", 7)
    execution = finished(emu, "asked-1")
    assert_succeeded(execution)
    assert output(emu, "asked-1") == 35  # (4 + 1) * 7: the downstream task got the signal's value
    (done,) = remote.list_signals("asked-1")
    assert done.value.scalar.primitive.integer == 7
    assert node_phases(emu, "asked-1")["n1"] == "SUCCEEDED"


def test_an_approved_gate_passes_its_input_and_a_rejected_one_fails_the_execution(
    emu: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    run(remote, "approved", "approve-1", x=2)
    run(remote, "approved", "reject-1", x=2)
    for name in ("approve-1", "reject-1"):
        signal = waiting_signal(remote, name)
        assert signal.id.signal_id == "go"
        assert signal.type == types_pb2.LiteralType(simple=types_pb2.BOOLEAN)  # an approval is a boolean
    remote.approve("go", "approve-1")
    remote.reject("go", "reject-1")

    approved = finished(emu, "approve-1")
    assert ExecutionPhase(approved.closure.phase) == ExecutionPhase.SUCCEEDED, approved.closure.error.message
    assert output(emu, "approve-1") == 30  # (2 + 1) passed through the gate, * 10
    rejected = finished(emu, "reject-1")
    assert ExecutionPhase(rejected.closure.phase) == ExecutionPhase.FAILED
    # flytepropeller's gate handler: a false approval fails the node, and so the workflow
    assert rejected.closure.error.code == "ReceivedRejectSignal"
    assert rejected.closure.error.message == "received a reject signal to disapprove the node input values"
    assert rejected.closure.error.kind == rejected.closure.error.USER
    assert node_phases(emu, "reject-1")["n1"] == "FAILED"


def test_a_gate_without_a_value_in_time_fails_the_execution_as_propeller_does(
    emu: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    run(remote, "hurried", "late-1", x=3)
    assert waiting_signal(remote, "late-1").id.signal_id == "late"
    execution = finished(emu, "late-1")
    # the gate's timeout is the node's execution deadline; one attempt by default: FAILED, not TIMED_OUT
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.FAILED
    error = execution.closure.error
    assert error.code == "RetriesExhausted|TimeoutExpired"
    assert error.message == "[1/1] currentAttempt done. Last Error: USER::task execution timeout [1s] expired"
    assert error.kind == error.USER
    assert node_phases(emu, "late-1") == {"start-node": "SUCCEEDED", "n0": "FAILED"}
    remote.set_signal("late", "late-1", 5)  # too late: stored, as flyteadmin does, and nothing changes
    assert ExecutionPhase(emu.execution(PROJECT, DOMAIN, "late-1").closure.phase) == ExecutionPhase.FAILED


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_terminate_while_a_gate_waits_aborts_and_kills_the_run(
    emu: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    run(remote, "asked", "asked-2", x=1)
    waiting_signal(remote, "asked-2")
    before = set(emu.runs.worker_pids())
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        stub.TerminateExecution(execution_pb2.ExecutionTerminateRequest(id=ident("asked-2"), cause="no"))
    execution = finished(emu, "asked-2")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.ABORTED
    assert emu.runs.active() == 0
    assert node_phases(emu, "asked-2")["n1"] == "ABORTED"
    wait_for(lambda: before - set(emu.runs.worker_pids()), timeout=10, what="the run's process to end")
    (killed,) = before - set(emu.runs.worker_pids())
    wait_for(lambda: not _alive(killed), timeout=10, what=f"process {killed} to be gone")
    remote.set_signal("factor", "asked-2", 1)  # the signal stays; setting it now resumes nothing
    assert ExecutionPhase(emu.execution(PROJECT, DOMAIN, "asked-2").closure.phase) == ExecutionPhase.ABORTED


def test_the_run_time_limit_ends_a_gate_that_waits_longer(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The emulator's own time limit (shorter than the gate's 10 min) still applies: TIMED_OUT."""
    limited = flyte_admin_emulator_factory(register_example=False, run_code=True, run_time_limit=5.0)
    _register(limited, tmp_path, monkeypatch)
    limited.create_executions(PROJECT, DOMAIN, "gateflows.asked", ["asked-3"], inputs={"x": 1})
    execution = finished(limited, "asked-3")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.TIMED_OUT
    assert [s.id.signal_id for s in limited.backend.signals.list(_signals_of("asked-3")).signals] == [
        "factor"
    ]
    assert node_phases(limited, "asked-3") == {
        "start-node": "SUCCEEDED",
        "n0": "SUCCEEDED",
        "n1": "TIMED_OUT",
    }
    assert limited.runs.active() == 0


def _signals_of(name: str) -> signal_pb2.SignalListRequest:
    return signal_pb2.SignalListRequest(workflow_execution_id=ident(name), limit=10)


def test_a_signal_set_before_the_run_reaches_its_gate_is_used_at_once(
    emu: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    """As propeller's GetOrCreateSignal finds an existing value: the gate does not wait."""
    signal_id = identifier_pb2.SignalIdentifier(signal_id="factor", execution_id=ident("early-1"))
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        signals = signal_pb2_grpc.SignalServiceStub(channel)
        integer = types_pb2.LiteralType(simple=types_pb2.INTEGER)
        signals.GetOrCreateSignal(signal_pb2.SignalGetOrCreateRequest(id=signal_id, type=integer))
        signals.SetSignal(signal_pb2.SignalSetRequest(id=signal_id, value=literal(3)))
    run(remote, "asked", "early-1", x=5)
    execution = finished(emu, "early-1")
    assert_succeeded(execution)
    assert output(emu, "early-1") == 18


def test_a_sleep_gate_sleeps(emu: FlyteAdminEmulator, remote: FlyteRemote) -> None:
    run(remote, "napped", "nap-1", x=1)
    execution = finished(emu, "nap-1")
    assert_succeeded(execution)
    assert output(emu, "nap-1") == 2
    assert execution.closure.duration.ToTimedelta() >= timedelta(seconds=1)  # flytekit alone would not wait
    assert remote.list_signals("nap-1") == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (1, "1s"), (1.5, "1.5s"), (60, "1m0s"), (90.5, "1m30.5s"), (3723, "1h2m3s")],
)
def test_timeouts_are_printed_as_go_prints_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
