"""EmulatorControlClient: the control API over HTTP, for an emulator running in another process.

Same method names and return types as ``FlyteAdminEmulator``'s control methods; errors raise the same
``flyte_async_provider.emulator.errors`` classes. Standard library only (urllib), synchronous.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from flyteidl.admin import execution_pb2

from .errors import EmulatorError, error_for_code
from .faults import FaultRule
from .scripting import Advance, Outcome, ScriptRule


class EmulatorControlClient:
    """Talks to ``{http_url}/control/...``; ``ssl_context`` for an emulator started with TLS."""

    def __init__(
        self, http_url: str, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.http_url = http_url.rstrip("/")
        self.timeout = timeout
        self.ssl_context = ssl_context

    def call(self, op: str, **kwargs: Any) -> Any:
        """POST one control operation; returns its ``result``."""
        data = json.dumps(kwargs).encode()
        request = urllib.request.Request(
            f"{self.http_url}/control/{op}",
            data=data,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:
                return json.loads(response.read())["result"]
        except urllib.error.HTTPError as err:
            try:
                body = json.loads(err.read())
            except (ValueError, OSError):
                raise EmulatorError(f"control {op} failed: HTTP {err.code}") from err
            raise error_for_code(str(body.get("code", "INTERNAL")), str(body.get("message", ""))) from err

    # -- scripting --------------------------------------------------------------------------------
    def script(
        self,
        outcome: Outcome,
        advance: Advance | None = None,
        launch_plan: str | None = None,
        name_pattern: str | None = None,
    ) -> ScriptRule:
        return ScriptRule.from_dict(
            self.call(
                "script",
                outcome=outcome.to_dict(),
                advance=advance.to_dict() if advance else None,
                launch_plan=launch_plan,
                name_pattern=name_pattern,
            )
        )

    def set_default(self, outcome: Outcome | None = None, advance: Advance | None = None) -> None:
        self.call(
            "set_default",
            outcome=outcome.to_dict() if outcome else None,
            advance=advance.to_dict() if advance else None,
        )

    def clear_script(self) -> None:
        self.call("clear_script")

    # -- executions -------------------------------------------------------------------------------
    def advance(self, project: str, domain: str, name: str) -> str:
        return str(self.call("advance", project=project, domain=domain, name=name)["phase"])

    def complete(self, project: str, domain: str, name: str, outcome: Outcome | None = None) -> str:
        result = self.call(
            "complete",
            project=project,
            domain=domain,
            name=name,
            outcome=outcome.to_dict() if outcome else None,
        )
        return str(result["phase"])

    def complete_many(
        self, project: str, domain: str, names: Iterable[str], outcome: Outcome | None = None
    ) -> dict[str, Any]:
        return dict(
            self.call(
                "complete_many",
                project=project,
                domain=domain,
                names=list(names),
                outcome=outcome.to_dict() if outcome else None,
            )
        )

    def terminate(
        self, project: str, domain: str, name: str, cause: str = "terminated", principal: str = "emulator"
    ) -> None:
        self.call("terminate", project=project, domain=domain, name=name, cause=cause, principal=principal)

    def execution(self, project: str, domain: str, name: str) -> execution_pb2.Execution:
        result = self.call("execution", project=project, domain=domain, name=name)
        return execution_pb2.Execution.FromString(base64.b64decode(result["execution"]))

    def create_executions(
        self,
        project: str,
        domain: str,
        launch_plan: str,
        names: Iterable[str],
        inputs: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> int:
        result = self.call(
            "create_executions",
            project=project,
            domain=domain,
            launch_plan=launch_plan,
            names=list(names),
            inputs=inputs,
            version=version,
        )
        return int(result["created"])

    def phase_counts(self) -> dict[str, int]:
        return dict(self.call("phase_counts"))

    # -- faults and counters ----------------------------------------------------------------------
    def inject_fault(
        self, rpc: str = "*", error_rate: float = 0.0, code: str = "UNAVAILABLE", latency_seconds: float = 0.0
    ) -> FaultRule:
        result = self.call(
            "inject_fault", rpc=rpc, error_rate=error_rate, code=code, latency_seconds=latency_seconds
        )
        return FaultRule(**result)

    def clear_faults(self) -> None:
        self.call("clear_faults")

    def start_outage(self, seconds: float | None = None) -> None:
        self.call("start_outage", seconds=seconds)

    def end_outage(self) -> None:
        self.call("end_outage")

    def counters(self) -> dict[str, int]:
        return dict(self.call("counters")["counters"])

    def success_counters(self) -> dict[str, int]:
        return dict(self.call("counters")["succeeded"])

    def reset_counters(self) -> None:
        self.call("reset_counters")

    def expire_tokens(self) -> None:
        self.call("expire_tokens")

    def health(self) -> dict[str, Any]:
        return dict(self.call("health"))
