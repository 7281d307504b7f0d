"""EmulatorState: what the gRPC servicer, the HTTP layer and the console are given.

One object bundles the backend (entities, executions), the faults (and call counters), the token
authority and the serving settings, so the protocol layers receive their state instead of reaching
back into the server: nothing here or below imports server.py. The ports are filled in by the server
once it has bound them.
"""

from __future__ import annotations

from typing import Any

from .backend import Backend
from .blobstore import BlobStore
from .faults import Faults
from .oauth import TOKEN_PATH, TokenAuthority
from .settings import AuthSettings, TlsSettings

HOST = "127.0.0.1"


class EmulatorState:
    """Backend + faults/counters + auth + blob store + addresses of one emulator."""

    def __init__(
        self,
        backend: Backend,
        faults: Faults,
        auth: AuthSettings | None = None,
        tls: TlsSettings | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self.backend = backend
        self.faults = faults
        self.blobs = blobs if blobs is not None else BlobStore()
        self.auth, self.tls = auth, tls
        self.authority = TokenAuthority(auth) if auth else None
        self.grpc_port = 0
        self.http_port = 0

    @property
    def grpc_endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC AdminService."""
        return f"{HOST}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``http(s)://127.0.0.1:PORT``: the OAuth2 token endpoint, the console page and the control API."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{HOST}:{self.http_port}"

    @property
    def token_url(self) -> str:
        return f"{self.http_url}{TOKEN_PATH}"

    def addresses(self) -> dict[str, Any]:
        """Endpoints plus how to talk to them (the CLI prints this, the ``health`` operation answers it)."""
        return {
            "grpc": self.grpc_endpoint,
            "http": self.http_url,
            "insecure": self.tls is None,
            "auth": self.auth is not None,
            "token_endpoint": self.token_url if self.auth else None,
            "metadata_key": self.auth.metadata_key if self.auth else None,
        }
