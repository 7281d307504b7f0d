"""FlyteHook.test_connection: a real authenticated round trip that says what failed."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from flyte_async_provider.emulator import AuthSettings
from flyte_async_provider.hooks.flyte import FlyteHook
from support.flyte import connection_json

SECRET = "s3cr3t-value"


def _use(monkeypatch: pytest.MonkeyPatch, body: str) -> FlyteHook:
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", body)
    return FlyteHook()


def test_ok_without_auth(flyte: Any) -> None:
    ok, message = FlyteHook().test_connection()
    assert ok, message
    assert "listed executions of flytesnacks/development" in message


def test_unreachable_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = _use(
        monkeypatch,
        f'{{"conn_type": "flyte", "host": "127.0.0.1", "port": {port}, "extra": {{"insecure": true}}}}',
    )
    ok, message = hook.test_connection()
    assert not ok
    assert "could not reach Flyte Admin" in message


@pytest.fixture
def auth_emulator(flyte_admin_emulator_factory: Callable[..., Any]) -> Any:
    return flyte_admin_emulator_factory(auth=AuthSettings(client_id="airflow", client_secret=SECRET))


def test_client_credentials_round_trip(auth_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _use(monkeypatch, connection_json(auth_emulator, login="airflow", password=SECRET))
    ok, message = hook.test_connection()
    assert ok, message
    assert "with client_credentials" in message


def test_wrong_secret_is_reported_without_the_secret(
    auth_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = _use(monkeypatch, connection_json(auth_emulator, login="airflow", password="wrong-" + SECRET))
    ok, message = hook.test_connection()
    assert not ok
    assert "rejected the credentials" in message
    assert SECRET not in message


def test_auth_mode_none_against_an_authenticating_admin(
    auth_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = _use(monkeypatch, connection_json(auth_emulator))
    ok, message = hook.test_connection()
    assert not ok
    assert "auth_mode 'none'" in message


def test_tls_connection_to_a_plaintext_admin_says_to_set_insecure(
    flyte: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flytekit's path: the handshake failure is named as such, with the field to change."""
    hook = _use(monkeypatch, connection_json(flyte, extra={"insecure": False, "insecure_skip_verify": True}))
    ok, message = hook.test_connection()
    assert not ok
    assert "answers in plaintext" in message, message
    assert '"insecure": true' in message
