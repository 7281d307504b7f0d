"""One grpc.aio channel per (connection identity, event loop), shared by every caller.

A channel per trigger would cost ~60-85 KB and a TCP+TLS handshake each; one channel multiplexes all
calls over HTTP/2. Channels are bound to the loop that made them, so they are keyed by loop too
(``dag.test()`` closes its loop and starts a new one: a channel is never reused across loops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

from flyte_async_provider.admin._loops import LoopLocal, import_off_loop
from flyte_async_provider.exceptions import FlyteConfigError, FlyteTransientError

if TYPE_CHECKING:
    import grpc.aio

    from flyte_async_provider.config import FlyteConnectionConfig

log = logging.getLogger(__name__)

# Same message limits as flytekit (they match flyteadmin's). Keepalive detects connections silently
# dropped by load balancers / NAT; pings are only sent while calls are active, and the default
# ``max_pings_without_data`` (2) keeps us clear of servers' "too many pings" enforcement.
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_metadata_size", 32 * 1024),
    ("grpc.max_receive_message_length", 20 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.primary_user_agent", "airflow-provider-flyte-async"),
)


# grpc.aio closes the native channel when the object is collected, so entries of closed loops are
# simply dropped (nothing can be awaited on a closed loop).
_channels: LoopLocal[str, asyncio.Task[grpc.aio.Channel]] = LoopLocal()


async def get_channel(config: FlyteConnectionConfig) -> grpc.aio.Channel:
    """The shared channel for ``config.channel_key`` on the running loop (created on first use).

    Creation runs in its own task, so a caller cancelled meanwhile does not fail the others.
    """
    task = _channels.get(config.channel_key)
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
        task = asyncio.get_running_loop().create_task(_create_channel(config))
        _channels.set(config.channel_key, task)
    try:
        return await asyncio.shield(task)
    except BaseException:
        failed = task.done() and not task.cancelled() and task.exception() is not None
        if failed and _channels.get(config.channel_key) is task:
            _channels.pop(config.channel_key)  # let the next caller try again
        raise


async def close_channels() -> None:
    """Close every channel of the running loop (tests, orderly shutdown)."""
    for task in _channels.clear_current():
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            await task.result().close()


def channel_count() -> int:
    """Channels open on the running loop (tests assert sharing)."""
    return sum(1 for _ in _channels.current())


async def load_grpc() -> None:
    """Import grpc and the flyteidl stubs off the loop (see :func:`import_off_loop`)."""
    await import_off_loop(
        "grpc.aio",
        "flyteidl.admin.common_pb2",
        "flyteidl.admin.execution_pb2",
        "flyteidl.service.admin_pb2_grpc",
        "flyteidl.service.auth_pb2_grpc",
    )


async def _create_channel(config: FlyteConnectionConfig) -> grpc.aio.Channel:
    await load_grpc()
    import grpc
    import grpc.aio

    target = config.endpoint
    if config.insecure:
        log.debug("Opening insecure gRPC channel to %s", target)
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    root_certificates: bytes | None = None
    if config.insecure_skip_verify:
        root_certificates = await fetch_server_certificate(config.host, config.port)
    elif config.ca_cert_file_path:
        root_certificates = await asyncio.to_thread(_read_ca_file, config)
    credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
    log.debug("Opening TLS gRPC channel to %s", target)
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)


def _read_ca_file(config: FlyteConnectionConfig) -> bytes:
    try:
        with open(config.ca_cert_file_path or "", "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise FlyteConfigError(
            f"Connection {config.conn_id!r}: cannot read ca_cert_file_path "
            f"{config.ca_cert_file_path!r}: {exc.strerror}."
        ) from None


async def fetch_server_certificate(host: str, port: int, timeout: float = 10.0) -> bytes:
    """PEM of the certificate the server presents, read without verifying it.

    Used for ``insecure_skip_verify`` exactly like flytekit (``bootstrap_creds_from_server``): the
    channel then trusts whatever certificate the server showed on first contact. That protects against
    passive eavesdropping but not against an active man-in-the-middle present at that moment; the host
    name must still match the certificate. Prefer ``ca_cert_file_path``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
    except (OSError, asyncio.TimeoutError) as exc:
        raise FlyteTransientError(
            f"Cannot fetch the TLS certificate of {host}:{port} (insecure_skip_verify): {exc!r}",
            code="UNAVAILABLE",
            rpc="TLS handshake",
        ) from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not der:
        raise FlyteTransientError(
            f"{host}:{port} presented no TLS certificate.", code="UNAVAILABLE", rpc="TLS handshake"
        )
    return ssl.DER_cert_to_PEM_cert(der).encode()
