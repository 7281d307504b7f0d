"""flytekit authenticators built from our parsed connection, so both client paths authenticate alike.

flytekit picks its authenticator from ``PlatformConfig.auth_mode``; its default (PKCE) opens a
browser when the server asks for credentials, which hangs a worker, and it always takes the token
endpoint and metadata key from the server. We register one flytekit auth plugin per connection
config (keyed by ``channel_key``, which holds no secret) that honours ``auth_mode none`` (fail
clearly instead), ``token_endpoint`` and ``authorization_metadata_key`` overrides.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

from flyte_async_provider.config import AuthMode, FlyteConnectionConfig

PLUGIN_PREFIX = "airflow-flyte-async-"


def plugin_name(config: FlyteConnectionConfig) -> str:
    """Stable flytekit auth-plugin name for a config (a digest: no secret leaks through it)."""
    return PLUGIN_PREFIX + hashlib.sha256(config.channel_key.encode()).hexdigest()[:16]


class _QuietPluginLookup(logging.Filter):
    """Drop flytekit's INFO line naming our plugin ("Using registered auth plugin 'airflow-flyte-...'").

    flytekit logs it on the root logger every time a client is built, so it opened every task log with
    a cryptic digest. Only records of exactly that message about our own plugins are dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(f"Using registered auth plugin '{PLUGIN_PREFIX}")


_QUIET = _QuietPluginLookup()


def register(config: FlyteConnectionConfig) -> str:
    """Register (idempotently) the authenticator factory for ``config``; return the auth_mode to use."""
    from flytekit.clients.auth_helper import register_authenticator_plugin

    root = logging.getLogger()
    if _QUIET not in root.filters:
        root.addFilter(_QUIET)
    name = plugin_name(config)
    register_authenticator_plugin(name, lambda cfg, store: build_authenticator(config, cfg, store))
    return name


class _OverridingStore:
    """Server-published client config with the connection's overrides applied (fetched lazily)."""

    def __init__(self, config: FlyteConnectionConfig, inner: Any) -> None:
        self._config = config
        self._inner = inner

    def get_client_config(self) -> Any:
        from flytekit.clients.auth.authenticator import ClientConfig

        c = self._config
        if c.token_endpoint and c.authorization_metadata_key:
            server = ClientConfig(token_endpoint="", authorization_endpoint="", redirect_uri="", client_id="")
        else:
            server = self._inner.get_client_config()
        return replace(
            server,
            token_endpoint=c.token_endpoint or server.token_endpoint,
            header_key=c.authorization_metadata_key or server.header_key,
            scopes=list(c.scopes) or server.scopes,
            audience=c.audience or server.audience,
        )


def build_authenticator(config: FlyteConnectionConfig, platform: Any, store: Any) -> Any:
    """The flytekit ``Authenticator`` for ``config`` (called lazily by flytekit's interceptor)."""
    from flytekit.clients.auth.authenticator import (
        Authenticator,
        ClientCredentialsAuthenticator,
        CommandAuthenticator,
    )
    from flytekit.clients.auth.exceptions import AuthenticationError

    if config.auth_mode is AuthMode.CLIENT_CREDENTIALS:
        verify: bool | str | None = None
        if config.insecure_skip_verify:
            verify = False
        elif config.ca_cert_file_path:
            verify = config.ca_cert_file_path
        return ClientCredentialsAuthenticator(
            endpoint=config.endpoint,
            client_id=config.client_id or "",
            client_secret=config.client_secret or "",
            cfg_store=_OverridingStore(config, store),
            header_key=config.authorization_metadata_key,
            scopes=list(config.scopes) or None,
            audience=config.audience,
            verify=verify,
        )
    if config.auth_mode is AuthMode.EXTERNAL_COMMAND:
        header = (
            config.authorization_metadata_key
            or _OverridingStore(config, store).get_client_config().header_key
        )
        return CommandAuthenticator(command=list(config.command), header_key=header)

    conn_id = config.conn_id

    class NoAuthenticator(Authenticator):  # type: ignore[misc]
        """auth_mode none: send no token; if the server demands one, say so instead of a browser."""

        def refresh_credentials(self) -> None:
            raise AuthenticationError(
                f"Flyte Admin at {config.endpoint} requires authentication but connection {conn_id!r} has "
                "auth_mode 'none': set login/password (client credentials) or extra 'command'."
            )

    return NoAuthenticator(config.endpoint, config.authorization_metadata_key or "authorization")
