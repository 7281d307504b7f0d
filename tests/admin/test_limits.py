"""Limiters without sockets: FIFO, caps, cancellation leaves nothing behind, strictest cap wins."""

from __future__ import annotations

import asyncio
import time

import pytest

from flyte_async_provider.admin.limits import InFlightLimit, TokenBucket, get_limiter


async def test_in_flight_limit_bounds_holders_and_forgets_cancelled_waiters() -> None:
    limit = InFlightLimit(3)
    active = peak = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal active, peak
        async with limit:
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1

    tasks = [asyncio.ensure_future(hold()) for _ in range(10)]
    await asyncio.sleep(0)
    assert (limit.active, limit.waiting) == (3, 7)
    tasks[-1].cancel()
    await asyncio.gather(tasks[-1], return_exceptions=True)
    assert limit.waiting == 6
    release.set()
    await asyncio.gather(*tasks[:-1])
    assert peak == 3
    assert (limit.active, limit.waiting) == (0, 0)


async def test_token_bucket_is_fifo_and_never_exceeds_the_rate() -> None:
    rate = 50.0
    bucket = TokenBucket(rate)
    order: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    started = time.monotonic()
    await asyncio.gather(*(take(i) for i in range(25)))
    elapsed = time.monotonic() - started
    assert order == list(range(25))
    assert rate * elapsed + bucket.burst >= 25  # upper bound only: slower is fine, faster is not


async def test_token_bucket_cancelled_waiter_is_removed() -> None:
    bucket = TokenBucket(1.0, burst=1)
    await bucket.acquire()
    waiter = asyncio.ensure_future(bucket.acquire())
    await asyncio.sleep(0)
    assert bucket.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.waiting == 0


async def test_strictest_cap_per_endpoint_wins() -> None:
    loose = get_limiter("admin.example:443", None, 64)
    strict = get_limiter("admin.example:443", 5.0, 8)
    assert loose is strict
    assert strict.in_flight.limit == 8
    assert strict.rate is not None
    assert strict.rate.rate == 5.0
    assert get_limiter("other.example:443", None, 64).rate is None
