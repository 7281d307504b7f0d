"""EmulatorControlClient: every control operation over HTTP, errors raised as the in-process API does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import pytest
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import (
    Advance,
    EmulatorControlClient,
    FaultRule,
    FlyteAdminEmulator,
    Outcome,
)
from flyte_async_provider.emulator.errors import FailedPrecondition, InvalidArgument, NotFound
from support.admin_rpc import create, get, list_request
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT

Phase = core_execution_pb2.WorkflowExecution


@pytest.fixture
def control(flyte_admin_emulator: FlyteAdminEmulator) -> EmulatorControlClient:
    return EmulatorControlClient(flyte_admin_emulator.http_url)


def test_health_reports_the_addresses(
    control: EmulatorControlClient, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    health = control.health()
    assert health["grpc"] == flyte_admin_emulator.grpc_endpoint
    assert health["http"] == flyte_admin_emulator.http_url
    assert health["auth"] is False


def test_script_advance_complete_and_execution(
    control: EmulatorControlClient, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    rule = control.script(Outcome.fail("scripted", code="USER:X"), Advance.manual(), name_pattern="ctl-*")
    assert rule.outcome == Outcome.fail("scripted", code="USER:X")
    assert rule.name_pattern == "ctl-*"
    control.set_default(Outcome.hang(), Advance.manual())
    create(admin, "ctl-1")
    create(admin, "other-1")
    assert control.advance(PROJECT, DOMAIN, "ctl-1") == "QUEUED"
    assert control.complete(PROJECT, DOMAIN, "ctl-1") == "FAILED"
    ex = control.execution(PROJECT, DOMAIN, "ctl-1")
    assert ex.closure.phase == Phase.FAILED
    assert ex.closure.error.message == "scripted"
    assert control.complete(PROJECT, DOMAIN, "other-1", Outcome.time_out()) == "TIMED_OUT"
    control.clear_script()
    create(admin, "ctl-2")
    assert control.execution(PROJECT, DOMAIN, "ctl-2").closure.phase == Phase.UNDEFINED
    with pytest.raises(FailedPrecondition):
        control.advance(PROJECT, DOMAIN, "ctl-2") and control.advance(
            PROJECT, DOMAIN, "ctl-2"
        ) and control.advance(PROJECT, DOMAIN, "ctl-2")


def test_complete_many_returns_the_flip_time_and_pollers_see_it(
    control: EmulatorControlClient, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    control.set_default(Outcome.hang(), Advance.manual())
    names = [f"many-{i}" for i in range(20)]
    assert control.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, names, inputs={"seed": 3}) == 20
    result = control.complete_many(PROJECT, DOMAIN, [*names[:10], "ghost"], Outcome.succeed())
    assert result["completed"] == 10
    listed = admin.ListExecutions(list_request("value_in(execution_name," + ";".join(names) + ")")).executions
    succeeded = [e for e in listed if e.closure.phase == Phase.SUCCEEDED]
    assert sorted(e.id.name for e in succeeded) == sorted(names[:10])
    flip = round(result["timestamp"] * 1e6)
    assert {e.closure.updated_at.ToMicroseconds() for e in succeeded} == {flip}
    assert control.phase_counts() == {"SUCCEEDED": 10, "UNDEFINED": 10}


def test_terminate_as_another_user(
    control: EmulatorControlClient, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    create(admin, "victim")
    control.terminate(PROJECT, DOMAIN, "victim", cause="cancelled in the UI", principal="alice")
    closure = get(admin, "victim").closure
    assert closure.phase == Phase.ABORTING
    assert (closure.abort_metadata.cause, closure.abort_metadata.principal) == (
        "cancelled in the UI",
        "alice",
    )


def test_faults_outage_and_counters(
    control: EmulatorControlClient, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    rule = control.inject_fault("GetExecution", error_rate=1.0, code="RESOURCE_EXHAUSTED")
    assert rule == FaultRule("GetExecution", 1.0, "RESOURCE_EXHAUSTED", 0.0)
    create(admin, "faulty")
    with pytest.raises(grpc.RpcError) as err:
        get(admin, "faulty")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    control.clear_faults()
    control.start_outage()
    with pytest.raises(grpc.RpcError) as err:
        get(admin, "faulty")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    control.end_outage()
    get(admin, "faulty")
    assert control.counters() == {"CreateExecution": 1, "GetExecution": 3}
    assert control.success_counters() == {"CreateExecution": 1, "GetExecution": 1}
    control.reset_counters()
    assert control.counters() == {}
    control.expire_tokens()  # no auth: a no-op, but the operation exists


def test_errors_map_to_the_same_classes(control: EmulatorControlClient) -> None:
    with pytest.raises(NotFound):
        control.execution(PROJECT, DOMAIN, "nobody")
    with pytest.raises(InvalidArgument):
        control.inject_fault("*", error_rate=2.0)
    with pytest.raises(InvalidArgument):
        control.call("complete", project=PROJECT)  # missing arguments
    with pytest.raises(NotFound):
        control.call("no_such_operation")


def test_control_api_is_plain_json(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    with urllib.request.urlopen(f"{flyte_admin_emulator.http_url}/control/counters", timeout=10) as response:
        assert json.loads(response.read()) == {"result": {"counters": {}, "succeeded": {}}}
    request = urllib.request.Request(
        f"{flyte_admin_emulator.http_url}/control/script", data=b"[1, 2]", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400
