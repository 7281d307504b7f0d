"""Fixtures: an emulator on 127.0.0.1 and an Airflow connection pointing at it (env var, as users do)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from flyte_async_provider.connections import clear_connection_cache
from support.flyte import set_flyte_connection


@pytest.fixture
def flyte_conn(monkeypatch: pytest.MonkeyPatch, flyte_admin_emulator: Any) -> Iterator[str]:
    """A fresh conn id per test (so the process-wide caches never leak between tests)."""
    conn_id = f"flyte_{uuid.uuid4().hex[:8]}"
    set_flyte_connection(monkeypatch, conn_id, flyte_admin_emulator.grpc_endpoint)
    yield conn_id
    clear_connection_cache()
