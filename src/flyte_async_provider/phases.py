"""Flyte workflow execution phases and the trigger's event payload.

Mirrors ``flyteidl.core.execution_pb2.WorkflowExecution.Phase`` by value, without importing flyteidl,
so this module is cheap to import anywhere (the triggerer included).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal, TypedDict


class ExecutionPhase(IntEnum):
    """Flyte's ``WorkflowExecution.Phase`` values."""

    UNDEFINED = 0
    QUEUED = 1
    RUNNING = 2
    SUCCEEDING = 3
    SUCCEEDED = 4
    FAILING = 5
    FAILED = 6
    ABORTED = 7
    TIMED_OUT = 8
    ABORTING = 9

    @property
    def is_terminal(self) -> bool:
        """True once Flyte will never change the phase again."""
        return self in TERMINAL_PHASES

    @property
    def is_attachable(self) -> bool:
        """Live: worth re-attaching to instead of launching a second execution next to it.

        FAILING will end FAILED but is still running; ABORTING is already dying.
        """
        return not self.is_terminal and self is not ExecutionPhase.ABORTING

    @classmethod
    def parse(cls, value: int | str) -> ExecutionPhase:
        """Accept a phase number or name (as found in events, XCom or flytekit models)."""
        if isinstance(value, str):
            return cls[value.upper()]
        return cls(value)

    @classmethod
    def named(cls, name: str) -> ExecutionPhase | None:
        """The phase called ``name``, or None for anything else (e.g. ``NOT_FOUND`` markers)."""
        return cls.__members__.get(name)


# The one terminal set. Members equal their ints, so raw protobuf phase numbers can be tested too.
TERMINAL_PHASES: frozenset[ExecutionPhase] = frozenset(
    {ExecutionPhase.SUCCEEDED, ExecutionPhase.FAILED, ExecutionPhase.ABORTED, ExecutionPhase.TIMED_OUT}
)

# "run_on_worker": a mapped start_from_trigger task the triggerer cannot start (triggers/mapped.py).
EventStatus = Literal["success", "failed", "aborted", "timed_out", "deadline", "error", "run_on_worker"]

PHASE_TO_STATUS: dict[ExecutionPhase, EventStatus] = {
    ExecutionPhase.SUCCEEDED: "success",
    ExecutionPhase.FAILED: "failed",
    ExecutionPhase.ABORTED: "aborted",
    ExecutionPhase.TIMED_OUT: "timed_out",
}


class FlyteEventPayload(TypedDict, total=False):
    """What ``FlyteExecutionTrigger`` yields; primitives only (it crosses processes as JSON).

    ``status`` and ``execution`` are always present; the rest are present when known.
    """

    status: EventStatus
    phase: str
    message: str
    project: str
    domain: str
    execution: str
    console_url: str
    error_code: str
    error_kind: str
    error_message: str
    error_uri: str
    abort_cause: str
    abort_principal: str
    started_at: str
    duration_seconds: float
