"""parse_connection: one pure parser for both client paths; bad values are typed errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from flyte_async_provider.config import AuthMode, FlyteConnectionConfig, parse_connection
from flyte_async_provider.exceptions import FlyteConfigError


@dataclass
class Conn:
    host: str | None = "flyte.example.com"
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    conn_id: str = "flyte_default"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


def test_minimal_connection_defaults_to_tls_443_without_auth() -> None:
    cfg = parse_connection(Conn())
    assert cfg.endpoint == "flyte.example.com:443"
    assert cfg.auth_mode is AuthMode.NONE
    assert not cfg.insecure
    assert (
        cfg.console_url("p", "d", "n")
        == "https://flyte.example.com/console/projects/p/domains/d/executions/n"
    )


def test_host_with_scheme_and_port_is_split() -> None:
    cfg = parse_connection(Conn(host="dns:///localhost:30080/", extra={"insecure": "true"}))
    assert (cfg.host, cfg.port, cfg.insecure) == ("localhost", 30080, True)
    assert cfg.console_url("p", "d", "n").startswith("http://localhost:30080/console/")


def test_console_endpoint_wins_for_urls() -> None:
    cfg = parse_connection(Conn(extra={"console_endpoint": "https://console.example.com/"}))
    assert (
        cfg.console_url("a", "b", "c")
        == "https://console.example.com/console/projects/a/domains/b/executions/c"
    )


def test_login_password_mean_client_credentials_and_secret_is_hidden() -> None:
    cfg = parse_connection(Conn(login="client", password="s3cr3t-value", extra={"scopes": "all, admin"}))
    assert cfg.auth_mode is AuthMode.CLIENT_CREDENTIALS
    assert cfg.scopes == ("all", "admin")
    assert "s3cr3t-value" not in repr(cfg)
    assert "s3cr3t-value" not in cfg.channel_key


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("ClientSecret", AuthMode.CLIENT_CREDENTIALS), ("EXTERNAL_COMMAND", AuthMode.EXTERNAL_COMMAND)],
)
def test_flytekit_auth_mode_spellings_are_accepted(mode: str, expected: AuthMode) -> None:
    cfg = parse_connection(
        Conn(login="c", password="s", extra={"auth_mode": mode, "command": ["get-token", "--quiet"]})
    )
    assert cfg.auth_mode is expected


def test_external_command_string_is_shell_split() -> None:
    cfg = parse_connection(Conn(extra={"auth_mode": "external_command", "command": "print-token 'a b'"}))
    assert cfg.command == ("print-token", "a b")


@pytest.mark.parametrize(
    ("conn", "needle"),
    [
        (Conn(host=None), "has no host"),
        (Conn(port=70000), "out of range"),
        (Conn(extra={"insecure": "maybe"}), "'insecure' must be true or false"),
        (Conn(extra={"auth_mode": "kerberos"}), "auth_mode 'kerberos' is not supported"),
        (Conn(extra={"auth_mode": "client_credentials"}), "needs the OAuth2 client id"),
        (Conn(extra={"auth_mode": "external_command"}), "needs extra 'command'"),
        (Conn(extra={"max_admin_calls_per_second": 0}), "'max_admin_calls_per_second' must be a positive"),
        (Conn(extra={"scopes": 5}), "'scopes' must be a string or a list"),
    ],
)
def test_bad_values_raise_config_errors_naming_the_field(conn: Conn, needle: str) -> None:
    with pytest.raises(FlyteConfigError, match="flyte_default") as info:
        parse_connection(conn)
    assert needle in str(info.value)


def test_every_legacy_extra_still_parses_and_unknown_ones_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    legacy = {
        "project": "flytesnacks",
        "domain": "development",
        "insecure": True,
        "insecure_skip_verify": False,
        "command": None,
        "scopes": ["all"],
        "auth_mode": "Pkce",
        "env_prefix": "_FSEC_",
        "default_dir": "/etc/secrets",
        "file_prefix": "",
        "statsd_host": "localhost",
        "statsd_port": 8125,
        "statsd_disabled": True,
        "statsd_disabled_tags": False,
        "s3_enable_debug": False,
        "s3_endpoint": "http://localhost:30084",
        "s3_retries": 3,
        "s3_backoff": 5,
        "s3_access_key_id": "minio",
        "s3_secret_access_key": "miniostorage",
        "gsutil_parallelism": False,
        "local_sandbox_path": "/tmp/flyte",
        "made_up_option": 1,
    }
    with caplog.at_level(logging.WARNING):
        cfg = parse_connection(Conn(host="localhost", port=30081, extra=legacy))
    assert (cfg.project, cfg.domain, cfg.auth_mode) == ("flytesnacks", "development", AuthMode.NONE)
    assert dict(cfg.flytekit_extras)["s3_endpoint"] == "http://localhost:30084"
    assert "made_up_option" in caplog.text
    assert "miniostorage" not in repr(cfg)


def test_config_is_hashable_and_frozen() -> None:
    cfg = parse_connection(Conn())
    assert {cfg: 1}[cfg] == 1
    with pytest.raises(AttributeError):
        cfg.host = "other"  # type: ignore[misc]
    assert FlyteConnectionConfig.from_connection(Conn()) == cfg


def test_a_form_saved_with_every_extra_empty_parses_like_no_extras(caplog: pytest.LogCaptureFixture) -> None:
    """Airflow's UI saves each empty extra of the form as null: that must mean "not set", silently."""
    from flyte_async_provider.connection_form import EXTRA_FIELDS

    with caplog.at_level(logging.WARNING):
        saved = parse_connection(
            Conn(login="id", password="secret", extra={f.name: None for f in EXTRA_FIELDS})
        )
    plain = parse_connection(Conn(login="id", password="secret"))
    assert saved == plain
    assert saved.auth_mode is AuthMode.CLIENT_CREDENTIALS  # inferred, as the form's empty auth mode says
    assert caplog.records == []
