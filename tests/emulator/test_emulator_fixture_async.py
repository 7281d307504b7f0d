"""The pytest fixture works in async tests too: a grpc.aio client on the test's own loop."""

from __future__ import annotations

import grpc
from flyteidl.admin import execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from support.admin_rpc import create_request, ident, list_request
from support.flyte import DOMAIN, PROJECT

Phase = core_execution_pb2.WorkflowExecution


async def test_async_client_against_the_fixture(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    flyte_admin_emulator.script(Outcome.time_out(), Advance.manual())
    async with grpc.aio.insecure_channel(flyte_admin_emulator.grpc_endpoint) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        await admin.CreateExecution(create_request("aio-1"))
        flyte_admin_emulator.complete(PROJECT, DOMAIN, "aio-1")
        ex = await admin.GetExecution(execution_pb2.WorkflowExecutionGetRequest(id=ident("aio-1")))
        assert ex.closure.phase == Phase.TIMED_OUT
        listed = await admin.ListExecutions(list_request("eq(phase,TIMED_OUT)"))
        assert [e.id.name for e in listed.executions] == ["aio-1"]


async def test_emulator_started_inside_a_running_loop() -> None:
    async with FlyteAdminEmulator(register_example=False) as emu:
        async with grpc.aio.insecure_channel(emu.grpc_endpoint) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            listed = await admin.ListExecutions(list_request())
            assert list(listed.executions) == []
        assert emu.counters() == {"ListExecutions": 1}
