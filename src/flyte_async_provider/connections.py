"""Look up and parse ``flyte`` connections without blocking the triggerer's event loop.

A fan-out of thousands of triggers on one connection would otherwise ask the supervisor (and the
API server behind it) for the same connection thousands of times at triggerer start. Parsed configs
are cached per process for a short TTL, and concurrent lookups of one conn id share a single request,
so rotated credentials are picked up within ``CACHE_TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time

from flyte_async_provider.admin._loops import LoopLocal, settle_failed
from flyte_async_provider.config import FlyteConnectionConfig, parse_connection

CACHE_TTL_SECONDS = 60.0

_cache: dict[str, tuple[float, FlyteConnectionConfig]] = {}
# The lookup in flight per conn id; a future belongs to its loop, so one registry per loop.
_inflight: LoopLocal[str, asyncio.Future[FlyteConnectionConfig]] = LoopLocal()


async def _fetch(conn_id: str) -> FlyteConnectionConfig:
    from flyte_async_provider._compat import aget_connection

    return parse_connection(await aget_connection(conn_id))


async def aget_connection_config(conn_id: str) -> FlyteConnectionConfig:
    """Return the parsed config of ``conn_id``; cached for a short TTL, single-flight per loop."""
    now = time.monotonic()
    hit = _cache.get(conn_id)
    if hit is not None and now - hit[0] < CACHE_TTL_SECONDS:
        return hit[1]
    pending = _inflight.get(conn_id)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[FlyteConnectionConfig] = asyncio.get_running_loop().create_future()
    _inflight.set(conn_id, future)
    try:
        config = await _fetch(conn_id)
    except BaseException as exc:
        settle_failed(future, exc)
        raise
    else:
        _cache[conn_id] = (time.monotonic(), config)
        future.set_result(config)
        return config
    finally:
        _inflight.pop(conn_id)


def clear_connection_cache() -> None:
    """Forget cached configs (tests, or after editing a connection in-process)."""
    _cache.clear()
