"""Unmodified flytekit FlyteRemote against the emulator: fetch, execute twice by name, wait, terminate."""

from __future__ import annotations

import pytest
from flytekit.models.core.execution import WorkflowExecutionPhase
from flytekit.remote import FlyteRemote

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT


def test_flyteremote_round_trip(remote: FlyteRemote, flyte_admin_emulator: FlyteAdminEmulator) -> None:
    flyte_admin_emulator.script(
        Outcome.succeed(outputs={"accuracy": 0.87}), Advance.after_reads(1), name_pattern="train-*"
    )
    flyte_admin_emulator.script(Outcome.hang(), Advance.after_reads(1), name_pattern="stuck-*")

    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    assert lp.id.version == "v1"
    assert set(lp.interface.inputs) == {"test_split_ratio", "seed"}

    first = remote.execute(lp, inputs={"test_split_ratio": 0.25, "seed": 42}, execution_name="train-1")
    again = remote.execute(lp, inputs={"test_split_ratio": 0.25, "seed": 42}, execution_name="train-1")
    assert first.id == again.id  # ALREADY_EXISTS is "the same execution" to flytekit
    assert flyte_admin_emulator.backend.names(PROJECT, DOMAIN) == ["train-1"]

    done = remote.wait(first, timeout=30, poll_interval=0.01)
    assert done.closure.phase == WorkflowExecutionPhase.SUCCEEDED
    assert done.outputs["accuracy"] == pytest.approx(0.87)
    assert done.outputs["n_estimators"] == 0
    assert done.inputs["seed"] == 42

    fetched = remote.fetch_execution(name="train-1")
    assert fetched.is_done
    assert fetched.outputs["accuracy"] == pytest.approx(0.87)

    other = remote.execute(lp, inputs={}, execution_name="stuck-1")
    remote.terminate(other, cause="no longer needed")
    synced = remote.sync_execution(other)
    assert synced.closure.phase == WorkflowExecutionPhase.ABORTING
    assert synced.closure.abort_metadata.cause == "no longer needed"
    aborted = remote.wait(synced, timeout=30, poll_interval=0.01)
    assert aborted.closure.phase == WorkflowExecutionPhase.ABORTED
    counters = flyte_admin_emulator.counters()
    assert counters["TerminateExecution"] == 1
    assert counters["ListLaunchPlans"] == 1  # latest-version lookup: limit 1, sorted by created_at desc


def test_flyteremote_sees_a_failure(remote: FlyteRemote, flyte_admin_emulator: FlyteAdminEmulator) -> None:
    flyte_admin_emulator.set_default(
        Outcome.fail("bad split", code="USER:ValueError"), Advance.after_seconds(0)
    )
    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    execution = remote.wait(remote.execute(lp, inputs={"seed": 1}), timeout=30, poll_interval=0.01)
    assert execution.closure.phase == WorkflowExecutionPhase.FAILED
    assert execution.error is not None
    assert execution.error.message == "bad split"
    assert execution.error.code == "USER:ValueError"
