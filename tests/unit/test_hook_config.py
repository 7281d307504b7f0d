"""FlyteHook configuration: one parsed connection -> flytekit Config, auth that never opens a browser."""

from __future__ import annotations

import datetime
import json

import pytest
from flytekit.clients.auth.authenticator import ClientConfig, StaticClientConfigStore
from flytekit.clients.auth.exceptions import AuthenticationError

from flyte_async_provider.config import parse_connection
from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.flytekit_config import auth_plugin
from flyte_async_provider.hooks.flyte import FlyteHook


def _hook(monkeypatch: pytest.MonkeyPatch, conn_id: str = "flyte_default", **body: object) -> FlyteHook:
    body.setdefault("conn_type", "flyte")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return FlyteHook(flyte_conn_id=conn_id)


def test_platform_config_comes_from_the_shared_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(
        monkeypatch,
        host="flyte.example.com",
        port=443,
        login="client",
        password="s3cr3t",
        extra={"scopes": "all offline", "audience": "aud", "console_endpoint": "https://console.example.com"},
    )
    platform = hook.flytekit_config().platform
    assert platform.endpoint == "flyte.example.com:443"
    assert platform.insecure is False
    assert (platform.client_id, platform.client_credentials_secret) == ("client", "s3cr3t")
    assert platform.scopes == ["all", "offline"]
    assert platform.audience == "aud"
    assert platform.auth_mode == auth_plugin.plugin_name(hook.config)
    assert "s3cr3t" not in platform.auth_mode
    assert (
        hook.config.console_url("p", "d", "x")
        == "https://console.example.com/console/projects/p/domains/d/executions/x"
    )


def test_legacy_extras_of_0_0_5_still_configure_flytekit(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(
        monkeypatch,
        host="localhost",
        port=30081,
        extra={
            "insecure": True,
            "s3_endpoint": "http://minio:9000",
            "s3_retries": "5",
            "s3_backoff": "2",
            "statsd_port": "9125",
            "statsd_disabled": "true",
            "env_prefix": "_X_",
            "gsutil_parallelism": "true",
            "local_sandbox_path": "/tmp/sandbox",
        },
    )
    cfg = hook.flytekit_config()
    assert cfg.platform.insecure is True
    assert cfg.data_config.s3.endpoint == "http://minio:9000"
    assert cfg.data_config.s3.retries == 5
    assert cfg.data_config.s3.backoff == datetime.timedelta(seconds=2)
    assert (cfg.stats.port, cfg.stats.disabled) == (9125, True)
    assert cfg.secrets.env_prefix == "_X_"
    assert cfg.data_config.gcs.gsutil_parallelism is True
    assert cfg.local_sandbox_path == "/tmp/sandbox"


def test_project_and_domain_come_from_hook_or_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, host="h", extra={"project": "p"})
    assert hook.project == "p"
    with pytest.raises(FlyteConfigError, match="No Flyte domain"):
        _ = hook.domain
    assert FlyteHook(project="q", domain="d").domain == "d"


def test_missing_connection_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(FlyteConfigError, match="'nope' could not be loaded"):
        _ = FlyteHook(flyte_conn_id="nope").config


def _config(**body: object) -> object:
    from airflow.sdk import Connection

    return parse_connection(Connection(conn_id="c", conn_type="flyte", **body))  # type: ignore[arg-type]


def test_auth_mode_none_fails_clearly_instead_of_opening_a_browser() -> None:
    config = _config(host="h", port=1)
    authenticator = auth_plugin.build_authenticator(config, None, None)  # type: ignore[arg-type]
    assert authenticator.fetch_grpc_call_auth_metadata() is None
    with pytest.raises(AuthenticationError, match="auth_mode 'none'"):
        authenticator.refresh_credentials()


def test_client_credentials_honour_endpoint_and_metadata_key_overrides() -> None:
    config = _config(
        host="h",
        port=1,
        login="id",
        password="pw",
        extra=json.dumps(
            {
                "token_endpoint": "http://idp/token",
                "authorization_metadata_key": "flyte-authorization",
                "scopes": "a b",
            }
        ),
    )
    server = StaticClientConfigStore(
        ClientConfig(
            token_endpoint="http://server/token", authorization_endpoint="", redirect_uri="", client_id=""
        )
    )
    authenticator = auth_plugin.build_authenticator(config, None, server)  # type: ignore[arg-type]
    assert authenticator._token_endpoint == "http://idp/token"
    assert authenticator._header_key == "flyte-authorization"
    assert authenticator._scopes == ["a", "b"]


def test_plugin_names_hold_no_secret_and_differ_per_credentials() -> None:
    a = _config(host="h", port=1, login="id", password="one")
    b = _config(host="h", port=1, login="id", password="two")
    assert auth_plugin.plugin_name(a) != auth_plugin.plugin_name(b)
    assert "one" not in auth_plugin.plugin_name(a)
