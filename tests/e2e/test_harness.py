"""The harness itself: real processes come up, a task defers and is resumed by the triggerer, the REST
calls the scenarios rely on work, and stopping ends every process that was started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import COMPONENTS, AirflowStack, ManagedProcess, poll_until

pytestmark = pytest.mark.e2e

HARNESS_DAG = "e2e_harness"


def test_components_are_separate_healthy_process_groups(stack: AirflowStack) -> None:
    health = stack.wait_healthy(timeout=60)
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health
    pgids = {name: os.getpgid(stack.processes[name].pid or 0) for name in COMPONENTS}
    assert len(set(pgids.values())) == len(COMPONENTS), pgids
    assert str(stack.rest.version()["version"]).startswith("3.")


def test_core_deferrable_sensor_frees_its_slot_and_is_resumed_by_the_triggerer(
    stack: AirflowStack, runs: DagRuns, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    run_id = runs.trigger(HARNESS_DAG, conf={"path": str(flag)})

    runs.wait_task(HARNESS_DAG, run_id, "wait", {"deferred"}, timeout=120)
    states = runs.states(HARNESS_DAG, run_id)
    assert states[("hello", -1)] == "success"
    pool = stack.rest.pool("default_pool")
    assert pool["deferred_slots"] >= 1
    ti = stack.rest.task_instance(HARNESS_DAG, run_id, "wait")
    assert ti["trigger"] is not None, ti  # held by a trigger, not by a worker

    stack.wait_defer_processed(HARNESS_DAG, run_id, "wait")  # else Airflow may fail it (#67287)
    flag.write_text("now")
    assert runs.wait_run(HARNESS_DAG, run_id, timeout=120) == "success"
    assert stack.rest.xcom(HARNESS_DAG, run_id, "done") == 42
    assert "found" in stack.rest.task_log(HARNESS_DAG, run_id, "wait")


def test_marking_a_deferred_task_failed_through_the_api_ends_it(
    stack: AirflowStack, runs: DagRuns, tmp_path: Path
) -> None:
    run_id = runs.trigger(HARNESS_DAG, conf={"path": str(tmp_path / "never")})
    runs.wait_task(HARNESS_DAG, run_id, "wait", {"deferred"}, timeout=120)

    stack.rest.set_task_instance_state(HARNESS_DAG, run_id, "wait", "failed")

    assert runs.wait_task(HARNESS_DAG, run_id, "wait", {"failed"}, timeout=30) == "failed"
    assert runs.wait_run(HARNESS_DAG, run_id, timeout=60) == "failed"
    assert runs.states(HARNESS_DAG, run_id)[("done", -1)] == "upstream_failed"


def test_stopping_a_process_group_ends_its_children(tmp_path: Path) -> None:
    """What ``AirflowStack.stop`` relies on: SIGTERM + SIGKILL to the group reaches grandchildren."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    proc = ManagedProcess(
        "sleeper", [sys.executable, "-c", script], os.environ, tmp_path / "sleeper.log", tmp_path
    )
    proc.start()
    child_pid = int(poll_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=30, interval=0.1))

    proc.stop(grace=5)

    assert not proc.alive()
    poll_until(lambda: not _running(child_pid), timeout=10, interval=0.1, what="the grandchild to end")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_stack_stops_every_process_it_started(tmp_path: Path) -> None:
    """Stop (even after a failed start) leaves no process carrying the stack's AIRFLOW_HOME."""
    stack = AirflowStack()
    stack.env = stack._airflow_env(stack._base_env(), flyte=None)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], env=stack.env, start_new_session=True
    )
    stack.stop()  # never started, but a process with its marker exists: the sweep must end it
    assert sleeper.wait(timeout=10) != 0
    assert not stack.home.exists()
