"""Fixtures for the emulator tests: the plugin's ``flyte_admin_emulator``, a sync gRPC stub, a FlyteRemote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import FlyteAdminEmulator
from support.flyte import DOMAIN, PROJECT

if TYPE_CHECKING:
    from flytekit.remote import FlyteRemote


@pytest.fixture
def channel(flyte_admin_emulator: FlyteAdminEmulator) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(flyte_admin_emulator.grpc_endpoint) as ch:
        yield ch


@pytest.fixture
def admin(channel: grpc.Channel) -> admin_pb2_grpc.AdminServiceStub:
    return admin_pb2_grpc.AdminServiceStub(channel)


@pytest.fixture
def remote(flyte_admin_emulator: FlyteAdminEmulator) -> FlyteRemote:
    """Unmodified flytekit, talking to the emulator (flytekit is imported only by the tests that use it)."""
    from flytekit.configuration import Config, PlatformConfig
    from flytekit.remote import FlyteRemote

    config = Config(platform=PlatformConfig(endpoint=flyte_admin_emulator.grpc_endpoint, insecure=True))
    return FlyteRemote(config, default_project=PROJECT, default_domain=DOMAIN)
