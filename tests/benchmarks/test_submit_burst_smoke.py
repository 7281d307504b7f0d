"""The submit-burst benchmark still runs end to end (N=20): every trigger submits, the report is whole.

Checks shape and counts only, never timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "submit_burst.py"


@pytest.mark.slow
def test_a_small_burst_submits_everything_and_reports_both_gc_modes(tmp_path: Path) -> None:
    out = tmp_path / "burst.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "20", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    # Non-zero if a trigger failed or the 20 were not all created and watched within the bound.
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [(row["n"], row["gc"]) for row in rows] == [(20, "on"), (20, "off")]
    for row in rows:
        assert set(row["slow_steps"]) == {">=0.05s", ">=0.1s", ">=0.2s"}
        assert row["cpu_s"] > 0
    table = [line for line in done.stdout.splitlines() if line.startswith("| 20 |")]
    assert len(table) == 2
