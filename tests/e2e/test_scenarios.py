"""The 8 end-to-end scenarios of the provider on a real Airflow (issue 6).

All runs are triggered at once when the module starts, so their worker start-ups, Flyte phases and
resumes overlap; the tests then check them one by one, in an order where the disruptive ones come
last: a user cancel (5), a SIGKILLed triggerer (6), an Admin outage (8) and a user cancel while no
triggerer runs (9). Every assertion reads
Airflow's REST API or the emulator's control API; every wait is a bounded poll.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from flyte_async_provider.demo.rest import AirflowApiError, AirflowRestClient
from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, poll_until
from support.flyte import DOMAIN, PROJECT, phase_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED_TASK = "diabetes_predictions"
FAIL_MESSAGE = (
    "XGBoostError: training diverged at boosting round 17: eval-logloss is NaN "
    "(check the scale of feature 'insulin' in the Pima dataset; this message is longer than 100 bytes)"
)
ABORT_CAUSE = "superseded by a newer model version"
ABORT_PRINCIPAL = "alice@example.com"
NAME_KEY = "flyte_execution_name"


@dataclass
class Scenario:
    dag_id: str
    run_id: str
    task_id: str


def _wait_phase(emulator: Any, name: str, phase: str, timeout: float, interval: float = 0.5) -> Any:
    """Wait until the emulator reports ``phase`` for execution ``name``; return the execution."""
    last: list[str] = []

    def probe() -> Any:
        execution = emulator.execution(PROJECT, DOMAIN, name)
        last[:] = [phase_name(execution)]
        return execution if last[0] == phase else None

    return poll_until(
        probe,
        timeout=timeout,
        interval=interval,
        what=f"execution {name} {phase}",
        on_timeout=lambda: f"phase {last}",
    )


def _script(emulator: Any) -> None:
    """Outcomes by execution name (names are ``<task id slug>-<digest>-<try>``)."""
    from flyte_async_provider.emulator.scripting import Advance, Outcome

    # Executions that end on their own would race Airflow's deferral bookkeeping (see
    # AirflowStack.wait_defer_processed): the tests end them once the task is fully deferred.
    quick, manual = Advance.after_seconds(1), Advance.manual()
    emulator.set_default(Outcome.succeed(), manual)  # the seed DAG's execution
    emulator.script(Outcome.hang(), quick, name_pattern="fanout-hang-*")
    emulator.script(Outcome.fail(FAIL_MESSAGE, code="USER:XGBoostError"), manual, name_pattern="flyte-fail-*")
    emulator.script(Outcome.hang(), quick, name_pattern="flyte-abort-*")
    emulator.script(Outcome.hang(), quick, name_pattern="flyte-cancel-*")
    emulator.script(Outcome.hang(), quick, name_pattern="flyte-timeout-*")
    emulator.script(Outcome.succeed(), Advance.manual(), name_pattern="flyte-restart-*")
    emulator.script(Outcome.succeed(), Advance.manual(), name_pattern="flyte-outage-*")
    emulator.script(Outcome.hang(), quick, name_pattern="flyte-orphan-*")


def _seed_dag_id(rest: AirflowRestClient) -> str | None:
    """The example DAG holding the seed's ``diabetes_predictions`` FlyteOperator."""

    def probe() -> str | None:
        for dag_id in rest.dag_ids():
            if not dag_id.startswith("e2e_") and SEED_TASK in rest.task_ids(dag_id):
                return dag_id
        return None

    try:
        return poll_until(probe, timeout=30, interval=1, what=f"an example DAG with task {SEED_TASK!r}")
    except TimeoutError:
        return None


@pytest.fixture(scope="module")
def scenarios(
    stack: AirflowStack, rest: AirflowRestClient, runs: DagRuns, emulator: Any
) -> dict[int, Scenario]:
    _script(emulator)
    seed_dag = _seed_dag_id(rest)
    plan = {
        2: ("e2e_fanout", "fanout_hang"),
        3: ("e2e_fail", "flyte_fail"),
        4: ("e2e_abort", "flyte_abort"),
        5: ("e2e_cancel", "flyte_cancel"),
        6: ("e2e_restart", "flyte_restart"),
        7: ("e2e_timeout", "flyte_timeout"),
        8: ("e2e_outage", "flyte_outage"),
        9: ("e2e_orphan", "flyte_orphan"),
    }
    if seed_dag is not None:
        plan[1] = (seed_dag, SEED_TASK)
    return {n: Scenario(dag_id, runs.trigger(dag_id), task_id) for n, (dag_id, task_id) in plan.items()}


def _execution_name(rest: AirflowRestClient, s: Scenario, map_index: int = -1) -> str:
    return str(rest.xcom(s.dag_id, s.run_id, s.task_id, NAME_KEY, map_index=map_index))


def _wait_deferred(runs: DagRuns, s: Scenario, stack: AirflowStack, map_index: int = -1) -> None:
    """The task is DEFERRED and the scheduler has processed its worker's exit (safe to end the execution)."""
    runs.wait_task(s.dag_id, s.run_id, s.task_id, {"deferred"}, map_index=map_index, timeout=240)
    stack.wait_defer_processed(s.dag_id, s.run_id, s.task_id, map_index)


def test_1_success_returns_the_execution_name_and_links_the_console(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    assert 1 in scenarios, f"no example DAG with a {SEED_TASK!r} task was parsed"
    s = scenarios[1]
    _wait_deferred(runs, s, stack)
    name = _execution_name(rest, s)
    emulator.complete(PROJECT, DOMAIN, name)
    assert runs.wait_run(s.dag_id, s.run_id, timeout=180) == "success", runs.states(s.dag_id, s.run_id)
    assert all(state == "success" for state in runs.states(s.dag_id, s.run_id).values())

    assert rest.xcom(s.dag_id, s.run_id, s.task_id) == name  # return value = execution name
    assert phase_name(emulator.execution(PROJECT, DOMAIN, name)) == "SUCCEEDED"
    assert stack.emulator is not None
    console = f"{stack.emulator.http_url}/console/projects/{PROJECT}/domains/{DOMAIN}/executions/{name}"
    assert console in rest.extra_links(s.dag_id, s.run_id, s.task_id).values()


def test_2_twenty_mapped_tasks_wait_deferred_without_worker_slots(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    s = scenarios[2]
    deferred = runs.wait_tasks(
        s.dag_id,
        s.run_id,
        lambda st: len(st) == 20 and all(v == "deferred" for v in st.values()),
        task_id=s.task_id,
        timeout=300,
        interval=1.0,
        what="all 20 mapped tasks DEFERRED",
    )
    assert sorted(i for _, i in deferred) == list(range(20))
    for i in range(20):
        stack.wait_defer_processed(s.dag_id, s.run_id, s.task_id, i)
    assert not [k for k, v in runs.states(s.dag_id, s.run_id).items() if v == "running"]
    names = [_execution_name(rest, s, i) for i in range(20)]
    assert len(set(names)) == 20
    assert {phase_name(emulator.execution(PROJECT, DOMAIN, n)) for n in names} <= {
        "UNDEFINED",
        "QUEUED",
        "RUNNING",
    }

    # Let them go: every one resumes and succeeds.
    from flyte_async_provider.emulator.scripting import Outcome

    emulator.complete_many(PROJECT, DOMAIN, names, Outcome.succeed())
    assert runs.wait_run(s.dag_id, s.run_id, timeout=300) == "success", runs.states(s.dag_id, s.run_id)


def test_3_flyte_failure_fails_the_task_with_flytes_message(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    s = scenarios[3]
    _wait_deferred(runs, s, stack)
    name = _execution_name(rest, s)
    emulator.complete(PROJECT, DOMAIN, name)  # ends as scripted: FAILED with FAIL_MESSAGE

    assert runs.wait_run(s.dag_id, s.run_id, timeout=180) == "failed"
    assert runs.states(s.dag_id, s.run_id)[(s.task_id, -1)] == "failed"
    assert phase_name(emulator.execution(PROJECT, DOMAIN, name)) == "FAILED"
    log = rest.task_log(s.dag_id, s.run_id, s.task_id)
    assert FAIL_MESSAGE in log, log[-3000:]
    assert "FlyteExecutionFailedError" in log


def test_4_flyte_side_abort_fails_the_task_with_cause_and_principal(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    s = scenarios[4]
    _wait_deferred(runs, s, stack)
    name = _execution_name(rest, s)

    emulator.terminate(PROJECT, DOMAIN, name, cause=ABORT_CAUSE, principal=ABORT_PRINCIPAL)

    assert runs.wait_run(s.dag_id, s.run_id, timeout=120) == "failed"
    assert runs.states(s.dag_id, s.run_id)[(s.task_id, -1)] == "failed"
    log = rest.task_log(s.dag_id, s.run_id, s.task_id)
    assert ABORT_CAUSE in log, log[-3000:]
    assert ABORT_PRINCIPAL in log
    assert "FlyteExecutionAbortedError" in log


def test_7_execution_timeout_terminates_the_execution_and_fails_as_timeout(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any
) -> None:
    s = scenarios[7]
    assert runs.wait_run(s.dag_id, s.run_id, timeout=240) == "failed"
    assert runs.states(s.dag_id, s.run_id)[(s.task_id, -1)] == "failed"
    name = _execution_name(rest, s)
    execution = _wait_phase(emulator, name, "ABORTED", timeout=30)
    assert "execution_timeout" in execution.closure.abort_metadata.cause
    log = rest.task_log(s.dag_id, s.run_id, s.task_id)
    assert "FlyteExecutionDeadlineError" in log, log[-3000:]
    assert "execution_timeout" in log


def test_5_marking_the_deferred_task_failed_aborts_the_execution_within_5s(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    s = scenarios[5]
    _wait_deferred(runs, s, stack)
    name = _execution_name(rest, s)
    assert phase_name(emulator.execution(PROJECT, DOMAIN, name)) in {"UNDEFINED", "QUEUED", "RUNNING"}

    rest.set_task_instance_state(s.dag_id, s.run_id, s.task_id, "failed")
    marked = time.monotonic()

    execution = _wait_phase(emulator, name, "ABORTED", timeout=5, interval=0.1)
    assert time.monotonic() - marked <= 5.5
    cause = execution.closure.abort_metadata.cause
    assert s.task_id in cause, cause
    assert s.dag_id in cause, cause
    assert runs.wait_run(s.dag_id, s.run_id, timeout=60) == "failed"


def test_6_triggerer_sigkill_and_restart_resumes_the_same_execution(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    s = scenarios[6]
    _wait_deferred(runs, s, stack)
    name = _execution_name(rest, s)
    before = rest.task_instance(s.dag_id, s.run_id, s.task_id)
    old_triggerer = (before.get("triggerer_job") or {}).get("id")
    # The RPC counters are global: let the other runs' submits (8) and terminations (5) happen first.
    o = scenarios[8]
    runs.wait_tasks(
        o.dag_id, o.run_id, lambda st: len(st) == 3 and set(st.values()) == {"deferred"}, timeout=180
    )
    c = scenarios[5]
    with contextlib.suppress(TimeoutError, AirflowApiError):
        cancelled = _execution_name(rest, c)
        _wait_phase(emulator, cancelled, "ABORTED", timeout=30)
    emulator.reset_counters()

    stack.kill_component("triggerer")
    stack.start_component("triggerer")

    # The trigger moves to the new triggerer once the dead one's heartbeat is stale (10 s here).
    def reassigned() -> bool:
        job = rest.task_instance(s.dag_id, s.run_id, s.task_id).get("triggerer_job") or {}
        return bool(job.get("id")) and job.get("id") != old_triggerer

    poll_until(reassigned, timeout=120, what="the trigger to move to the new triggerer")
    reads = ("ListExecutions", "GetExecution")
    poll_until(
        lambda: sum(emulator.counters().get(rpc, 0) for rpc in reads) > 0,
        timeout=60,
        what="the new triggerer to read the execution's status",
    )
    assert runs.states(s.dag_id, s.run_id)[(s.task_id, -1)] == "deferred"

    from flyte_async_provider.emulator.scripting import Outcome

    emulator.complete(PROJECT, DOMAIN, name, Outcome.succeed())

    assert runs.wait_run(s.dag_id, s.run_id, timeout=120) == "success"
    ti = rest.task_instance(s.dag_id, s.run_id, s.task_id)
    assert ti["try_number"] == before["try_number"]
    assert rest.xcom(s.dag_id, s.run_id, s.task_id) == name
    counters = emulator.counters()
    assert counters.get("CreateExecution", 0) == 0, counters
    assert counters.get("TerminateExecution", 0) == 0, counters
    execution = emulator.execution(PROJECT, DOMAIN, name)
    assert phase_name(execution) == "SUCCEEDED"
    assert not execution.closure.abort_metadata.cause


def test_8_admin_outage_of_30s_fails_no_task_and_all_resume(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    s = scenarios[8]
    runs.wait_tasks(
        s.dag_id,
        s.run_id,
        lambda st: len(st) == 3 and all(v == "deferred" for v in st.values()),
        task_id=s.task_id,
        timeout=180,
        what="the 3 mapped tasks DEFERRED",
    )
    for i in range(3):
        stack.wait_defer_processed(s.dag_id, s.run_id, s.task_id, i)
    names = [_execution_name(rest, s, i) for i in range(3)]
    emulator.reset_counters()

    emulator.start_outage(30)
    outage_started = time.time()
    outage_end = time.monotonic() + 30
    from flyte_async_provider.emulator.scripting import Outcome

    # The executions end while Admin is unreachable: the tasks can only learn it after the outage.
    emulator.complete_many(PROJECT, DOMAIN, names, Outcome.succeed())

    seen: set[str | None] = set()

    def outage_over() -> bool:
        seen.update(runs.states(s.dag_id, s.run_id).values())
        assert not seen & {"failed", "up_for_retry", "upstream_failed"}, seen
        return time.monotonic() >= outage_end

    poll_until(outage_over, timeout=45, interval=1.0, what="the end of the outage")
    rejected = sum(emulator.counters().values()) - sum(emulator.success_counters().values())
    assert rejected > 0, "the watch never hit the outage"

    assert runs.wait_run(s.dag_id, s.run_id, timeout=120) == "success", runs.states(s.dag_id, s.run_id)
    for ti in rest.task_instances(s.dag_id, s.run_id, task_id=s.task_id):
        ended = datetime.fromisoformat(ti["end_date"]).timestamp()
        assert ended >= outage_started + 25, f"map index {ti['map_index']} ended during the outage"


def test_9_marking_a_task_failed_while_no_triggerer_runs_aborts_the_execution_from_the_api_server(
    scenarios: dict[int, Scenario], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    """The trigger's only holder is dead: the API server's user-mark listener terminates (no on_kill can)."""
    s = scenarios[9]
    _wait_deferred(runs, s, stack)
    name = _execution_name(rest, s)
    emulator.reset_counters()

    stack.kill_component("triggerer")
    try:
        rest.set_task_instance_state(s.dag_id, s.run_id, s.task_id, "failed")
        marked = time.monotonic()
        execution = _wait_phase(emulator, name, "ABORTED", timeout=10, interval=0.1)
        assert time.monotonic() - marked <= 10.5
    finally:
        stack.start_component("triggerer")
    cause = execution.closure.abort_metadata.cause
    assert "marked" in cause, cause  # the listener's words, not on_kill's ("user stopped")
    assert "while deferred" in cause, cause
    for name_part in (s.task_id, s.dag_id, s.run_id):
        assert name_part in cause, cause
    assert emulator.success_counters().get("TerminateExecution", 0) == 1
    assert runs.wait_run(s.dag_id, s.run_id, timeout=60) == "failed"
    assert rest.task_instance(s.dag_id, s.run_id, s.task_id)["state"] == "failed"
