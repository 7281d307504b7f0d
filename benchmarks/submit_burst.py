"""How long a burst of zero-worker submits holds a triggerer's event loop, on a quiet machine.

The HA benchmark (``ha_triggerers.py``) counts asyncio slow callbacks >= 0.2 s in ``FlyteLaunchTrigger``
while two triggerers, the scheduler, PostgreSQL, the API server and the emulator share 2 cores. A slow
callback is wall time between two awaits, so a process that the OS did not schedule blames whatever
step was running. This benchmark tells the two apart: N ``FlyteLaunchTrigger.run()`` started at once on
ONE loop (the triggerer's situation when a fan-out starts), against the emulator in its own process,
with asyncio debug on, and nothing else running. Per burst it prints the process CPU, the wall time
until every execution was created and watched, and the asyncio steps that took >= 50 / 100 / 200 ms;
each size runs twice, with Python's cyclic garbage collector on (as in a triggerer) and off (its
pauses land on whatever step runs).

    .venv/bin/python benchmarks/submit_burst.py            # N = 500 and 1,000, GC on / off, ~1 min
    .venv/bin/python benchmarks/submit_burst.py --sizes 50 --json /tmp/burst.json

Outside a triggerer there is no supervisor to push the two XComs through: the trigger logs that and
goes on (the XCom push is a local failure here, not a network round trip, so the figures slightly
flatter the real thing).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flyte_async_provider.demo.stack import EmulatorProcess

LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
CONN_ID = "flyte_burst"
THRESHOLDS = (0.05, 0.1, 0.2)
# Every trigger's first status read is due within this long after the burst (bounded wait).
WATCH_TIMEOUT_S = 120.0


class SlowSteps(logging.Handler):
    """asyncio's debug-mode "Executing <Task ...> took 0.123 seconds" warnings, as durations.

    Steps of this harness's own coroutines (creating the triggers, reading counters) are left out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.messages: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        harness = any(f"coro=<{name}()" in message for name in ("main_async", "burst"))
        if message.startswith("Executing ") and message.endswith(" seconds") and not harness:
            self.seconds.append(float(message.rsplit(" ", 2)[-2]))
            self.messages.append((self.seconds[-1], message))

    def clear(self) -> None:
        self.seconds.clear()
        self.messages.clear()


def trigger(index: int) -> Any:
    from flyte_async_provider.triggers.launch import FlyteLaunchTrigger

    launch = FlyteLaunchTrigger(
        flyte_conn_id=CONN_ID,
        project="flytesnacks",
        domain="development",
        launchplan_name=LAUNCH_PLAN,
        inputs={"test_split_ratio": 0.5, "seed": index},
        poll_interval=5.0,
    )
    # What the triggerer gives a start-from-trigger trigger: its task instance.
    launch.task_instance = SimpleNamespace(
        dag_id="burst", task_id=f"t{index}", run_id="manual__1", map_index=-1, try_number=1, task=None
    )
    return launch


async def burst(n: int, first: int, control: Any, steps: SlowSteps, *, gc_on: bool = True) -> dict[str, Any]:
    """Start ``n`` launch triggers at once; stop them once every execution exists and was read.

    ``gc_on=False``: Python's cyclic garbage collector is off during the burst, which shows how much of
    the longest steps are collector pauses (they land on whatever step runs) rather than our code.
    """
    gc.collect()
    if not gc_on:
        gc.disable()
    steps.clear()
    cpu, wall = time.process_time(), time.monotonic()
    tasks = []
    for i in range(n):  # as the triggerer's create_triggers: one at a time, yielding in between
        tasks.append(asyncio.ensure_future(trigger(first + i).run().__anext__()))
        await asyncio.sleep(0)
    deadline = wall + WATCH_TIMEOUT_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        counters = await asyncio.to_thread(control.counters)
        if counters.get("CreateExecution", 0) >= first + n and counters.get("ListExecutions", 0) >= 1:
            break
    created_s = time.monotonic() - wall
    broken = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
    if broken:
        raise RuntimeError(f"{len(broken)} of {n} triggers failed, e.g. {broken[0]!r}")
    if created_s >= WATCH_TIMEOUT_S:
        raise RuntimeError(f"the burst of {n} was not created and watched within {WATCH_TIMEOUT_S:.0f} s")
    await asyncio.sleep(1.0)  # the first batched status read after the last watch began
    used = time.process_time() - cpu
    gc.enable()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    seconds = sorted(steps.seconds)
    return {
        "n": n,
        "gc": "on" if gc_on else "off",
        "cpu_s": round(used, 2),
        "cpu_ms_per_submit": round(1000 * used / n, 2),
        "created_and_watched_s": round(created_s, 2),
        "slow_steps": {f">={t:g}s": sum(1 for s in seconds if s >= t) for t in THRESHOLDS},
        "max_step_s": seconds[-1] if seconds else 0.0,
        # Where the longest steps were (asyncio names the task's coroutine and where it stopped).
        "slowest": [message[-600:] for _, message in sorted(steps.messages, reverse=True)[:3]],
    }


async def main_async(sizes: list[int], control: Any) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = THRESHOLDS[0]
    steps = SlowSteps()
    logging.getLogger("asyncio").addHandler(steps)
    await burst(1, 0, control, steps)  # warm-up: imports, connection, channel
    rows, first = [], 1
    for n in sizes:
        for gc_on in (True, False):  # side by side, same process, same emulator
            rows.append(await burst(n, first, control, steps, gc_on=gc_on))
            first += n
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000", help="burst sizes, comma-separated")
    parser.add_argument("--json", dest="json_path", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not all(0 < n <= 5000 for n in sizes):
        parser.error("--sizes: each between 1 and 5000")
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="submit-burst-"))
    with tempfile.TemporaryDirectory(prefix="submit-burst-") as work:
        _log_like_a_triggerer(Path(work) / "triggers.log")
        emulator = EmulatorProcess(Path(work), dict(os.environ), ["--manual"])
        emulator.start()
        try:
            emulator.wait_ready()
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
                {"conn_type": "flyte", **_host_port(emulator.grpc_endpoint), "extra": {"insecure": True}}
            )
            rows = asyncio.run(main_async(sizes, emulator.control()), debug=True)
        finally:
            emulator.process.stop()
    print(
        "| submits at once | cyclic GC | CPU s | CPU ms / submit | all created + watched "
        "| steps >= 50 / 100 / 200 ms | max step |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        slow = row["slow_steps"]
        print(
            f"| {row['n']} | {row['gc']} | {row['cpu_s']} | {row['cpu_ms_per_submit']} "
            f"| {row['created_and_watched_s']} s "
            f"| {slow['>=0.05s']} / {slow['>=0.1s']} / {slow['>=0.2s']} | {row['max_step_s'] * 1000:.0f} ms |"
        )
    if args.json_path:
        args.json_path.write_text(json.dumps(rows, indent=2))


def _log_like_a_triggerer(path: Path) -> None:
    """A trigger runner's structlog set-up (JSON lines at INFO, one write per line), to a file."""
    from airflow.sdk.log import configure_logging, reset_logging

    reset_logging()
    sink = path.open("wb", buffering=0)
    configure_logging(json_output=True, log_level="INFO", output=sink)  # type: ignore[arg-type]


def _host_port(endpoint: str) -> dict[str, Any]:
    host, port = endpoint.rsplit(":", 1)
    return {"host": host, "port": int(port)}


if __name__ == "__main__":
    sys.exit(main())
