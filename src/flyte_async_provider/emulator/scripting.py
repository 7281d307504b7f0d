"""How executions behave: an ``Outcome`` (where they end) and an ``Advance`` (how they get there).

Both are small frozen values with ``to_dict``/``from_dict`` so they cross the HTTP control API and the
SQLite file unchanged. Rules are matched first to last; the default applies when nothing matches.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from flyte_async_provider.phases import ExecutionPhase

# ExecutionPhase values as plain ints: the phase machine compares and hashes them on every read.
UNDEFINED = int(ExecutionPhase.UNDEFINED)
QUEUED = int(ExecutionPhase.QUEUED)
RUNNING = int(ExecutionPhase.RUNNING)
SUCCEEDING = int(ExecutionPhase.SUCCEEDING)
SUCCEEDED = int(ExecutionPhase.SUCCEEDED)
FAILING = int(ExecutionPhase.FAILING)
FAILED = int(ExecutionPhase.FAILED)
ABORTED = int(ExecutionPhase.ABORTED)
TIMED_OUT = int(ExecutionPhase.TIMED_OUT)
ABORTING = int(ExecutionPhase.ABORTING)
PHASE_NAMES = tuple(p.name for p in ExecutionPhase)
TERMINAL_PHASES = frozenset(int(p) for p in ExecutionPhase if p.is_terminal)
ABORT_PATH: tuple[int, ...] = (ABORTING, ABORTED)

OutcomeKind = Literal["succeed", "fail", "time_out", "hang", "run"]
_PATHS: dict[str, tuple[int, ...]] = {
    "succeed": (UNDEFINED, QUEUED, RUNNING, SUCCEEDING, SUCCEEDED),
    "fail": (UNDEFINED, QUEUED, RUNNING, FAILING, FAILED),
    "time_out": (UNDEFINED, QUEUED, RUNNING, TIMED_OUT),
    "hang": (UNDEFINED, QUEUED, RUNNING),
    "run": (UNDEFINED, QUEUED),  # RUNNING and the end come from the real run (runs.py)
}
ERROR_KINDS = ("UNKNOWN", "USER", "SYSTEM")


@dataclass(frozen=True)
class Outcome:
    """Where an execution ends. ``outputs`` (plain Python values) override the synthesized outputs."""

    kind: OutcomeKind = "succeed"
    message: str = ""
    code: str = ""
    error_kind: str = "USER"
    outputs: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def succeed(cls, outputs: dict[str, Any] | None = None) -> Outcome:
        """``outputs``: JSON-like values by output name (others get a default of their type)."""
        for name, value in (outputs or {}).items():
            if not _json_like(value):
                raise ValueError(f"output {name!r}: {type(value).__name__} is not a JSON-like value")
        return cls("succeed", outputs=outputs)

    @classmethod
    def fail(cls, message: str = "emulated failure", code: str = "USER:Error", kind: str = "USER") -> Outcome:
        if kind.upper() not in ERROR_KINDS:
            raise ValueError(f"error kind must be one of {ERROR_KINDS}, got {kind!r}")
        return cls("fail", message=message, code=code, error_kind=kind.upper())

    @classmethod
    def time_out(cls) -> Outcome:
        return cls("time_out")

    @classmethod
    def hang(cls) -> Outcome:
        """Stays RUNNING until terminated (or completed through the control API)."""
        return cls("hang")

    @classmethod
    def run(cls) -> Outcome:
        """Run the workflow's code for real (worker processes): phases and outputs follow the run."""
        return cls("run")

    @property
    def path(self) -> tuple[int, ...]:
        return _PATHS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "code": self.code,
            "error_kind": self.error_kind,
            "outputs": self.outputs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        kind = data.get("kind", "succeed")
        if kind not in _PATHS:
            raise ValueError(f"unknown outcome kind {kind!r}; expected one of {sorted(_PATHS)}")
        if kind == "succeed":
            return cls.succeed(data.get("outputs"))
        return cls(
            kind=kind,
            message=str(data.get("message", "")),
            code=str(data.get("code", "")),
            error_kind=str(data.get("error_kind", "USER")).upper(),
            outputs=data.get("outputs"),
        )


AdvanceMode = Literal["seconds", "reads", "manual"]


@dataclass(frozen=True)
class Advance:
    """How an execution moves one phase: every ``seconds``, every ``reads`` status reads, or by hand."""

    mode: AdvanceMode = "seconds"
    seconds: float = 1.0
    reads: int = 1

    @classmethod
    def after_seconds(cls, seconds: float) -> Advance:
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        return cls("seconds", seconds=float(seconds))

    @classmethod
    def after_reads(cls, reads: int) -> Advance:
        if reads < 1:
            raise ValueError("reads must be >= 1")
        return cls("reads", reads=int(reads))

    @classmethod
    def manual(cls) -> Advance:
        return cls("manual")

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "seconds": self.seconds, "reads": self.reads}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Advance:
        mode = data.get("mode", "seconds")
        if mode == "seconds":
            return cls.after_seconds(float(data.get("seconds", 1.0)))
        if mode == "reads":
            return cls.after_reads(int(data.get("reads", 1)))
        if mode == "manual":
            return cls.manual()
        raise ValueError(f"unknown advance mode {mode!r}; expected seconds, reads or manual")


def _json_like(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return False


def _pattern_matcher(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


@dataclass(frozen=True)
class ScriptRule:
    """Applies to executions whose launch plan name and/or execution name match (glob or regex)."""

    outcome: Outcome
    advance: Advance
    launch_plan: str | None = None
    name_pattern: str | None = None

    def matches(self, launch_plan: str, name: str) -> bool:
        return _match(self.launch_plan, launch_plan) and _match(self.name_pattern, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.to_dict(),
            "advance": self.advance.to_dict(),
            "launch_plan": self.launch_plan,
            "name_pattern": self.name_pattern,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptRule:
        return cls(
            Outcome.from_dict(data.get("outcome") or {}),
            Advance.from_dict(data.get("advance") or {}),
            data.get("launch_plan"),
            data.get("name_pattern"),
        )


def _match(pattern: str | None, value: str) -> bool:
    """A pattern matches the whole value as a glob (``fail-*``) or as a regular expression (``fail-.*``)."""
    if pattern is None:
        return True
    if fnmatch.fnmatchcase(value, pattern):
        return True
    compiled = _pattern_matcher(pattern)
    return compiled is not None and compiled.fullmatch(value) is not None
