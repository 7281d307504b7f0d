"""DAG-level fixtures: an Airflow metadata DB (once per session) and the emulator behind ``flyte_default``.

``dag.test()`` needs the DAG serialized in the DB, so the test Airflow's dags bundle points at
``dag_files/`` (the example DAGs plus test-only DAGs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(autouse=True)
def failure_callbacks_see_the_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give dag.test()'s failure callbacks ``context["exception"]``, as a deployed worker does.

    Airflow's task runner (``task_runner.main()``) sets ``context["exception"]`` before ``finalize()``
    runs the callbacks; the in-process supervisor behind ``dag.test()`` did not until
    apache/airflow#64568 (3.1.8 lacks it, 3.3.2 has it). Before 3.3 mirror ``main()``; ``setdefault``
    keeps this a no-op on any such version that already has the fix. 3.3+ runs unpatched.
    """
    import airflow
    from airflow.sdk.execution_time import task_runner
    from packaging.version import Version

    if Version(airflow.__version__).release >= (3, 3):
        return

    real_finalize = task_runner.finalize

    def finalize(ti: Any, state: Any, context: Any, log: Any, error: BaseException | None = None) -> Any:
        context.setdefault("exception", error)
        return real_finalize(ti, state, context, log, error)

    monkeypatch.setattr(task_runner, "finalize", finalize)


@pytest.fixture
def flyte(airflow_db: None, flyte: Any) -> Any:
    """The emulator behind ``flyte_default`` (see tests/conftest.py), with the metadata DB migrated first."""
    return flyte
