"""``make demo``: a deferred FlyteOperator on a real (throwaway) Airflow, narrated as it happens.

Starts the Flyte Admin emulator (or uses the real Flyte named by ``FLYTE_ENDPOINT``) and an Airflow
with scheduler, dag-processor, api-server and triggerer as separate processes; triggers the example DAG;
prints every task-state change (DEFERRED included) and Flyte phase change with the console URL; then
the outcome, the returned value, and how many worker slots were held while Flyte ran — zero, because
the task waits on the triggerer, not in a worker. Everything started is stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from flyte_async_provider.demo.rest import FINISHED_RUN_STATES, AirflowApiError, AirflowRestClient
from flyte_async_provider.demo.runs import DagRuns, TaskKey
from flyte_async_provider.demo.stack import AirflowStack, FlyteTarget, StackError, StackSettings
from flyte_async_provider.phases import ExecutionPhase

DEFAULT_DAG_ID = "example_flyte"
EXAMPLE_LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
XCOM_EXECUTION_NAME_KEY = "flyte_execution_name"
XCOM_CONSOLE_URL_KEY = "flyte_console_url"
PHASE_NAMES = tuple(p.name for p in ExecutionPhase)
_EXECUTION_URL = re.compile(r"/executions/([a-z][a-z0-9-]*)/?$")


def phase_name(value: Any) -> str:
    """A phase from an int, a name, or an emulator/REST dict, as Flyte's upper-case name."""
    if isinstance(value, int) and 0 <= value < len(PHASE_NAMES):
        return PHASE_NAMES[value]
    return str(value).upper()


class PhaseSource:
    """Reads the current phase of a Flyte execution (``None`` while it is not known yet)."""

    def phase(self, project: str, domain: str, name: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        return None


class EmulatorPhases(PhaseSource):
    """Phases from the emulator's control API (reads there are not counted as status reads)."""

    def __init__(self, control: Any) -> None:
        self.control = control

    def phase(self, project: str, domain: str, name: str) -> str | None:
        try:
            execution = self.control.execution(project, domain, name)
        except Exception:
            return None
        if isinstance(execution, dict):
            closure = execution.get("closure") if isinstance(execution.get("closure"), dict) else execution
            value = closure.get("phase") if isinstance(closure, dict) else None
            return phase_name(value) if value is not None else None
        closure = getattr(execution, "closure", None)
        return phase_name(getattr(closure, "phase", None)) if closure is not None else None


class AdminPhases(PhaseSource):
    """Phases from a real Flyte Admin through the provider's own async client, on a private loop."""

    def __init__(self, target: FlyteTarget) -> None:
        from flyte_async_provider.config import parse_connection

        self.config = parse_connection(_TargetConnection(target))
        self.loop = asyncio.new_event_loop()

    def phase(self, project: str, domain: str, name: str) -> str | None:
        from flyte_async_provider.admin import get_admin_client

        async def read() -> str:
            status = await get_admin_client(self.config).get_execution(project, domain, name)
            return str(status.phase.name)

        try:
            return self.loop.run_until_complete(asyncio.wait_for(read(), 10))
        except Exception:
            return None

    def close(self) -> None:
        self.loop.close()


@dataclass
class _TargetConnection:
    """Just enough of an Airflow Connection for :func:`parse_connection`."""

    target: FlyteTarget
    conn_id: str = "flyte_default"
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None

    def __post_init__(self) -> None:
        self.host = self.target.host
        self.port = self.target.port
        self.login = self.target.client_id
        self.password = self.target.client_secret

    @property
    def extra_dejson(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "project": self.target.project,
            "domain": self.target.domain,
            "insecure": self.target.insecure,
        }
        if self.target.console_endpoint:
            extra["console_endpoint"] = self.target.console_endpoint
        extra.update(self.target.extra)
        return extra


@dataclass
class SlotSamples:
    """Worker-slot usage sampled while the Flyte execution was running."""

    samples: int = 0
    max_running_tis: int = 0
    max_pool_running: int = 0
    max_pool_deferred: int = 0
    deferred_seen: set[TaskKey] = field(default_factory=set)

    def add(self, states: dict[TaskKey, str | None], pool: dict[str, Any] | None) -> None:
        self.samples += 1
        self.max_running_tis = max(self.max_running_tis, sum(1 for s in states.values() if s == "running"))
        self.deferred_seen.update(k for k, s in states.items() if s == "deferred")
        if pool is not None:
            self.max_pool_running = max(self.max_pool_running, int(pool.get("running_slots", 0)))
            self.max_pool_deferred = max(self.max_pool_deferred, int(pool.get("deferred_slots", 0)))

    @property
    def held(self) -> int:
        return max(self.max_running_tis, self.max_pool_running)


class Narrator:
    """Prints one line per change, stamped with seconds since the run was triggered."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.t0 = time.monotonic()

    def restart_clock(self) -> None:
        self.t0 = time.monotonic()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def event(self, source: str, text: str) -> None:
        self.say(f"[{time.monotonic() - self.t0:6.1f}s] {source:<8} {text}")

    def detail(self, text: str) -> None:
        self.say(f"{'':19}{text}")


@dataclass
class DemoResult:
    run_state: str
    task_states: dict[TaskKey, str | None]
    return_value: Any
    execution_name: str | None
    console_url: str | None
    final_phase: str | None
    slots: SlotSamples
    seconds: float


def _task_label(key: TaskKey) -> str:
    task_id, map_index = key
    return f"{task_id}[{map_index}]" if map_index >= 0 else task_id


def _safe(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (AirflowApiError, OSError, urllib.error.URLError, ValueError):
        return None


def watch_run(
    rest: AirflowRestClient,
    runs: DagRuns,
    dag_id: str,
    run_id: str,
    phases: PhaseSource,
    narrator: Narrator,
    *,
    project: str,
    domain: str,
    timeout: float,
    interval: float = 0.5,
) -> DemoResult:
    """Follow one DAG run until it finishes, narrating changes; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last_states: dict[TaskKey, str | None] = {}
    flyte_tasks: dict[TaskKey, str] = {}  # task -> execution name
    console_urls: dict[str, str] = {}
    last_phase: dict[str, str] = {}
    slots = SlotSamples()
    run_state = "running"
    while True:
        runs.check()
        states = _safe(lambda: runs.states(dag_id, run_id)) or last_states
        for key, state in sorted(states.items()):
            if last_states.get(key, "?") != state and not (state is None and key not in last_states):
                note = "  (worker slot released; the triggerer watches Flyte)" if state == "deferred" else ""
                narrator.event("Airflow", f"{_task_label(key)}: {state}{note}")
        for key, state in states.items():
            if key in flyte_tasks or state in (None, "scheduled", "queued"):
                continue
            name, url = _execution_of(rest, dag_id, run_id, key)
            if name:
                known = name in flyte_tasks.values()
                flyte_tasks[key] = name
                if known:
                    narrator.event("Flyte", f"{_task_label(key)} watches execution {name}")
                    continue
                if url:
                    console_urls[name] = url
                narrator.event("Flyte", f"{_task_label(key)} launched execution {name}")
                if url:
                    narrator.detail(f"console: {url}")
        last_states = dict(states)
        for name in sorted(set(flyte_tasks.values())):
            phase = phases.phase(project, domain, name)
            if phase and phase != last_phase.get(name):
                last_phase[name] = phase
                narrator.event("Flyte", f"{name}: {phase}")
        if any(p == "RUNNING" for p in last_phase.values()):
            slots.add(states, _safe(lambda: rest.pool("default_pool")))
        run = _safe(lambda: rest.get_dag_run(dag_id, run_id))
        if run is not None:
            run_state = str(run["state"])
        if run_state in FINISHED_RUN_STATES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the DAG run did not finish within {timeout:.0f}s; last states {states}")
        time.sleep(interval)
    final_states = runs.states(dag_id, run_id)
    for key, state in sorted(final_states.items()):
        if last_states.get(key) != state:
            narrator.event("Airflow", f"{_task_label(key)}: {state}")
    for name in sorted(set(flyte_tasks.values())):
        phase = phases.phase(project, domain, name)
        if phase and phase != last_phase.get(name):
            last_phase[name] = phase
            narrator.event("Flyte", f"{name}: {phase}")
    first_task = min(flyte_tasks, default=None)
    execution = flyte_tasks.get(first_task) if first_task else None
    return_value = (
        _safe(lambda: rest.xcom(dag_id, run_id, first_task[0], map_index=first_task[1]))
        if first_task
        else None
    )
    return DemoResult(
        run_state=run_state,
        task_states=final_states,
        return_value=return_value,
        execution_name=execution,
        console_url=console_urls.get(execution or ""),
        final_phase=last_phase.get(execution or ""),
        slots=slots,
        seconds=time.monotonic() - started,
    )


def _execution_of(
    rest: AirflowRestClient, dag_id: str, run_id: str, key: TaskKey
) -> tuple[str | None, str | None]:
    """Execution name and console URL a Flyte task pushed to XCom before deferring (or its extra link)."""
    task_id, map_index = key
    keys = _safe(lambda: rest.xcom_keys(dag_id, run_id, task_id, map_index)) or []
    name = (
        _safe(lambda: rest.xcom(dag_id, run_id, task_id, XCOM_EXECUTION_NAME_KEY, map_index))
        if XCOM_EXECUTION_NAME_KEY in keys
        else None
    )
    url = (
        _safe(lambda: rest.xcom(dag_id, run_id, task_id, XCOM_CONSOLE_URL_KEY, map_index))
        if XCOM_CONSOLE_URL_KEY in keys
        else None
    )
    if not url:
        links = _safe(lambda: rest.extra_links(dag_id, run_id, task_id, map_index)) or {}
        url = next((u for u in links.values() if u and "/executions/" in u), None)
    if not name and url:
        match = _EXECUTION_URL.search(url)
        name = match.group(1) if match else None
    return (name if isinstance(name, str) else None), (url if isinstance(url, str) else None)


def script_emulator(control: Any, seconds_per_phase: float) -> None:
    """Make the example launch plan succeed, one phase every ``seconds_per_phase`` seconds."""
    from flyte_async_provider.emulator.scripting import Advance, Outcome

    control.script(
        Outcome.succeed(),
        advance=Advance.after_seconds(seconds_per_phase),
        launch_plan=EXAMPLE_LAUNCH_PLAN,
    )


def print_outcome(narrator: Narrator, result: DemoResult) -> None:
    say = narrator.say
    say()
    say(f"Outcome: DAG run {result.run_state.upper()} after {result.seconds:.1f}s")
    for key, state in sorted(result.task_states.items()):
        say(f"  task {_task_label(key)}: {state}")
    if result.execution_name:
        say(f"  Flyte execution {result.execution_name}: {result.final_phase or 'unknown'}")
    if result.console_url:
        say(f"  console: {result.console_url}")
    say(f"  returned value: {result.return_value!r}")
    slots = result.slots
    if slots.samples:
        say(
            f"Worker slots held while Flyte ran: {slots.held} "
            f"({slots.samples} samples while the execution was RUNNING: at most {slots.max_running_tis} task "
            f"instance(s) RUNNING, default_pool running slots at most {slots.max_pool_running}, "
            f"deferred slots up to {slots.max_pool_deferred})"
        )
    else:
        say("Worker slots held while Flyte ran: not sampled (the execution was never seen RUNNING)")


def print_failures(
    narrator: Narrator, rest: AirflowRestClient, dag_id: str, run_id: str, result: DemoResult
) -> None:
    """The error lines of each failed task's log, so a failed demo says why without digging."""
    for (task_id, map_index), state in sorted(result.task_states.items()):
        if state != "failed":
            continue
        try:
            text = rest.task_log(dag_id, run_id, task_id, map_index=map_index)
        except (AirflowApiError, OSError, ValueError):
            text = ""
        lines = [ln for ln in text.splitlines() if ln.startswith(("error", "critical")) or "Error" in ln]
        narrator.say(f"Why {_task_label((task_id, map_index))} failed (from its log):")
        for line in lines[-8:] or ["(no error lines found in the task log)"]:
            narrator.detail(line[:400])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flyte_async_provider.demo",
        description=(
            "Run the example Flyte DAG on a throwaway Airflow (scheduler, dag-processor, api-server, "
            "triggerer) against the Flyte Admin emulator, or a real Flyte when FLYTE_ENDPOINT is set."
        ),
    )
    parser.add_argument("--dag-id", default=DEFAULT_DAG_ID, help="DAG to trigger (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds the DAG run may take")
    parser.add_argument(
        "--seconds-per-phase",
        type=float,
        default=3.0,
        help="emulator only: seconds between Flyte phases of the execution (default: %(default)s)",
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary AIRFLOW_HOME (logs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    narrator = Narrator(out)
    target = FlyteTarget.from_env()
    t_start = time.monotonic()
    if target is None:
        narrator.say(
            "Starting the Flyte Admin emulator and Airflow 3 "
            "(scheduler, dag-processor, api-server, triggerer)…"
        )
    else:
        narrator.say(f"Using the real Flyte Admin at {target.endpoint} (FLYTE_ENDPOINT); starting Airflow 3…")
    stack = AirflowStack(StackSettings(flyte=target, keep_home=args.keep_home, wait_for_dags=[args.dag_id]))
    phases: PhaseSource | None = None
    try:
        with stack.stop_on_signals():
            stack.start()
            narrator.say(
                f"Airflow ready in {stack.timings['ready']:.1f}s: {stack.base_url} "
                f"(AIRFLOW_HOME {stack.home}; component logs in {stack.component_logs})"
            )
            if stack.emulator is not None:
                narrator.say(
                    f"Flyte Admin emulator: gRPC {stack.emulator.grpc_endpoint}, "
                    f"HTTP {stack.emulator.http_url}"
                )
                control = stack.emulator_control()
                script_emulator(control, args.seconds_per_phase)
                phases = EmulatorPhases(control)
            else:
                assert stack.flyte is not None
                phases = AdminPhases(stack.flyte)
            flyte = stack.flyte
            assert flyte is not None
            runs = DagRuns(stack.rest, check=stack.check_alive)
            run_id = runs.trigger(args.dag_id)
            narrator.restart_clock()
            narrator.say(f"Triggered DAG {args.dag_id!r}, run {run_id}")
            result = watch_run(
                stack.rest,
                runs,
                args.dag_id,
                run_id,
                phases,
                narrator,
                project=flyte.project,
                domain=flyte.domain,
                timeout=args.timeout,
            )
            print_outcome(narrator, result)
            if result.run_state != "success":
                print_failures(narrator, stack.rest, args.dag_id, run_id, result)
                where = stack.home / "logs" if args.keep_home else "rerun with --keep-home to keep them"
                narrator.say(f"Full logs: {where}")
            return 0 if result.run_state == "success" else 1
    except KeyboardInterrupt:
        narrator.say("\nInterrupted: stopping everything that was started…")
        return 130
    except (StackError, TimeoutError) as exc:
        narrator.say(f"\nDemo failed: {exc}")
        return 1
    finally:
        if phases is not None:
            phases.close()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        try:
            stack.stop()
        finally:
            signal.signal(signal.SIGINT, previous)
        narrator.say(
            f"Stopped Airflow{' and the emulator' if target is None else ''}. "
            f"Total {time.monotonic() - t_start:.1f}s"
        )
