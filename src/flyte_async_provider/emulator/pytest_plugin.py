"""pytest fixtures (registered through the ``pytest11`` entry point ``flyte_admin_emulator``).

``flyte_admin_emulator``: a started emulator (own thread and loop, so sync and async tests alike),
fresh per test, example launch plan registered. ``flyte_admin_emulator_factory``: build emulators with
other settings (auth, TLS, persistence); each is stopped at the end of the test.

pytest loads this module in every run where the provider is installed, so the emulator (grpc, aiohttp,
flyteidl) is imported only when a test asks for one of these fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import FlyteAdminEmulator


@pytest.fixture
def flyte_admin_emulator_factory() -> Iterator[Callable[..., FlyteAdminEmulator]]:
    """``factory(**FlyteAdminEmulator kwargs)`` -> a started emulator, stopped after the test."""
    from .server import FlyteAdminEmulator

    started: list[FlyteAdminEmulator] = []

    def factory(**kwargs: Any) -> FlyteAdminEmulator:
        emu = FlyteAdminEmulator(**kwargs)
        emu.start_in_thread()
        started.append(emu)
        return emu

    yield factory
    for emu in reversed(started):
        emu.stop_in_thread()


@pytest.fixture
def flyte_admin_emulator(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> FlyteAdminEmulator:
    """A started Flyte Admin emulator on 127.0.0.1 (port 0) with the example launch plan."""
    return flyte_admin_emulator_factory()
