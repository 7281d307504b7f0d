"""The CLI in a subprocess: addresses as one JSON line, --ready-file, options, clean SIGTERM/SIGINT exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import EmulatorControlClient, Outcome
from flyte_async_provider.emulator.errors import NotFound
from support.admin_rpc import create, get
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT
from support.waits import wait_for

Phase = core_execution_pb2.WorkflowExecution


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flyte_async_provider.emulator", "--port", "0", "--http-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_cli_serves_the_example_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    db = tmp_path / "cli.sqlite"
    proc = start("--ready-file", str(ready), "--db", str(db), "--default-outcome", "fail", "--manual")
    try:
        assert proc.stdout is not None
        addresses = json.loads(proc.stdout.readline())
        assert json.loads(wait_for(lambda: ready.exists() and ready.read_text(), timeout=30)) == addresses
        assert addresses["grpc"].startswith("127.0.0.1:")
        assert addresses["http"].startswith("http://127.0.0.1:")
        with grpc.insecure_channel(addresses["grpc"]) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            create(admin, "from-cli", seed=1)
            control = EmulatorControlClient(addresses["http"])
            assert control.complete(PROJECT, DOMAIN, "from-cli") == "FAILED"  # --default-outcome fail
            assert get(admin, "from-cli").closure.phase == Phase.FAILED
            assert control.counters()["CreateExecution"] == 1
    finally:
        code = stop(proc, signal.SIGTERM)
    assert code == 0
    assert db.exists()


@pytest.mark.slow
def test_cli_without_example_stops_on_sigint() -> None:
    proc = start("--no-example", "--advance-reads", "1")
    try:
        assert proc.stdout is not None
        addresses = json.loads(proc.stdout.readline())
        control = EmulatorControlClient(addresses["http"])
        assert control.health()["grpc"] == addresses["grpc"]
        with pytest.raises(NotFound, match="not found"):
            control.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, ["x"])
        control.script(Outcome.succeed())
    finally:
        code = stop(proc, signal.SIGINT)
    assert code == 0


def test_cli_rejects_half_a_tls_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flyte_async_provider.emulator", "--tls-cert", "cert.pem"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--tls-cert and --tls-key go together" in result.stderr


def test_console_script_and_pytest_plugin_are_registered() -> None:
    from importlib.metadata import entry_points

    from flyte_async_provider.emulator import cli, pytest_plugin

    scripts = {e.name: e for e in entry_points(group="console_scripts")}
    assert scripts["flyte-admin-emulator"].load() is cli.main
    plugins = {e.name: e for e in entry_points(group="pytest11")}
    assert plugins["flyte_admin_emulator"].load() is pytest_plugin
