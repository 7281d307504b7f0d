"""The ready line carries an AIRFLOW_CONN_FLYTE_DEFAULT whose console links open the emulator's console."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.config import AuthMode, FlyteConnectionConfig, parse_connection
from flyte_async_provider.emulator import AuthSettings, FlyteAdminEmulator, TlsSettings
from flyte_async_provider.emulator.cli import ready_info
from support.admin_rpc import create
from support.flyte import DOMAIN, PROJECT
from support.tls import self_signed_certificate
from support.waits import wait_for


def parsed(value: str) -> FlyteConnectionConfig:
    """The value as Airflow hands it to the provider (its JSON connection form)."""
    body: dict[str, Any] = json.loads(value)
    assert body["conn_type"] == "flyte"
    conn = SimpleNamespace(
        conn_id="flyte_default",
        host=body["host"],
        port=body["port"],
        login=body.get("login"),
        password=body.get("password"),
        schema=None,
        extra_dejson=body["extra"],
    )
    return parse_connection(conn)


def test_the_connection_reaches_grpc_and_its_console_links_open_the_console_page(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    info = ready_info(flyte_admin_emulator)
    assert info["grpc"] == flyte_admin_emulator.grpc_endpoint  # the addresses are still there
    config = parsed(info["AIRFLOW_CONN_FLYTE_DEFAULT"])
    assert (config.host, config.port, config.insecure) == ("127.0.0.1", flyte_admin_emulator.grpc_port, True)
    assert (config.project, config.domain) == (PROJECT, DOMAIN)
    assert config.auth_mode is AuthMode.NONE

    create(admin, "linked")
    url = config.console_url(PROJECT, DOMAIN, "linked")
    assert (
        url
        == f"{flyte_admin_emulator.http_url}/console/projects/{PROJECT}/domains/{DOMAIN}/executions/linked"
    )
    with urllib.request.urlopen(url, timeout=10) as page:
        assert page.status == 200
        assert "linked" in page.read().decode()


def test_with_auth_and_tls_the_connection_carries_the_client_and_the_certificate(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator], tmp_path: Path
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    auth = AuthSettings(client_id="airflow", client_secret="s3cret")
    emu = flyte_admin_emulator_factory(auth=auth, tls=TlsSettings(str(cert), str(key)))
    config = parsed(ready_info(emu)["AIRFLOW_CONN_FLYTE_DEFAULT"])
    assert config.insecure is False
    assert config.ca_cert_file_path == str(cert)
    assert config.auth_mode is AuthMode.CLIENT_CREDENTIALS
    assert (config.client_id, config.client_secret) == ("airflow", "s3cret")
    assert config.console_endpoint == emu.http_url
    assert emu.http_url.startswith("https://")


def test_the_cli_prints_it_on_its_ready_line(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "flyte_async_provider.emulator", "--port", "0", "--http-port", "0"]
    proc = subprocess.Popen([*command, "--ready-file", str(ready)], stdout=subprocess.PIPE, text=True)
    try:
        line = json.loads(
            wait_for(lambda: ready.exists() and ready.read_text(), timeout=60, what="ready file")
        )
        config = parsed(line["AIRFLOW_CONN_FLYTE_DEFAULT"])
        assert f"{config.host}:{config.port}" == line["grpc"]
        assert config.console_endpoint == line["http"]
        with grpc.insecure_channel(line["grpc"]) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
