"""Run the async Flyte Admin client from synchronous worker code, so a submit needs no flytekit import.

A worker's submit run used to import flytekit (~3 s of CPU, most of the run's slot time on a
LocalExecutor) only to fetch the entity, convert plain inputs and call CreateExecution. The async
watch path does all of that with grpc + flyteidl; this runs it on a private event loop, closed (with
its channel) when the call returns. Callers fall back to flytekit where this cannot run (an event loop
is already running in the thread) or where flytekit is needed (non-plain inputs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class LoopRunning(RuntimeError):
    """An event loop already runs in this thread (e.g. a notebook): use the flytekit path instead."""


def run_admin(call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` on a fresh event loop; its channels, sessions and pollers are closed afterwards."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise LoopRunning("an event loop is running in this thread")

    async def once() -> T:
        from flyte_async_provider.admin import close_admin_resources

        try:
            return await call()
        finally:
            await close_admin_resources()

    return asyncio.run(once())
