"""Watching N Flyte executions on ONE event loop: the shared batched poller vs GetExecution per watch.

Emulates a triggerer: N watch tasks on one loop in one process, against the Flyte Admin emulator in
a separate process (phases move only when this script says so). Each scenario (mode x N) runs in a
fresh child process so CPU and RSS figures do not leak between scenarios; each gets a fresh emulator.

Per scenario it prints: client CPU (% of one core, steady state), RSS per watch, admin RPCs/s (from
the emulator's counters), detection latency p50/p99 for executions flipped terminal one by one and for
a burst flipped in the same instant (1,000 at N=10,000), and event-loop lag p99 (a probe task measuring
how late a 50 ms sleep wakes up) in steady state and during the flips.

    .venv/bin/python benchmarks/triggerer_scale.py            # N = 1,000 and 10,000; a few minutes
    .venv/bin/python benchmarks/triggerer_scale.py --quick    # N = 1,000 only, shorter window
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT, DOMAIN = "flytesnacks", "development"
LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
PROBE_SECONDS = 0.05


# ---------------------------------------------------------------------------------------- emulator
class Emulator:
    """The emulator CLI in its own process."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="flyte-bench-")
        ready = Path(self._dir.name) / "ready.json"
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "flyte_async_provider.emulator", "--port", "0", "--http-port", "0"),
                *("--ready-file", str(ready), "--manual", "--log-level", "ERROR"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.stat().st_size):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.05)
        self.addresses = json.loads(ready.read_text())

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._dir.cleanup()


# ---------------------------------------------------------------------------------------- child
def _rss_bytes() -> int:
    """RSS after a full collection and after giving freed heap back to the OS (less noise)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LagProbe:
    """How late a 50 ms sleep wakes up: the loop's responsiveness as every other trigger sees it."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(PROBE_SECONDS)
            self.samples.append(loop.time() - started - PROBE_SECONDS)

    def start(self) -> None:
        self.samples = []
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> list[float]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.samples


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    from flyte_async_provider.admin import get_admin_client, get_status_poller
    from flyte_async_provider.config import FlyteConnectionConfig
    from flyte_async_provider.emulator.control import EmulatorControlClient

    control = EmulatorControlClient(args.http)
    host, port = args.grpc.rsplit(":", 1)
    config = FlyteConnectionConfig(conn_id="bench", host=host, port=int(port), insecure=True)
    n, interval = args.n, args.poll
    names = [f"w{i:05d}" for i in range(n)]
    control.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, names)
    client = get_admin_client(config)
    await client.get_execution(PROJECT, DOMAIN, names[0])  # channel, imports, first call out of the way
    first_seen: set[str] = set()
    detected: dict[str, float] = {}
    spread = names[: args.spread]
    burst = names[args.spread : args.spread + args.burst]
    all_seen, all_detected = asyncio.Event(), asyncio.Event()
    awaited = set(spread + burst)

    def seen(name: str) -> None:
        first_seen.add(name)
        if len(first_seen) == n:
            all_seen.set()

    def terminal(name: str) -> None:
        detected[name] = time.time()
        awaited.discard(name)
        if not awaited:
            all_detected.set()

    async def batched(name: str) -> None:
        poller = get_status_poller(config, PROJECT, DOMAIN)
        async with contextlib.aclosing(poller.watch(name, poll_interval=interval)) as statuses:
            async for status in statuses:
                seen(name)
                if status.phase.is_terminal:
                    terminal(name)

    async def per_execution(name: str) -> None:
        await asyncio.sleep(random.uniform(0, interval))  # spread like triggers deferred over time
        last = None
        while True:
            status = await client.get_execution(PROJECT, DOMAIN, name)
            seen(name)
            if status.phase is not last:
                last = status.phase
                if status.phase.is_terminal:
                    terminal(name)
                    return
            await asyncio.sleep(interval)

    watch = batched if args.mode == "batched" else per_execution
    rss0 = _rss_bytes()
    tasks = [asyncio.ensure_future(watch(name)) for name in names]
    await asyncio.wait_for(all_seen.wait(), 120)
    await asyncio.sleep(interval)  # one full interval so every watch is in its steady cycle
    rss1 = _rss_bytes()

    probe = LagProbe()
    probe.start()
    control.reset_counters()
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.window)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    counters = await asyncio.to_thread(control.counters)
    steady_lag = await probe.stop()

    # Flips: some one by one (spread over one interval), then a burst in the same instant.
    flipped: dict[str, float] = {}
    probe.start()
    gap = interval / max(1, len(spread))
    for name in spread:
        at = time.time()
        await asyncio.to_thread(control.complete, PROJECT, DOMAIN, name)
        flipped[name] = at
        await asyncio.sleep(gap)
    result = await asyncio.to_thread(control.complete_many, PROJECT, DOMAIN, burst)
    flipped.update(dict.fromkeys(burst, float(result["timestamp"])))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_detected.wait(), interval * 3 + 10)
    flip_lag = await probe.stop()
    missed = sum(1 for name in flipped if name not in detected)

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    spread_latency = [detected[k] - flipped[k] for k in spread if k in detected]
    burst_latency = [detected[k] - flipped[k] for k in burst if k in detected]
    rpcs = sum(v for k, v in counters.items() if k in ("ListExecutions", "GetExecution"))
    return {
        "mode": args.mode,
        "n": n,
        "poll": interval,
        "cpu_pct": 100 * cpu / wall,
        "rss_per_watch_kb": (rss1 - rss0) / n / 1024,
        "rpc_per_s": rpcs / wall,
        "counters": counters,
        "spread_n": len(spread),
        "spread_p50": _pct(spread_latency, 0.5),
        "spread_p99": _pct(spread_latency, 0.99),
        "burst_n": len(burst),
        "burst_p50": _pct(burst_latency, 0.5),
        "burst_p99": _pct(burst_latency, 0.99),
        "missed": missed,
        "lag_p99_ms": 1000 * _pct(steady_lag, 0.99),
        "lag_max_ms": 1000 * max(steady_lag, default=float("nan")),
        "flip_lag_p99_ms": 1000 * _pct(flip_lag, 0.99),
        "flip_lag_max_ms": 1000 * max(flip_lag, default=float("nan")),
    }


# ---------------------------------------------------------------------------------------- parent
def _scenario(mode: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    emulator = Emulator()
    try:
        cmd = [sys.executable, __file__, "--child", "--mode", mode, "--n", str(n), "--poll", str(args.poll)]
        cmd += ["--window", str(args.window), "--grpc", emulator.addresses["grpc"]]
        cmd += ["--http", emulator.addresses["http"], "--spread", str(min(500, n // 5))]
        cmd += ["--burst", str(min(1000, n // 2))]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        emulator.close()


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | watches | CPU % of a core | RSS / watch | admin RPC/s | detect p50 / p99 (one by one) "
        "| detect p50 / p99 (burst) | loop lag p99 steady / flips |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['n']:,} | {r['cpu_pct']:.1f} | {r['rss_per_watch_kb']:.1f} KB "
            f"| {r['rpc_per_s']:.1f} | {r['spread_p50']:.2f} / {r['spread_p99']:.2f} s (n={r['spread_n']}) "
            f"| {r['burst_p50']:.2f} / {r['burst_p99']:.2f} s (n={r['burst_n']}) "
            f"| {r['lag_p99_ms']:.1f} / {r['flip_lag_p99_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 only, 10 s window")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--modes", default="batched,per-execution")
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=15.0, help="steady-state measuring window, s")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--grpc", help=argparse.SUPPRESS)
    parser.add_argument("--http", help=argparse.SUPPRESS)
    parser.add_argument("--spread", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--burst", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args))))
        return
    if args.quick:
        args.sizes, args.window = "1000", 10.0
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for mode in args.modes.split(","):
            print(f"running {mode} x {n:,} ...", file=sys.stderr, flush=True)
            rows.append(_scenario(mode, n, args))
    print(
        f"poll interval {args.poll:g} s, steady window {args.window:g} s, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}"
    )
    print(_table(rows))
    by = {(r["mode"], r["n"]): r for r in rows}
    for n in sorted({r["n"] for r in rows}):
        if ("batched", n) in by and ("per-execution", n) in by:
            ratio = by[("per-execution", n)]["rpc_per_s"] / max(by[("batched", n)]["rpc_per_s"], 1e-9)
            print(f"N={n:,}: per-execution polling sends {ratio:.0f}x the RPCs of the batched poller")
    for r in rows:
        if r["missed"]:
            print(f"WARNING: {r['mode']} x {r['n']}: {r['missed']} flipped executions never detected")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
