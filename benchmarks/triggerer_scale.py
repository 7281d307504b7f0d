"""Watching N Flyte executions on ONE event loop: FlyteExecutionTrigger vs GetExecution per watch.

Emulates a triggerer: N watches on one loop in one process, against the Flyte Admin emulator in a
separate process (phases move only when this script says so). Each scenario (mode x N) runs in a
fresh child process so CPU and RSS figures do not leak between scenarios; each gets a fresh emulator.

*batched* runs the real thing: N ``FlyteExecutionTrigger(...).run()`` generators, each driven by
Airflow's own ``TriggerRunner.run_trigger`` in its own asyncio task (greenback portal, log context,
span, "Trigger fired event" log, ``cleanup()``), the connection read from an ``AIRFLOW_CONN_*``
environment variable, and the triggerer's structlog set-up (JSON lines, INFO) writing to a file.
*per-execution* is the baseline of a trigger polling by itself: a loop per watch calling GetExecution and
sleeping ``poll`` seconds, on one shared channel and client. *floor* is Airflow's own cost of a
deferred task for reference: idle ``DateTimeTrigger``s (due in a day) through the same runner.

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
import collections
import contextlib
import datetime
import gc
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT, DOMAIN = "flytesnacks", "development"
LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
PROBE_SECONDS = 0.05
CONN_ID = "flyte_bench"  # defined for the child through AIRFLOW_CONN_FLYTE_BENCH, as users do
TRIGGER_CLASSPATH = "flyte_async_provider.triggers.flyte.FlyteExecutionTrigger"
WARMUP = "warmup"
FLOOR_CLASSPATH = "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
# The line by which a trigger shows it is watching: ours on each phase change (nothing per poll),
# DateTimeTrigger before each long sleep.
MODE_LABELS = {"floor": "floor (idle DateTimeTrigger)"}
_SEEN_LINE = re.compile(rb'"event":"(Flyte execution \S+ is [A-Z_]+"|\d+ seconds remaining; sleeping )')


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


class _TimedEvents(collections.deque):  # type: ignore[type-arg]
    """The trigger runner's outbound event queue, noting when each event arrives."""

    def __init__(self, on_event: Callable[[int, Any, float], None]) -> None:
        super().__init__()
        self._on_event = on_event

    def append(self, entry: Any) -> None:
        received = time.time()
        super().append(entry)
        # Airflow 3.3: TriggerEventEntry(trigger_id, event, ...); older 3.x: (trigger_id, event)
        trigger_id, event = (entry.trigger_id, entry.event) if hasattr(entry, "trigger_id") else entry
        self._on_event(trigger_id, event.payload, received)


class _LogSink:
    """The trigger log file; counts the "seen" lines as they are written (the benchmark's only way to
    know that every trigger saw its first status, as a trigger reports nothing else)."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - lives as long as the process
        self._lock = threading.Lock()
        self.bytes = 0
        self.lines = 0
        self.seen_lines = 0
        self._wanted: tuple[int, asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def fileno(self) -> int:
        return self._file.fileno()

    def flush(self) -> None:
        self._file.flush()

    def write(self, data: bytes) -> int:
        written = self._file.write(data) or 0
        with self._lock:  # async log calls (``ainfo``) write from the loop's executor threads
            self.bytes += written
            self.lines += data.count(b"\n")
            if (b" is " in data or b"sleeping" in data) and _SEEN_LINE.search(data):
                self.seen_lines += 1
                wanted = self._wanted
                if wanted is not None and self.seen_lines >= wanted[0]:
                    wanted[1].call_soon_threadsafe(wanted[2].set)
        return written

    async def wait_seen_lines(self, count: int) -> None:
        event = asyncio.Event()
        with self._lock:
            if self.seen_lines >= count:
                return
            self._wanted = (count, asyncio.get_running_loop(), event)
        try:
            await event.wait()
        finally:
            self._wanted = None


def _configure_logging(path: str) -> _LogSink:
    """The trigger runner's own logging set-up (structlog, JSON lines, INFO), writing to a file.

    A triggerer's runner process calls ``configure_logging(json_output=True, output=<socket>,
    sending_to_supervisor=True)`` and the supervisor process files each line under its trigger. Here the
    lines go, unbuffered, to one file: the same rendering and one write per line, not the terminal.
    """
    from airflow.sdk.log import configure_logging, reset_logging

    sink = _LogSink(path)
    reset_logging()
    configure_logging(json_output=True, log_level="INFO", output=sink, sending_to_supervisor=True)  # type: ignore[arg-type]
    return sink


class Triggers:
    """The real thing: ``FlyteExecutionTrigger.run()`` driven by Airflow's ``TriggerRunner.run_trigger``."""

    classpath = TRIGGER_CLASSPATH

    def __init__(
        self, args: argparse.Namespace, on_terminal: Callable[[str, float, bool], None], log: _LogSink
    ) -> None:
        self.interval = args.poll
        self.n_total = args.n
        self.log = log
        self.on_terminal = on_terminal
        self.names: dict[int, str] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self._before = 0

    def _make(self, trigger_id: int, name: str) -> Any:
        return self.trigger_class(
            conn_id=CONN_ID,
            project=PROJECT,
            domain=DOMAIN,
            execution_name=name,
            poll_interval=self.interval,
            dag_id="triggerer_scale",
            task_id="watch",
            run_id="manual__bench",
            map_index=trigger_id,
        )

    def _create(self, trigger_id: int, name: str) -> asyncio.Task[None]:
        """What ``TriggerRunner.create_triggers`` does with one workload (kwargs as stored in the DB)."""
        trigger = self._make(trigger_id, name)
        trigger.trigger_id = trigger_id
        trigger.triggerer_job_id = None
        trigger.timeout_after = None
        label = f"triggerer_scale/manual__bench/watch/{trigger_id}/1 (ID {trigger_id})"
        self.names[trigger_id] = name
        task = asyncio.create_task(self.runner.run_trigger(trigger_id, trigger), name=label)
        self.runner.triggers[trigger_id] = {"task": task, "is_watcher": False, "name": label, "events": 0}
        return task

    def _on_event(self, trigger_id: int, payload: Any, received: float) -> None:
        name = self.names[trigger_id]
        if name != WARMUP:
            self.on_terminal(name, received, payload.get("status") == "success")

    async def warm_up(self, control: Any) -> None:
        """One trigger end to end first: imports, channel, greenback, structlog caches."""
        from airflow.jobs.triggerer_job_runner import TriggerRunner

        from flyte_async_provider.connections import clear_connection_cache

        self.runner = TriggerRunner()
        self.runner.events = _TimedEvents(self._on_event)
        self.trigger_class = self.runner.get_trigger_by_classpath(self.classpath)
        task = self._create(self.n_total + 1, WARMUP)
        await asyncio.wait_for(self.log.wait_seen_lines(1), 30)
        if self.classpath == FLOOR_CLASSPATH:
            task.cancel()  # a day early; as at a triggerer's shutdown (no on_kill)
        else:
            await asyncio.to_thread(control.complete_many, PROJECT, DOMAIN, [WARMUP])
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)
        clear_connection_cache()  # the fan-out below looks the connection up for real (single flight)
        self._before = self.log.seen_lines

    async def start(self, names: list[str]) -> None:
        for trigger_id, name in enumerate(names, 1):
            self.tasks.append(self._create(trigger_id, name))
            await asyncio.sleep(0)  # as create_triggers does between triggers

    async def wait_all_seen(self, n: int) -> None:
        """Every trigger logged its first phase."""
        await self.log.wait_seen_lines(self._before + n)


class IdleTriggers(Triggers):
    """Airflow's own floor per deferred task: its DateTimeTrigger asleep (due in a day), same runner."""

    classpath = FLOOR_CLASSPATH

    def _make(self, trigger_id: int, name: str) -> Any:
        moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        return self.trigger_class(moment=moment)


class PerExecution:
    """The baseline: GetExecution per watch every ``poll`` s, on one shared channel and client."""

    def __init__(
        self, args: argparse.Namespace, on_terminal: Callable[[str, float, bool], None], log: _LogSink
    ) -> None:
        from flyte_async_provider.config import FlyteConnectionConfig

        host, port = args.grpc.rsplit(":", 1)
        self.config = FlyteConnectionConfig(conn_id="bench", host=host, port=int(port), insecure=True)
        self.interval = args.poll
        self.on_terminal = on_terminal
        self.tasks: list[asyncio.Task[None]] = []
        self._seen: set[str] = set()
        self._all_seen = asyncio.Event()
        self._n = 0

    async def warm_up(self, control: Any) -> None:
        from flyte_async_provider.admin import get_admin_client

        self.client = get_admin_client(self.config)
        await self.client.get_execution(PROJECT, DOMAIN, WARMUP)  # channel, imports, first call

    async def _watch(self, name: str) -> None:
        await asyncio.sleep(random.uniform(0, self.interval))  # spread like triggers deferred over time
        last = None
        while True:
            status = await self.client.get_execution(PROJECT, DOMAIN, name)
            self._seen.add(name)
            if len(self._seen) == self._n:
                self._all_seen.set()
            if status.phase is not last:
                last = status.phase
                if status.phase.is_terminal:
                    self.on_terminal(name, time.time(), status.phase.name == "SUCCEEDED")
                    return
            await asyncio.sleep(self.interval)

    async def start(self, names: list[str]) -> None:
        self._n = len(names)
        self.tasks = [asyncio.ensure_future(self._watch(name)) for name in names]

    async def wait_all_seen(self, n: int) -> None:
        await self._all_seen.wait()


async def _child(args: argparse.Namespace, log: _LogSink) -> dict[str, Any]:
    from flyte_async_provider.emulator.control import EmulatorControlClient

    control = EmulatorControlClient(args.http)
    n, interval = args.n, args.poll
    names = [f"w{i:05d}" for i in range(n)]
    control.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, [*names, WARMUP])
    detected: dict[str, float] = {}
    wrong: list[str] = []
    spread = names[: args.spread]
    burst = names[args.spread : args.spread + args.burst]
    all_detected = asyncio.Event()
    awaited = set(spread + burst)

    def terminal(name: str, at: float, ok: bool) -> None:
        detected[name] = at
        if not ok:
            wrong.append(name)
        awaited.discard(name)
        if not awaited:
            all_detected.set()

    watches = {"batched": Triggers, "floor": IdleTriggers}.get(args.mode, PerExecution)(args, terminal, log)
    if not awaited:
        all_detected.set()
    await watches.warm_up(control)
    rss0 = _rss_bytes()
    await watches.start(names)
    await asyncio.wait_for(watches.wait_all_seen(n), 180)
    await asyncio.sleep(interval)  # one full interval so every watch is in its steady cycle
    rss1 = _rss_bytes()

    log0 = log.bytes
    probe = LagProbe()
    probe.start()
    control.reset_counters()
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.window)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    counters = await asyncio.to_thread(control.counters)
    steady_lag = await probe.stop()
    log_steady = log.bytes - log0

    # Flips (the emulator's timestamps): some one by one (spread over one interval), then a burst in
    # the same instant.
    flipped: dict[str, float] = {}
    probe.start()
    gap = interval / max(1, len(spread))
    for name in spread:
        result = await asyncio.to_thread(control.complete_many, PROJECT, DOMAIN, [name])
        flipped[name] = float(result["timestamp"])
        await asyncio.sleep(gap)
    result = await asyncio.to_thread(control.complete_many, PROJECT, DOMAIN, burst)
    flipped.update(dict.fromkeys(burst, float(result["timestamp"])))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_detected.wait(), interval * 3 + 10)
    # Triggers that fired finish on their own (cleanup, "trigger completed"): let them, and measure it.
    ended = [task for name, task in zip(names, watches.tasks, strict=True) if name in detected]
    if ended:
        await asyncio.wait(ended, timeout=30)
    flip_lag = await probe.stop()
    missed = sum(1 for name in flipped if name not in detected)

    for task in watches.tasks:
        task.cancel()
    await asyncio.gather(*watches.tasks, return_exceptions=True)
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
        "wrong_status": len(wrong),
        "lag_p99_ms": 1000 * _pct(steady_lag, 0.99),
        "lag_max_ms": 1000 * max(steady_lag, default=float("nan")),
        "flip_lag_p99_ms": 1000 * _pct(flip_lag, 0.99),
        "flip_lag_max_ms": 1000 * max(flip_lag, default=float("nan")),
        "log_bytes_steady": log_steady,
    }


# ---------------------------------------------------------------------------------------- parent
def _scenario(mode: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    emulator = Emulator()
    home = tempfile.TemporaryDirectory(prefix="flyte-bench-airflow-")
    try:
        host, port = emulator.addresses["grpc"].rsplit(":", 1)
        connection = {"conn_type": "flyte", "host": host, "port": int(port), "extra": {"insecure": True}}
        env = {
            **os.environ,
            "AIRFLOW_HOME": home.name,  # never the user's Airflow (config, logging level)
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection),
        }
        cmd = [sys.executable, __file__, "--child", "--mode", mode, "--n", str(n), "--poll", str(args.poll)]
        cmd += ["--window", str(args.window), "--grpc", emulator.addresses["grpc"]]
        flips = mode != "floor"  # DateTimeTriggers watch nothing on the emulator
        cmd += ["--http", emulator.addresses["http"], "--spread", str(min(500, n // 5) if flips else 0)]
        cmd += ["--burst", str(min(1000, n // 2) if flips else 0)]
        cmd += ["--log-file", str(Path(home.name) / "triggers.log")]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900, env=env)
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        emulator.close()
        home.cleanup()


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | watches | CPU % of a core | RSS / watch | admin RPC/s | detect p50 / p99 (one by one) "
        "| detect p50 / p99 (burst) | loop lag p99 steady / flips |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        spread, burst = (
            f"{r[f'{k}_p50']:.2f} / {r[f'{k}_p99']:.2f} s (n={r[f'{k}_n']})" if r[f"{k}_n"] else "-"
            for k in ("spread", "burst")
        )
        flip_lag = f"{r['flip_lag_p99_ms']:.1f}" if r["spread_n"] or r["burst_n"] else "-"
        lines.append(
            f"| {MODE_LABELS.get(r['mode'], r['mode'])} | {r['n']:,} | {r['cpu_pct']:.1f} "
            f"| {r['rss_per_watch_kb']:.1f} KB | {r['rpc_per_s']:.1f} | {spread} | {burst} "
            f"| {r['lag_p99_ms']:.1f} / {flip_lag} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 only, 10 s window")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument(
        "--modes",
        default="batched,per-execution,floor",
        help="batched: FlyteExecutionTrigger; per-execution: GetExecution loops; floor: idle DateTimeTrigger",
    )
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
    parser.add_argument("--log-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # The baseline logs nothing (and needs no Airflow): its log stays empty, as before.
        log = _LogSink(args.log_file) if args.mode == "per-execution" else _configure_logging(args.log_file)
        result = asyncio.run(_child(args, log))  # returns once the loop's executor is done (async logs)
        result.update(log_lines=log.lines, log_kb=log.bytes / 1024)
        print(json.dumps(result))
        return
    if args.quick:
        args.sizes, args.window = "1000", 10.0
    rows = []
    load = []  # other processes on the machine skew the loop-lag and latency columns most
    for n in (int(s) for s in args.sizes.split(",")):
        for mode in args.modes.split(","):
            print(f"running {mode} x {n:,} ...", file=sys.stderr, flush=True)
            load.append(os.getloadavg()[0])
            rows.append(_scenario(mode, n, args))
    print(
        f"poll interval {args.poll:g} s, steady window {args.window:g} s, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, load average {min(load):.1f}-{max(load):.1f} (1 min, "
        "before each scenario)"
    )
    print(_table(rows))
    by = {(r["mode"], r["n"]): r for r in rows}
    for n in sorted({r["n"] for r in rows}):
        if ("batched", n) in by and ("per-execution", n) in by:
            ratio = by[("per-execution", n)]["rpc_per_s"] / max(by[("batched", n)]["rpc_per_s"], 1e-9)
            print(f"N={n:,}: per-execution polling sends {ratio:.0f}x the RPCs of the batched poller")
    for r in rows:
        if r["mode"] == "batched":
            print(
                f"batched x {r['n']:,}: {r['log_lines']:,} log lines ({r['log_kb']:,.0f} KB) in the trigger "
                f"log, {r['log_bytes_steady']} bytes of it during the steady window"
            )
    for r in rows:
        if r["missed"]:
            print(f"WARNING: {r['mode']} x {r['n']}: {r['missed']} flipped executions never detected")
        if r["wrong_status"]:
            print(f"WARNING: {r['mode']} x {r['n']}: {r['wrong_status']} events without status success")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
