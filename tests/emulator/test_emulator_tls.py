"""TLS: gRPC and the HTTP API served with a self-signed certificate for 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import version_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import EmulatorControlClient, FlyteAdminEmulator, TlsSettings
from support.admin_rpc import create_request


@pytest.fixture
def tls_emulator(
    tls_certificate: tuple[Path, Path], flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]
) -> tuple[FlyteAdminEmulator, Path]:
    cert_file, key_file = tls_certificate
    return flyte_admin_emulator_factory(tls=TlsSettings(str(cert_file), str(key_file))), cert_file


def test_grpc_over_tls_with_the_certificate_as_root(tls_emulator: tuple[FlyteAdminEmulator, Path]) -> None:
    emu, cert_file = tls_emulator
    creds = grpc.ssl_channel_credentials(root_certificates=cert_file.read_bytes())
    with grpc.secure_channel(emu.grpc_endpoint, creds) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        assert admin.GetVersion(version_pb2.GetVersionRequest()).control_plane_version.Version
        assert admin.CreateExecution(create_request("over-tls")).id.name == "over-tls"


def test_plaintext_client_cannot_talk_to_a_tls_emulator(
    tls_emulator: tuple[FlyteAdminEmulator, Path],
) -> None:
    emu, _ = tls_emulator
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            admin.GetVersion(version_pb2.GetVersionRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_control_api_over_https(tls_emulator: tuple[FlyteAdminEmulator, Path]) -> None:
    emu, cert_file = tls_emulator
    assert emu.http_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert_file))
    control = EmulatorControlClient(emu.http_url, ssl_context=context)
    assert control.health()["insecure"] is False
