"""Fixtures for the async watch path: an emulator over real sockets, clean per-test admin state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from flyte_async_provider.admin import close_admin_resources
from flyte_async_provider.admin.auth import reset_auth_state
from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome


@pytest.fixture
def emu(flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]) -> FlyteAdminEmulator:
    """An emulator whose executions move only when the test says so."""
    return flyte_admin_emulator_factory(default_outcome=Outcome.succeed(), default_advance=Advance.manual())


@pytest.fixture(autouse=True)
async def _clean_admin_state() -> AsyncIterator[None]:
    reset_auth_state()
    yield
    await close_admin_resources()
    reset_auth_state()
