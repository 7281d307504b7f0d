"""Per-event-loop registries.

grpc.aio channels, aiohttp sessions, futures and pollers belong to the loop that created them, and
``dag.test()`` closes a loop and starts another in the same process. Everything loop-bound on the
watch path is therefore stored per running loop, and entries of closed loops are dropped (never
reused) the next time any registry is touched.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_registries: weakref.WeakSet[LoopLocal[Any, Any]] = weakref.WeakSet()


class LoopLocal(Generic[K, V]):
    """A ``{key: value}`` map per running event loop; values of closed loops are forgotten."""

    def __init__(self, on_drop: Callable[[V], None] | None = None) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, dict[K, V]] = {}
        self._on_drop = on_drop
        _registries.add(self)

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        """Value for ``key`` on the running loop, made by ``factory`` on first use."""
        loop = asyncio.get_running_loop()
        values = self._by_loop.get(loop)
        if values is None:
            _sweep_closed_loops()
            values = self._by_loop.setdefault(loop, {})
        value = values.get(key)
        if value is None:
            value = values[key] = factory()
        return value

    def get(self, key: K) -> V | None:
        """Value for ``key`` on the running loop, if any."""
        values = self._by_loop.get(asyncio.get_running_loop())
        return None if values is None else values.get(key)

    def set(self, key: K, value: V) -> None:
        """Store ``value`` for ``key`` on the running loop."""
        self.get_or_create(key, lambda: value)
        self._by_loop[asyncio.get_running_loop()][key] = value

    def clear_current(self) -> list[V]:
        """Forget every value of the running loop and return them."""
        return list(self._by_loop.pop(asyncio.get_running_loop(), {}).values())

    def pop(self, key: K) -> V | None:
        """Forget ``key`` on the running loop and return its value."""
        values = self._by_loop.get(asyncio.get_running_loop())
        return None if values is None else values.pop(key, None)

    def current(self) -> Iterator[V]:
        """Values of the running loop (a snapshot)."""
        return iter(list(self._by_loop.get(asyncio.get_running_loop(), {}).values()))

    def loops(self) -> int:
        """Number of loops with entries (tests check closed loops are dropped)."""
        return len(self._by_loop)

    def _sweep(self) -> None:
        for loop in [lp for lp in self._by_loop if lp.is_closed()]:
            for value in self._by_loop.pop(loop).values():
                if self._on_drop is not None:
                    self._on_drop(value)


def _sweep_closed_loops() -> None:
    for registry in list(_registries):
        registry._sweep()


async def import_off_loop(*modules: str) -> None:
    """Import heavy modules (grpc + flyteidl ~250 ms, aiohttp ~300 ms) in a worker thread, once.

    The triggerer logs "async thread was blocked" past 0.2 s; an import on the loop would do that.
    """
    missing = [m for m in modules if m not in sys.modules]
    if missing:
        await asyncio.to_thread(lambda: [importlib.import_module(m) for m in missing])


def settle_failed(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a single-flight future so waiters see ``exc`` (or a cancel) and nobody logs it as lost."""
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
        future.exception()  # mark retrieved: the waiters re-raise it
