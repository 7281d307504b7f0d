"""Parse an Airflow ``flyte`` connection into one frozen config used by both client paths.

The launch path (flytekit, worker) and the watch path (grpc.aio, triggerer) must agree on endpoint,
TLS and auth, so both are built from :class:`FlyteConnectionConfig`, made by one pure function from a
``Connection``. Parsing never touches the network; bad values raise :class:`FlyteConfigError` naming
the connection and the field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from flyte_async_provider.exceptions import FlyteConfigError

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "flyte_default"
# Seconds between status reads of a watched execution. A read is one name in a batched ListExecutions
# (pages of 200 per triggerer process): 1,000 watches at 5 s cost ~1 % of a core and ~1.4 Admin
# calls/s (benchmarks/triggerer_scale.py), so a Flyte-side end reaches Airflow within ~5 s for
# next to nothing; the old 30 s made an abort take half a minute to show.
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_PORT = 443
DEFAULT_MAX_CALLS_IN_FLIGHT = 64


class AuthMode(str, Enum):
    """How the provider obtains credentials for Flyte Admin."""

    NONE = "none"
    CLIENT_CREDENTIALS = "client_credentials"
    EXTERNAL_COMMAND = "external_command"


# Extras the old airflow-provider-flyte 0.0.5 accepted that only concern flytekit's data/secrets/stats
# plumbing. They still parse (kept in ``flytekit_extras``) so migrated connections keep working.
LEGACY_FLYTEKIT_EXTRAS = frozenset(
    {
        "env_prefix",
        "default_dir",
        "file_prefix",
        "statsd_host",
        "statsd_port",
        "statsd_disabled",
        "statsd_disabled_tags",
        "s3_enable_debug",
        "s3_endpoint",
        "s3_retries",
        "s3_backoff",
        "s3_access_key_id",
        "s3_secret_access_key",
        "gsutil_parallelism",
        "local_sandbox_path",
    }
)

KNOWN_EXTRAS = frozenset(
    {
        "project",
        "domain",
        "insecure",
        "insecure_skip_verify",
        "ca_cert_file_path",
        "auth_mode",
        "command",
        "scopes",
        "audience",
        "authorization_metadata_key",
        "token_endpoint",
        "console_endpoint",
        "max_admin_calls_per_second",
        "max_admin_calls_in_flight",
        "client_id",
        "client_secret",
    }
    | LEGACY_FLYTEKIT_EXTRAS
)

# flytekit's auth_mode spellings (PlatformConfig.auth_mode) mapped to ours.
_AUTH_MODE_ALIASES = {
    "": AuthMode.NONE,
    "none": AuthMode.NONE,
    "clientsecret": AuthMode.CLIENT_CREDENTIALS,
    "client_secret": AuthMode.CLIENT_CREDENTIALS,
    "clientcredentials": AuthMode.CLIENT_CREDENTIALS,
    "client_credentials": AuthMode.CLIENT_CREDENTIALS,
    "externalcommand": AuthMode.EXTERNAL_COMMAND,
    "external_command": AuthMode.EXTERNAL_COMMAND,
    "external_process": AuthMode.EXTERNAL_COMMAND,
    "externalprocess": AuthMode.EXTERNAL_COMMAND,
}


class ConnectionLike(Protocol):
    """The parts of ``airflow.sdk.Connection`` the parser reads (tests pass simple objects)."""

    conn_id: str
    host: str | None
    port: int | None
    login: str | None
    password: str | None
    schema: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FlyteConnectionConfig:
    """Everything needed to talk to one Flyte Admin; hashable, secret hidden from ``repr``."""

    conn_id: str
    host: str
    port: int
    insecure: bool = False
    insecure_skip_verify: bool = False
    ca_cert_file_path: str | None = None
    auth_mode: AuthMode = AuthMode.NONE
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    command: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    authorization_metadata_key: str | None = None
    token_endpoint: str | None = None
    console_endpoint: str | None = None
    project: str | None = None
    domain: str | None = None
    max_admin_calls_per_second: float | None = None
    max_admin_calls_in_flight: int = DEFAULT_MAX_CALLS_IN_FLIGHT
    flytekit_extras: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def endpoint(self) -> str:
        """``host:port`` as gRPC and flytekit expect it."""
        return f"{self.host}:{self.port}"

    @property
    def channel_key(self) -> str:
        """Identity of a gRPC channel + token cache: endpoint, TLS and credentials.

        The secret enters only as a digest, so the key may be logged or used as a dict key safely.
        """
        secret_digest = hashlib.sha256((self.client_secret or "").encode()).hexdigest()[:16]
        parts = (
            self.endpoint,
            str(self.insecure),
            str(self.insecure_skip_verify),
            self.ca_cert_file_path or "",
            self.auth_mode.value,
            self.client_id or "",
            secret_digest,
            " ".join(self.command),
            ",".join(self.scopes),
            self.audience or "",
            self.token_endpoint or "",
        )
        return "|".join(parts)

    def console_url(self, project: str, domain: str, execution_name: str) -> str:
        """Flyte console URL of an execution (``console_endpoint`` or the admin endpoint)."""
        if self.console_endpoint:
            base = self.console_endpoint.rstrip("/")
            if "://" not in base:
                base = f"{'http' if self.insecure else 'https'}://{base}"
        else:
            scheme = "http" if self.insecure else "https"
            default_port = 80 if self.insecure else 443
            netloc = self.host if self.port == default_port else self.endpoint
            base = f"{scheme}://{netloc}"
        return f"{base}/console/projects/{project}/domains/{domain}/executions/{execution_name}"

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> FlyteConnectionConfig:
        """Build the config from an Airflow connection; see :func:`parse_connection`."""
        return parse_connection(conn)


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def _bool(conn_id: str, name: str, value: Any) -> bool:
    if value is None:  # Airflow's UI saves an untouched form field as null: not set, i.e. false
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise FlyteConfigError(f"Connection {conn_id!r}: extra {name!r} must be true or false, got {value!r}.")


def _str_list(conn_id: str, name: str, value: Any, *, shell: bool) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        if value.strip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise FlyteConfigError(
                    f"Connection {conn_id!r}: extra {name!r} looks like a JSON list but is not JSON: {exc}."
                ) from None
        else:
            if shell:
                return tuple(shlex.split(value))
            return tuple(s for s in value.replace(",", " ").split() if s)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise FlyteConfigError(
        f"Connection {conn_id!r}: extra {name!r} must be a string or a list of strings, got {value!r}."
    )


def _opt_str(conn_id: str, name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FlyteConfigError(f"Connection {conn_id!r}: extra {name!r} must be a string, got {value!r}.")
    return value


def _opt_positive(conn_id: str, name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0 or isinstance(value, bool):
        raise FlyteConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a positive number, got {value!r}."
        )
    return number


def _split_host(conn_id: str, host: str | None, port: int | None) -> tuple[str, int]:
    if not host:
        raise FlyteConfigError(
            f"Connection {conn_id!r} has no host: set it to the Flyte Admin gRPC endpoint, "
            "e.g. host='flyte.example.com', port=443."
        )
    host = host.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.strip("/")
    if port is None and host.count(":") == 1:
        host, _, port_text = host.partition(":")
        if not port_text.isdigit():
            raise FlyteConfigError(f"Connection {conn_id!r}: port {port_text!r} in host is not a number.")
        port = int(port_text)
    if port is None:
        port = DEFAULT_PORT
    if not 0 < int(port) < 65536:
        raise FlyteConfigError(f"Connection {conn_id!r}: port {port!r} is out of range 1-65535.")
    return host, int(port)


def parse_connection(conn: ConnectionLike) -> FlyteConnectionConfig:
    """Parse a ``flyte`` connection. Pure: reads only the object given.

    Unknown extras log a warning and are ignored (a typo must not break a running deployment);
    malformed known extras raise :class:`FlyteConfigError`.
    """
    conn_id = conn.conn_id or DEFAULT_CONN_ID
    extra: Mapping[str, Any] = conn.extra_dejson or {}
    unknown = sorted(set(extra) - KNOWN_EXTRAS)
    if unknown:
        log.warning("Connection %r: ignoring unknown extras %s", conn_id, ", ".join(unknown))

    host, port = _split_host(conn_id, conn.host, conn.port)
    raw_mode = str(extra.get("auth_mode") or "").strip().lower().replace("-", "_")
    client_id = conn.login or _opt_str(conn_id, "client_id", extra.get("client_id"))
    client_secret = conn.password or _opt_str(conn_id, "client_secret", extra.get("client_secret"))
    command = _str_list(conn_id, "command", extra.get("command"), shell=True)
    if raw_mode in ("", "standard", "pkce"):
        # Old connections said "Pkce"/"standard" (flytekit's default) or nothing: infer from what is set.
        if command:
            mode = AuthMode.EXTERNAL_COMMAND
        elif client_id or client_secret:
            mode = AuthMode.CLIENT_CREDENTIALS
        else:
            mode = AuthMode.NONE
    elif raw_mode in _AUTH_MODE_ALIASES:
        mode = _AUTH_MODE_ALIASES[raw_mode]
    else:
        raise FlyteConfigError(
            f"Connection {conn_id!r}: auth_mode {extra.get('auth_mode')!r} is not supported; use one of "
            "'none', 'client_credentials' (login/password = client id/secret) or 'external_command'."
        )
    if mode is AuthMode.CLIENT_CREDENTIALS and not (client_id and client_secret):
        raise FlyteConfigError(
            f"Connection {conn_id!r}: auth_mode client_credentials needs the OAuth2 client id in 'login' "
            "and the client secret in 'password'."
        )
    if mode is AuthMode.EXTERNAL_COMMAND and not command:
        raise FlyteConfigError(
            f"Connection {conn_id!r}: auth_mode external_command needs extra 'command' "
            "(the program that prints a token)."
        )

    in_flight = _opt_positive(conn_id, "max_admin_calls_in_flight", extra.get("max_admin_calls_in_flight"))
    legacy = tuple(sorted((k, str(v)) for k, v in extra.items() if k in LEGACY_FLYTEKIT_EXTRAS))
    return FlyteConnectionConfig(
        conn_id=conn_id,
        host=host,
        port=port,
        insecure=_bool(conn_id, "insecure", extra.get("insecure", False)),
        insecure_skip_verify=_bool(conn_id, "insecure_skip_verify", extra.get("insecure_skip_verify", False)),
        ca_cert_file_path=_opt_str(conn_id, "ca_cert_file_path", extra.get("ca_cert_file_path")),
        auth_mode=mode,
        client_id=client_id,
        client_secret=client_secret,
        command=command,
        scopes=_str_list(conn_id, "scopes", extra.get("scopes"), shell=False),
        audience=_opt_str(conn_id, "audience", extra.get("audience")),
        authorization_metadata_key=_opt_str(
            conn_id, "authorization_metadata_key", extra.get("authorization_metadata_key")
        ),
        token_endpoint=_opt_str(conn_id, "token_endpoint", extra.get("token_endpoint")),
        console_endpoint=_opt_str(conn_id, "console_endpoint", extra.get("console_endpoint")),
        project=_opt_str(conn_id, "project", extra.get("project")),
        domain=_opt_str(conn_id, "domain", extra.get("domain")),
        max_admin_calls_per_second=_opt_positive(
            conn_id, "max_admin_calls_per_second", extra.get("max_admin_calls_per_second")
        ),
        max_admin_calls_in_flight=int(in_flight) if in_flight else DEFAULT_MAX_CALLS_IN_FLIGHT,
        flytekit_extras=legacy,
    )
