"""FlyteSensor's worker-free mode (``start_from_trigger``) on a real Airflow.

The test creates two executions through the emulator's control API, runs the DAG once per execution
and checks through the REST API that each sensor went from scheduled straight to DEFERRED on the
triggerer (never queued to an executor, no worker host or pid), then ends the executions: the one
that succeeds resumes to ``success``, the one that fails ends ``failed`` with Flyte's typed error.
Only the resume (``execute_complete``, after the trigger fired) runs on a worker, as for any deferral.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from flyte_async_provider.demo.rest import AirflowRestClient
from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT, phase_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAG_ID = "e2e_start_from_trigger"
TASK_ID = "watch"
FAIL_MESSAGE = "ValueError: feature 'glucose' has 12 missing values (start_from_trigger e2e)"


def test_start_from_trigger_defers_without_a_worker_and_follows_the_execution(
    stack: AirflowStack, rest: AirflowRestClient, runs: DagRuns, emulator: Any
) -> None:
    from flyte_async_provider.emulator.scripting import Advance, Outcome

    suffix = uuid.uuid4().hex[:8]
    ok, bad = f"sft-ok-{suffix}", f"sft-fail-{suffix}"
    emulator.script(Outcome.succeed(), Advance.manual(), name_pattern="sft-*")
    assert emulator.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, [ok, bad], inputs={"seed": 11}) == 2
    run_ok = runs.trigger(DAG_ID, conf={"execution": ok})
    run_bad = runs.trigger(DAG_ID, conf={"execution": bad})

    for run_id, name in ((run_ok, ok), (run_bad, bad)):
        runs.wait_task(DAG_ID, run_id, TASK_ID, {"deferred"}, timeout=120)
        ti = rest.task_instance(DAG_ID, run_id, TASK_ID)
        # Scheduled -> deferred by the scheduler itself: never queued to an executor, never run.
        assert ti["queued_when"] is None, ti
        assert not ti["hostname"], ti
        assert ti["pid"] is None, ti
        assert ti["try_number"] == 1, ti
        assert (ti.get("trigger") or {}).get("classpath", "").endswith("FlyteExecutionTrigger"), ti
        assert phase_name(emulator.execution(PROJECT, DOMAIN, name)) in {"UNDEFINED", "QUEUED", "RUNNING"}

    emulator.complete(PROJECT, DOMAIN, ok, Outcome.succeed())
    emulator.complete(PROJECT, DOMAIN, bad, Outcome.fail(FAIL_MESSAGE, code="USER:ValueError"))

    assert runs.wait_run(DAG_ID, run_ok, timeout=120) == "success", runs.states(DAG_ID, run_ok)
    assert rest.xcom(DAG_ID, run_ok, TASK_ID) == ok
    assert rest.task_instance(DAG_ID, run_ok, TASK_ID)["try_number"] == 1
    # The triggerer rendered the Jinja name from the run's conf and watched that very execution.
    log = rest.task_log(DAG_ID, run_ok, TASK_ID)
    assert f"Watching Flyte execution {PROJECT}/{DOMAIN}/{ok}" in log, log[-3000:]

    assert runs.wait_run(DAG_ID, run_bad, timeout=120) == "failed", runs.states(DAG_ID, run_bad)
    assert runs.states(DAG_ID, run_bad)[(TASK_ID, -1)] == "failed"
    log = rest.task_log(DAG_ID, run_bad, TASK_ID)
    assert FAIL_MESSAGE in log, log[-3000:]
    assert "FlyteExecutionFailedError" in log, log[-3000:]
