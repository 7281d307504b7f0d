"""Fixtures for the emulator tests: the plugin's ``flyte_admin_emulator`` plus a sync gRPC stub."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import FlyteAdminEmulator


@pytest.fixture
def channel(flyte_admin_emulator: FlyteAdminEmulator) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(flyte_admin_emulator.grpc_endpoint) as ch:
        yield ch


@pytest.fixture
def admin(channel: grpc.Channel) -> admin_pb2_grpc.AdminServiceStub:
    return admin_pb2_grpc.AdminServiceStub(channel)
