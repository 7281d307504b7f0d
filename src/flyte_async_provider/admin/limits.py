"""Caps on admin calls per endpoint: calls per second and calls in flight.

A fan-out must neither flood Flyte Admin nor stall the triggerer's loop. Both limiters are FIFO and
wake waiters from ONE loop timer / on release: a waiter costs nothing while it waits (asyncio-throttle
1.0.2 instead re-checks every waiter every 10 ms; see docs/performance.md for the measurements that
chose this design over it and over aiolimiter).

The cap is per endpoint per event loop, i.e. process-wide in the triggerer (one loop); when several
connections point at one endpoint with different caps, the strictest applies.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from types import TracebackType

from flyte_async_provider.admin._loops import LoopLocal
from flyte_async_provider.exceptions import FlyteConfigError


class TokenBucket:
    """Pace acquisitions to ``rate`` per second (GCRA); FIFO; one loop timer for all waiters.

    Any 1-second window holds at most ``rate + burst - 1`` calls. ``burst`` defaults to 1 % of the
    rate, at least 2: loop timers fire up to ~1 ms late (epoll's resolution), and without a little
    slack every late wake-up would be lost (measured: strict pacing reached only ~45 % of 2,000/s).
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._tat = -math.inf  # theoretical arrival time of the next call
        self.set_rate(rate, burst)

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change the rate (and burst)."""
        if rate <= 0:
            raise FlyteConfigError(f"rate must be positive, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(1.0, burst if burst is not None else max(2.0, rate / 100))
        self._interval = 1.0 / self.rate
        self._allowance = (self.burst - 1.0) * self._interval

    def _next_free(self, now: float) -> float:
        return max(self._tat, now) - self._allowance

    def _take(self, now: float) -> bool:
        if self._next_free(now) > now + 1e-9:
            return False
        self._tat = max(self._tat, now) + self._interval
        return True

    async def acquire(self) -> None:
        """Wait for the next slot."""
        loop = asyncio.get_running_loop()
        if not self._waiters and self._take(loop.time()):
            return
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append(future)
        if self._timer is None:
            self._arm(loop)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._tat -= self._interval  # granted, then cancelled: give the slot back
            else:
                self._waiters.remove(future)
            raise

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_at(self._next_free(loop.time()), self._wake, loop)

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._waiters:
            future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if not self._take(now):
                break
            self._waiters.popleft()
            future.set_result(None)
        if self._waiters:
            self._arm(loop)

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        return len(self._waiters)


class InFlightLimit:
    """At most ``limit`` holders at once; FIFO; the limit may be lowered while in use."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise FlyteConfigError(f"limit must be >= 1, got {limit!r}")
        self.limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future  # the releaser counted us in already
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()
            else:
                self._waiters.remove(future)
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        self.active -= 1
        while self._waiters and self.active < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.active += 1
                future.set_result(None)

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        return len(self._waiters)


class AdminCallLimiter:
    """Both caps for one endpoint: ``async with limiter:`` around each admin call."""

    def __init__(self, endpoint: str, calls_per_second: float | None, in_flight: int) -> None:
        self.endpoint = endpoint
        self.in_flight = InFlightLimit(in_flight)
        self.rate: TokenBucket | None = TokenBucket(calls_per_second) if calls_per_second else None
        self.calls = 0

    def tighten(self, calls_per_second: float | None, in_flight: int) -> None:
        """Apply a stricter cap asked for by another connection to the same endpoint."""
        self.in_flight.limit = min(self.in_flight.limit, in_flight)
        if calls_per_second:
            if self.rate is None:
                self.rate = TokenBucket(calls_per_second)
            elif calls_per_second < self.rate.rate:
                self.rate.set_rate(calls_per_second)

    async def __aenter__(self) -> None:
        # In-flight slot first, rate slot last: the call starts right when its rate slot is granted.
        await self.in_flight.__aenter__()
        if self.rate is not None:
            try:
                await self.rate.acquire()
            except BaseException:
                self.in_flight._release()
                raise
        self.calls += 1

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.in_flight._release()


_limiters: LoopLocal[str, AdminCallLimiter] = LoopLocal()


def get_limiter(endpoint: str, calls_per_second: float | None, in_flight: int) -> AdminCallLimiter:
    """The shared limiter of ``endpoint`` on the running loop (the strictest cap asked for wins)."""
    limiter = _limiters.get_or_create(
        endpoint, lambda: AdminCallLimiter(endpoint, calls_per_second, in_flight)
    )
    limiter.tighten(calls_per_second, in_flight)
    return limiter
