"""Test-wide setup: an isolated AIRFLOW_HOME so tests never touch a user's Airflow; the ``flyte`` fixture."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

_home = tempfile.mkdtemp(prefix="flyte-provider-tests-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

# tests/unit/flyte_testing.py: shared test helpers, importable from every test folder.
sys.path.insert(0, str(Path(__file__).resolve().parent / "unit"))


@pytest.fixture
def flyte(flyte_admin_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh emulator, reachable through ``flyte_default`` (JSON connection in the environment)."""
    from flyte_testing import connection_json

    from flyte_async_provider.connections import clear_connection_cache

    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(flyte_admin_emulator))
    clear_connection_cache()
    return flyte_admin_emulator
