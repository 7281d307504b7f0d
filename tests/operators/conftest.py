"""Fixtures: the Flyte Admin emulator behind the ``flyte_default`` connection."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from flyte_testing import connection_json


@pytest.fixture
def flyte(flyte_admin_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh emulator, reachable through ``flyte_default``; returns the emulator."""
    from flyte_async_provider.connections import clear_connection_cache

    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", connection_json(flyte_admin_emulator))
    clear_connection_cache()
    return flyte_admin_emulator
