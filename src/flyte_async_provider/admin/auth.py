"""Token sources for Flyte Admin calls: none, OAuth2 client credentials, external command.

Tokens are cached per process and per connection identity (``config.channel_key``) and shared by
every caller, so 1,000 triggers on one connection cause one token request, not 1,000 (single-flight
per loop). The token endpoint, scopes, audience and metadata key are discovered through Flyte
Admin's unauthenticated ``AuthMetadataService`` unless the connection sets them, exactly as flytekit
does, so the launch path and the watch path authenticate alike.

Metadata key: the connection's ``authorization_metadata_key``, else the one flyteadmin publishes in
``GetPublicClientConfig`` (``flyte-authorization`` by default), else ``authorization`` (flytekit's
fallback; flyteadmin also reads the standard header).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte_async_provider.admin._loops import LoopLocal, import_off_loop
from flyte_async_provider.config import AuthMode
from flyte_async_provider.exceptions import FlyteAdminError, FlyteAuthError, FlyteTransientError

if TYPE_CHECKING:
    import aiohttp

    from flyte_async_provider.config import FlyteConnectionConfig

log = logging.getLogger(__name__)

DEFAULT_METADATA_KEY = "authorization"
TOKEN_REQUEST_TIMEOUT = 15.0
COMMAND_TIMEOUT = 60.0
# After a rejected secret, new callers get the same error for this long instead of asking again.
NEGATIVE_CACHE_SECONDS = 30.0

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AuthServerInfo:
    """What Flyte Admin publishes about its authorization server (empty fields when unknown)."""

    token_endpoint: str | None = None
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    metadata_key: str | None = None


@dataclass(frozen=True)
class Token:
    """An access token and when to stop using it (``time.monotonic`` seconds; inf = until rejected)."""

    value: str
    refresh_at: float


class TokenSource:
    """Gives the per-call auth metadata; subclasses fetch tokens. This base class sends none."""

    async def call_metadata(self) -> Metadata:
        """Metadata to attach to one admin call."""
        return ()

    def invalidate(self, used: Metadata) -> bool:
        """Drop the token sent in ``used`` after an UNAUTHENTICATED reply; False if nothing to refresh."""
        return False


class _CachingTokenSource(TokenSource):
    """Process-wide token cache with single-flight refresh per event loop."""

    def __init__(self, config: FlyteConnectionConfig) -> None:
        self._config = config
        self._token: Token | None = None
        self._key: str = config.authorization_metadata_key or DEFAULT_METADATA_KEY
        self._failure: tuple[float, FlyteAuthError] | None = None
        self._inflight: LoopLocal[str, asyncio.Task[Token]] = LoopLocal()
        self.fetch_count = 0  # tests and benchmarks check single-flight

    async def call_metadata(self) -> Metadata:
        token = self._token
        if token is None or time.monotonic() >= token.refresh_at:
            token = await self._refresh()
        return ((self._key, f"Bearer {token.value}"),)

    def invalidate(self, used: Metadata) -> bool:
        token = self._token
        if token is not None and used and used[0][1] == f"Bearer {token.value}":
            self._token = None
        return True

    async def _refresh(self) -> Token:
        if self._failure is not None:
            failed_at, error = self._failure
            if time.monotonic() - failed_at < NEGATIVE_CACHE_SECONDS:
                raise error
            self._failure = None
        task = self._inflight.get("token")
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._fetch_and_store())
            self._inflight.set("token", task)
        return await asyncio.shield(task)

    async def _fetch_and_store(self) -> Token:
        self.fetch_count += 1
        try:
            token = await self._fetch()
        except FlyteAuthError as exc:
            self._failure = (time.monotonic(), exc)
            raise
        self._token = token
        return token

    async def _fetch(self) -> Token:
        raise NotImplementedError


class ClientCredentialsTokenSource(_CachingTokenSource):
    """OAuth2 client-credentials grant against the (discovered or configured) token endpoint."""

    async def _fetch(self) -> Token:
        config = self._config
        info = await discover(config) if _needs_discovery(config) else AuthServerInfo()
        endpoint = config.token_endpoint or info.token_endpoint
        if not endpoint:
            raise FlyteAuthError(
                f"Connection {config.conn_id!r}: Flyte Admin at {config.endpoint} publishes no OAuth2 "
                "token endpoint; set extra 'token_endpoint'.",
                code="UNAUTHENTICATED",
                rpc="token",
            )
        self._key = config.authorization_metadata_key or info.metadata_key or DEFAULT_METADATA_KEY
        scopes = config.scopes or info.scopes
        audience = config.audience or info.audience
        form = {"grant_type": "client_credentials"}
        if scopes:
            form["scope"] = " ".join(scopes)
        if audience:
            form["audience"] = audience
        return await self._post(endpoint, form)

    async def _post(self, endpoint: str, form: dict[str, str]) -> Token:
        await import_off_loop("aiohttp")
        import aiohttp

        config = self._config
        # Same encoding as flytekit: the secret is form-encoded inside HTTP Basic (RFC 6749 2.3.1).
        basic = f"{config.client_id}:{urllib.parse.quote_plus(config.client_secret or '')}"
        headers = {
            "Authorization": f"Basic {base64.b64encode(basic.encode()).decode()}",
            "Accept": "application/json",
        }
        session = await _session()
        started = time.monotonic()
        try:
            async with session.post(
                endpoint,
                data=form,
                headers=headers,
                ssl=await _ssl_for(config),
                timeout=aiohttp.ClientTimeout(total=TOKEN_REQUEST_TIMEOUT),
            ) as response:
                status = response.status
                body = await response.text()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise FlyteTransientError(
                f"Connection {config.conn_id!r}: token endpoint {endpoint} unreachable: {type(exc).__name__}",
                code="UNAVAILABLE",
                rpc="token",
            ) from None
        if status in (400, 401, 403):
            raise FlyteAuthError(
                f"Connection {config.conn_id!r}: token endpoint {endpoint} rejected client id "
                f"{config.client_id!r} (HTTP {status}{_oauth_error(body)}); check the client id and "
                "secret (login/password) of the connection.",
                code="UNAUTHENTICATED",
                rpc="token",
            )
        if status != 200:
            raise FlyteTransientError(
                f"Connection {config.conn_id!r}: token endpoint {endpoint} answered HTTP {status}.",
                code="UNAVAILABLE",
                rpc="token",
            )
        try:
            payload = json.loads(body)
            value = str(payload["access_token"])
            ttl = float(payload.get("expires_in") or 0) or _jwt_ttl(value)
        except (ValueError, KeyError, TypeError):
            raise FlyteAuthError(
                f"Connection {config.conn_id!r}: token endpoint {endpoint} returned no access_token.",
                code="UNAUTHENTICATED",
                rpc="token",
            ) from None
        log.debug("Connection %r: fetched an access token (expires in %.0f s)", config.conn_id, ttl)
        return Token(value, _refresh_at(started, ttl))


class CommandTokenSource(_CachingTokenSource):
    """Runs the connection's ``command``; its stripped stdout is the token (flytekit's ExternalCommand)."""

    async def _fetch(self) -> Token:
        config = self._config
        if not config.authorization_metadata_key:
            try:
                info = await discover(config)
                self._key = info.metadata_key or DEFAULT_METADATA_KEY
            except FlyteAdminError:
                self._key = DEFAULT_METADATA_KEY  # no AuthMetadataService: the standard header
        program = config.command[0]
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *config.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
            )
        except OSError as exc:
            raise FlyteAuthError(
                f"Connection {config.conn_id!r}: cannot run token command {program!r}: {exc.strerror}.",
                code="UNAUTHENTICATED",
                rpc="token",
            ) from None
        try:
            stdout, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise FlyteAuthError(
                f"Connection {config.conn_id!r}: token command {program!r} did not finish in "
                f"{COMMAND_TIMEOUT:.0f} s.",
                code="UNAUTHENTICATED",
                rpc="token",
            ) from None
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
            raise
        value = stdout.decode(errors="replace").strip()
        if proc.returncode != 0 or not value:
            what = f"exited with {proc.returncode}" if proc.returncode else "printed no token"
            raise FlyteAuthError(
                f"Connection {config.conn_id!r}: token command {program!r} {what}.",
                code="UNAUTHENTICATED",
                rpc="token",
            )
        return Token(value, _refresh_at(started, _jwt_ttl(value)))


def _refresh_at(started: float, ttl: float) -> float:
    """Refresh a fifth of the lifetime (at most a minute) before expiry; unknown ttl: until rejected."""
    if ttl <= 0:
        return float("inf")
    return started + ttl - min(60.0, ttl / 5)


def _jwt_ttl(token: str) -> float:
    """Seconds until a JWT's ``exp`` (0 when the token is opaque)."""
    parts = token.split(".")
    if len(parts) != 3:
        return 0.0
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return max(float(claims["exp"]) - time.time(), 1.0)
    except (ValueError, KeyError, TypeError):
        return 0.0


def _oauth_error(body: str) -> str:
    """The OAuth2 ``error`` code of a refusal (never the description, which servers may fill freely)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    return f", {error}" if isinstance(error, str) and error.isidentifier() else ""


# ---------------------------------------------------------------- discovery
_discovered: dict[str, AuthServerInfo] = {}


def _needs_discovery(config: FlyteConnectionConfig) -> bool:
    return not (config.token_endpoint and config.authorization_metadata_key)


async def discover(config: FlyteConnectionConfig) -> AuthServerInfo:
    """Ask Flyte Admin's AuthMetadataService (unauthenticated) once per process per connection."""
    cached = _discovered.get(config.channel_key)
    if cached is not None:
        return cached
    from flyte_async_provider.admin.channels import get_channel

    channel = await get_channel(config)
    import grpc
    from flyteidl.service import auth_pb2, auth_pb2_grpc

    stub = auth_pb2_grpc.AuthMetadataServiceStub(channel)
    try:
        oauth2 = await stub.GetOAuth2Metadata(auth_pb2.OAuth2MetadataRequest(), timeout=10.0)
        public = await stub.GetPublicClientConfig(auth_pb2.PublicClientAuthConfigRequest(), timeout=10.0)
    except grpc.aio.AioRpcError as exc:
        from flyte_async_provider.admin.errors import translate_rpc_error

        error = translate_rpc_error(exc, "AuthMetadataService")
        if not error.retryable and config.token_endpoint:
            info = AuthServerInfo()  # the connection names the token endpoint: no need to discover
            _discovered[config.channel_key] = info
            return info
        raise error from None
    info = AuthServerInfo(
        token_endpoint=oauth2.token_endpoint or None,
        scopes=tuple(public.scopes),
        audience=public.audience or None,
        metadata_key=public.authorization_metadata_key or None,
    )
    _discovered[config.channel_key] = info
    return info


# ---------------------------------------------------------------- shared state
def _detach(session: aiohttp.ClientSession) -> None:
    # The loop is closed: mark the session closed without awaiting (its connector keeps no sockets).
    session.detach()


_sessions: LoopLocal[str, aiohttp.ClientSession] = LoopLocal(on_drop=_detach)
_ssl_contexts: dict[str, Any] = {}
_sources: dict[str, TokenSource] = {}


async def _session() -> aiohttp.ClientSession:
    """One aiohttp session per loop for every token request of the process."""
    session = _sessions.get("session")
    if session is None or session.closed:
        import aiohttp

        # force_close: tokens are fetched about once an hour, so pooling sockets buys nothing and
        # an idle pooled socket would outlive a closed loop.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        _sessions.set("session", session)
    return session


async def _ssl_for(config: FlyteConnectionConfig) -> Any:
    """TLS settings for the token endpoint, consistent with the gRPC channel's."""
    if config.insecure_skip_verify:
        return False
    if not config.ca_cert_file_path:
        return True
    context = _ssl_contexts.get(config.ca_cert_file_path)
    if context is None:
        import ssl

        context = await asyncio.to_thread(ssl.create_default_context, cafile=config.ca_cert_file_path)
        _ssl_contexts[config.ca_cert_file_path] = context
    return context


def get_token_source(config: FlyteConnectionConfig) -> TokenSource:
    """The process-wide token source of a connection identity."""
    source = _sources.get(config.channel_key)
    if source is None:
        if config.auth_mode is AuthMode.CLIENT_CREDENTIALS:
            source = ClientCredentialsTokenSource(config)
        elif config.auth_mode is AuthMode.EXTERNAL_COMMAND:
            source = CommandTokenSource(config)
        else:
            source = TokenSource()
        _sources[config.channel_key] = source
    return source


async def close_sessions() -> None:
    """Close the running loop's aiohttp session (tests, orderly shutdown)."""
    for session in _sessions.clear_current():
        await session.close()


def reset_auth_state() -> None:
    """Forget cached tokens and discovery results (tests)."""
    _sources.clear()
    _discovered.clear()
