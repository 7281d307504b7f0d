"""DAG-level fixtures: an Airflow metadata DB (once per session) and the emulator behind ``flyte_default``.

``dag.test()`` needs the DAG serialized in the DB, so the test Airflow's dags bundle points at
``dag_files/`` (the example DAGs plus test-only DAGs).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from flyte_testing import connection_json

DAG_FILES = Path(__file__).resolve().parent / "dag_files"
BUNDLES = json.dumps(
    [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(DAG_FILES)},
        }
    ]
)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Migrate the (temporary, see tests/conftest.py) metadata DB once; dags bundle = dag_files/."""
    saved = {k: os.environ.get(k) for k in ("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",)}
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = BUNDLES
    from airflow.utils import db

    db.initdb()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def flyte(airflow_db: None, flyte_admin_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh emulator reachable through ``flyte_default`` (JSON connection in the environment)."""
    from flyte_async_provider.connections import clear_connection_cache

    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(flyte_admin_emulator))
    clear_connection_cache()
    return flyte_admin_emulator
