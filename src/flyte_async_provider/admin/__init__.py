"""Async watch path to Flyte Admin: shared channels, token sources, client and batched poller.

No flytekit here: the triggerer imports trigger modules inside its event loop. grpc and flyteidl are
imported on first use (in a worker thread, see :func:`channels.load_grpc`).
"""

from __future__ import annotations

from flyte_async_provider.admin.client import (
    DEFAULT_RETRY,
    NO_RETRY,
    AsyncAdminClient,
    RetryPolicy,
    get_admin_client,
)
from flyte_async_provider.admin.models import ExecutionStatus
from flyte_async_provider.admin.poller import StatusPoller, get_status_poller

__all__ = [
    "DEFAULT_RETRY",
    "NO_RETRY",
    "AsyncAdminClient",
    "ExecutionStatus",
    "RetryPolicy",
    "StatusPoller",
    "close_admin_resources",
    "get_admin_client",
    "get_status_poller",
]


async def close_admin_resources() -> None:
    """Close the running loop's channels and HTTP session and forget its clients and pollers.

    Optional: loops that simply close (``dag.test()``) have their entries dropped automatically.
    """
    from flyte_async_provider.admin import auth, channels, client, poller

    for watcher_poller in poller._pollers.clear_current():
        watcher_poller.close()
    client.forget_clients()
    await channels.close_channels()
    await auth.close_sessions()
