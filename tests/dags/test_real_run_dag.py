"""dag.test() of a FlyteOperator whose workflow the emulator really runs; a downstream task checks it.

The workflow (tests/support/workflows.py) is registered in the emulator and scripted to run for real
(``Outcome.run()`` for its launch plan only): the value the downstream task receives was computed by
flytekit in the emulator's worker process, not scripted. Both waiting modes (worker, deferred).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from flyte_async_provider.emulator import Advance, Outcome
from support.flyte import DOMAIN, PROJECT

MODES = ["worker", "deferrable"]


def _dag(monkeypatch: pytest.MonkeyPatch, mode: str) -> Any:
    path = Path(__file__).parent / "dag_files" / "real_run_dags.py"
    spec = importlib.util.spec_from_file_location("real_run_dags_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    monkeypatch.setattr(dag.task_dict["compute"], "deferrable", mode == "deferrable")
    return module


@pytest.mark.parametrize("mode", MODES)
def test_fetch_outputs_returns_what_the_workflow_computed(
    flyte: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend
    from support import workflows

    module = _dag(monkeypatch, mode)
    register_in_backend(flyte.backend, compile_workflow(workflows.needs_input, PROJECT, DOMAIN, "v1"))
    flyte.set_default(Outcome.succeed(outputs={"o0": -1}), Advance.after_reads(1))  # what a script would say
    flyte.script(Outcome.run(), Advance.after_seconds(0.05), launch_plan=module.LAUNCH_PLAN)

    dr = module.dag.test()
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"compute": "success", "check": "success"}
    assert dr.state == "success"
    (name,) = flyte.backend.names(PROJECT, DOMAIN)
    outputs = flyte.backend.get_execution_data(flyte.execution(PROJECT, DOMAIN, name).id).full_outputs
    assert outputs.literals["o0"].scalar.primitive.integer == 42
    assert flyte.runs.started_processes >= 1  # it ran in a worker process
