"""OAuth2 client-credentials: the token authority and its aiohttp token endpoint.

Tokens are opaque random strings kept in memory with an expiry; ``check`` turns a gRPC
``Bearer <token>`` header into the client id (the execution's principal) or UNAUTHENTICATED.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote_plus

from aiohttp import web

from .errors import Unauthenticated
from .settings import AuthSettings

TOKEN_PATH = "/oauth2/token"


class TokenAuthority:
    """Issues and checks bearer tokens for one configured confidential client."""

    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        s = self.settings
        return hmac.compare_digest(client_id, s.client_id) and hmac.compare_digest(
            client_secret, s.client_secret
        )

    def issue(self, client_id: str) -> tuple[str, float]:
        token = secrets.token_urlsafe(32)
        ttl = self.settings.token_ttl_seconds
        with self._lock:
            now = self._clock()
            if len(self._tokens) > 1000:  # forget expired tokens now and then
                self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (client_id, now + ttl)
        return token, ttl

    def expire_all(self) -> None:
        """Make every issued token expired now (tests of token refresh)."""
        with self._lock:
            self._tokens = {t: (subject, 0.0) for t, (subject, _) in self._tokens.items()}

    def check(self, header_value: str | None) -> str:
        """``Bearer <token>`` -> client id; raises Unauthenticated."""
        if not header_value:
            raise Unauthenticated(f"missing {self.settings.metadata_key} metadata with a bearer token")
        scheme, _, token = header_value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        with self._lock:
            entry = self._tokens.get(token.strip())
            now = self._clock()
        if entry is None:
            raise Unauthenticated("invalid access token")
        if entry[1] <= now:
            raise Unauthenticated("access token expired")
        return entry[0]


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="flyte-admin-emulator"'} if status == 401 else None
    return web.json_response(
        {"error": error, "error_description": description}, status=status, headers=headers
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def token_handler(authority: TokenAuthority) -> Callable[[web.Request], object]:
    """POST handler: grant_type=client_credentials, client auth by HTTP Basic or form fields."""

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        creds = _basic_credentials(request.headers.get("Authorization", ""))
        if creds is None and "client_id" in form:
            creds = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        if creds is None:
            return _oauth_error(401, "invalid_client", "client authentication required (HTTP Basic or form)")
        if not authority.client_ok(*creds):
            return _oauth_error(401, "invalid_client", "unknown client or wrong client secret")
        if grant != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
        requested = str(form.get("scope", "")).split()
        allowed = authority.settings.scopes
        unknown = [s for s in requested if s not in allowed]
        if unknown:
            return _oauth_error(400, "invalid_scope", f"scopes not allowed: {' '.join(unknown)}")
        token, ttl = authority.issue(creds[0])
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(ttl),
                "scope": " ".join(requested or allowed),
            },
            headers={"Cache-Control": "no-store"},
        )

    return handle


def authorization_server_metadata(base_url: str, settings: AuthSettings) -> dict[str, object]:
    """RFC 8414 metadata, the same values GetOAuth2Metadata publishes."""
    return {
        "issuer": base_url,
        "authorization_endpoint": f"{base_url}/oauth2/authorize",
        "token_endpoint": f"{base_url}{TOKEN_PATH}",
        "response_types_supported": ["code", "token"],
        "scopes_supported": list(settings.scopes),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "jwks_uri": f"{base_url}/oauth2/jwks",
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["client_credentials"],
    }
