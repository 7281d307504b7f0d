"""Worker cost of a Flyte fan-out on a real Airflow: deferred, zero-worker, in-worker and sensor patterns.

One throwaway Airflow (scheduler, dag-processor, api-server, triggerer; LocalExecutor with
``--slots`` worker processes) plus the Flyte Admin emulator, started by the project's stack harness.
Every emulated execution takes ``--duration`` seconds (4 phase steps of D/4 s). The modes run one
after another in that one stack, each a DAG of N Flyte tasks over N inputs (``.partial().expand()``;
``benchmarks/fanout_dags/``), all with the same poll/poke interval and retries:

- ``deferred``        FlyteOperator(deferrable=True): the trigger ends the task on success
- ``deferred_resume`` FlyteOperator(deferrable=True, finish_on_triggerer=False): submit run + resume run
- ``zero_worker``     FlyteOperator(start_from_trigger=True): every map index starts on the triggerer,
                      no worker at all (a DAG that fails to import is reported as such)
- ``worker_wait``     FlyteOperator(deferrable=False): polls inside the worker
- ``old_poke``        FlyteOperator(wait_for_completion=False) + FlyteSensor(mode="poke") per item
- ``old_reschedule``  the same with FlyteSensor(mode="reschedule")
- ``v005_poke``       the anchor itself: airflow-provider-flyte 0.0.5's FlyteOperator + FlyteSensor(mode=
                      "poke"), unmodified, N task pairs (0.0.5 cannot map: see fanout_bench_v005.py)
- ``v005_reschedule`` the same with mode="reschedule"
- ``trivial_task``    N mapped ``@task`` functions returning a number: the floor of a worker run

Per mode: makespan (DAG run start to end), worker task runs, worker slot-seconds, seconds of slot per
run, the latency (queued to done) of an 8-task ETL DAG triggered ``--etl-delay`` s after the fan-out,
and the emulator's CreateExecution counters (duplicates must be 0). Then the ratios versus the best old
pattern, per figure, twice: versus the old pattern written with this provider (old_poke/old_reschedule,
whose launch is this release's cheap submit) and versus the anchor users run today (v005_*); and
zero_worker's makespan minus D. The v005 modes need the 0.0.5 wheel: it is fetched once from the
package index (``pip download``) into ``~/.cache/airflow-provider-flyte-async/`` and unpacked there.

How worker time is measured: each worker run of a task is one ``ExecuteTask`` workload on a
LocalExecutor worker process; the task SDK's supervisor logs ``Workload finished ... duration=...
final_state=... workload_id=<ti id>`` when it ends (into the scheduler's log, since the workers are its
children). ``duration`` is the supervisor's own monotonic time from taking the workload to the task
process's exit, i.e. the time the worker slot was held. The scheduler's ``TaskInstance Finished``
lines are NOT used for durations: a resumed try keeps the first run's ``start_date``, so there
``run_duration`` covers the whole deferral. They are counted as a cross-check (one per executor event
= one per worker run). A second, independent figure samples the process table every 0.25 s: a busy
LocalExecutor worker's title is ``airflow worker -- LocalExecutor: <ti id>`` (``<idle>`` otherwise);
it also sees a workload whose supervisor raised before logging. Between modes the benchmark waits
until every worker is idle and the pool is empty, so modes do not overlap. A run's slot time includes
the supervisor noticing its task process's exit. When the task process's sockets reach EOF before
the kernel lets the supervisor reap it, the supervisor's next ``select`` has no socket left to wake it
and sleeps a full ``[workers] min_heartbeat_interval`` (5 s): Airflow's own exit race, hit by about a
third of all worker runs here whatever the task. The benchmark counts it per mode ("exit waits": runs
whose supervisor finished more than 1 s after the task's last log line, and the seconds so spent).
That tail also makes Airflow 3.3.2 fail an occasional reschedule sensor (its next poke is queued before
the previous run's executor event arrives), hence the retries, which are reported.

    .venv/bin/python benchmarks/fanout.py                        # N=32, D=30 s, 4 slots, all modes
    .venv/bin/python benchmarks/fanout.py --preset large         # N=200
    .venv/bin/python benchmarks/fanout.py --preset long          # D=300 s, interval 60 s, no worker_wait
    .venv/bin/python benchmarks/fanout.py --n 4 --duration 8 --modes trivial_task,deferred \\
        --json /tmp/fanout.json --plot /tmp/fanout.png          # a quick check (plot needs matplotlib)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flyte_async_provider.demo.rest import FINISHED_RUN_STATES, AirflowApiError
from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, StackError, StackSettings, poll_until

DAGS_DIR = Path(__file__).resolve().parent / "fanout_dags"
COMMON_DAG_FILE = DAGS_DIR / "fanout_bench_common.py"
ETL_DAG_FILE = DAGS_DIR / "fanout_bench_etl.py"
ETL_DAG_ID = "fanout_bench_etl"
ETL_TASKS = 8
WORKER_TITLE = "airflow worker -- LocalExecutor:"
SAMPLE_SECONDS = 0.25
REST_POLL_SECONDS = 1.0
OLD_MODES = ("old_poke", "old_reschedule")
ANCHOR_MODES = ("v005_poke", "v005_reschedule")
ANCHOR_REQUIREMENT = "airflow-provider-flyte==0.0.5"
_CACHE_HOME = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
ANCHOR_CACHE = Path(_CACHE_HOME, "airflow-provider-flyte-async")
#: A run whose supervisor finished this long after the task's last log line waited on Airflow's exit race.
EXIT_WAIT_SECONDS = 1.0
# New modes purple, in-worker and old patterns grey, the floor light.
PLOT_COLORS = {
    "worker_wait": "#9a9a9a",
    "old_poke": "#9a9a9a",
    "old_reschedule": "#9a9a9a",
    "v005_poke": "#6e6e6e",
    "v005_reschedule": "#6e6e6e",
    "trivial_task": "#d0d0d0",
}


@dataclass(frozen=True)
class Mode:
    """One way to run the fan-out: its DAG, the file defining it, and what a correct run looks like."""

    name: str
    dag_file: str
    #: Task instances per mapped item (the old patterns launch + watch).
    tasks_per_item: int = 1
    #: Whether each item creates one Flyte execution.
    flyte: bool = True
    #: Worker runs a correct run of one item takes (``None``: varies, e.g. one per reschedule poke).
    runs_per_item: int | None = 1

    @property
    def dag_id(self) -> str:
        return f"fanout_bench_{self.name}"


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("deferred", "fanout_bench_deferred.py"),  # submit; the trigger ends it
        Mode("deferred_resume", "fanout_bench_deferred_resume.py", runs_per_item=2),  # submit + resume
        Mode("zero_worker", "fanout_bench_zero_worker.py", runs_per_item=0),
        Mode("worker_wait", "fanout_bench_worker_wait.py"),  # one long run
        Mode("old_poke", "fanout_bench_old_sensor.py", tasks_per_item=2, runs_per_item=2),
        Mode("old_reschedule", "fanout_bench_old_sensor.py", tasks_per_item=2, runs_per_item=None),
        Mode("v005_poke", "fanout_bench_v005.py", tasks_per_item=2, runs_per_item=2),
        Mode("v005_reschedule", "fanout_bench_v005.py", tasks_per_item=2, runs_per_item=None),
        Mode("trivial_task", "fanout_bench_trivial_task.py", flyte=False),
    )
}

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"n": 32, "duration": 30.0, "slots": 4, "interval": 5.0, "etl_delay": 30.0},
    "large": {"n": 200, "duration": 30.0, "slots": 4, "interval": 5.0, "etl_delay": 30.0},
    "long": {
        "n": 32,
        "duration": 300.0,
        "slots": 4,
        "interval": 60.0,
        "etl_delay": 150.0,  # half of D
        # Poke pins a slot per item for all of D: one poke pattern (this provider's) is enough here.
        "modes": [m for m in MODES if m not in ("worker_wait", *ANCHOR_MODES)],
    },
}


# -- options ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    n: int
    duration: float
    slots: int
    interval: float
    etl_delay: float
    modes: list[str]
    timeout: float
    plot: Path | None = None
    json_path: Path | None = None
    keep_home: bool = False
    airflow_config: dict[str, str] = field(default_factory=dict)


def default_timeout(n: int, duration: float, slots: int, interval: float) -> float:
    """Generous bound for one mode: the slowest (a worker per item) runs ceil(N/S) waves of ~D."""
    waves = math.ceil(n / slots)
    return 2.0 * waves * (duration + 2 * interval + 20.0) + 180.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--n", type=int, help="mapped Flyte tasks per mode (preset: 32, large 200)")
    p.add_argument("--duration", type=float, help="seconds each Flyte execution takes (D; 30, long 300)")
    p.add_argument("--slots", type=int, help="LocalExecutor worker slots ([core] parallelism; 4)")
    p.add_argument("--interval", type=float, help="poll / poke interval of every mode (5, long 60)")
    p.add_argument("--modes", help=f"comma-separated, in order (default all: {','.join(MODES)})")
    p.add_argument("--etl-delay", type=float, help="seconds after the fan-out to trigger the ETL DAG")
    p.add_argument("--timeout", type=float, help="seconds per mode (default from N, D, slots)")
    p.add_argument("--plot", type=Path, help="write a PNG (makespan and slot-seconds per mode)")
    p.add_argument("--json", dest="json_path", type=Path, help="write the figures as JSON")
    p.add_argument("--keep-home", action="store_true", help="keep the Airflow home (logs) for inspection")
    p.add_argument(
        "--airflow-config",
        action="append",
        default=[],
        metavar="SECTION__KEY=VALUE",
        help="extra Airflow setting for every component, e.g. WORKERS__MIN_HEARTBEAT_INTERVAL=1",
    )
    return p


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = build_parser()
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return preset[name] if value is None else value

    modes = [m.strip() for m in args.modes.split(",") if m.strip()] if args.modes else None
    modes = modes or list(preset.get("modes", MODES))
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    n, duration, slots, interval = pick("n"), pick("duration"), pick("slots"), pick("interval")
    if n < 1 or slots < 1 or duration <= 0 or interval <= 0:
        parser.error("--n and --slots must be >= 1, --duration and --interval > 0")
    return Options(
        n=n,
        duration=duration,
        slots=slots,
        interval=interval,
        etl_delay=pick("etl_delay"),
        modes=modes,
        timeout=args.timeout or default_timeout(n, duration, slots, interval),
        plot=args.plot,
        json_path=args.json_path,
        keep_home=args.keep_home,
        airflow_config=dict(item.split("=", 1) for item in args.airflow_config),
    )


# -- worker-slot measurement -----------------------------------------------------------------------
_TI_FINISHED = re.compile(
    r"TaskInstance Finished: dag_id=(?P<dag_id>[^,]+), task_id=[^,]+, run_id=(?P<run_id>[^,]+), "
    r"map_index=-?\d+, ti_id=(?P<ti_id>[^,]+),.*? state=(?P<state>[^,]+),"
)
_WORKLOAD_FINISHED = re.compile(r"^(?P<ts>\S+) .*Workload finished\s.*")
_KEY_VALUE = re.compile(r"\b(duration|final_state|workload_id|workload_type)=(\S+)")
#: A line the task process itself logged (the supervisor forwards them with this timestamp format).
_TASK_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00) .*\bti_id=(?P<ti_id>[\w-]+)")


@dataclass(frozen=True)
class WorkerRun:
    """One workload a LocalExecutor worker ran: which task instance, how long, what it ended in."""

    ti_id: str
    seconds: float
    final_state: str
    #: From the task process's last log line to the supervisor's end (``None``: no task line seen).
    exit_gap_s: float | None = None


def parse_worker_runs(log_text: str) -> list[WorkerRun]:
    """Every ``Workload finished`` line of ``ExecuteTask`` workloads (the supervisor's own timing),
    with how long after the task's last log line the supervisor finished."""
    runs: list[WorkerRun] = []
    last_task_line: dict[str, str] = {}
    for line in log_text.splitlines():
        task_line = _TASK_LINE.match(line)
        if task_line:
            last_task_line[task_line["ti_id"]] = task_line["ts"]
            continue
        match = _WORKLOAD_FINISHED.match(line)
        if not match:
            continue
        fields = dict(_KEY_VALUE.findall(line))
        if fields.get("workload_type", "ExecuteTask") != "ExecuteTask" or "workload_id" not in fields:
            continue
        ti_id = fields["workload_id"]
        gap = _seconds_between(last_task_line.pop(ti_id, None), match["ts"])
        runs.append(WorkerRun(ti_id, float(fields.get("duration", 0.0)), fields.get("final_state", ""), gap))
    return runs


def exit_waits(runs: Iterable[WorkerRun]) -> tuple[int, float]:
    """Runs that waited on Airflow's exit race (see the module docstring), and the seconds they lost."""
    gaps = [r.exit_gap_s for r in runs if r.exit_gap_s is not None and r.exit_gap_s > EXIT_WAIT_SECONDS]
    return len(gaps), sum(gaps)


def parse_executor_events(log_text: str, dag_id: str, run_id: str) -> list[tuple[str, str]]:
    """``(ti_id, state)`` of each ``TaskInstance Finished`` line of one DAG run (one per executor event)."""
    return [
        (m["ti_id"], m["state"])
        for m in _TI_FINISHED.finditer(log_text)
        if m["dag_id"] == dag_id and m["run_id"] == run_id
    ]


class LogReader:
    """The scheduler's log from a given offset on (the part written during one mode)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read_from(self, offset: int) -> str:
        with self.path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")


class WorkerSampler:
    """Samples the stack's LocalExecutor workers (children of the scheduler): busy seconds and runs per ti id.

    A worker's process title is ``airflow worker -- LocalExecutor: <ti id>`` while it runs a task and
    ``... <idle>`` otherwise; a run is counted when a worker's title turns to a ti id (runs shorter
    than a sample can be missed). Only processes in the scheduler's process group count, so other
    stacks on the same machine are ignored.
    """

    def __init__(self, pgid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pgid = pgid
        self.interval = interval
        self._busy: defaultdict[str, float] = defaultdict(float)
        self._starts: Counter[str] = Counter()
        self._current: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-sampler", daemon=True)

    def start(self) -> WorkerSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def busy_now(self) -> list[str]:
        with self._lock:
            return list(self._current.values())

    def busy_seconds(self, ti_ids: Iterable[str]) -> float:
        with self._lock:
            return sum(self._busy.get(t, 0.0) for t in set(ti_ids))

    def runs(self, ti_ids: Iterable[str]) -> int:
        with self._lock:
            return sum(self._starts.get(t, 0) for t in set(ti_ids))

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            current = self._busy_workers()
            with self._lock:
                for pid, ti_id in current.items():
                    self._busy[ti_id] += now - last
                    if self._current.get(pid) != ti_id:
                        self._starts[ti_id] += 1
                self._current = current
            last = now

    def _busy_workers(self) -> dict[int, str]:
        """``{worker pid: ti id}`` of the workers running a task now."""
        busy: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
                if int(stat.rsplit(b")", 1)[1].split()[2]) != self.pgid:  # after comm: state ppid pgrp
                    continue
                title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except (OSError, ValueError, IndexError):
                continue
            if title.startswith(WORKER_TITLE):
                task = title[len(WORKER_TITLE) :].strip()
                if task and task != "<idle>":
                    busy[int(entry)] = task
        return busy


# -- results ----------------------------------------------------------------------------------------
@dataclass
class ModeResult:
    mode: str
    dag_id: str
    status: str = "not run"  # ok | import_error | failed | timeout | error
    error: str = ""
    run_id: str = ""
    makespan_s: float | None = None
    worker_runs: int | None = None
    slot_s: float | None = None
    slot_s_sampled: float | None = None
    worker_runs_sampled: int | None = None
    executor_events: int | None = None
    runs_by_final_state: dict[str, int] = field(default_factory=dict)
    ti_states: dict[str, int] = field(default_factory=dict)
    retries: int | None = None
    exit_waits: int | None = None
    exit_wait_s: float | None = None
    note: str = ""
    etl_latency_s: float | None = None
    etl_overlapped: bool | None = None
    etl_state: str = ""
    create_calls: int | None = None
    creates_ok: int | None = None
    duplicate_creates: int | None = None
    executions_created: int | None = None
    admin_rpcs: dict[str, int] = field(default_factory=dict)

    @property
    def s_per_run(self) -> float | None:
        if self.slot_s is None or not self.worker_runs:
            return None
        return self.slot_s / self.worker_runs


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = _ts(start), _ts(end)
    return (b - a).total_seconds() if a is not None and b is not None else None


@dataclass(frozen=True)
class EmulatorSnapshot:
    """The emulator's RPC counters (received / answered OK) and how many executions it holds."""

    calls: dict[str, int]
    ok: dict[str, int]
    executions: int

    @classmethod
    def take(cls, emulator: Any) -> EmulatorSnapshot:
        return cls(emulator.counters(), emulator.success_counters(), sum(emulator.phase_counts().values()))


def count_creates(
    result: ModeResult, before: EmulatorSnapshot, after: EmulatorSnapshot, expected: int
) -> None:
    """CreateExecution during the mode. Duplicates: calls not answered OK (a repeat of a name gets
    ALREADY_EXISTS) plus executions beyond one per mapped item (a repeat under another name)."""
    result.admin_rpcs = {
        k: v - before.calls.get(k, 0) for k, v in after.calls.items() if v != before.calls.get(k, 0)
    }
    result.create_calls = result.admin_rpcs.get("CreateExecution", 0)
    result.creates_ok = after.ok.get("CreateExecution", 0) - before.ok.get("CreateExecution", 0)
    result.executions_created = after.executions - before.executions
    extra = max(0, result.executions_created - expected)
    result.duplicate_creates = result.create_calls - result.creates_ok + extra


# -- the stack --------------------------------------------------------------------------------------
def ensure_anchor(cache: Path = ANCHOR_CACHE) -> Path:
    """The unpacked airflow-provider-flyte 0.0.5 wheel (downloaded from the package index once).

    Unpacked rather than installed: installed, it would register a second ``flyte`` connection type.
    """
    target = cache / "airflow-provider-flyte-0.0.5"
    if (target / "flyte_provider" / "operators" / "flyte.py").is_file():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"]
    proc = subprocess.run(
        [*cmd, "-d", str(wheels), ANCHOR_REQUIREMENT], capture_output=True, text=True, timeout=300
    )
    found = sorted(wheels.glob("airflow_provider_flyte-0.0.5-*.whl"))
    if proc.returncode != 0 or not found:
        raise StackError(f"could not download {ANCHOR_REQUIREMENT}: {proc.stderr.strip()[-500:]}")
    with zipfile.ZipFile(found[0]) as wheel:
        wheel.extractall(target)
    return target


def bench_env(opts: Options, anchor: Path | None = None) -> dict[str, str]:
    """What every Airflow component gets: the DAGs' settings (see fanout_bench_common.py), the
    anchor package on ``PYTHONPATH`` when a v005 mode runs, and ``--airflow-config``."""
    env = {"FANOUT_BENCH": json.dumps({"n": opts.n, "interval": opts.interval})}
    if anchor is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(anchor), os.environ.get("PYTHONPATH")) if p)
    env.update({f"AIRFLOW__{key.upper()}": value for key, value in opts.airflow_config.items()})
    return env


def dag_files(modes: Sequence[str]) -> list[Path]:
    files = {COMMON_DAG_FILE, ETL_DAG_FILE, *(DAGS_DIR / MODES[m].dag_file for m in modes)}
    return sorted(files)


def stack_settings(opts: Options, anchor: Path | None = None) -> StackSettings:
    return StackSettings(
        extra_dag_files=dag_files(opts.modes),
        include_example_dags=False,
        parallelism=opts.slots,
        # UNDEFINED -> QUEUED -> RUNNING -> SUCCEEDING -> SUCCEEDED: 4 steps of D/4 s.
        emulator_args=["--advance-seconds", f"{opts.duration / 4:g}"],
        extra_env=bench_env(opts, anchor),
        keep_home=opts.keep_home,
    )


def wait_for_dags(stack: AirflowStack, modes: Sequence[str], timeout: float = 240.0) -> dict[str, str]:
    """Wait until every mode's DAG (and the ETL DAG) is parsed or its file failed; return the failures.

    ``{mode: import error}`` for modes whose DAG file did not import; the ETL DAG must import.
    """
    wanted = {m: MODES[m] for m in modes}
    pending = {ETL_DAG_ID, *(m.dag_id for m in wanted.values())}
    failed: dict[str, str] = {}

    def file_errors() -> dict[str, str]:
        return {
            Path(str(e.get("filename"))).name: str(e.get("stack_trace") or "")
            for e in stack.rest.import_errors()
        }

    def probe() -> bool:
        stack.check_alive()
        errors = file_errors()
        for dag_id in sorted(pending):
            try:
                stack.rest.get_dag(dag_id)
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
            else:
                pending.discard(dag_id)
        for mode in wanted.values():
            if mode.dag_id in pending and mode.dag_file in errors:
                failed[mode.name] = last_line(errors[mode.dag_file])
                pending.discard(mode.dag_id)
        if ETL_DAG_FILE.name in errors:
            raise StackError(f"the ETL DAG failed to import: {errors[ETL_DAG_FILE.name]}")
        return not pending

    poll_until(
        probe, timeout=timeout, interval=1.0, what="the benchmark DAGs", on_timeout=lambda: str(pending)
    )
    return failed


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def wait_quiet(stack: AirflowStack, sampler: WorkerSampler, timeout: float) -> None:
    """Until no worker runs a task and the pool holds nothing (running, queued or deferred)."""

    def probe() -> bool:
        stack.check_alive()
        if sampler.busy_now():
            return False
        pool = stack.rest.pool()
        return all(int(pool.get(k) or 0) == 0 for k in ("running_slots", "queued_slots", "deferred_slots"))

    poll_until(probe, timeout=timeout, interval=REST_POLL_SECONDS, what="the workers and the pool to be idle")


def runs_note(mode: Mode, n: int, result: ModeResult) -> str:
    """Say so when the worker runs differ from what the mode should take (N x runs per item)."""
    if mode.runs_per_item is None or result.worker_runs is None:
        return ""
    expected = n * mode.runs_per_item
    if result.worker_runs == expected:
        return ""
    why = f"; {result.retries} retries" if result.retries else ""
    return f"{result.worker_runs} worker runs, expected {expected} ({mode.runs_per_item} per item){why}"


def sampling_note(result: ModeResult) -> str:
    """Say so when the process table saw more (or less) worker time than the supervisors logged.

    More: a workload that ended without ``Workload finished`` (its supervisor raised, e.g. the API
    server refused to start a task instance that the scheduler had just failed).
    """
    if result.slot_s is None or result.slot_s_sampled is None:
        return ""
    gap = result.slot_s_sampled - result.slot_s
    runs_gap = (result.worker_runs_sampled or 0) - (result.worker_runs or 0)
    if abs(gap) <= max(2.0, 0.05 * result.slot_s) and runs_gap == 0:
        return ""
    return (
        f"process table: {result.worker_runs_sampled} runs / {result.slot_s_sampled:.1f} slot-s vs "
        f"{result.worker_runs} / {result.slot_s:.1f} from the supervisors' log"
    )


# -- one mode ---------------------------------------------------------------------------------------
class ModeRunner:
    """Runs the modes one after another in one stack and measures each."""

    def __init__(self, stack: AirflowStack, opts: Options, sampler: WorkerSampler) -> None:
        self.stack = stack
        self.opts = opts
        self.sampler = sampler
        self.runs = DagRuns(stack.rest, check=stack.check_alive)
        self.emulator = stack.emulator_control()
        self.log = LogReader(stack.component_logs / "scheduler.log")

    def warm_up(self) -> float | None:
        """One ETL run on the quiet stack (warms the workers' imports); returns its latency."""
        run_id = self.runs.trigger(ETL_DAG_ID)
        self.runs.wait_run(ETL_DAG_ID, run_id, timeout=300, interval=REST_POLL_SECONDS)
        wait_quiet(self.stack, self.sampler, timeout=120)
        run = self.stack.rest.get_dag_run(ETL_DAG_ID, run_id)
        return _seconds_between(run.get("queued_at"), run.get("end_date"))

    def run(self, mode: Mode) -> ModeResult:
        result = ModeResult(mode.name, mode.dag_id)
        offset = self.log.size()
        before = EmulatorSnapshot.take(self.emulator)
        try:
            fanout_run, etl_run = self._drive(mode, result)
            wait_quiet(self.stack, self.sampler, timeout=self.opts.timeout)
        except TimeoutError as exc:
            result.status, result.error = "timeout", str(exc)
            self._fail_runs(mode, result.run_id)
            return result
        self._measure(mode, result, fanout_run, etl_run, self._settled_log(mode, result.run_id, offset))
        expected = self.opts.n if mode.flyte else 0
        count_creates(result, before, EmulatorSnapshot.take(self.emulator), expected)
        return result

    def _settled_log(self, mode: Mode, run_id: str, offset: int, timeout: float = 30.0) -> str:
        """The mode's part of the scheduler log once it holds an executor event for every worker run.

        A worker is idle before the scheduler processes its event, so the last ``TaskInstance
        Finished`` lines may lag by a scheduler loop. Not getting there is no error (the cross-check
        then shows the difference).
        """
        current = {str(ti["id"]) for ti in self.stack.rest.task_instances(mode.dag_id, run_id)}
        text = ""

        def probe() -> bool:
            nonlocal text
            text = self.log.read_from(offset)
            events = parse_executor_events(text, mode.dag_id, run_id)
            ti_ids = current | {ti_id for ti_id, _ in events}
            return len(events) >= sum(1 for r in parse_worker_runs(text) if r.ti_id in ti_ids)

        with contextlib.suppress(TimeoutError):
            poll_until(probe, timeout=timeout, interval=REST_POLL_SECONDS, what="the scheduler's events")
        return text

    def _drive(self, mode: Mode, result: ModeResult) -> tuple[dict[str, Any], dict[str, Any]]:
        """Trigger the fan-out, the ETL DAG ``etl_delay`` s later; wait until both are finished."""
        started = time.monotonic()
        result.run_id = self.runs.trigger(mode.dag_id)
        etl_run_id: list[str] = []

        def probe() -> tuple[dict[str, Any], dict[str, Any]] | None:
            self.stack.check_alive()
            if not etl_run_id and time.monotonic() - started >= self.opts.etl_delay:
                etl_run_id.append(self.runs.trigger(ETL_DAG_ID))
            fanout = self.stack.rest.get_dag_run(mode.dag_id, result.run_id)
            if not etl_run_id or fanout["state"] not in FINISHED_RUN_STATES:
                return None
            etl = self.stack.rest.get_dag_run(ETL_DAG_ID, etl_run_id[0])
            return (fanout, etl) if etl["state"] in FINISHED_RUN_STATES else None

        return poll_until(
            probe,
            timeout=self.opts.timeout,
            interval=REST_POLL_SECONDS,
            what=f"mode {mode.name} ({mode.dag_id}) and the ETL DAG to finish",
            on_timeout=lambda: str(Counter(self.runs.states(mode.dag_id, result.run_id).values())),
        )

    def _measure(
        self, mode: Mode, result: ModeResult, fanout: Mapping[str, Any], etl: Mapping[str, Any], log: str
    ) -> None:
        tis = self.stack.rest.task_instances(mode.dag_id, result.run_id)
        result.ti_states = dict(Counter(str(ti["state"]) for ti in tis))
        result.retries = sum(max(0, int(ti.get("try_number") or 1) - 1) for ti in tis)
        events = parse_executor_events(log, mode.dag_id, result.run_id)
        ti_ids = {str(ti["id"]) for ti in tis} | {ti_id for ti_id, _ in events}
        worker_runs = [r for r in parse_worker_runs(log) if r.ti_id in ti_ids]
        result.executor_events = len(events)
        result.worker_runs = len(worker_runs)
        result.slot_s = sum(r.seconds for r in worker_runs)
        result.slot_s_sampled = self.sampler.busy_seconds(ti_ids)
        result.worker_runs_sampled = self.sampler.runs(ti_ids)
        result.runs_by_final_state = dict(Counter(r.final_state for r in worker_runs))
        result.exit_waits, result.exit_wait_s = exit_waits(worker_runs)
        result.makespan_s = _seconds_between(fanout.get("start_date"), fanout.get("end_date"))
        result.etl_latency_s = _seconds_between(etl.get("queued_at"), etl.get("end_date"))
        etl_queued, fanout_end = _ts(etl.get("queued_at")), _ts(fanout.get("end_date"))
        result.etl_overlapped = bool(etl_queued and fanout_end and etl_queued < fanout_end)
        result.etl_state = str(etl["state"])
        expected = self.opts.n * mode.tasks_per_item
        all_ok = fanout["state"] == "success" and result.ti_states == {"success": expected}
        result.status = "ok" if all_ok and etl["state"] == "success" else "failed"
        if not all_ok:
            result.error = (
                f"run {fanout['state']}, task states {result.ti_states} (expected {expected} success)"
            )
        elif etl["state"] != "success":
            result.error = f"ETL run {etl['state']}"
        result.note = "; ".join(n for n in (runs_note(mode, self.opts.n, result), sampling_note(result)) if n)

    def _fail_runs(self, mode: Mode, run_id: str) -> None:
        """After a timeout: mark the fan-out failed so its tasks stop, then wait (bounded) for quiet."""
        if run_id:
            try:
                self.stack.rest.request(
                    "PATCH",
                    f"/api/v2/dags/{mode.dag_id}/dagRuns/{run_id}",
                    body={"state": "failed"},
                )
            except AirflowApiError as exc:
                print(f"  could not mark {mode.dag_id} {run_id} failed: {exc}", file=sys.stderr)
        try:
            wait_quiet(self.stack, self.sampler, timeout=120)
        except TimeoutError as exc:
            print(f"  after the timeout the stack is still busy: {exc}", file=sys.stderr)


# -- report -----------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: Sequence[ModeResult], out: Any = sys.stdout) -> None:
    header = (
        f"{'mode':<16} {'status':<12} {'makespan s':>10} {'runs':>5} {'slot-s':>8} {'(ps)':>8} "
        f"{'s/run':>6} {'ETL s':>6} {'creates':>8} {'dup':>4} {'retry':>5} {'exit waits':>10}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in results:
        creates = "-" if r.creates_ok is None else f"{r.creates_ok}/{r.executions_created}"
        etl = _fmt(r.etl_latency_s) + ("" if r.etl_overlapped in (None, True) else "*")
        waits = "-" if r.exit_waits is None else f"{r.exit_waits}/{r.exit_wait_s or 0.0:.0f} s"
        print(
            f"{r.mode:<16} {r.status:<12} {_fmt(r.makespan_s):>10} {_fmt(r.worker_runs, 'd'):>5} "
            f"{_fmt(r.slot_s):>8} {_fmt(r.slot_s_sampled):>8} {_fmt(r.s_per_run, '.2f'):>6} {etl:>6} "
            f"{creates:>8} {_fmt(r.duplicate_creates, 'd'):>4} {_fmt(r.retries, 'd'):>5} {waits:>10}",
            file=out,
        )
    for r in results:
        for text in (r.error, r.note):
            if text:
                print(f"  {r.mode}: {text}", file=out)
        if r.runs_by_final_state:
            states = ", ".join(f"{k} {v}" for k, v in sorted(r.runs_by_final_state.items()))
            print(f"  {r.mode}: worker runs ended {states}; executor events {r.executor_events}", file=out)
    print(
        "runs/slot-s: worker task runs and the seconds they held a worker (supervisor's 'Workload "
        "finished' duration); (ps): the same from sampling worker process titles; s/run = slot-s / runs; "
        "ETL s: queued-to-done of the 8-task ETL DAG (* = triggered after the fan-out had ended); "
        "creates: CreateExecution answered OK / executions created; dup: duplicate CreateExecution; "
        "retry: task retries (Airflow's own failures, e.g. apache/airflow#67287); exit waits: runs whose "
        "supervisor slept on Airflow's exit race / the slot-seconds they lost.",
        file=out,
    )


NEW_MODES = ("deferred", "deferred_resume", "zero_worker", "worker_wait")
BASELINES = {
    "old": ("this provider's fire-and-forget + sensor", OLD_MODES),
    "v005": ("airflow-provider-flyte 0.0.5", ANCHOR_MODES),
}


def best_of(results: Mapping[str, ModeResult], modes: Sequence[str]) -> dict[str, float] | None:
    """Per figure, the best of those modes that succeeded (``None`` if none did)."""
    runs = [results[m] for m in modes if m in results]
    if not runs:
        return None
    return {
        "makespan_s": min(r.makespan_s or math.inf for r in runs),
        "slot_s": min(r.slot_s or math.inf for r in runs),
        "etl_latency_s": min(r.etl_latency_s or math.inf for r in runs),
    }


def ratios(results: Sequence[ModeResult], duration: float) -> dict[str, Any]:
    """The issue's target figures: each new mode versus each baseline's best, per figure."""
    ok = {r.mode: r for r in results if r.status == "ok"}
    out: dict[str, Any] = {}
    for key, (_, modes) in BASELINES.items():
        best = best_of(ok, modes)
        if best is None:
            continue
        out[f"best_{key}"] = best
        for name in NEW_MODES:
            r = ok.get(name)
            if r is None or r.makespan_s is None or r.slot_s is None:
                continue
            out.setdefault(name, {})[f"vs_{key}"] = {
                "makespan_ratio": r.makespan_s / best["makespan_s"],
                "slot_s_ratio": r.slot_s / best["slot_s"] if best["slot_s"] else None,
                "etl_latency_s": r.etl_latency_s,
                "best_etl_latency_s": best["etl_latency_s"],
            }
    zero = ok.get("zero_worker")
    if zero is not None and zero.makespan_s is not None:
        out.setdefault("zero_worker", {})["makespan_minus_d_s"] = zero.makespan_s - duration
    trivial = ok.get("trivial_task")
    if trivial is not None:
        out["trivial_s_per_run"] = trivial.s_per_run
    return out


def print_ratios(figures: Mapping[str, Any], results: Sequence[ModeResult], out: Any = sys.stdout) -> None:
    for key, (label, modes) in BASELINES.items():
        best = figures.get(f"best_{key}")
        if best is None:
            print(f"ratios vs {label}: none of {'/'.join(modes)} succeeded in this run", file=out)
            continue
        print(
            f"ratios vs {label} (per figure, best of {'/'.join(modes)}: makespan "
            f"{best['makespan_s']:.1f} s, slot-s {best['slot_s']:.1f}, ETL {best['etl_latency_s']:.1f} s):",
            file=out,
        )
        for name in NEW_MODES:
            fig = figures.get(name, {}).get(f"vs_{key}")
            if not fig:
                continue
            print(
                f"  {name:<16} makespan {fig['makespan_ratio']:.2f}x, "
                f"slot-s {_fmt(fig['slot_s_ratio'], '.2f')}x, ETL {_fmt(fig['etl_latency_s'])} s "
                f"(baseline {_fmt(fig['best_etl_latency_s'])} s)",
                file=out,
            )
    zero = figures.get("zero_worker", {})
    if "makespan_minus_d_s" in zero:
        print(f"zero_worker makespan - D = {zero['makespan_minus_d_s']:.1f} s", file=out)
    per_run = {r.mode: r.s_per_run for r in results if r.s_per_run is not None}
    if per_run:
        shown = ", ".join(f"{m} {v:.2f}" for m, v in per_run.items())
        print(f"worker seconds per run: {shown}", file=out)


def plot(results: Sequence[ModeResult], path: Path) -> None:
    """Two bar panels: makespan and worker slot-seconds per mode (modes without a figure: n/a)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib (pip install matplotlib, or the dev extra)", file=sys.stderr)
        return
    names = [r.mode for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    panels: list[tuple[str, Callable[[ModeResult], float | None]]] = [
        ("makespan (s)", lambda r: r.makespan_s),
        ("worker slot-seconds", lambda r: r.slot_s),
    ]
    for ax, (title, value) in zip(axes, panels, strict=True):
        heights = [value(r) if r.status == "ok" else None for r in results]
        colors = [PLOT_COLORS.get(r.mode, "#7b5ea7") for r in results]
        bars = ax.bar(names, [h or 0.0 for h in heights], color=colors)
        for bar, h, r in zip(bars, heights, results, strict=True):
            label = f"{h:.0f}" if h is not None else r.status
            ax.annotate(
                label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom"
            )
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot written to {path}")


def write_json(path: Path, opts: Options, results: Sequence[ModeResult], extra: Mapping[str, Any]) -> None:
    data = {
        "config": asdict(opts),
        "modes": [{**asdict(r), "s_per_run": r.s_per_run} for r in results],
        **extra,
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"figures written to {path}")


# -- main -------------------------------------------------------------------------------------------
def run_modes(
    stack: AirflowStack,
    opts: Options,
    sampler: WorkerSampler,
    results: list[ModeResult],
    extra: dict[str, Any],
) -> None:
    """Every selected mode in turn; each result is appended as soon as it is known."""
    broken = wait_for_dags(stack, opts.modes)
    runner = ModeRunner(stack, opts, sampler)
    extra["etl_alone_s"] = runner.warm_up()
    print(f"warm-up: the ETL DAG alone took {_fmt(extra['etl_alone_s'])} s", flush=True)
    for name in opts.modes:
        mode = MODES[name]
        if name in broken:
            results.append(ModeResult(name, mode.dag_id, status="import_error", error=broken[name]))
            print(f"{name}: DAG did not import: {broken[name]}", flush=True)
            continue
        print(f"{name}: running {mode.dag_id} ...", flush=True)
        result = runner.run(mode)
        results.append(result)
        print(
            f"{name}: {result.status}, makespan {_fmt(result.makespan_s)} s, "
            f"{_fmt(result.worker_runs, 'd')} worker runs, {_fmt(result.slot_s)} slot-s, "
            f"ETL {_fmt(result.etl_latency_s)} s",
            flush=True,
        )


def run_benchmark(opts: Options, results: list[ModeResult], extra: dict[str, Any]) -> str:
    """Start the stack, run the modes, always stop it; returns an error that ended the run early."""
    anchor = None
    if any(m in ANCHOR_MODES for m in opts.modes):
        try:
            anchor = ensure_anchor()
        except (StackError, OSError, subprocess.SubprocessError, zipfile.BadZipFile) as exc:
            print(f"the v005 modes will fail to import: {exc}", file=sys.stderr)
    stack = AirflowStack(stack_settings(opts, anchor))
    sampler: WorkerSampler | None = None
    with stack.stop_on_signals():
        try:
            stack.start()
            print(f"stack ready in {stack.timings['ready']:.1f} s (home {stack.home})", flush=True)
            scheduler_pid = stack.processes["scheduler"].pid
            if scheduler_pid is None:
                raise StackError("the scheduler has no pid")
            sampler = WorkerSampler(os.getpgid(scheduler_pid)).start()
            run_modes(stack, opts, sampler, results, extra)
        except (StackError, TimeoutError, AirflowApiError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            if sampler is not None:
                sampler.stop()
            stack.stop()
    return ""


def report(opts: Options, results: Sequence[ModeResult], extra: Mapping[str, Any]) -> None:
    print()
    print_table(results)
    print()
    figures = ratios(results, opts.duration)
    print_ratios(figures, results)
    if opts.json_path:
        write_json(opts.json_path, opts, results, {**extra, "ratios": figures})
    if opts.plot:
        plot(results, opts.plot)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    print(
        f"fan-out benchmark: N={opts.n}, D={opts.duration:g} s, {opts.slots} slots, interval "
        f"{opts.interval:g} s, ETL after {opts.etl_delay:g} s, timeout {opts.timeout:.0f} s per mode, "
        f"modes {','.join(opts.modes)}"
        + "".join(f", AIRFLOW__{k.upper()}={v}" for k, v in opts.airflow_config.items()),
        flush=True,
    )
    results: list[ModeResult] = []
    extra: dict[str, Any] = {}
    error = run_benchmark(opts, results, extra)
    report(opts, results, extra)
    if error:
        print(f"benchmark stopped early: {error}", file=sys.stderr)
    dups = sum(r.duplicate_creates or 0 for r in results)
    if dups:
        print(f"DUPLICATE CreateExecution calls: {dups}", file=sys.stderr)
    bad = [r.mode for r in results if r.status not in ("ok", "import_error")]
    return 1 if error or dups or bad else 0


if __name__ == "__main__":
    sys.exit(main())
