# ruff: noqa: E501  (the log lines are quoted whole)
"""benchmarks/fanout.py reads worker runs from the scheduler's log: durations and Airflow's exit waits.

The lines are real ones from a run on Airflow 3.3.2 (ids shortened), so a change in what the
benchmark counts shows up here, not only in a figure nobody re-checks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fanout.py"

LOG = """\
2026-12-02 18:40:15.966729+00:00 [info     ] ::endgroup::                   [task] dag_id=d loc=task_runner.py:2232 task_id=flyte ti_id=aaaa-1 try_number=1
2026-12-02 18:40:17.564685+00:00 [info     ] ::endgroup::                   [task] dag_id=d loc=task_runner.py:2379 task_id=flyte ti_id=aaaa-1 try_number=1
2026-12-02T18:40:17.600000Z [info     ] Trying to enqueue tasks: [<TaskInstance: d.flyte [scheduled] ti_id=aaaa-1>]
2026-12-02 18:40:18.000000+00:00 [info     ] ::endgroup::                   [task] dag_id=d loc=task_runner.py:2379 task_id=flyte ti_id=bbbb-2 try_number=1
2026-12-02T18:40:18.050000Z [info     ] Workload finished              [supervisor] duration=1.4 exit_code=0 final_state=success loc=supervisor.py:2658 workload_id=bbbb-2 workload_type=ExecuteTask
2026-12-02T18:40:22.601063Z [info     ] Workload finished              [supervisor] duration=7.17 exit_code=0 final_state=deferred loc=supervisor.py:2658 workload_id=aaaa-1 workload_type=ExecuteTask
2026-12-02T18:40:23.000000Z [info     ] Workload finished              [supervisor] duration=0.5 exit_code=0 final_state=success loc=supervisor.py:2658 workload_id=cccc-3 workload_type=ExecuteCallback
"""


@pytest.fixture(scope="module")
def fanout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fanout_bench", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_worker_runs_and_exit_gaps(fanout: ModuleType) -> None:
    runs = fanout.parse_worker_runs(LOG)
    # The callback workload is not a task run; the scheduler's own line naming aaaa-1 is not a task line.
    assert [(r.ti_id, r.seconds, r.final_state) for r in runs] == [
        ("bbbb-2", 1.4, "success"),
        ("aaaa-1", 7.17, "deferred"),
    ]
    gaps = {r.ti_id: r.exit_gap_s for r in runs}
    assert gaps["bbbb-2"] == pytest.approx(0.05)
    assert gaps["aaaa-1"] == pytest.approx(5.036378)  # from its last task line, 17.564685


def test_exit_waits_count_only_runs_past_the_threshold(fanout: ModuleType) -> None:
    count, seconds = fanout.exit_waits(fanout.parse_worker_runs(LOG))
    assert count == 1
    assert seconds == pytest.approx(5.036378)


def test_run_without_a_task_line_has_no_gap(fanout: ModuleType) -> None:
    line = LOG.splitlines()[4]
    (run,) = fanout.parse_worker_runs(line)
    assert run.exit_gap_s is None
    assert fanout.exit_waits([run]) == (0, 0)
