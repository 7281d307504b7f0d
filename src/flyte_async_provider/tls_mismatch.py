"""Say "TLS / plaintext mismatch" instead of "Flyte Admin unavailable" when that is what happened.

A connection that expects TLS against a plaintext Flyte Admin (the emulator, a port-forward) fails
its handshake; one that expects plaintext against a TLS Admin sees the socket closed. gRPC reports
both as UNAVAILABLE, which the provider retries as an outage and which reads like one. Both client
paths (flytekit on the worker, grpc.aio on the triggerer) ask :func:`mismatch_error` to recognise it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from flyte_async_provider.config import FlyteConnectionConfig
from flyte_async_provider.exceptions import FlyteAdminError

# What gRPC (BoringSSL) and Python's ssl say when a TLS client meets a plaintext server.
_TLS_TO_PLAINTEXT = ("WRONG_VERSION_NUMBER", "wrong version number")
# What a plaintext gRPC client sees when the server expects a TLS ClientHello.
_PLAINTEXT_TO_TLS = ("Socket closed",)


class FlyteTlsMismatchError(FlyteAdminError):
    """The connection's TLS setting does not match the server (code UNAVAILABLE): never retried."""


def tls_to_plaintext(
    config: FlyteConnectionConfig, details: str, rpc: str = ""
) -> FlyteTlsMismatchError | None:
    """The error for a TLS handshake that met a plaintext server, or None if ``details`` say otherwise."""
    if config.insecure or not any(marker in details for marker in _TLS_TO_PLAINTEXT):
        return None
    return FlyteTlsMismatchError(
        f"Flyte Admin at {config.endpoint} answers in plaintext, but connection {config.conn_id!r} uses TLS "
        "(the TLS handshake failed). If this Flyte Admin serves plaintext gRPC (the emulator, a local "
        'port-forward), set the connection extra "insecure": true; otherwise check host and port.',
        code="UNAVAILABLE",
        rpc=rpc,
    )


def plaintext_to_tls_hint(config: FlyteConnectionConfig, details: str) -> str:
    """A hint for a plaintext connection whose socket was closed (the server may expect TLS)."""
    if not config.insecure or not any(marker in details for marker in _PLAINTEXT_TO_TLS):
        return ""
    return (
        f' Connection {config.conn_id!r} has "insecure": true (plaintext); if Flyte Admin at '
        f'{config.endpoint} serves TLS, set "insecure" to false.'
    )


async def speaks_tls(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether ``host:port`` completes a TLS handshake (certificate not checked: only the protocol)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def mismatch_error(
    config: FlyteConnectionConfig, error: FlyteAdminError
) -> FlyteTlsMismatchError | None:
    """The mismatch behind an UNAVAILABLE ``error``, if that is what it is (probes the server once)."""
    if error.code != "UNAVAILABLE" or isinstance(error, FlyteTlsMismatchError):
        return None
    details = str(error)
    found = tls_to_plaintext(config, details, error.rpc)
    if found is not None:
        return found
    if plaintext_to_tls_hint(config, details) and await speaks_tls(config.host, config.port):
        return FlyteTlsMismatchError(
            f"Flyte Admin at {config.endpoint} expects TLS, but connection {config.conn_id!r} talks "
            'plaintext ("insecure": true). Set the connection extra "insecure" to false (and '
            '"ca_cert_file_path" if its certificate is not publicly trusted).',
            code="UNAVAILABLE",
            rpc=error.rpc,
        )
    return None
