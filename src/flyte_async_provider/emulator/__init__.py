"""A Flyte Admin emulator: flyteidl's AdminService over gRPC with flyteadmin v1.16 semantics.

``FlyteAdminEmulator`` serves it on 127.0.0.1 (in a running loop or its own thread); ``Outcome`` and
``Advance`` script what executions do; ``EmulatorControlClient`` drives an emulator in another process;
the ``flyte_admin_emulator`` pytest fixture yields a started one. See docs/emulator.md.
"""

from __future__ import annotations

from .control import EmulatorControlClient
from .errors import EmulatorError
from .faults import FaultRule
from .scripting import Advance, Outcome, ScriptRule
from .server import FlyteAdminEmulator
from .settings import AuthSettings, TlsSettings

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
