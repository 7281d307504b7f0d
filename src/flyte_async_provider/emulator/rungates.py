"""Gate nodes in a real run: wait for the emulator's signal instead of flytekit's stdin prompt.

Installed only in the worker process (runworker.py), never in the emulator (which reads only its
error constants) or in the user's own process: it replaces ``flytekit.core.gate.Gate.local_execute``
there. Why: flytekit's local execution of a gate asks a human on stdin (``wait_for_input`` parses a
typed line, ``approve`` asks yes/no) and "simulates" a ``sleep`` by returning at once. A worker has no
terminal (its stdin is /dev/null), and on Flyte a gate waits for a SignalService value or sleeps. So,
in the worker:

- ``wait_for_input`` / ``approve``: tell the emulator ``("gate", signal_id, LiteralType bytes)`` over
  the worker's pipe (it creates the signal as propeller's GetOrCreateSignal does: the type of
  ``expected_type``, BOOLEAN for an approval), then block on the pipe until the emulator sends
  ``("signal", Literal bytes)`` (a SetSignal, or a value the signal already had) or the gate's timeout
  passes. The value is the gate's output; an approval passes its input through if the value is True.
- A rejected approval, or no value within the timeout, fails the gate as flytepropeller v1.16.8 does
  (gate/handler.go, nodes/executor.go with the default one attempt); on Flyte a failed node fails the
  workflow and nothing in the user's code can catch that, so the worker reports the error and ends at
  once (it is a process per run) instead of raising into flytekit's exception scopes.
- ``sleep``: sleeps (the run's time limit still ends a sleep that is too long).
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from typing import Any, NoReturn

REJECTED = ("ReceivedRejectSignal", "received a reject signal to disapprove the node input values", "USER")
TIMEOUT_CODE = "RetriesExhausted|TimeoutExpired"


def go_duration(seconds: float) -> str:
    """``time.Duration.String()`` of Go, as propeller's timeout messages print the node's timeout."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def timed_out(seconds: float) -> tuple[str, str, str]:
    """The node error propeller reports when a gate's timeout (its execution deadline) expires."""
    timeout = go_duration(seconds)
    message = f"[1/1] currentAttempt done. Last Error: USER::task execution timeout [{timeout}] expired"
    return (TIMEOUT_CODE, message, "USER")


class _GateRuntime:
    """The pipe ends of this worker, used by every gate the run reaches (one at a time: runs are serial)."""

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self.reader, self.writer = reader, writer

    def wait_for_signal(self, signal_id: str, literal_type: bytes, timeout: float) -> bytes:
        """The signal's value (Literal bytes); ends the run if none arrives within ``timeout`` s."""
        self.writer.send(("gate", signal_id, literal_type))
        try:
            arrived = self.reader.poll(timeout)
            message = self.reader.recv() if arrived else None
        except (EOFError, OSError):
            os._exit(70)  # the emulator is gone
        if message is None:
            self.fail(timed_out(timeout))
        value: bytes = message[1]
        return value

    def fail(self, error: tuple[str, str, str]) -> NoReturn:
        code, message, kind = error
        self.writer.send(("error", code, message, kind))
        self.writer.close()
        os._exit(0)


def install(reader: Connection, writer: Connection) -> None:
    """Replace flytekit's local gate behaviour in this (worker) process."""
    from flyteidl.core import literals_pb2
    from flytekit.core.gate import Gate
    from flytekit.core.promise import Promise, VoidPromise
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import Literal

    runtime = _GateRuntime(reader, writer)

    def local_execute(self: Gate, ctx: Any, **kwargs: Any) -> Any:
        if self.sleep_duration:
            time.sleep(max(0.0, self.sleep_duration.total_seconds()))
            return VoidPromise(self.name)
        timeout = self.construct_node_metadata().timeout.total_seconds()
        literal_type = self.literal_type if self.input_type else TypeEngine.to_literal_type(bool)
        if literal_type is None:  # pragma: no cover - flytekit sets it whenever input_type is set
            raise TypeError(f"gate {self.name} has no literal type")
        raw = runtime.wait_for_signal(self.name, literal_type.to_flyte_idl().SerializeToString(), timeout)
        value = literals_pb2.Literal.FromString(raw)
        if self.input_type:
            return Promise(var="o0", val=Literal.from_flyte_idl(value))
        if not value.scalar.primitive.boolean:
            runtime.fail(REJECTED)
        return kwargs[next(iter(kwargs))]  # an approval's output is its input

    Gate.local_execute = local_execute


__all__ = ["REJECTED", "go_duration", "install", "timed_out"]
