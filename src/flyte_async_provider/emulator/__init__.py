"""A Flyte Admin emulator: flyteidl's AdminService over gRPC with flyteadmin v1.16 semantics.

``FlyteAdminEmulator`` serves it on 127.0.0.1 (in a running loop or its own thread); ``Outcome`` and
``Advance`` script what executions do; ``EmulatorControlClient`` drives an emulator in another process;
the ``flyte_admin_emulator`` pytest fixture yields a started one. See docs/emulator.md.

The names below are imported on first use: the pytest plugin lives in this package and is loaded by
every pytest run where the provider is installed, which must not pay for grpc, aiohttp and flyteidl.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .control import EmulatorControlClient
    from .errors import EmulatorError
    from .faults import FaultRule
    from .scripting import Advance, Outcome, ScriptRule
    from .server import FlyteAdminEmulator
    from .settings import AuthSettings, TlsSettings

_MODULE_OF = {
    "Advance": "scripting",
    "AuthSettings": "settings",
    "EmulatorControlClient": "control",
    "EmulatorError": "errors",
    "FaultRule": "faults",
    "FlyteAdminEmulator": "server",
    "Outcome": "scripting",
    "ScriptRule": "scripting",
    "TlsSettings": "settings",
}

__all__ = [
    "Advance",
    "AuthSettings",
    "EmulatorControlClient",
    "EmulatorError",
    "FaultRule",
    "FlyteAdminEmulator",
    "Outcome",
    "ScriptRule",
    "TlsSettings",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value
