"""One real Airflow (scheduler, dag-processor, api-server, triggerer) + emulator per test session.

Every test here talks to it from outside, as a user would: Airflow's REST API v2 and the emulator's
HTTP control API. Starting the stack costs ~25 s on 2 cores, so it is shared; tests that disturb it
(killing the triggerer, an Admin outage) restore it before they return.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flyte_async_provider.demo.rest import AirflowRestClient
from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, StackSettings

E2E_DIR = Path(__file__).resolve().parent
DAGS_DIR = E2E_DIR / "dags"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an e2e test (``-m "not e2e"`` skips it all)."""
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


HARNESS_DAG_FILES = [DAGS_DIR / "e2e_harness.py"]
SCENARIO_DAG_FILES = sorted(p for p in DAGS_DIR.glob("e2e_*.py") if p not in HARNESS_DAG_FILES)


@pytest.fixture(scope="session")
def stack() -> Iterator[AirflowStack]:
    """The shared stack: example DAGs + tests/e2e/dags, ``flyte_default`` -> the emulator."""
    settings = StackSettings(
        flyte=None,  # the stack starts its own emulator
        extra_dag_files=HARNESS_DAG_FILES + SCENARIO_DAG_FILES,
        wait_for_dags=[p.stem for p in HARNESS_DAG_FILES + SCENARIO_DAG_FILES],
        keep_home=bool(os.environ.get("E2E_KEEP_AIRFLOW_HOME")),
        extra_env={
            # For the harness DAG's FileSensor.
            "AIRFLOW_CONN_FS_DEFAULT": json.dumps({"conn_type": "fs", "extra": {"path": "/"}}),
        },
    )
    airflow = AirflowStack(settings)
    airflow.start()
    ready = airflow.timings["ready"]
    print(f"\n[e2e] Airflow ready in {ready:.1f}s at {airflow.base_url} (home {airflow.home})")
    try:
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="session")
def rest(stack: AirflowStack) -> AirflowRestClient:
    return stack.rest


@pytest.fixture(scope="session")
def emulator(stack: AirflowStack) -> Any:
    """The emulator's HTTP control client (script outcomes, terminate, outages, counters)."""
    return stack.emulator_control()


@pytest.fixture(scope="session")
def runs(rest: AirflowRestClient, stack: AirflowStack) -> DagRuns:
    return DagRuns(rest, check=stack.check_alive)
