"""Fan-out cost on a real Airflow: tasks that end on the triggerer, and tasks that never see a worker.

Worker runs are counted from what Airflow itself records: the scheduler logs one ``TaskInstance
Finished`` line per executor event, i.e. per worker run of a task try. A deferred task that ends on the
triggerer has exactly one (its submit); a zero-worker task has none and its REST record carries no
worker host, pid or queue time. Every wait is a bounded poll.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from flyte_async_provider.demo.rest import AirflowRestClient
from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, poll_until
from support.flyte import DOMAIN, PROJECT, phase_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ZERO_DAG = "e2e_zero_worker"
END_DAG = "e2e_end_from_trigger"
NAME_KEY = "flyte_execution_name"
FAIL_MESSAGE = "ValueError: glucose column has 12 NaNs (zero-worker e2e)"
ENDED_HERE = "the task ends here, without resuming on a worker"


def worker_runs(stack: AirflowStack, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> int:
    """How many times a worker ran this task (executor events the scheduler processed)."""
    pattern = re.compile(
        rf"TaskInstance Finished: dag_id={re.escape(dag_id)}, task_id={re.escape(task_id)}, "
        rf"run_id={re.escape(run_id)}, map_index={map_index},"
    )
    return len(pattern.findall(stack.component_log("scheduler")))


def log_containing(rest: AirflowRestClient, dag_id: str, run_id: str, task_id: str, text: str) -> str:
    """The task's log once it shows ``text`` (the triggerer's part of a log arrives with a lag)."""
    seen: list[str] = [""]

    def probe() -> str | None:
        seen[0] = rest.task_log(dag_id, run_id, task_id)
        return seen[0] if text in seen[0] else None

    return poll_until(
        probe, timeout=60, interval=1, what=f"{text!r} in the log", on_timeout=lambda: seen[0][-3000:]
    )


def execution_input(stack: AirflowStack, name: str, key: str) -> Any:
    """One primitive input of an execution, as Flyte Admin's GetExecutionData returns it."""
    import grpc
    from flyteidl.admin import execution_pb2
    from flyteidl.service import admin_pb2_grpc

    from support.admin_rpc import ident

    assert stack.flyte is not None
    with grpc.insecure_channel(f"{stack.flyte.host}:{stack.flyte.port}") as channel:
        data = admin_pb2_grpc.AdminServiceStub(channel).GetExecutionData(
            execution_pb2.WorkflowExecutionGetDataRequest(id=ident(name))
        )
    primitive = data.full_inputs.literals[key].scalar.primitive
    return getattr(primitive, primitive.WhichOneof("value"))


def wait_phase(emulator: Any, name: str, phases: set[str], timeout: float) -> Any:
    def probe() -> Any:
        execution = emulator.execution(PROJECT, DOMAIN, name)
        return execution if phase_name(execution) in phases else None

    return poll_until(
        probe,
        timeout=timeout,
        interval=0.2,
        what=f"execution {name} in {sorted(phases)}",
    )


@pytest.fixture(scope="module")
def run_ids(runs: DagRuns, emulator: Any) -> dict[str, str]:
    from flyte_async_provider.emulator.scripting import Advance, Outcome

    quick = Advance.after_seconds(1)
    emulator.script(Outcome.succeed(), quick, name_pattern="zero-ok-*")
    emulator.script(Outcome.fail(FAIL_MESSAGE, code="USER:ValueError"), quick, name_pattern="zero-fail-*")
    emulator.script(Outcome.hang(), quick, name_pattern="zero-kill-*")
    emulator.script(Outcome.hang(), quick, name_pattern="zero-timeout-*")
    emulator.script(Outcome.succeed(), Advance.manual(), name_pattern="zero-restart-*")
    emulator.script(Outcome.succeed(), quick, name_pattern="zero-mapped-*")
    emulator.script(Outcome.succeed(), quick, name_pattern="zero-submit-rest*")
    emulator.script(Outcome.hang(), quick, name_pattern="zero-orphan-*")
    emulator.script(Outcome.succeed(), Advance.after_seconds(2), name_pattern="flyte-end-*")
    emulator.script(Outcome.succeed(), Advance.manual(), name_pattern="flyte-callback-*")
    return {
        ZERO_DAG: runs.trigger(ZERO_DAG, conf={"seed": 11, "label": "e2e"}),
        END_DAG: runs.trigger(END_DAG),
    }


def test_a_deferred_success_ends_on_the_triggerer_after_one_worker_run(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, stack: AirflowStack
) -> None:
    run_id = run_ids[END_DAG]
    runs.wait_task(END_DAG, run_id, "flyte_end", {"success"}, timeout=240)
    assert runs.wait_task(END_DAG, run_id, "downstream", {"success", "failed"}, timeout=120) == "success"
    outputs = rest.xcom(END_DAG, run_id, "flyte_end")
    assert isinstance(outputs, dict), outputs  # a worker-equal XCom, not a JSON string
    assert rest.xcom(END_DAG, run_id, "downstream") == sorted(outputs)
    log_containing(rest, END_DAG, run_id, "flyte_end", ENDED_HERE)
    assert worker_runs(stack, END_DAG, run_id, "flyte_end") == 1


def test_a_success_callback_makes_the_task_resume_on_a_worker(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, stack: AirflowStack, emulator: Any
) -> None:
    run_id = run_ids[END_DAG]
    runs.wait_task(END_DAG, run_id, "flyte_callback", {"deferred"}, timeout=240)
    stack.wait_defer_processed(END_DAG, run_id, "flyte_callback")
    name = rest.xcom(END_DAG, run_id, "flyte_callback", NAME_KEY)
    from flyte_async_provider.emulator.scripting import Outcome

    emulator.complete(PROJECT, DOMAIN, name, Outcome.succeed())
    assert runs.wait_run(END_DAG, run_id, timeout=180) == "success"
    log = log_containing(
        rest, END_DAG, run_id, "flyte_callback", "on_success_callback ran for flyte_callback"
    )
    assert "resumes on a worker after Flyte ends, because: on_success_callback" in log, log[-3000:]
    assert ENDED_HERE not in log
    # The scheduler may mark the run done before it logs the resume's executor event.
    poll_until(
        lambda: worker_runs(stack, END_DAG, run_id, "flyte_callback") == 2,
        timeout=30,
        what="the resume's executor event",
        on_timeout=lambda: str(worker_runs(stack, END_DAG, run_id, "flyte_callback")),
    )
    assert rest.xcom(END_DAG, run_id, "flyte_callback") == name


def test_zero_worker_success_never_touches_a_worker(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, stack: AirflowStack, emulator: Any
) -> None:
    run_id = run_ids[ZERO_DAG]
    runs.wait_task(ZERO_DAG, run_id, "zero_ok", {"success"}, timeout=240)
    ti = rest.task_instance(ZERO_DAG, run_id, "zero_ok")
    assert ti["queued_when"] is None, ti
    assert not ti["hostname"], ti
    assert ti["pid"] is None, ti
    assert ti["try_number"] == 1, ti
    assert worker_runs(stack, ZERO_DAG, run_id, "zero_ok") == 0
    name = rest.xcom(ZERO_DAG, run_id, "zero_ok", NAME_KEY)
    assert name.startswith("zero-ok-")
    assert rest.xcom(ZERO_DAG, run_id, "zero_ok", "flyte_console_url").endswith(f"/executions/{name}")
    # Rendered on the triggerer: the run's conf as a native int, and a templated label.
    spec = emulator.execution(PROJECT, DOMAIN, name).spec
    assert dict(spec.labels.values) == {"run": "e2e"}
    inputs = emulator.execution(PROJECT, DOMAIN, name).closure
    assert phase_name(emulator.execution(PROJECT, DOMAIN, name)) == "SUCCEEDED", inputs
    outputs = rest.xcom(ZERO_DAG, run_id, "zero_ok")
    assert isinstance(outputs, dict), outputs
    assert runs.wait_task(ZERO_DAG, run_id, "downstream", {"success", "failed"}, timeout=120) == "success"
    assert rest.xcom(ZERO_DAG, run_id, "downstream") == sorted(outputs)


def mapped_successes(
    runs: DagRuns, rest: AirflowRestClient, stack: AirflowStack, run_id: str, task_id: str
) -> dict[int, tuple[dict[str, Any], int]]:
    """Per map index (0 and 1) once it succeeded: its REST record and its execution's seed input."""
    out = {}
    for index in (0, 1):
        state = runs.wait_task(ZERO_DAG, run_id, task_id, {"success", "failed"}, map_index=index, timeout=240)
        assert state == "success", rest.task_log(ZERO_DAG, run_id, task_id, map_index=index)[-3000:]
        name = rest.xcom(ZERO_DAG, run_id, task_id, NAME_KEY, map_index=index)
        assert name.startswith("zero-mapped"), name
        record = rest.task_instance(ZERO_DAG, run_id, task_id, map_index=index)
        out[index] = (record, execution_input(stack, name, "seed"))
    return out


def test_mapped_zero_worker_tasks_start_on_the_triggerer_with_their_own_inputs(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, stack: AirflowStack
) -> None:
    run_id = run_ids[ZERO_DAG]
    done = mapped_successes(runs, rest, stack, run_id, "zero_mapped")
    for index, (ti, _) in done.items():
        # A worker run sets queued_when, hostname and pid; the scheduler's log line may lag the state.
        assert (ti["queued_when"], ti["hostname"] or None, ti["pid"]) == (None, None, None), ti
        assert worker_runs(stack, ZERO_DAG, run_id, "zero_mapped", index) == 0
    # Map index 1's seed is "{{ dag_run.conf.get('seed', 1) + 1 }}" with conf seed 11: rendered natively.
    assert {index: seed for index, (_, seed) in done.items()} == {0: 6, 1: 12}


def test_mapped_tasks_over_an_upstream_xcom_start_on_the_triggerer_too(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, stack: AirflowStack
) -> None:
    run_id = run_ids[ZERO_DAG]
    done = mapped_successes(runs, rest, stack, run_id, "zero_mapped_xcom")
    for ti, _ in done.values():
        assert (ti["queued_when"], ti["hostname"] or None, ti["pid"]) == (None, None, None), ti
    assert {index: seed for index, (_, seed) in done.items()} == {0: 7, 1: 9}


@pytest.mark.parametrize(
    ("task_id", "seeds", "why"),
    [
        ("zero_mapped_fn", {0: 7, 1: 9}, "the expanded values: not literal"),
        ("zero_mapped_upmapped", {0: 13, 1: 14}, "it expands over mapped upstream task 'one_seed'"),
    ],
)
def test_what_the_triggerer_cannot_expand_falls_back_to_one_worker_run(
    run_ids: dict[str, str],
    runs: DagRuns,
    rest: AirflowRestClient,
    stack: AirflowStack,
    task_id: str,
    seeds: dict[int, int],
    why: str,
) -> None:
    run_id = run_ids[ZERO_DAG]
    done = mapped_successes(runs, rest, stack, run_id, task_id)
    for index, (ti, _) in done.items():
        assert ti["hostname"], ti  # it ran on a worker
        poll_until(
            lambda i=index: worker_runs(stack, ZERO_DAG, run_id, task_id, i) >= 1,
            timeout=30,
            interval=0.5,
            what="the scheduler's record of the worker run",
        )
        assert worker_runs(stack, ZERO_DAG, run_id, task_id, index) == 1  # the submit only
    assert {index: seed for index, (_, seed) in done.items()} == seeds
    log = rest.task_log(ZERO_DAG, run_id, task_id, map_index=0)
    assert f"Not started on the triggerer ({why}" in log, log[-3000:]


def test_zero_worker_failure_raises_flyte_s_typed_error_on_a_worker(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient
) -> None:
    run_id = run_ids[ZERO_DAG]
    assert runs.wait_task(ZERO_DAG, run_id, "zero_fail", {"failed", "success"}, timeout=240) == "failed"
    log = rest.task_log(ZERO_DAG, run_id, "zero_fail")
    assert FAIL_MESSAGE in log, log[-3000:]
    assert "FlyteExecutionFailedError" in log, log[-3000:]


def test_zero_worker_user_kill_aborts_the_execution(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, emulator: Any
) -> None:
    run_id = run_ids[ZERO_DAG]
    runs.wait_task(ZERO_DAG, run_id, "zero_kill", {"deferred"}, timeout=240)
    name = poll_until(
        lambda: _xcom_or_none(rest, run_id, "zero_kill", NAME_KEY), timeout=60, what="zero_kill's execution"
    )
    wait_phase(emulator, name, {"RUNNING"}, timeout=30)
    rest.set_task_instance_state(ZERO_DAG, run_id, "zero_kill", "failed")
    marked = time.monotonic()
    execution = wait_phase(emulator, name, {"ABORTED"}, timeout=15)
    assert time.monotonic() - marked <= 10
    assert "zero_kill" in execution.closure.abort_metadata.cause


def test_zero_worker_execution_timeout_terminates_the_execution(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, emulator: Any
) -> None:
    run_id = run_ids[ZERO_DAG]
    assert runs.wait_task(ZERO_DAG, run_id, "zero_timeout", {"failed", "success"}, timeout=180) == "failed"
    name = rest.xcom(ZERO_DAG, run_id, "zero_timeout", NAME_KEY)
    execution = wait_phase(emulator, name, {"ABORTED"}, timeout=30)
    assert "execution_timeout" in execution.closure.abort_metadata.cause
    log = rest.task_log(ZERO_DAG, run_id, "zero_timeout")
    assert "FlyteExecutionDeadlineError" in log or "execution_timeout" in log, log[-3000:]


def test_zero_worker_triggerer_restart_finds_the_same_execution(
    run_ids: dict[str, str], runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack
) -> None:
    run_id = run_ids[ZERO_DAG]
    runs.wait_task(ZERO_DAG, run_id, "zero_restart", {"deferred"}, timeout=240)
    name = poll_until(
        lambda: _xcom_or_none(rest, run_id, "zero_restart", NAME_KEY),
        timeout=60,
        what="zero_restart's execution",
    )
    # Everything else in this module has ended: the counters below are this task's alone.
    runs.wait_task(ZERO_DAG, run_id, "zero_timeout", {"failed", "success"}, timeout=180)
    emulator.reset_counters()
    stack.kill_component("triggerer")
    stack.start_component("triggerer")
    poll_until(
        lambda: emulator.counters().get("CreateExecution", 0) > 0,
        timeout=120,
        what="the restarted trigger to submit again (and find its execution)",
    )
    from flyte_async_provider.emulator.scripting import Outcome

    emulator.complete(PROJECT, DOMAIN, name, Outcome.succeed())
    state = runs.wait_task(ZERO_DAG, run_id, "zero_restart", {"success", "failed"}, timeout=180)
    assert state == "success"
    counters = emulator.success_counters()
    assert counters.get("CreateExecution", 0) == 0, counters  # ALREADY_EXISTS: no second execution
    assert counters.get("TerminateExecution", 0) == 0, counters
    assert rest.task_instance(ZERO_DAG, run_id, "zero_restart")["try_number"] == 1
    assert rest.xcom(ZERO_DAG, run_id, "zero_restart", NAME_KEY) == name


def test_zero_worker_triggerer_killed_during_the_submit_leaves_one_execution(
    runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack, run_ids: dict[str, str]
) -> None:
    dag_id, task_id = "e2e_zero_submit_restart", "zero_submit_restart"
    runs.wait_task(ZERO_DAG, run_ids[ZERO_DAG], "zero_restart", {"success", "failed"}, timeout=240)
    emulator.reset_counters()
    emulator.inject_fault(rpc="CreateExecution", latency_seconds=15)
    try:
        run_id = runs.trigger(dag_id)
        poll_until(
            lambda: emulator.counters().get("CreateExecution", 0) > 0,
            timeout=120,
            what="the trigger's CreateExecution to arrive",
        )
        stack.kill_component("triggerer")
    finally:
        emulator.clear_faults()
    stack.start_component("triggerer")
    state = runs.wait_task(dag_id, run_id, task_id, {"success", "failed"}, timeout=240)
    assert state == "success"
    name = rest.xcom(dag_id, run_id, task_id, NAME_KEY)
    assert name.endswith("-1")
    assert emulator.success_counters().get("CreateExecution", 0) == 1  # one execution, whoever made it
    assert phase_name(emulator.execution(PROJECT, DOMAIN, name)) == "SUCCEEDED"
    assert worker_runs(stack, dag_id, run_id, task_id) == 0


def test_a_mapped_zero_worker_task_marked_while_no_triggerer_runs_is_aborted_from_the_api_server(
    runs: DagRuns, rest: AirflowRestClient, emulator: Any, stack: AirflowStack, run_ids: dict[str, str]
) -> None:
    """Its trigger's kwargs are empty (Airflow's static mapped start): the listener reads the serialized
    task's partial kwargs and the pushed name, and terminates map index 0 only."""
    dag_id, task_id = "e2e_zero_orphan", "zero_orphan"
    runs.wait_task(ZERO_DAG, run_ids[ZERO_DAG], "zero_restart", {"success", "failed"}, timeout=240)
    run_id = runs.trigger(dag_id)
    names = {}
    for index in (0, 1):
        runs.wait_task(dag_id, run_id, task_id, {"deferred"}, map_index=index, timeout=240)
        names[index] = poll_until(
            lambda i=index: _xcom_or_none(rest, run_id, task_id, NAME_KEY, map_index=i, dag_id=dag_id),
            timeout=60,
            what=f"map index {index}'s execution",
        )
        wait_phase(emulator, names[index], {"RUNNING"}, timeout=30)
    emulator.reset_counters()
    stack.kill_component("triggerer")
    try:
        rest.set_task_instance_state(dag_id, run_id, task_id, "failed", map_index=0)
        execution = wait_phase(emulator, names[0], {"ABORTED"}, timeout=15)
    finally:
        stack.start_component("triggerer")
    cause = execution.closure.abort_metadata.cause
    assert f"task {task_id}[0]" in cause, cause
    assert "marked" in cause, cause
    assert phase_name(emulator.execution(PROJECT, DOMAIN, names[1])) == "RUNNING"

    from flyte_async_provider.emulator.scripting import Outcome

    emulator.complete(PROJECT, DOMAIN, names[1], Outcome.succeed())
    assert runs.wait_task(dag_id, run_id, task_id, {"success", "failed"}, map_index=1, timeout=180) == (
        "success"
    )
    assert runs.wait_task(dag_id, run_id, task_id, {"failed"}, map_index=0, timeout=30) == "failed"
    assert emulator.success_counters().get("TerminateExecution", 0) == 1


def _xcom_or_none(
    rest: AirflowRestClient, run_id: str, task_id: str, key: str, map_index: int = -1, dag_id: str = ZERO_DAG
) -> Any:
    from flyte_async_provider.demo.rest import AirflowApiError

    try:
        return rest.xcom(dag_id, run_id, task_id, key, map_index=map_index)
    except AirflowApiError:
        return None
