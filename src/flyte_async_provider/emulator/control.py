"""EmulatorControlClient: the control API over HTTP, for an emulator running in another process.

Its control methods are ``FlyteAdminEmulator``'s (both inherit them from ``ControlApi``, operations.py);
here each operation is sent as JSON and its answer decoded; errors raise the same
``flyte_async_provider.emulator.errors`` classes. Standard library (urllib) plus flyteidl, synchronous.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any, TypeVar

from .errors import EmulatorError, error_for_code
from .operations import ControlApi, Operation

R = TypeVar("R")


class EmulatorControlClient(ControlApi):
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

    def _run(self, op: Operation[R], /, **arguments: Any) -> R:
        return op.result.decode(self.call(op.name, **op.encode_arguments(arguments)))
