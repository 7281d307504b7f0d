"""The triggerer-scale benchmark still runs end to end (N=50, short window): report shape and RPC ratio.

Checks ratios and shape only, never timings. The two modes run as two invocations side by side
(each starts its own emulator and child process), which keeps the test under ~20 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "triggerer_scale.py"
COLUMNS = [
    "mode",
    "watches",
    "CPU % of a core",
    "RSS / watch",
    "admin RPC/s",
    "detect p50 / p99 (one by one)",
    "detect p50 / p99 (burst)",
    "loop lag p99 steady / flips",
]


@pytest.mark.slow
def test_benchmark_runs_and_batches(tmp_path: Path) -> None:
    runs = {}
    for mode in ("batched", "per-execution"):
        out = tmp_path / f"{mode}.json"
        cmd = [sys.executable, str(SCRIPT), "--sizes", "50", "--poll", "0.5", "--window", "0.5"]
        cmd += ["--modes", mode, "--json", str(out)]
        runs[mode] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out)
    rows = {}
    for mode, (proc, out) in runs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        lines = stdout.splitlines()
        header = next(line for line in lines if line.startswith("| mode |"))
        assert [cell.strip() for cell in header.strip("|").split("|")] == COLUMNS
        row = next(line for line in lines if line.startswith(f"| {mode} | 50 |"))
        assert len(row.strip("|").split("|")) == len(COLUMNS)
        assert "WARNING" not in stdout
        (rows[mode],) = json.loads(out.read_text())
    batched, baseline = rows["batched"], rows["per-execution"]
    for row in (batched, baseline):
        assert (row["missed"], row["wrong_status"]) == (0, 0)
        assert (row["spread_n"], row["burst_n"]) == (10, 25)
    # 50 triggers due together: about one ListExecutions per interval vs one GetExecution per watch.
    assert batched["counters"].get("GetExecution", 0) == 0
    assert baseline["counters"].get("ListExecutions", 0) == 0
    assert batched["rpc_per_s"] * 10 < baseline["rpc_per_s"]
    # The triggers really ran: per trigger a start line, a "Watching" line and its phase changes...
    assert batched["log_lines"] >= 4 * 50
    assert batched["log_bytes_steady"] == 0  # ...and nothing per poll
