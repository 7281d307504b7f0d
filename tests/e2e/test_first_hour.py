"""What a new user sees in a deferred task's first seconds, on a real triggerer of its own.

The triggerer runs with ``PYTHONASYNCIODEBUG=1``, so asyncio itself names every callback that held the
event loop for 0.1 s or more: Airflow's "async thread was blocked" warning then has a culprit, and
none may be this provider. The first run is the first trigger after the triggerer started (cold), the
second one the next trigger (warm); the time from "trigger ... starting" to the first status line is
printed (speed figures are not asserted: the machine is shared), as is each log line's length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, StackSettings, poll_until
from support.flyte import DOMAIN, PROJECT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAG_ID, TASK_ID = "e2e_first_hour", "first_watch"
DAG_FILE = Path(__file__).resolve().parent / "dags" / "e2e_first_hour.py"
# asyncio's debug-mode report of a slow callback: "Executing <Task ...> took 0.243 seconds".
SLOW_CALLBACK = re.compile(r"Executing (?P<what><.*?>) took (?P<seconds>[0-9.]+) seconds")
# Our log lines that follow an execution's phase (the URL belongs in the first and the last only).
PHASE_LINE = re.compile(r"Flyte execution \S+ is [A-Z_]+$")


@pytest.fixture(scope="module")
def stack() -> Iterator[AirflowStack]:
    settings = StackSettings(
        extra_dag_files=[DAG_FILE],
        include_example_dags=False,
        wait_for_dags=[DAG_ID],
        triggerer_env={"PYTHONASYNCIODEBUG": "1"},
    )
    airflow = AirflowStack(settings)
    airflow.start()
    try:
        yield airflow
    finally:
        airflow.stop()


def _trigger_records(stack: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    """The triggerer's part of the task log, as the JSON records Airflow wrote (with timestamps)."""
    folder = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={TASK_ID}"
    return [
        json.loads(line)
        for path in sorted(folder.glob("attempt=1.log.trigger.*.log"))
        for line in path.open()
    ]


def _seconds(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()


def _run_once(stack: AirflowStack, runs: DagRuns) -> tuple[str, float, list[dict[str, Any]]]:
    """One DAG run to success; (run id, seconds from trigger start to first status line, records)."""
    emulator = stack.emulator_control()
    run_id = runs.trigger(DAG_ID)
    runs.wait_task(DAG_ID, run_id, TASK_ID, {"deferred"}, timeout=240)
    name = str(stack.rest.xcom(DAG_ID, run_id, TASK_ID, "flyte_execution_name"))

    def first_status() -> list[dict[str, Any]] | None:
        records = _trigger_records(stack, run_id)
        return records if any(PHASE_LINE.search(str(r.get("event", ""))) for r in records) else None

    records = poll_until(first_status, timeout=120, interval=0.5, what="the trigger's first status line")
    emulator.complete(PROJECT, DOMAIN, name)
    assert runs.wait_run(DAG_ID, run_id, timeout=120) == "success", runs.states(DAG_ID, run_id)
    started = next(r for r in records if str(r.get("event", "")).endswith(" starting"))
    status = next(r for r in records if PHASE_LINE.search(str(r.get("event", ""))))
    return run_id, _seconds(status) - _seconds(started), records


def test_first_trigger_reads_status_without_blocking_the_triggerer_and_logs_short_lines(
    stack: AirflowStack,
) -> None:
    from flyte_async_provider.emulator.scripting import Advance, Outcome

    stack.emulator_control().script(Outcome.succeed(), Advance.manual(), name_pattern="first-watch-*")
    runs = DagRuns(stack.rest, check=stack.check_alive)
    cold_run, cold, _ = _run_once(stack, runs)
    warm_run, warm, _ = _run_once(stack, runs)
    print(f"\n[e2e] first status read after trigger start: cold {cold:.2f} s, warm {warm:.2f} s")

    # Nothing of ours held the triggerer's loop: every slow callback asyncio reports is someone else's.
    triggerer_log = stack.component_log("triggerer")
    slow = [(m.group("what"), float(m.group("seconds"))) for m in SLOW_CALLBACK.finditer(triggerer_log)]
    ours = [(what, s) for what, s in slow if s >= 0.2 and ("flyte_async_provider" in what or DAG_ID in what)]
    print(f"[e2e] slow callbacks on the triggerer loop (>= 0.1 s): {slow}")
    assert ours == []

    # Task log: the console URL once where the execution is named and once at the end; phase lines short.
    for run_id in (cold_run, warm_run):
        log = stack.rest.task_log(DAG_ID, run_id, TASK_ID)
        events = [line.split(" {", 1)[0] for line in log.splitlines()]
        ours_lines = [e for e in events if "Flyte execution" in e]
        url_lines = [e for e in ours_lines if "/console/projects/" in e]
        phase_lines = [e for e in ours_lines if PHASE_LINE.search(e)]
        print(
            f"[e2e] {run_id}: longest of our lines {max(map(len, ours_lines))} chars", *ours_lines, sep="\n  "
        )
        assert len(url_lines) == 2, url_lines
        assert phase_lines
        assert all(len(e) <= 100 for e in phase_lines), phase_lines
        assert "Using registered auth plugin" not in log


def test_the_api_server_sends_the_ui_a_connection_form_without_null_choices(stack: AirflowStack) -> None:
    """The form as the browser gets it: ``/ui/connections/hook_meta`` of the running API server."""
    from flyte_async_provider.connection_form import EXTRA_FIELDS

    (meta,) = [m for m in stack.rest.get("/ui/connections/hook_meta") if m["connection_type"] == "flyte"]
    extra = meta["extra_fields"]
    assert list(extra) == [f.name for f in EXTRA_FIELDS]
    auth_mode = extra["auth_mode"]
    assert auth_mode["schema"]["enum"] == ["none", "client_credentials", "external_command"]
    assert auth_mode["value"] is None  # nothing pre-selected: empty means inferred
    assert extra["console_endpoint"]["schema"]["examples"]
    assert meta["standard_fields"]["host"]["placeholder"] == "flyte.example.com"
