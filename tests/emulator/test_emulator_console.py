"""The console link the provider pushes to XCom opens a readable page on the emulator."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import FlyteAdminEmulator
from support.admin_rpc import create
from support.flyte import DOMAIN, PROJECT


def _page(emulator: FlyteAdminEmulator, name: str) -> str:
    url = f"{emulator.http_url}/console/projects/{PROJECT}/domains/{DOMAIN}/executions/{name}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        return str(response.read().decode())


def test_console_page_shows_phase_and_abort_cause(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    create(admin, "shown")
    flyte_admin_emulator.terminate(PROJECT, DOMAIN, "shown", "stopped <by> ops", "alice")
    page = _page(flyte_admin_emulator, "shown")
    assert "ABORTING" in page
    assert "by alice: stopped &lt;by&gt; ops" in page  # escaped, never raw HTML from a cause


def test_console_page_of_an_abort_without_auth_names_no_empty_principal(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    """A TerminateExecution RPC with auth off carries no principal, as on flyteadmin."""
    from flyteidl.admin import execution_pb2

    from support.admin_rpc import ident

    create(admin, "anonymous")
    admin.TerminateExecution(execution_pb2.ExecutionTerminateRequest(id=ident("anonymous"), cause="stop it"))
    page = _page(flyte_admin_emulator, "anonymous")
    assert "<td>stop it</td>" in page
    assert "by :" not in page


def test_console_page_for_unknown_execution_is_404(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _page(flyte_admin_emulator, "nope")
    assert info.value.code == 404
