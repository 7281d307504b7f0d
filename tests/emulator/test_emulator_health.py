"""grpc.health.v1.Health, checked with the standard client (grpcio-health-checking's stub)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flyte_async_provider.emulator import AuthSettings, FlyteAdminEmulator

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def health(flyte_admin_emulator: FlyteAdminEmulator) -> Iterator[health_pb2_grpc.HealthStub]:
    with grpc.insecure_channel(flyte_admin_emulator.grpc_endpoint) as channel:
        yield health_pb2_grpc.HealthStub(channel)


def test_check_answers_serving_for_the_server_and_for_flyteadmin(
    health: health_pb2_grpc.HealthStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    assert health.Check(health_pb2.HealthCheckRequest()).status == SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="flyteadmin")).status == SERVING
    assert flyte_admin_emulator.counters()["Check"] == 2


def test_check_of_an_unknown_service_is_not_found(health: health_pb2_grpc.HealthStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        health.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_streams_the_current_status(health: health_pb2_grpc.HealthStub) -> None:
    stream = health.Watch(health_pb2.HealthCheckRequest(), timeout=30)
    assert next(stream).status == SERVING
    stream.cancel()
    unknown = health.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=30)
    assert next(unknown).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    unknown.cancel()


def test_an_outage_fails_the_check(
    health: health_pb2_grpc.HealthStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.start_outage()
    with pytest.raises(grpc.RpcError) as err:
        health.Check(health_pb2.HealthCheckRequest())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    flyte_admin_emulator.end_outage()
    assert health.Check(health_pb2.HealthCheckRequest()).status == SERVING


def test_probes_need_no_token_when_auth_is_on(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> None:
    emu = flyte_admin_emulator_factory(
        auth=AuthSettings(client_id="c", client_secret="s"), register_example=False
    )
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest()).status == SERVING
