"""``make demo`` works: the example DAG defers, succeeds, holds no worker slot, and nothing is left running.

Runs first (file order), before the session's shared stack exists, so the two never compete for CPU.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from flyte_async_provider.demo.runner import SlotSamples, main, phase_name
from flyte_async_provider.demo.stack import FlyteTarget

pytestmark = pytest.mark.e2e


def _processes_with_home(home: str) -> list[int]:
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_demo_runs_the_example_dag_deferred_and_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYTE_ENDPOINT", raising=False)
    out = io.StringIO()

    code = main(["--timeout", "180"], out=out)

    text = out.getvalue()
    assert code == 0, text
    assert "diabetes_predictions: deferred" in text
    assert re.search(r"diabetes-predict-[0-9a-f]+-1: RUNNING", text), text
    assert "Outcome: DAG run SUCCESS" in text
    assert re.search(r"returned value: 'diabetes-predict-[0-9a-f]+-1'", text), text
    assert re.search(r"Worker slots held while Flyte ran: 0 \(\d+ samples", text), text
    home = re.search(r"AIRFLOW_HOME (\S+);", text)
    assert home is not None
    assert not Path(home.group(1)).exists()
    assert _processes_with_home(home.group(1)) == []


def test_flyte_target_from_the_environment() -> None:
    assert FlyteTarget.from_env({}) is None
    target = FlyteTarget.from_env(
        {
            "FLYTE_ENDPOINT": "dns:///flyte.example.com:8443/",
            "FLYTE_CLIENT_ID": "airflow",
            "FLYTE_CLIENT_SECRET": "s3cret",
            "FLYTE_PROJECT": "ml",
            "FLYTE_SCOPES": "all",
        }
    )
    assert target is not None
    assert (target.host, target.port, target.insecure) == ("flyte.example.com", 8443, False)
    assert "s3cret" not in repr(target)
    conn = target.connection_json()
    assert '"login": "airflow"' in conn
    assert '"project": "ml"' in conn
    assert '"scopes": "all"' in conn
    default_port = FlyteTarget.from_env({"FLYTE_ENDPOINT": "flyte.example.com", "FLYTE_INSECURE": "true"})
    assert default_port is not None
    assert (default_port.port, default_port.insecure) == (443, True)


def test_slot_samples_count_running_task_instances_and_pool_slots() -> None:
    samples = SlotSamples()
    samples.add({("a", -1): "deferred", ("b", 0): "running"}, {"running_slots": 0, "deferred_slots": 1})
    samples.add({("a", -1): "deferred"}, {"running_slots": 2, "deferred_slots": 1})
    assert (samples.samples, samples.max_running_tis, samples.max_pool_running, samples.held) == (2, 1, 2, 2)
    assert samples.deferred_seen == {("a", -1)}
    assert phase_name(2) == "RUNNING"
    assert phase_name("succeeded") == "SUCCEEDED"
