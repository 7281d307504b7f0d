"""Helpers shared by the admin tests (imported by module name: tests/ has no packages)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from flyte_async_provider.config import AuthMode, FlyteConnectionConfig
from flyte_async_provider.emulator import FlyteAdminEmulator

PROJECT, DOMAIN = "flytesnacks", "development"


def config_for(emu: FlyteAdminEmulator, **overrides: Any) -> FlyteConnectionConfig:
    """A connection config for ``emu`` (insecure, no auth unless overridden)."""
    base = FlyteConnectionConfig(conn_id="flyte_test", host="127.0.0.1", port=emu.grpc_port, insecure=True)
    if "client_secret" in overrides and "auth_mode" not in overrides:
        overrides["auth_mode"] = AuthMode.CLIENT_CREDENTIALS
    return replace(base, **overrides)


def create(emu: FlyteAdminEmulator, names: Iterable[str]) -> list[str]:
    """Create executions of the example launch plan without RPCs (so counters stay clean)."""
    names = list(names)
    emu.create_executions(PROJECT, DOMAIN, emu.registered_launch_plans[0], names)
    return names


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true, failing after ``timeout`` seconds (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
