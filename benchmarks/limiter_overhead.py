"""CPU cost and accuracy of rate limiters with many waiters on one event loop.

N coroutines each take one slot of a limiter capped at R calls/s. Printed per limiter: process CPU
as % of one core while draining, the achieved rate, the most grants seen in any 1-s window (vs R:
over means the cap was broken), and the wall time.

    .venv/bin/python benchmarks/limiter_overhead.py [--waiters 10000] [--rate 2000]

aiolimiter is not a dependency; to include it: ``pip install --target /tmp/aiolimiter-1.3
aiolimiter==1.3.0`` and pass ``--extra-path /tmp/aiolimiter-1.3``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from flyte_async_provider.admin.limits import TokenBucket


def _throttle(rate: float) -> Callable[[], Awaitable[None]] | None:
    from asyncio_throttle import Throttler

    throttler = Throttler(rate_limit=int(rate), period=1.0)
    return throttler.acquire


def _aiolimiter(rate: float) -> Callable[[], Awaitable[None]] | None:
    try:
        from aiolimiter import AsyncLimiter
    except ImportError:
        return None
    # Same burst as TokenBucket's default: 1 % of the rate, at least 2.
    burst = max(2.0, rate / 100)
    limiter = AsyncLimiter(burst, burst / rate)
    return limiter.acquire


def _token_bucket(rate: float) -> Callable[[], Awaitable[None]] | None:
    return TokenBucket(rate).acquire


LIMITERS: dict[str, Callable[[float], Callable[[], Awaitable[None]] | None]] = {
    "asyncio-throttle 1.0.2": _throttle,
    "aiolimiter 1.3": _aiolimiter,
    "TokenBucket (ours)": _token_bucket,
}


async def _drain(acquire: Callable[[], Awaitable[None]], waiters: int) -> list[float]:
    grants: list[float] = []

    async def one() -> None:
        await acquire()
        grants.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(waiters)))
    return grants


def _max_per_second(grants: list[float]) -> int:
    grants.sort()
    return max(bisect.bisect_left(grants, t + 1.0) - i for i, t in enumerate(grants))


def run(waiters: int, rate: float) -> list[dict[str, Any]]:
    rows = []
    for label, factory in LIMITERS.items():
        acquire = factory(rate)
        if acquire is None:
            rows.append({"limiter": label, "note": "not installed"})
            continue
        cpu0, wall0 = time.process_time(), time.monotonic()
        grants = asyncio.run(_drain(acquire, waiters))
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        span = max(grants) - min(grants)
        rows.append(
            {
                "limiter": label,
                "cpu_pct": 100 * cpu / wall,
                "rate": (len(grants) - 1) / span if span else float("inf"),
                "max_1s": _max_per_second(grants),
                "wall": wall,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--extra-path", default="/tmp/aiolimiter-1.3", help="where aiolimiter may be")
    args = parser.parse_args()
    sys.path.append(args.extra_path)
    print(f"{args.waiters} waiters, limit {args.rate:.0f} calls/s, one event loop, {sys.version.split()[0]}")
    print("| limiter | CPU % of a core | achieved calls/s | max in any 1 s | wall s |")
    print("|---|---|---|---|---|")
    for row in run(args.waiters, args.rate):
        if "note" in row:
            print(f"| {row['limiter']} | {row['note']} | | | |")
        else:
            print(
                f"| {row['limiter']} | {row['cpu_pct']:.1f} | {row['rate']:.0f} | {row['max_1s']} "
                f"| {row['wall']:.1f} |"
            )


if __name__ == "__main__":
    main()
