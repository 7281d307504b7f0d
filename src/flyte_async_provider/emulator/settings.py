"""Configuration values of the emulator (plain frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthSettings:
    """Client-credentials auth: every AdminService call needs ``Bearer <token>`` in ``metadata_key``."""

    client_id: str = "flyte-emulator"
    client_secret: str = "emulator-secret"
    token_ttl_seconds: float = 3600.0
    metadata_key: str = "flyte-authorization"
    scopes: tuple[str, ...] = ("all",)
    audience: str = ""


@dataclass(frozen=True)
class TlsSettings:
    """Serve gRPC (and the HTTP API) over TLS with this PEM certificate chain and private key."""

    cert_file: str
    key_file: str

    def read(self) -> tuple[bytes, bytes]:
        with open(self.cert_file, "rb") as cert, open(self.key_file, "rb") as key:
            return cert.read(), key.read()
