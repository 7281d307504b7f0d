"""One execution's state (``ExecutionRecord``), its filter columns, and its persisted form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flyteidl.admin import execution_pb2
from flyteidl.core import identifier_pb2, interface_pb2, literals_pb2

from . import filters as flt
from .errors import InvalidArgument
from .nodes import GateWait
from .scripting import PHASE_NAMES, TERMINAL_PHASES, UNDEFINED, Advance, Outcome

ACTIVE, ARCHIVED = 0, 1


class ExecutionRecord:
    """One execution. Mutated only under the backend lock."""

    __slots__ = (
        "abort_cause",
        "abort_principal",
        "advance",
        "anchor",
        "cache_full",
        "cache_list",
        "created_at",
        "domain",
        "duration",
        "error",
        "expected_outputs",
        "gate",
        "idx",
        "inputs",
        "launch_plan",
        "name",
        "outcome",
        "outputs",
        "path",
        "phase",
        "project",
        "reads",
        "seq",
        "spec",
        "started_at",
        "state",
        "updated_at",
        "user_inputs",
        "workflow_id",
    )

    def __init__(
        self,
        project: str,
        domain: str,
        name: str,
        seq: int,
        spec: execution_pb2.ExecutionSpec,
        workflow_id: identifier_pb2.Identifier,
        inputs: literals_pb2.LiteralMap,
        user_inputs: literals_pb2.LiteralMap,
        expected_outputs: interface_pb2.VariableMap,
        outcome: Outcome,
        advance: Advance,
        now: float,
    ) -> None:
        self.project, self.domain, self.name, self.seq = project, domain, name, seq
        self.spec, self.workflow_id = spec, workflow_id
        self.launch_plan = spec.launch_plan.name
        self.inputs, self.user_inputs, self.expected_outputs = inputs, user_inputs, expected_outputs
        self.outcome, self.advance = outcome, advance
        self.path: tuple[int, ...] = outcome.path
        self.idx = 0
        self.phase = UNDEFINED
        self.created_at = self.updated_at = self.anchor = now
        self.started_at: float | None = None
        self.duration: float | None = None
        self.reads = 0
        self.abort_cause: str | None = None
        self.abort_principal = ""
        self.error: tuple[str, str, str] | None = None
        self.outputs: literals_pb2.LiteralMap | None = None
        self.state = ACTIVE
        self.cache_full: bytes | None = None
        self.cache_list: bytes | None = None
        self.gate: GateWait | None = None  # a real run at a gate node (in memory only, like signals)

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def column(self, entity: str, column: str) -> Any:
        """Values for ListExecutions filters and sort keys (flyteadmin column names)."""
        if entity == flt.EXECUTION:
            getter = _EXECUTION_COLUMNS.get(column)
            if getter is not None:
                return getter(self)
        elif entity in (flt.LAUNCH_PLAN, flt.WORKFLOW, flt.TASK):
            ident = self._joined(entity)
            if ident is None:
                return None  # no such row (flyteadmin's INNER JOIN drops the execution): never matches
            if column in ("project", "domain", "name", "version"):
                return getattr(ident, column)
        raise InvalidArgument(f"filtering or sorting on '{entity}.{column}' is not supported by the emulator")

    @property
    def single_task(self) -> bool:
        """Launched from a task (``spec.launch_plan`` names a TASK), not from a launch plan."""
        return bool(self.spec.launch_plan.resource_type == identifier_pb2.TASK)

    def _joined(self, entity: str) -> identifier_pb2.Identifier | None:
        """The joined row's id: flyteadmin sets task_id for single-task executions, else launch_plan_id."""
        if entity == flt.WORKFLOW:
            return self.workflow_id
        if (entity == flt.TASK) == self.single_task:
            return self.spec.launch_plan
        return None


_EXECUTION_COLUMNS: dict[str, Callable[[ExecutionRecord], Any]] = {
    "execution_project": lambda r: r.project,
    "execution_domain": lambda r: r.domain,
    "execution_name": lambda r: r.name,
    "phase": lambda r: PHASE_NAMES[r.phase],
    "started_at": lambda r: flt.micros(r.started_at),
    "execution_created_at": lambda r: flt.micros(r.created_at),
    "created_at": lambda r: flt.micros(r.created_at),
    "execution_updated_at": lambda r: flt.micros(r.updated_at),
    "updated_at": lambda r: flt.micros(r.updated_at),
    "duration": lambda r: r.duration if r.duration is not None else 0.0,
    "abort_cause": lambda r: r.abort_cause or "",
    "mode": lambda r: r.spec.metadata.mode,
    "error_kind": lambda r: r.error[2] if r.error else None,
    "error_code": lambda r: r.error[0] if r.error else None,
    "user": lambda r: r.spec.metadata.principal,
    "state": lambda r: r.state,
    "launch_entity": lambda r: "task" if r.single_task else "launch_plan",
    "cluster": lambda r: "",
}


def record_state(rec: ExecutionRecord) -> dict[str, Any]:
    """Everything needed to rebuild an execution (protos as bytes)."""
    return {
        "project": rec.project,
        "domain": rec.domain,
        "name": rec.name,
        "seq": rec.seq,
        "spec": rec.spec.SerializeToString(),
        "workflow_id": rec.workflow_id.SerializeToString(),
        "inputs": rec.inputs.SerializeToString(),
        "user_inputs": rec.user_inputs.SerializeToString(),
        "expected_outputs": rec.expected_outputs.SerializeToString(),
        "outputs": rec.outputs.SerializeToString() if rec.outputs is not None else None,
        "outcome": rec.outcome.to_dict(),
        "advance": rec.advance.to_dict(),
        "path": list(rec.path),
        "idx": rec.idx,
        "phase": rec.phase,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "started_at": rec.started_at,
        "duration": rec.duration,
        "anchor": rec.anchor,
        "abort_cause": rec.abort_cause,
        "abort_principal": rec.abort_principal,
        "error": list(rec.error) if rec.error else None,
        "state": rec.state,
    }


def record_from_state(s: dict[str, Any]) -> ExecutionRecord:
    rec = ExecutionRecord(
        s["project"],
        s["domain"],
        s["name"],
        int(s["seq"]),
        execution_pb2.ExecutionSpec.FromString(s["spec"]),
        identifier_pb2.Identifier.FromString(s["workflow_id"]),
        literals_pb2.LiteralMap.FromString(s["inputs"]),
        literals_pb2.LiteralMap.FromString(s["user_inputs"]),
        interface_pb2.VariableMap.FromString(s["expected_outputs"]),
        Outcome.from_dict(s["outcome"]),
        Advance.from_dict(s["advance"]),
        float(s["created_at"]),
    )
    rec.path = tuple(s["path"])
    rec.idx, rec.phase = int(s["idx"]), int(s["phase"])
    rec.updated_at, rec.started_at, rec.duration = s["updated_at"], s["started_at"], s["duration"]
    rec.anchor = float(s["anchor"])
    rec.abort_cause, rec.abort_principal = s["abort_cause"], s["abort_principal"] or ""
    error = s["error"]
    rec.error = (str(error[0]), str(error[1]), str(error[2])) if error else None
    if s["outputs"] is not None:
        rec.outputs = literals_pb2.LiteralMap.FromString(s["outputs"])
    rec.state = int(s["state"])
    return rec
