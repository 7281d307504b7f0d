"""The control operations, declared once: the ``OPS`` table and the typed ``ControlApi`` over it.

An ``Operation`` is the name (also the HTTP path ``/control/<name>``), the parameters with their JSON
codecs and defaults, what it does to an ``EmulatorState`` (``apply``) and its result's JSON codec.
Every surface works from this table, so none can offer an operation the others lack:

- ``FlyteAdminEmulator`` applies an operation to its own state;
- the HTTP layer decodes the JSON body, applies it, encodes the result;
- ``EmulatorControlClient`` encodes the arguments, POSTs them, decodes the result.

Both Python classes inherit their control methods from ``ControlApi``: explicit, typed methods (so mypy
and editors see real signatures) whose bodies only name their operation. A test checks that each
method's parameters are its operation's, defaults included, and that every operation has a method.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flyteidl.admin import execution_pb2

from .faults import FaultRule
from .scripting import PHASE_NAMES, Advance, Outcome, ScriptRule

if TYPE_CHECKING:
    from .state import EmulatorState

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Codec(Generic[T]):
    """A value's JSON form: ``encode`` on the sending side, ``decode`` on the receiving side."""

    json: str  # how docs/emulator.md names the JSON form
    encode: Callable[[T], Any]
    decode: Callable[[Any], T]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One keyword argument of an operation; ``default`` applies when an HTTP body leaves it out."""

    name: str
    codec: Codec[Any]
    default: Any = REQUIRED


@dataclass(frozen=True)
class Operation(Generic[R]):
    """One control operation; ``apply(state, **arguments)`` is its only implementation."""

    name: str
    apply: Callable[..., R]
    params: tuple[Param, ...]
    result: Codec[R]

    def encode_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: p.codec.encode(arguments[p.name]) for p in self.params}

    def decode_arguments(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON body as keyword arguments; raises KeyError (missing), ValueError or TypeError (bad)."""
        arguments: dict[str, Any] = {}
        for p in self.params:
            if p.name in body:
                arguments[p.name] = p.codec.decode(body[p.name])
            elif p.default is REQUIRED:
                raise KeyError(p.name)
            else:
                arguments[p.name] = p.default
        return arguments


# -- codecs -----------------------------------------------------------------------------------------
def _same(value: Any) -> Any:
    return value


def _optional(decode: Callable[[Any], T]) -> Callable[[Any], T | None]:
    return lambda raw: None if raw is None else decode(raw)


def _required_outcome(raw: Any) -> Outcome:
    if not raw:
        raise ValueError("script needs an outcome")
    return Outcome.from_dict(raw)


def _encode_execution(execution: execution_pb2.Execution) -> dict[str, str]:
    return {
        "execution": base64.b64encode(execution.SerializeToString()).decode(),
        "phase": PHASE_NAMES[execution.closure.phase],
    }


def _decode_execution(raw: Any) -> execution_pb2.Execution:
    return execution_pb2.Execution.FromString(base64.b64decode(raw["execution"]))


_STRING = Codec[str]("string", _same, str)
_OPTIONAL_STRING = Codec[str | None]("string/null", _same, _same)
_NUMBER = Codec[float]("number", _same, float)
_OPTIONAL_NUMBER = Codec[float | None]("number/null", _same, _optional(float))
_NAMES = Codec[Iterable[str]]("[string]", list, lambda raw: [str(n) for n in raw])
_OBJECT = Codec[dict[str, Any]]("object", _same, dict)
_OPTIONAL_OBJECT = Codec[dict[str, Any] | None]("object/null", _same, _same)
_OUTCOME = Codec[Outcome]("Outcome", Outcome.to_dict, _required_outcome)
_OPTIONAL_OUTCOME = Codec[Outcome | None](
    "Outcome/null", lambda o: o.to_dict() if o else None, lambda raw: Outcome.from_dict(raw) if raw else None
)
_OPTIONAL_ADVANCE = Codec[Advance | None](
    "Advance/null", lambda a: a.to_dict() if a else None, lambda raw: Advance.from_dict(raw) if raw else None
)
_NOTHING = Codec[None]("null", _same, lambda raw: None)
_RULE = Codec[ScriptRule]("ScriptRule", ScriptRule.to_dict, ScriptRule.from_dict)
_RULES = Codec[list[ScriptRule]](
    "[ScriptRule]",
    lambda rules: [r.to_dict() for r in rules],
    lambda raw: [ScriptRule.from_dict(r) for r in raw],
)
_PHASE = Codec[str]('{"phase": string}', lambda phase: {"phase": phase}, lambda raw: str(raw["phase"]))
_EXECUTION = Codec[execution_pb2.Execution](
    '{"execution": base64 admin.Execution, "phase": string}', _encode_execution, _decode_execution
)
_CREATED = Codec[int]('{"created": n}', lambda n: {"created": n}, lambda raw: int(raw["created"]))
_COUNTS = Codec[dict[str, int]]("{name: n}", _same, dict)
_CALL_COUNTS = Codec[dict[str, dict[str, int]]](
    '{"counters": {rpc: n}, "succeeded": {rpc: n}}',
    _same,
    lambda raw: {"counters": dict(raw["counters"]), "succeeded": dict(raw["succeeded"])},
)
_FAULT = Codec[FaultRule]("FaultRule", FaultRule.to_dict, lambda raw: FaultRule(**raw))


# -- the operations ---------------------------------------------------------------------------------
def _complete_many(
    s: EmulatorState, project: str, domain: str, names: Iterable[str], outcome: Outcome | None
) -> dict[str, Any]:
    count, at = s.backend.complete_many(project, domain, names, outcome)
    return {"completed": count, "timestamp": at}


def _create_executions(
    s: EmulatorState,
    project: str,
    domain: str,
    launch_plan: str,
    names: Iterable[str],
    inputs: dict[str, Any] | None,
    version: str | None,
) -> int:
    from .bulk import create_executions  # benchmark set-up only

    return create_executions(s.backend, project, domain, launch_plan, names, inputs, version)


def _expire_tokens(s: EmulatorState) -> None:
    if s.authority is not None:
        s.authority.expire_all()


def _call_counts(s: EmulatorState) -> dict[str, dict[str, int]]:
    return {"counters": s.faults.counters(), "succeeded": s.faults.success_counters()}


_EXECUTION_ID = (Param("project", _STRING), Param("domain", _STRING), Param("name", _STRING))

HEALTH = Operation("health", lambda s: s.addresses(), (), _OBJECT)
SCRIPT = Operation(
    "script",
    lambda s, outcome, advance, launch_plan, name_pattern: s.backend.script(
        outcome, advance, launch_plan, name_pattern
    ),
    (
        Param("outcome", _OUTCOME),
        Param("advance", _OPTIONAL_ADVANCE, None),
        Param("launch_plan", _OPTIONAL_STRING, None),
        Param("name_pattern", _OPTIONAL_STRING, None),
    ),
    _RULE,
)
SET_DEFAULT = Operation(
    "set_default",
    lambda s, outcome, advance: s.backend.set_default(outcome, advance),
    (Param("outcome", _OPTIONAL_OUTCOME, None), Param("advance", _OPTIONAL_ADVANCE, None)),
    _NOTHING,
)
CLEAR_SCRIPT = Operation("clear_script", lambda s: s.backend.clear_script(), (), _NOTHING)
RULES = Operation("rules", lambda s: s.backend.rules(), (), _RULES)
ADVANCE = Operation(
    "advance",
    lambda s, project, domain, name: s.backend.advance(project, domain, name),
    _EXECUTION_ID,
    _PHASE,
)
COMPLETE = Operation(
    "complete",
    lambda s, project, domain, name, outcome: s.backend.complete(project, domain, name, outcome),
    (*_EXECUTION_ID, Param("outcome", _OPTIONAL_OUTCOME, None)),
    _PHASE,
)
COMPLETE_MANY = Operation(
    "complete_many",
    _complete_many,
    (
        Param("project", _STRING),
        Param("domain", _STRING),
        Param("names", _NAMES),
        Param("outcome", _OPTIONAL_OUTCOME, None),
    ),
    _OBJECT,
)
TERMINATE = Operation(
    "terminate",
    lambda s, project, domain, name, cause, principal: s.backend.terminate(
        project, domain, name, cause, principal
    ),
    (*_EXECUTION_ID, Param("cause", _STRING, "terminated"), Param("principal", _STRING, "emulator")),
    _NOTHING,
)
EXECUTION = Operation(
    "execution",
    lambda s, project, domain, name: s.backend.execution(project, domain, name),
    _EXECUTION_ID,
    _EXECUTION,
)
CREATE_EXECUTIONS = Operation(
    "create_executions",
    _create_executions,
    (
        Param("project", _STRING),
        Param("domain", _STRING),
        Param("launch_plan", _STRING),
        Param("names", _NAMES),
        Param("inputs", _OPTIONAL_OBJECT, None),
        Param("version", _OPTIONAL_STRING, None),
    ),
    _CREATED,
)
PHASE_COUNTS = Operation("phase_counts", lambda s: s.backend.phase_counts(), (), _COUNTS)
INJECT_FAULT = Operation(
    "inject_fault",
    lambda s, rpc, error_rate, code, latency_seconds: s.faults.inject(rpc, error_rate, code, latency_seconds),
    (
        Param("rpc", _STRING, "*"),
        Param("error_rate", _NUMBER, 0.0),
        Param("code", _STRING, "UNAVAILABLE"),
        Param("latency_seconds", _NUMBER, 0.0),
    ),
    _FAULT,
)
CLEAR_FAULTS = Operation("clear_faults", lambda s: s.faults.clear(), (), _NOTHING)
START_OUTAGE = Operation(
    "start_outage",
    lambda s, seconds: s.faults.start_outage(seconds),
    (Param("seconds", _OPTIONAL_NUMBER, None),),
    _NOTHING,
)
END_OUTAGE = Operation("end_outage", lambda s: s.faults.end_outage(), (), _NOTHING)
COUNTERS = Operation("counters", _call_counts, (), _CALL_COUNTS)
RESET_COUNTERS = Operation("reset_counters", lambda s: s.faults.reset_counters(), (), _NOTHING)
EXPIRE_TOKENS = Operation("expire_tokens", _expire_tokens, (), _NOTHING)

OPS: dict[str, Operation[Any]] = {
    op.name: op
    for op in (
        HEALTH,
        SCRIPT,
        SET_DEFAULT,
        CLEAR_SCRIPT,
        RULES,
        ADVANCE,
        COMPLETE,
        COMPLETE_MANY,
        TERMINATE,
        EXECUTION,
        CREATE_EXECUTIONS,
        PHASE_COUNTS,
        INJECT_FAULT,
        CLEAR_FAULTS,
        START_OUTAGE,
        END_OUTAGE,
        COUNTERS,
        RESET_COUNTERS,
        EXPIRE_TOKENS,
    )
}


class ControlApi(ABC):
    """The control methods of ``FlyteAdminEmulator`` and ``EmulatorControlClient``, one per operation."""

    @abstractmethod
    def _run(self, op: Operation[R], /, **arguments: Any) -> R:
        """Carry out ``op`` with these (Python) arguments and return its (Python) result."""

    # -- scripting --------------------------------------------------------------------------------
    def script(
        self,
        outcome: Outcome,
        advance: Advance | None = None,
        launch_plan: str | None = None,
        name_pattern: str | None = None,
    ) -> ScriptRule:
        """Add a rule for executions created from now on; the first matching rule wins."""
        return self._run(
            SCRIPT, outcome=outcome, advance=advance, launch_plan=launch_plan, name_pattern=name_pattern
        )

    def set_default(self, outcome: Outcome | None = None, advance: Advance | None = None) -> None:
        """What executions matching no rule do (initially: succeed, one phase per second)."""
        self._run(SET_DEFAULT, outcome=outcome, advance=advance)

    def clear_script(self) -> None:
        """Drop the script rules (the default stays)."""
        self._run(CLEAR_SCRIPT)

    def rules(self) -> list[ScriptRule]:
        """The script rules in match order, the default last."""
        return self._run(RULES)

    # -- executions -------------------------------------------------------------------------------
    def advance(self, project: str, domain: str, name: str) -> str:
        """One phase step now; returns the new phase name."""
        return self._run(ADVANCE, project=project, domain=domain, name=name)

    def complete(self, project: str, domain: str, name: str, outcome: Outcome | None = None) -> str:
        """Jump to the terminal phase of ``outcome`` (default: the execution's own)."""
        return self._run(COMPLETE, project=project, domain=domain, name=name, outcome=outcome)

    def complete_many(
        self, project: str, domain: str, names: Iterable[str], outcome: Outcome | None = None
    ) -> dict[str, Any]:
        """Complete many at one instant: ``{"completed": n, "timestamp": epoch seconds of the flip}``."""
        return self._run(COMPLETE_MANY, project=project, domain=domain, names=names, outcome=outcome)

    def terminate(
        self, project: str, domain: str, name: str, cause: str = "terminated", principal: str = "emulator"
    ) -> None:
        """TerminateExecution as another Flyte user would."""
        self._run(TERMINATE, project=project, domain=domain, name=name, cause=cause, principal=principal)

    def execution(self, project: str, domain: str, name: str) -> execution_pb2.Execution:
        """Current state (no status read counted)."""
        return self._run(EXECUTION, project=project, domain=domain, name=name)

    def create_executions(
        self,
        project: str,
        domain: str,
        launch_plan: str,
        names: Iterable[str],
        inputs: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> int:
        """Create many executions without RPCs (benchmark set-up); returns how many were created."""
        return self._run(
            CREATE_EXECUTIONS,
            project=project,
            domain=domain,
            launch_plan=launch_plan,
            names=names,
            inputs=inputs,
            version=version,
        )

    def phase_counts(self) -> dict[str, int]:
        """How many executions are in each phase now."""
        return self._run(PHASE_COUNTS)

    # -- faults and counters ----------------------------------------------------------------------
    def inject_fault(
        self, rpc: str = "*", error_rate: float = 0.0, code: str = "UNAVAILABLE", latency_seconds: float = 0.0
    ) -> FaultRule:
        """Fail ``error_rate`` of calls to ``rpc`` (``*``: all) with ``code``; add latency to each."""
        return self._run(
            INJECT_FAULT, rpc=rpc, error_rate=error_rate, code=code, latency_seconds=latency_seconds
        )

    def clear_faults(self) -> None:
        """Drop every fault rule and end an outage."""
        self._run(CLEAR_FAULTS)

    def start_outage(self, seconds: float | None = None) -> None:
        """Every gRPC call fails UNAVAILABLE for ``seconds`` (None: until ``end_outage``)."""
        self._run(START_OUTAGE, seconds=seconds)

    def end_outage(self) -> None:
        """End an outage now."""
        self._run(END_OUTAGE)

    def counters(self) -> dict[str, int]:
        """Calls received per RPC name, failed and injected ones included (over HTTP: with ``succeeded``)."""
        return self._run(COUNTERS)["counters"]

    def success_counters(self) -> dict[str, int]:
        """Calls answered OK per RPC name (the ``succeeded`` half of the ``counters`` operation)."""
        return self._run(COUNTERS)["succeeded"]

    def reset_counters(self) -> None:
        """Zero both kinds of call counters."""
        self._run(RESET_COUNTERS)

    def expire_tokens(self) -> None:
        """Make every issued access token expired (clients must fetch a new one); no-op without auth."""
        self._run(EXPIRE_TOKENS)

    def health(self) -> dict[str, Any]:
        """The emulator's endpoints and how to talk to them."""
        return self._run(HEALTH)
