"""Fault injection (error rates, latency, outages) and per-RPC call counters, over gRPC."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest
from flyteidl.admin import version_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import FlyteAdminEmulator
from flyte_async_provider.emulator.errors import InvalidArgument
from support.admin_rpc import create, get, list_request
from support.waits import wait_for


def outcomes(admin: admin_pb2_grpc.AdminServiceStub, calls: int) -> list[str]:
    result = []
    for _ in range(calls):
        try:
            admin.GetVersion(version_pb2.GetVersionRequest())
            result.append("OK")
        except grpc.RpcError as err:
            result.append(err.code().name)
    return result


@pytest.mark.parametrize("code", ["UNAVAILABLE", "RESOURCE_EXHAUSTED"])
def test_error_rate_one_fails_every_call_of_that_rpc_only(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator, code: str
) -> None:
    flyte_admin_emulator.inject_fault("GetVersion", error_rate=1.0, code=code)
    assert outcomes(admin, 3) == [code] * 3
    create(admin, "unaffected")  # other RPCs still work
    flyte_admin_emulator.clear_faults()
    assert outcomes(admin, 1) == ["OK"]


def test_seeded_error_rate_is_deterministic(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> None:
    patterns = []
    for _ in range(2):
        emu = flyte_admin_emulator_factory(seed=42, register_example=False)
        emu.inject_fault("*", error_rate=0.5)
        with grpc.insecure_channel(emu.grpc_endpoint) as channel:
            patterns.append(outcomes(admin_pb2_grpc.AdminServiceStub(channel), 40))
    assert patterns[0] == patterns[1]
    assert 5 < patterns[0].count("UNAVAILABLE") < 35


def test_named_rule_wins_over_wildcard(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.inject_fault("*", error_rate=1.0, code="RESOURCE_EXHAUSTED")
    flyte_admin_emulator.inject_fault("GetVersion", error_rate=0.0, latency_seconds=0.001)
    assert outcomes(admin, 2) == ["OK", "OK"]
    with pytest.raises(grpc.RpcError) as err:
        create(admin, "blocked")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_latency_is_added_to_each_call(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.inject_fault("GetVersion", latency_seconds=0.2)
    started = time.monotonic()
    assert outcomes(admin, 2) == ["OK", "OK"]
    assert time.monotonic() - started >= 0.4  # a lower bound: cannot flake on a slow machine


def test_injectable_codes_and_rates_are_validated(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    with pytest.raises(InvalidArgument):
        flyte_admin_emulator.inject_fault("*", error_rate=0.5, code="UNKNOWN")
    with pytest.raises(InvalidArgument):
        flyte_admin_emulator.inject_fault("*", error_rate=1.5)


def test_outage_fails_every_call_until_it_ends(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    create(admin, "before-outage")
    flyte_admin_emulator.start_outage()
    for call in (
        lambda: get(admin, "before-outage"),
        lambda: admin.ListExecutions(list_request()),
        lambda: create(admin),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert flyte_admin_emulator.execution(
        "flytesnacks", "development", "before-outage"
    )  # control still works
    flyte_admin_emulator.end_outage()
    assert get(admin, "before-outage").id.name == "before-outage"


def test_timed_outage_ends_by_itself(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.start_outage(0.3)
    assert outcomes(admin, 1) == ["UNAVAILABLE"]
    wait_for(lambda: outcomes(admin, 1) == ["OK"], timeout=10, interval=0.05)


def test_counters_count_every_call_received_and_successes_separately(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.reset_counters()
    create(admin, "counted")
    get(admin, "counted")
    with pytest.raises(grpc.RpcError):
        get(admin, "missing")  # NOT_FOUND still counts as a call
    flyte_admin_emulator.inject_fault("ListExecutions", error_rate=1.0)
    for _ in range(2):
        with pytest.raises(grpc.RpcError):
            admin.ListExecutions(list_request())
    assert flyte_admin_emulator.counters() == {"CreateExecution": 1, "GetExecution": 2, "ListExecutions": 2}
    assert flyte_admin_emulator.success_counters() == {"CreateExecution": 1, "GetExecution": 1}
    flyte_admin_emulator.reset_counters()
    assert flyte_admin_emulator.counters() == {}


def test_an_emulator_bug_is_internal_never_unknown(
    admin: admin_pb2_grpc.AdminServiceStub,
    flyte_admin_emulator: FlyteAdminEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> bytes:
        raise RuntimeError("simulated emulator bug")

    monkeypatch.setattr(flyte_admin_emulator.backend, "get_execution_bytes", broken)
    with pytest.raises(grpc.RpcError) as err:
        get(admin, "anything")
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "simulated emulator bug" in err.value.details()
