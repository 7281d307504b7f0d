"""High-availability scenarios on a stack with several triggerers (PostgreSQL): drive them, measure them.

One implementation for the end-to-end tests (small N, they assert) and ``benchmarks/ha_triggerers.py``
(N=1,000, it prints): each scenario launches a batch of zero-worker FlyteOperator tasks (the
``ha_zero_worker`` DAG, ``TASKS_PER_RUN`` tasks per DAG run, execution ``<run id>-t<k>``), waits until
every trigger is held by a triggerer and every execution RUNNING, disturbs the deployment (nothing, a
SIGKILLed triggerer, users marking tasks failed, an Admin outage), ends the executions through the
emulator and reports what happened: final task states, Flyte phases, Admin call counters, takeover time,
and per triggerer the triggers held, Admin calls/s, CPU and blocked-loop warnings.

Every wait is a bounded poll; every load is bounded by N. Nothing here asserts: callers decide.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, poll_until
from flyte_async_provider.demo.triggerers import TriggererWatch, TriggererWindow

DAG_ID = "ha_zero_worker"
TASKS_PER_RUN = 10
PROJECT = "flytesnacks"
DOMAIN = "development"
NAME_PATTERN = "ha-*"
FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
LIVE_PHASES = frozenset({"UNDEFINED", "QUEUED", "RUNNING"})
#: Airflow's default ``[triggerer] triggerer_health_check_threshold``. The stack's own 10 s (quick
#: takeovers for the single-triggerer tests) is shorter than the heartbeat stalls of two triggerers
#: ramping up hundreds of triggers on 2 cores (13 s measured): both were then declared dead and swapped
#: their triggers, a reassignment storm no deployment with the default would see.
HEALTH_THRESHOLD = 30.0
TRIGGER_SECONDS_PER_TASK = 0.3  # generous: claim loops, DAG deserialization, submit
COMPLETE_CHUNK = 250


@dataclass
class Batch:
    """The DAG runs of one scenario and the names of their executions."""

    prefix: str
    run_ids: list[str]

    @property
    def names(self) -> list[str]:
        return [execution_name(run_id, k) for run_id in self.run_ids for k in range(TASKS_PER_RUN)]

    def __len__(self) -> int:
        return len(self.run_ids) * TASKS_PER_RUN


def ha_env(poll_interval: float, health_threshold: float = HEALTH_THRESHOLD) -> dict[str, str]:
    """Extra environment of an HA stack: the DAG's poll interval and the triggerers' health threshold."""
    return {
        "HA_POLL_INTERVAL": str(poll_interval),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(health_threshold),
    }


def execution_name(run_id: str, k: int) -> str:
    """The DAG's ``execution_name`` template, ``{{ run_id }}-t<k>``, rendered."""
    return f"{run_id}-t{k}"


TaskRef = tuple[str, str]  # (run_id, task_id)


@dataclass
class ScenarioResult:
    """What one scenario did and saw; printed by the benchmark, asserted by the tests."""

    name: str
    n: int
    states: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    #: Emulator counters over the scenario's disturbance and end (reset just before it).
    calls: dict[str, int] = field(default_factory=dict)
    succeeded_calls: dict[str, int] = field(default_factory=dict)
    #: Triggers each triggerer held once the batch was fully watched (and at the end, for a takeover).
    held_watching: dict[str, int] = field(default_factory=dict)
    held_after: dict[str, int] = field(default_factory=dict)
    #: Per triggerer, over the steady watch window and over the whole scenario.
    watch_window: dict[str, TriggererWindow] = field(default_factory=dict)
    whole: dict[str, TriggererWindow] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: Task tries above 1 (a retry would mean a second execution).
    retried: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def blocked_ours(self) -> int:
        return sum(w.logs.slow_ours for w in self.whole.values())


#: What the trigger logs when Airflow cancels it "by user action" (on_kill) ...
USER_ACTION_CANCEL = "Trigger cancelled by user action"
#: ... and what ours logs when the task was in fact still deferred (apache/airflow PR #73454).
GUARD_HELD = "cancelled but the task is still deferred (reassigned trigger)"
#: Airflow's line when a triggerer starts running a trigger.
TRIGGER_START = re.compile(r"\(ID \d+\) starting\"")


class HaScenarios:
    """Runs the scenarios on one started stack (``database="postgres"``, ``triggerers>=2``)."""

    def __init__(
        self,
        stack: AirflowStack,
        runs: DagRuns,
        emulator: Any,
        *,
        poll_interval: float = 5.0,
        watch_seconds: float | None = None,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.stack = stack
        self.runs = runs
        self.emulator = emulator
        self.poll_interval = poll_interval
        self.watch_seconds = watch_seconds if watch_seconds is not None else 3 * poll_interval
        self.watch = TriggererWatch(stack)
        self.log = log
        self._scripted = False

    # -- building blocks ---------------------------------------------------------------------------
    def script(self) -> None:
        """Every ``ha-*`` execution goes RUNNING after 1 s and stays there until completed."""
        from flyte_async_provider.emulator.scripting import Advance, Outcome

        if not self._scripted:
            self.emulator.script(Outcome.hang(), Advance.after_seconds(1), name_pattern=NAME_PATTERN)
            self._scripted = True

    def launch(self, prefix: str, n: int) -> Batch:
        """Trigger ``ceil(n / TASKS_PER_RUN)`` runs named ``<prefix>-r<i>``."""
        self.script()
        runs = math.ceil(n / TASKS_PER_RUN)
        batch = Batch(prefix, [f"{prefix}-r{i:04d}" for i in range(runs)])
        for run_id in batch.run_ids:
            self.runs.trigger(DAG_ID, run_id=run_id)
        return batch

    def task_instances(self, batch: Batch) -> list[dict[str, Any]]:
        """Every task instance of the batch (REST, paged; filtered by the batch's run-id prefix)."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.stack.rest.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances",
                run_id_pattern=f"{batch.prefix}-r",
                limit=100,
                offset=offset,
                order_by="id",
            )
            items: list[dict[str, Any]] = page["task_instances"]
            out.extend(ti for ti in items if str(ti["dag_run_id"]).startswith(f"{batch.prefix}-r"))
            offset += len(items)
            if not items or offset >= int(page.get("total_entries", 0)):
                return out

    def holders(self, batch: Batch) -> dict[TaskRef, str | None]:
        """Deferred task -> the triggerer component holding its trigger (``None``: nobody)."""
        return {
            (str(ti["dag_run_id"]), str(ti["task_id"])): self.stack.triggerer_of(ti)
            for ti in self.task_instances(batch)
            if ti["state"] == "deferred"
        }

    def wait_watched(self, batch: Batch, timeout: float | None = None) -> dict[TaskRef, str | None]:
        """Until every task is deferred and held by a live triggerer and every execution is live."""
        limit = timeout or 120.0 + TRIGGER_SECONDS_PER_TASK * len(batch)
        last: dict[str, Any] = {}

        def probe() -> dict[TaskRef, str | None] | None:
            self.stack.check_alive()
            held = self.holders(batch)
            alive = set(self.stack.triggerer_jobs())
            counts = Counter(held.values())
            last.update(held=dict(counts), alive=sorted(alive))
            if len(held) < len(batch) or any(h is None or h not in alive for h in held.values()):
                return None
            running = self.emulator.phase_counts().get("RUNNING", 0)
            last["running"] = running
            return held if running >= len(batch) else None

        return poll_until(
            probe,
            timeout=limit,
            interval=2.0,
            what=f"all {len(batch)} tasks of {batch.prefix} watched",
            on_timeout=lambda: str(last),
        )

    def complete(self, names: Iterable[str]) -> None:
        """End these executions as SUCCEEDED (in chunks, each one instant in the emulator)."""
        from flyte_async_provider.emulator.scripting import Outcome

        todo = list(names)
        for i in range(0, len(todo), COMPLETE_CHUNK):
            self.emulator.complete_many(PROJECT, DOMAIN, todo[i : i + COMPLETE_CHUNK], Outcome.succeed())

    def wait_finished(self, batch: Batch, timeout: float | None = None) -> list[dict[str, Any]]:
        """Until every task instance of the batch is in a finished state; return them."""
        limit = timeout or 120.0 + 0.2 * len(batch)
        last: Counter[str] = Counter()

        def probe() -> list[dict[str, Any]] | None:
            nonlocal last
            self.stack.check_alive()
            tis = self.task_instances(batch)
            last = Counter(str(ti["state"]) for ti in tis)
            done = len(tis) == len(batch) and all(ti["state"] in FINISHED for ti in tis)
            return tis if done else None

        return poll_until(
            probe, timeout=limit, interval=2.0, what=f"{batch.prefix} finished", on_timeout=lambda: str(last)
        )

    def phases(self, names: Iterable[str]) -> dict[str, str]:
        from flyteidl.core import execution_pb2 as core_execution

        out: dict[str, str] = {}
        for name in names:
            execution = self.emulator.execution(PROJECT, DOMAIN, name)
            out[name] = str(core_execution.WorkflowExecution.Phase.Name(execution.closure.phase))
        return out

    def _finish(self, result: ScenarioResult, batch: Batch, started: Any, t0: float) -> None:
        tis = self.wait_finished(batch)
        result.timings["total_s"] = time.monotonic() - t0
        result.states = Counter(str(ti["state"]) for ti in tis)
        result.retried = sum(1 for ti in tis if int(ti.get("try_number") or 1) > 1)
        result.phases = Counter(self.phases(batch.names).values())
        counters = self.emulator.counters()
        result.calls = dict(counters)
        result.succeeded_calls = dict(self.emulator.success_counters())
        result.whole = self.watch.since(started)
        result.notes.update(self.trigger_log_counts(batch))

    def trigger_ids(self, batch: Batch, tasks: Iterable[TaskRef]) -> dict[TaskRef, int]:
        """The id of the trigger row each of these deferred tasks references now."""
        wanted = set(tasks)
        out: dict[TaskRef, int] = {}
        for ti in self.task_instances(batch):
            ref = (str(ti["dag_run_id"]), str(ti["task_id"]))
            trigger = ti.get("trigger") or {}
            if ref in wanted and trigger.get("id") is not None:
                out[ref] = int(trigger["id"])
        return out

    def existing_triggers(self, ids: Iterable[int]) -> set[int]:
        """Which of these trigger ids still have a row in Airflow's ``trigger`` table (PostgreSQL)."""
        import importlib

        from flyte_async_provider.demo.postgres import DB_NAME, DB_USER

        wanted = sorted(set(ids))
        if not wanted or self.stack.postgres is None:
            return set()
        psycopg2: Any = importlib.import_module("psycopg2")
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.stack.postgres.port, user=DB_USER, dbname=DB_NAME, connect_timeout=5
        )
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id FROM trigger WHERE id = ANY(%s)", (wanted,))
                return {int(row[0]) for row in cur.fetchall()}
        finally:
            conn.close()

    def trigger_log_counts(self, batch: Batch, tasks: Iterable[TaskRef] | None = None) -> dict[str, int]:
        """How often the batch's triggers (or these tasks' only) (re)started, got a user-action cancel,
        and kept the execution."""
        root = self.stack.home / "logs" / f"dag_id={DAG_ID}"
        counts = {"trigger_runs": 0, "user_action_cancels": 0, "reassigned_cancels_kept_running": 0}
        if tasks is None:
            paths = list(root.glob(f"run_id={batch.prefix}-r*/task_id=*/attempt=*.trigger.*.log"))
        else:
            paths = [
                path
                for run_id, task_id in sorted(set(tasks))
                for path in root.glob(f"run_id={run_id}/task_id={task_id}/attempt=*.trigger.*.log")
            ]
        for path in paths:
            text = path.read_text(errors="replace")
            counts["trigger_runs"] += len(TRIGGER_START.findall(text))
            counts["user_action_cancels"] += text.count(USER_ACTION_CANCEL)
            counts["reassigned_cancels_kept_running"] += text.count(GUARD_HELD)
        return counts

    def _watched(self, result: ScenarioResult, batch: Batch, t0: float) -> dict[TaskRef, str | None]:
        held = self.wait_watched(batch)
        result.timings["all_watched_s"] = time.monotonic() - t0
        result.held_watching = dict(Counter(h for h in held.values() if h))
        self.log(
            f"{result.name}: {len(batch)} watched after {result.timings['all_watched_s']:.1f}s: "
            f"{result.held_watching}"
        )
        return held

    # -- scenarios ---------------------------------------------------------------------------------
    def fanout(self, n: int, prefix: str = "ha-fan") -> ScenarioResult:
        """N tasks on the triggerers; a steady watch window; all end SUCCEEDED."""
        result = ScenarioResult("fanout", n)
        self.emulator.reset_counters()
        started, t0 = self.watch.mark(), time.monotonic()
        batch = self.launch(prefix, n)
        self._watched(result, batch, t0)
        window = self.watch.mark()
        time.sleep(self.watch_seconds)  # the measurement window itself, not a wait for a state
        result.watch_window = self.watch.since(window)
        self.complete(batch.names)
        t_end = time.monotonic()
        self._finish(result, batch, started, t0)
        result.timings["end_after_complete_s"] = time.monotonic() - t_end
        return result

    def kill_one(self, n: int, prefix: str = "ha-kill") -> ScenarioResult:
        """SIGKILL the triggerer holding the most triggers; the other takes them over; all succeed."""
        result = ScenarioResult("kill", n)
        started, t0 = self.watch.mark(), time.monotonic()
        batch = self.launch(prefix, n)
        held = self._watched(result, batch, t0)
        victim = max(result.held_watching, key=lambda k: result.held_watching[k])
        result.notes["victim"] = victim
        result.notes["victim_held"] = result.held_watching[victim]
        self.emulator.reset_counters()
        self.stack.kill_component(victim)
        t_kill = time.monotonic()
        result.held_after = self._wait_takeover(batch, victim, set(held), t_kill, result)
        self.complete(batch.names)
        self._finish(result, batch, started, t0)
        self._restart(victim)
        return result

    def kill_while_marking_failed(
        self, n: int, marked: int, prefix: str = "ha-mark", in_transit: int = 0
    ) -> ScenarioResult:
        """SIGKILL a triggerer while users mark tasks failed; exactly those executions end ABORTED.

        Half of ``marked`` are the survivor's (marked right as the other triggerer dies), half were the
        victim's (marked as soon as the survivor has taken them over: the user-action cancel arrives
        for a reassigned trigger). ``in_transit`` more of the victim's are marked while their triggers
        have no live holder (between the kill and the takeover): no trigger ever runs for them again,
        so only the API server's user-mark listener can terminate theirs (``notes["in_transit_*"]``
        records that it did and that no trigger did). ``notes["marked"]`` lists all of them.
        """
        result = ScenarioResult("kill_and_mark_failed", n)
        started, t0 = self.watch.mark(), time.monotonic()
        batch = self.launch(prefix, n)
        held = self._watched(result, batch, t0)
        victim = max(result.held_watching, key=lambda k: result.held_watching[k])
        victims = sorted(k for k, h in held.items() if h == victim)
        survivors = sorted(k for k, h in held.items() if h != victim)
        from_survivor = survivors[: marked // 2]
        from_victim = victims[: marked - len(from_survivor)]
        orphans = victims[len(from_victim) : len(from_victim) + in_transit]
        result.notes.update(victim=victim, victim_held=len(victims))
        orphan_triggers = self.trigger_ids(batch, orphans)
        self.emulator.reset_counters()
        self.stack.kill_component(victim)
        t_kill = time.monotonic()
        for run_id, task_id in [*from_survivor, *orphans]:
            self.stack.rest.set_task_instance_state(DAG_ID, run_id, task_id, "failed")
        result.timings["marked_survivors_s"] = time.monotonic() - t_kill
        untouched = set(held) - set(from_survivor) - set(orphans)
        result.held_after = self._wait_takeover(batch, victim, untouched, t_kill, result)
        for run_id, task_id in from_victim:
            self.stack.rest.set_task_instance_state(DAG_ID, run_id, task_id, "failed")
        orphan_names = {execution_name(r, int(t[1:])) for r, t in orphans}
        marked_names = {execution_name(r, int(t[1:])) for r, t in [*from_survivor, *from_victim]}
        marked_names |= orphan_names
        result.notes["marked"] = sorted(marked_names)
        self._wait_phases(marked_names, {"ABORTED"}, timeout=60.0)
        result.timings["marked_aborted_s"] = time.monotonic() - t_kill
        if orphans:
            # Their trigger rows are gone (Trigger.clean_unused on the live triggerer) and no triggerer
            # ran them again or called on_kill (docs/architecture.md, "Several triggerers"): the
            # listener terminated them.
            result.notes["in_transit"] = sorted(orphan_names)
            result.notes["in_transit_phases"] = dict(Counter(self.phases(orphan_names).values()))
            result.notes["in_transit_trigger_rows_left"] = len(
                self.existing_triggers(orphan_triggers.values())
            )
            logs = self.trigger_log_counts(batch, orphans)
            result.notes["in_transit_trigger_runs"] = logs["trigger_runs"]
            result.notes["in_transit_user_action_cancels"] = logs["user_action_cancels"]
            result.notes["in_transit_marked_before_takeover"] = (
                result.timings["marked_survivors_s"] < result.timings["takeover_s"]
            )
        self.complete(set(batch.names) - marked_names)
        self._finish(result, batch, started, t0)
        phases = self.phases(batch.names)
        result.notes["aborted"] = sorted(n for n, p in phases.items() if p == "ABORTED")
        self._restart(victim)
        return result

    def outage(self, n: int, seconds: float = 30.0, prefix: str = "ha-out") -> ScenarioResult:
        """Admin unavailable for ``seconds`` while N are watched; the executions end meanwhile."""
        result = ScenarioResult("outage", n)
        started, t0 = self.watch.mark(), time.monotonic()
        batch = self.launch(prefix, n)
        self._watched(result, batch, t0)
        self.emulator.reset_counters()
        before_start = time.monotonic()
        self.emulator.start_outage(seconds)
        # The emulator starts its clock inside that call, so Admin is down at least from here until
        # ``before_start + seconds`` and up again by ``outage_end`` at the latest.
        outage_end = time.monotonic() + seconds
        surely_down_until = before_start + seconds
        self.complete(batch.names)  # they end while nobody can see it
        result.notes.update(max_finished_during_outage=0, outage_samples=0)

        def over() -> bool:
            seen = Counter(str(ti["state"]) for ti in self.task_instances(batch))
            read_at = time.monotonic()
            # A sample counts only if its read ended while Admin was surely still down: the last one
            # may be taken after the outage ended, when the pollers' first retry (1-10 s backoff) has
            # already seen the ends and tasks legitimately finish (the flake max_finished == 10).
            if read_at < surely_down_until:
                result.notes["outage_samples"] += 1
                finished = sum(v for k, v in seen.items() if k in FINISHED)
                if finished > result.notes["max_finished_during_outage"]:
                    result.notes["max_finished_during_outage"] = finished
                    result.notes["states_during_outage"] = dict(seen)
            return read_at >= outage_end

        poll_until(over, timeout=seconds + 30.0, interval=2.0, what="the end of the outage")
        result.notes["rejected_calls"] = sum(self.emulator.counters().values()) - sum(
            self.emulator.success_counters().values()
        )
        t_end = time.monotonic()
        self._finish(result, batch, started, t0)
        result.timings["end_after_outage_s"] = time.monotonic() - t_end
        return result

    # -- helpers -----------------------------------------------------------------------------------
    def _wait_takeover(
        self,
        batch: Batch,
        victim: str,
        tasks: set[TaskRef],
        t_kill: float,
        result: ScenarioResult,
    ) -> dict[str, int]:
        """Until every one of ``tasks`` is held by a live triggerer other than ``victim``."""
        last: dict[str, Any] = {}

        def probe() -> dict[TaskRef, str | None] | None:
            self.stack.check_alive()
            held = {k: v for k, v in self.holders(batch).items() if k in tasks}
            last.update(Counter(str(h) for h in held.values()))
            ok = len(held) == len(tasks) and all(h is not None and h != victim for h in held.values())
            return held if ok else None

        held = poll_until(
            probe,
            timeout=120.0 + TRIGGER_SECONDS_PER_TASK * len(tasks),
            interval=1.0,
            what=f"the triggers of {victim} taken over",
            on_timeout=lambda: str(last),
        )
        result.timings["takeover_s"] = time.monotonic() - t_kill
        self.log(f"{result.name}: {victim} killed; taken over in {result.timings['takeover_s']:.1f}s")
        return dict(Counter(h for h in held.values() if h))

    def _wait_phases(
        self, names: Iterable[str], phases: set[str], timeout: float, required: Iterable[str] | None = None
    ) -> None:
        """Until all ``names`` are in ``phases``; past ``timeout`` raise only if a ``required`` one is not."""
        todo = set(names)
        must = set(todo if required is None else required)

        def probe() -> bool:
            done = {n for n, p in self.phases(todo).items() if p in phases}
            todo.difference_update(done)
            return not todo

        try:
            poll_until(
                probe,
                timeout=timeout,
                interval=1.0,
                what=f"executions {sorted(phases)}",
                on_timeout=lambda: str(sorted(todo)),
            )
        except TimeoutError:
            if todo & must:
                raise

    def _restart(self, name: str) -> None:
        self.stack.start_component(name)
        self.stack.wait_triggerers_alive([name])


def triggerer_table(result: ScenarioResult) -> list[dict[str, Any]]:
    """One row per triggerer: held, Admin calls/s and CPU in the watch window (or overall), warnings."""
    rows = []
    names: Sequence[str] = sorted(set(result.whole) | set(result.held_watching))
    for name in names:
        whole = result.whole.get(name)
        window = result.watch_window.get(name) or whole
        rows.append(
            {
                "triggerer": name,
                "held_watching": result.held_watching.get(name, 0),
                "held_after": result.held_after.get(name, 0) if result.held_after else None,
                "rpc_per_s": window.rpc_per_second if window else 0.0,
                "cpu_percent": window.cpu_percent if window else 0.0,
                "cpu_s_total": whole.cpu_seconds if whole else 0.0,
                "rpc_total": whole.rpc_calls if whole else 0,
                "blocked": whole.logs.blocked if whole else 0,
                "slow_ours": whole.logs.slow_ours if whole else 0,
                "slow_ours_minor": whole.logs.slow_ours_minor if whole else 0,
                "slow_other": whole.logs.slow_other if whole else 0,
                "alive": whole.alive if whole else False,
            }
        )
    return rows


def summary(result: ScenarioResult) -> Mapping[str, Any]:
    """The scenario's totals: task states, phases, Admin calls, timings."""
    return {
        "n": result.n,
        "states": dict(result.states),
        "phases": dict(result.phases),
        "create_ok": result.succeeded_calls.get("CreateExecution", 0),
        "create_calls": result.calls.get("CreateExecution", 0),
        "terminate_calls": result.calls.get("TerminateExecution", 0),
        "terminate_ok": result.succeeded_calls.get("TerminateExecution", 0),
        "retried": result.retried,
        **{k: round(v, 1) for k, v in result.timings.items()},
        **{k: v for k, v in result.notes.items() if k not in ("marked", "aborted", "in_transit")},
    }
