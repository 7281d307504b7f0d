"""Look up and parse ``flyte`` connections without blocking the triggerer's event loop.

A fan-out of thousands of triggers on one connection would otherwise ask the supervisor (and the
API server behind it) for the same connection thousands of times at triggerer start. Parsed configs
are cached per process for a short TTL, and concurrent lookups of one conn id share a single request,
so rotated credentials are picked up within ``CACHE_TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import time

from flyte_async_provider.config import FlyteConnectionConfig, parse_connection

CACHE_TTL_SECONDS = 60.0

_cache: dict[str, tuple[float, FlyteConnectionConfig]] = {}
_inflight: dict[tuple[int, str], asyncio.Future[FlyteConnectionConfig]] = {}


async def _fetch(conn_id: str) -> FlyteConnectionConfig:
    from airflow.sdk import BaseHook

    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        conn = await aget(conn_id)
    else:  # Airflow 3.0: no async lookup; run the sync one in a thread, off the loop.
        conn = await asyncio.to_thread(BaseHook.get_connection, conn_id)
    return parse_connection(conn)


async def aget_connection_config(conn_id: str) -> FlyteConnectionConfig:
    """Return the parsed config of ``conn_id``; cached for a short TTL, single-flight per loop."""
    now = time.monotonic()
    hit = _cache.get(conn_id)
    if hit is not None and now - hit[0] < CACHE_TTL_SECONDS:
        return hit[1]
    key = (id(asyncio.get_running_loop()), conn_id)
    pending = _inflight.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[FlyteConnectionConfig] = asyncio.get_running_loop().create_future()
    _inflight[key] = future
    try:
        config = await _fetch(conn_id)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: waiters re-raise it, nobody else must log it
        raise
    else:
        _cache[conn_id] = (time.monotonic(), config)
        future.set_result(config)
        return config
    finally:
        _inflight.pop(key, None)


def clear_connection_cache() -> None:
    """Forget cached configs (tests, or after editing a connection in-process)."""
    _cache.clear()
