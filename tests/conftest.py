"""Test-wide setup: an isolated AIRFLOW_HOME so tests never touch a user's Airflow; shared fixtures.

Shared helpers live in the ``support`` package (tests/support, on the path through pyproject's
``pythonpath``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_home = tempfile.mkdtemp(prefix="flyte-provider-tests-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")


@pytest.fixture
def flyte(flyte_admin_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh emulator, reachable through ``flyte_default`` (JSON connection in the environment)."""
    from flyte_async_provider.connections import clear_connection_cache
    from support.flyte import connection_json

    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(flyte_admin_emulator))
    clear_connection_cache()
    return flyte_admin_emulator


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key, made once per test run."""
    from support.tls import self_signed_certificate

    return self_signed_certificate(tmp_path_factory.mktemp("tls"))
