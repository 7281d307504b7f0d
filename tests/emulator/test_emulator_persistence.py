"""SQLite persistence: a restarted emulator still knows its entities and executions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.emulator.registration import compile_workflow, register_over_grpc
from support import admin_rpc, waits, workflows
from support.admin_rpc import create, get, list_request
from support.flyte import DOMAIN, PROJECT

Phase = core_execution_pb2.WorkflowExecution


def test_restart_keeps_executions_entities_and_phases(
    tmp_path: Path, flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]
) -> None:
    db = str(tmp_path / "admin.sqlite")
    first = flyte_admin_emulator_factory(db_path=db, default_advance=Advance.manual())
    first.script(Outcome.fail("persisted failure"), Advance.manual(), name_pattern="will-fail")
    with grpc.insecure_channel(first.grpc_endpoint) as channel:
        register_over_grpc(channel, compile_workflow(workflows.needs_input, PROJECT, DOMAIN, "v7"))
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        create(admin, "will-succeed", seed=9)
        create(admin, "will-fail")
        create(admin, "will-abort")
        create(admin, "still-running")
    first.complete(PROJECT, DOMAIN, "will-succeed")
    first.complete(PROJECT, DOMAIN, "will-fail")
    first.terminate(PROJECT, DOMAIN, "will-abort", "bye", "bob")
    first.advance(PROJECT, DOMAIN, "still-running")
    before = {n: first.execution(PROJECT, DOMAIN, n) for n in first.backend.names(PROJECT, DOMAIN)}
    first.stop_in_thread()

    second = flyte_admin_emulator_factory(db_path=db, default_advance=Advance.manual())
    with grpc.insecure_channel(second.grpc_endpoint) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        for name, old in before.items():
            assert get(admin, name) == old
        assert get(admin, "will-fail").closure.error.message == "persisted failure"
        assert get(admin, "will-abort").closure.abort_metadata.principal == "bob"
        data = admin.GetExecutionData(
            execution_pb2.WorkflowExecutionGetDataRequest(id=admin_rpc.ident("will-succeed"))
        )
        assert data.full_inputs.literals["seed"].scalar.primitive.integer == 9
        assert set(data.full_outputs.literals) == {"accuracy", "n_estimators"}
        listed = admin.ListExecutions(list_request()).executions
        assert [e.id.name for e in listed] == list(before)  # creation order survives
        with pytest.raises(grpc.RpcError) as err:
            create(admin, "will-succeed")
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # the restored execution keeps its own phase machine; the registered workflow is still there
        assert second.advance(PROJECT, DOMAIN, "still-running") == "RUNNING"
        admin.CreateExecution(
            admin_rpc.create_request(
                "after-restart", lp=admin_rpc.lp_id("support.workflows.needs_input", "v7"), n=1
            )
        )
    assert get_phase(second, "after-restart") == Phase.UNDEFINED


def get_phase(emu: FlyteAdminEmulator, name: str) -> int:
    return int(emu.execution(PROJECT, DOMAIN, name).closure.phase)


def test_time_based_phases_continue_after_restart(
    tmp_path: Path, flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]
) -> None:
    db = str(tmp_path / "timed.sqlite")
    first = flyte_admin_emulator_factory(db_path=db, default_advance=Advance.after_seconds(0.05))
    with grpc.insecure_channel(first.grpc_endpoint) as channel:
        create(admin_pb2_grpc.AdminServiceStub(channel), "timed")
    first.stop_in_thread()
    second = flyte_admin_emulator_factory(db_path=db)
    waits.wait_for(lambda: get_phase(second, "timed") == Phase.SUCCEEDED, timeout=10)
