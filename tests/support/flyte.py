"""The example entities every emulator starts with, and connections to an emulator as users write them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from flyte_async_provider.config import FlyteConnectionConfig
    from flyte_async_provider.emulator import FlyteAdminEmulator

PROJECT = "flytesnacks"
DOMAIN = "development"
LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
GOOD_INPUTS = {"test_split_ratio": 0.66, "seed": 5}


def connection_body(endpoint: str, **fields: Any) -> dict[str, Any]:
    """An Airflow connection (JSON form) to the Flyte Admin at ``host:port`` over plaintext gRPC."""
    host, port = endpoint.rsplit(":", 1)
    extras: dict[str, Any] = {"insecure": True, **fields.pop("extra", {})}
    return {"conn_type": "flyte", "host": host, "port": int(port), **fields, "extra": extras}


def connection_json(emulator: Any, **fields: Any) -> str:
    """``AIRFLOW_CONN_*`` JSON for ``emulator`` with the example project and domain as defaults."""
    extra = {"project": PROJECT, "domain": DOMAIN, **fields.pop("extra", {})}
    return json.dumps(connection_body(emulator.grpc_endpoint, extra=extra, **fields))


def set_flyte_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, endpoint: str, **fields: Any) -> None:
    """Define ``conn_id`` through ``AIRFLOW_CONN_*`` (as users do) and forget cached configs."""
    from flyte_async_provider.connections import clear_connection_cache

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection_body(endpoint, **fields)))
    clear_connection_cache()


def config_for(emu: FlyteAdminEmulator, **overrides: Any) -> FlyteConnectionConfig:
    """A parsed connection config for ``emu`` (insecure, no auth unless overridden)."""
    from flyte_async_provider.config import AuthMode, FlyteConnectionConfig

    base = FlyteConnectionConfig(conn_id="flyte_test", host="127.0.0.1", port=emu.grpc_port, insecure=True)
    if "client_secret" in overrides and "auth_mode" not in overrides:
        overrides["auth_mode"] = AuthMode.CLIENT_CREDENTIALS
    return replace(base, **overrides)


def create_without_rpcs(emu: FlyteAdminEmulator, names: Iterable[str]) -> list[str]:
    """Executions of the example launch plan made through the control API, so RPC counters stay clean."""
    names = list(names)
    emu.create_executions(PROJECT, DOMAIN, emu.registered_launch_plans[0], names)
    return names


def phase_name(execution: Any) -> str:
    """The phase of a flyteidl ``admin.Execution`` by name (``"SUCCEEDED"``), for readable asserts."""
    from flyte_async_provider.phases import ExecutionPhase

    return ExecutionPhase(execution.closure.phase).name
