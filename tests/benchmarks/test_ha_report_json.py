"""benchmarks/ha_triggerers.py --json writes every figure the printed tables show, as valid JSON.

The N=1,000 run of 2026-12-03 printed its tables and then crashed writing the JSON:
``dataclasses.asdict`` had turned the ``Counter`` of task states into ``{("success", 975): 1}``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from flyte_async_provider.demo.ha import ScenarioResult
from flyte_async_provider.demo.triggerers import LogCounts, TriggererWindow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ha_triggerers.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ha_triggerers_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _result() -> ScenarioResult:
    window = TriggererWindow(
        "triggerer-1",
        seconds=15.0,
        cpu_seconds=8.1,
        rpc_calls=31,
        logs=LogCounts(blocked=2, slow_ours=1, slow_ours_locations={"FlyteLaunchTrigger.run launch.py:1": 1}),
        alive=False,
    )
    result = ScenarioResult("kill_and_mark_failed", 1000)
    result.states = Counter(success=975, failed=25)
    result.phases = Counter(SUCCEEDED=980, ABORTED=20)
    result.calls = {"CreateExecution": 570, "TerminateExecution": 20}
    result.succeeded_calls = {"TerminateExecution": 20}
    result.held_watching = {"triggerer-1": 570, "triggerer-2": 430}
    result.held_after = {"triggerer-2": 995}
    result.watch_window = {"triggerer-1": window}
    result.whole = {"triggerer-1": window}
    result.timings = {"takeover_s": 43.04}
    result.notes.update(
        victim="triggerer-1", marked=["ha-mark-r0000-t1"], in_transit_phases=Counter(ABORTED=5)
    )
    return result


def test_json_report_is_valid_and_complete() -> None:
    bench = _benchmark()
    data = json.loads(json.dumps(bench.report([_result()])))

    (scenario,) = data
    assert scenario["summary"]["states"] == {"success": 975, "failed": 25}
    assert scenario["summary"]["phases"] == {"SUCCEEDED": 980, "ABORTED": 20}
    assert scenario["summary"]["terminate_calls"] == 20
    assert scenario["summary"]["in_transit_phases"] == {"ABORTED": 5}
    assert scenario["result"]["states"] == {"success": 975, "failed": 25}
    assert scenario["result"]["held_after"] == {"triggerer-2": 995}
    assert scenario["result"]["whole"]["triggerer-1"]["logs"]["slow_ours_locations"] == {
        "FlyteLaunchTrigger.run launch.py:1": 1
    }
    assert scenario["notes"]["marked"] == ["ha-mark-r0000-t1"]
    rows = {row["triggerer"]: row for row in scenario["triggerers"]}
    assert rows["triggerer-1"]["held_watching"] == 570
    assert rows["triggerer-1"]["alive"] is False
    assert rows["triggerer-2"]["held_after"] == 995
