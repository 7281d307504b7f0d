"""All emulator state: registered entities, executions and their deterministic phase machine.

Plain objects behind one lock (tests drive it from another thread than the gRPC loop). An execution's
outcome and advance rule are fixed when it is created (first matching script rule, else the default).
Phases are evaluated lazily and in O(1): time-based steps are computed from the last transition time
when the execution is looked at, read-based steps are counted after each status read is answered.

Status reads (GetExecution, appearing in a ListExecutions page) answer the state *before* that read is
counted: with ``Advance.after_reads(2)`` the 1st and 2nd reads see UNDEFINED, the 3rd sees QUEUED.
The serialized Execution (full and list forms) is cached per execution and rebuilt only on change, so
``value_in(execution_name, …)`` polls cost a dict lookup and a bytes join per execution.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flyteidl.admin import common_pb2, execution_pb2, launch_plan_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2, interface_pb2, literals_pb2

from . import filters as flt
from .entities import EntityStore, parse_token, timestamp, validate_identifier
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from .literals import default_literal, describe_literal, describe_type, literal_matches, python_to_literal
from .scripting import (
    ABORT_PATH,
    ABORTED,
    ABORTING,
    FAILED,
    PHASE_NAMES,
    RUNNING,
    SUCCEEDED,
    TERMINAL_PHASES,
    UNDEFINED,
    Advance,
    Outcome,
    ScriptRule,
)

EXECUTION_NAME_RE = re.compile(r"^[a-z][a-z\-0-9]*$")
MAX_EXECUTION_NAME = 63
TRIMMED_ERROR_BYTES = 100
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what flyteadmin's generated names are made of
_ERROR_KIND = {"UNKNOWN": 0, "USER": 1, "SYSTEM": 2}
ACTIVE, ARCHIVED = 0, 1

ExecKey = tuple[str, str, str]


class ExecutionSink(Protocol):
    """Where execution state goes when persistence is on (see persistence.py)."""

    def save_execution(self, state: dict[str, Any]) -> None: ...


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

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def column(self, entity: str, column: str) -> Any:
        """Values for ListExecutions filters and sort keys (flyteadmin column names)."""
        if entity == flt.EXECUTION:
            getter = _EXECUTION_COLUMNS.get(column)
            if getter is not None:
                return getter(self)
        elif entity in (flt.LAUNCH_PLAN, flt.WORKFLOW):
            ident = self.spec.launch_plan if entity == flt.LAUNCH_PLAN else self.workflow_id
            if column in ("project", "domain", "name", "version"):
                return getattr(ident, column)
        elif entity == flt.TASK:
            return None  # executions of launch plans never join a task row
        raise InvalidArgument(f"filtering or sorting on '{entity}.{column}' is not supported by the emulator")


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
    "launch_entity": lambda r: "launch_plan",
    "cluster": lambda r: "",
}


@dataclass(frozen=True)
class ListResult:
    """A ListExecutions answer already framed as ``ExecutionList`` bytes, plus what it contained."""

    payload: bytes
    names: tuple[str, ...]
    token: str


class Backend:
    """State + phase machine. Every public method is thread-safe."""

    def __init__(
        self,
        *,
        default_outcome: Outcome | None = None,
        default_advance: Advance | None = None,
        clock: Callable[[], float] = time.time,
        sink: ExecutionSink | None = None,
        entity_sink: Callable[[str, tuple[str, str, str, str], bytes, float, int], None] | None = None,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._sink = sink
        self._rng = random.Random(seed)
        self.entities = EntityStore(clock=clock, on_change=entity_sink)
        self._executions: dict[tuple[str, str], dict[str, ExecutionRecord]] = {}
        self._seq = 0
        self._rules: list[ScriptRule] = []
        self._default = ScriptRule(
            default_outcome or Outcome.succeed(), default_advance or Advance.after_seconds(1.0)
        )

    # -- scripting --------------------------------------------------------------------------------
    def script(
        self,
        outcome: Outcome,
        advance: Advance | None = None,
        launch_plan: str | None = None,
        name_pattern: str | None = None,
    ) -> ScriptRule:
        """Add a rule (first match wins) for executions created from now on."""
        rule = ScriptRule(outcome, advance or self._default.advance, launch_plan, name_pattern)
        with self._lock:
            self._rules.append(rule)
        return rule

    def set_default(self, outcome: Outcome | None = None, advance: Advance | None = None) -> None:
        with self._lock:
            self._default = ScriptRule(outcome or self._default.outcome, advance or self._default.advance)

    def clear_script(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[ScriptRule]:
        with self._lock:
            return [*self._rules, self._default]

    def _rule_for(self, launch_plan: str, name: str) -> ScriptRule:
        for rule in self._rules:
            if rule.matches(launch_plan, name):
                return rule
        return self._default

    # -- phase machine ----------------------------------------------------------------------------
    def _enter(self, rec: ExecutionRecord, phase: int, at: float) -> None:
        rec.phase = phase
        if phase != ABORTING:  # flyteadmin's SetExecutionAborting leaves updated_at alone
            rec.updated_at = at
        if phase == RUNNING:
            rec.started_at = at
        elif phase in TERMINAL_PHASES:
            if rec.started_at is not None:
                rec.duration = max(0.0, at - rec.started_at)
            if phase == FAILED and rec.abort_cause is None:
                o = rec.outcome
                rec.error = (o.code, o.message, o.error_kind)
            elif phase == SUCCEEDED:
                rec.outputs = self._outputs(rec)
        rec.cache_full = rec.cache_list = None
        self._save(rec)

    def _step(self, rec: ExecutionRecord, at: float) -> bool:
        if rec.idx >= len(rec.path) - 1:
            return False
        rec.idx += 1
        rec.anchor = at
        rec.reads = 0
        self._enter(rec, rec.path[rec.idx], at)
        return True

    def _evaluate(self, rec: ExecutionRecord, now: float) -> None:
        """Apply the time-based steps that are due (at most the length of the path)."""
        adv = rec.advance
        if adv.mode != "seconds" or rec.idx >= len(rec.path) - 1:
            return
        if adv.seconds <= 0:
            while self._step(rec, rec.anchor):
                pass
            return
        while rec.idx < len(rec.path) - 1 and now - rec.anchor >= adv.seconds:
            self._step(rec, rec.anchor + adv.seconds)

    def _count_read(self, rec: ExecutionRecord, now: float) -> None:
        adv = rec.advance
        if adv.mode == "reads" and rec.idx < len(rec.path) - 1:
            rec.reads += 1
            if rec.reads >= adv.reads:
                self._step(rec, now)

    def _outputs(self, rec: ExecutionRecord) -> literals_pb2.LiteralMap:
        scripted = rec.outcome.outputs or {}
        result = literals_pb2.LiteralMap()
        prefix = f"emulator://{rec.project}/{rec.domain}/{rec.name}/outputs"
        for name, var in rec.expected_outputs.variables.items():
            if name in scripted:
                result.literals[name].CopyFrom(python_to_literal(scripted[name], var.type))
            else:
                result.literals[name].CopyFrom(default_literal(var.type, f"{prefix}/{name}"))
        return result

    # -- executions: create -----------------------------------------------------------------------
    def create_execution(
        self, request: execution_pb2.ExecutionCreateRequest, principal: str = ""
    ) -> identifier_pb2.WorkflowExecutionIdentifier:
        """flyteadmin's CreateExecution: validate, resolve inputs against the launch plan, store."""
        project, domain, name = request.project, request.domain, request.name
        if not project:
            raise InvalidArgument("missing project")
        if not domain:
            raise InvalidArgument("missing domain")
        if name:
            lowered = name.lower()
            if len(lowered) > MAX_EXECUTION_NAME:
                raise InvalidArgument(f"size of name exceeded length {MAX_EXECUTION_NAME} : {lowered}")
            if not EXECUTION_NAME_RE.match(lowered):
                raise InvalidArgument(
                    f"invalid name format: {lowered}, does not match regex '{EXECUTION_NAME_RE.pattern}'"
                )
        self.entities.check_project_domain(project, domain)
        if not request.HasField("spec"):
            raise InvalidArgument("missing spec")
        lp_ref = request.spec.launch_plan
        validate_identifier(lp_ref)
        if lp_ref.resource_type == identifier_pb2.TASK:
            raise Unimplemented("single-task executions are not emulated; launch a launch plan")
        if lp_ref.resource_type != identifier_pb2.LAUNCH_PLAN:
            raise InvalidArgument(
                "Invalid reference entity resource type "
                f"[{identifier_pb2.ResourceType.Name(lp_ref.resource_type)}],"
                " only [LAUNCH_PLAN TASK] allowed"
            )
        user_inputs = request.inputs if request.inputs.literals else request.spec.inputs
        lp = self.entities.get_launch_plan(lp_ref)
        inputs = check_inputs(user_inputs, lp)
        spec = execution_pb2.ExecutionSpec()
        spec.CopyFrom(request.spec)
        spec.metadata.principal = principal
        spec.metadata.system_metadata.namespace = f"{project}-{domain}"
        with self._lock:
            by_name = self._executions.setdefault((project, domain), {})
            if not name:
                name = self._generate_name(by_name)
            if name in by_name:
                raise AlreadyExists(f"execution [{project}/{domain}/{name}] already exists")
            rule = self._rule_for(lp_ref.name, name)
            self._seq += 1
            rec = ExecutionRecord(
                project,
                domain,
                name,
                self._seq,
                spec,
                lp.spec.workflow_id,
                inputs,
                user_inputs,
                lp.closure.expected_outputs,
                rule.outcome,
                rule.advance,
                self._clock(),
            )
            by_name[name] = rec
            self._save(rec)
            self._evaluate(rec, rec.created_at)
        return identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)

    def _generate_name(self, taken: dict[str, ExecutionRecord]) -> str:
        while True:
            name = "a" + "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(19))
            if name not in taken:
                return name

    def relaunch_execution(
        self, request: execution_pb2.ExecutionRelaunchRequest, principal: str = ""
    ) -> identifier_pb2.WorkflowExecutionIdentifier:
        with self._lock:
            rec = self._find(request.id)
            spec = execution_pb2.ExecutionSpec()
            spec.CopyFrom(rec.spec)
            user_inputs = rec.user_inputs
        spec.metadata.mode = execution_pb2.ExecutionMetadata.RELAUNCH
        spec.metadata.reference_execution.CopyFrom(request.id)
        spec.overwrite_cache = request.overwrite_cache
        create = execution_pb2.ExecutionCreateRequest(
            project=request.id.project,
            domain=request.id.domain,
            name=request.name,
            spec=spec,
            inputs=user_inputs,
        )
        return self.create_execution(create, principal)

    # -- executions: read -------------------------------------------------------------------------
    def _find(self, ident: identifier_pb2.WorkflowExecutionIdentifier) -> ExecutionRecord:
        if not ident.project:
            raise InvalidArgument("missing project")
        if not ident.domain:
            raise InvalidArgument("missing domain")
        if not ident.name:
            raise InvalidArgument("missing name")
        rec = self._executions.get((ident.project, ident.domain), {}).get(ident.name)
        if rec is None:
            raise NotFound(
                f"missing entity of type execution with identifier project:{ident.project} "
                f"domain:{ident.domain} name:{ident.name}"
            )
        return rec

    def get_execution_bytes(self, ident: identifier_pb2.WorkflowExecutionIdentifier) -> bytes:
        """GetExecution: the serialized admin.Execution; counts as one status read."""
        with self._lock:
            rec = self._find(ident)
            now = self._clock()
            self._evaluate(rec, now)
            payload = self._full_bytes(rec)
            self._count_read(rec, now)
            return payload

    def execution(self, project: str, domain: str, name: str) -> execution_pb2.Execution:
        """Current state for the control API (no read counted)."""
        ident = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)
        with self._lock:
            rec = self._find(ident)
            self._evaluate(rec, self._clock())
            return execution_pb2.Execution.FromString(self._full_bytes(rec))

    def get_execution_data(
        self, ident: identifier_pb2.WorkflowExecutionIdentifier
    ) -> execution_pb2.WorkflowExecutionGetDataResponse:
        with self._lock:
            rec = self._find(ident)
            self._evaluate(rec, self._clock())
            response = execution_pb2.WorkflowExecutionGetDataResponse()
            response.full_inputs.CopyFrom(rec.inputs)
            if rec.outputs is not None:
                response.full_outputs.CopyFrom(rec.outputs)
            return response

    def list_executions(
        self,
        project: str,
        domain: str,
        name: str = "",
        filters: str = "",
        sort: common_pb2.Sort | None = None,
        limit: int = 100,
        token: str = "",
    ) -> ListResult:
        """ListExecutions; each execution on the page counts as one status read."""
        if not project:
            raise InvalidArgument("missing project")
        if not domain:
            raise InvalidArgument("missing domain")
        if limit <= 0:
            raise InvalidArgument("invalid value for limit")
        parsed = flt.parse_filters(filters, flt.EXECUTION)
        if sort is not None:
            if sort.key not in flt.COLUMNS[flt.EXECUTION]:
                raise InvalidArgument(f"invalid sort key '{sort.key}'")
            if sort.direction not in (common_pb2.Sort.ASCENDING, common_pb2.Sort.DESCENDING):
                raise InvalidArgument("invalid sort order specified")
        try:
            offset = parse_token(token)
        except InvalidArgument:
            raise InvalidArgument(f"invalid pagination token {token} for ListExecutions") from None
        names = flt.name_candidates(parsed, "execution_name")
        if name:
            names = {name} if names is None else names & {name}
        # Filters the name lookup already satisfied need no second test.
        rest = [
            f
            for f in parsed
            if not (
                f.entity == flt.EXECUTION and f.field == "execution_name" and f.func in ("eq", "value_in")
            )
        ]
        want_state = not any(f.field == "state" for f in parsed)
        with self._lock:
            now = self._clock()
            by_name = self._executions.get((project, domain), {})
            if names is None:
                candidates: Iterable[ExecutionRecord] = by_name.values()
            else:
                found = [by_name.get(n) for n in names]
                candidates = sorted((r for r in found if r is not None), key=_by_seq)
            selected = []
            for rec in candidates:
                self._evaluate(rec, now)
                if want_state and rec.state != ACTIVE:
                    continue
                if rest and not flt.matches_all(rest, rec.column):
                    continue
                selected.append(rec)
            if sort is not None:
                key = sort.key
                selected.sort(
                    key=lambda r: _sort_key(r.column(flt.EXECUTION, key)),
                    reverse=sort.direction == common_pb2.Sort.DESCENDING,
                )
            page = selected[offset : offset + limit]
            chunks = [self._list_bytes(rec) for rec in page]
            for rec in page:
                self._count_read(rec, now)
        next_token = str(offset + len(page)) if len(page) == limit else ""
        if next_token:
            chunks.append(_field_bytes(2, next_token.encode()))
        return ListResult(b"".join(chunks), tuple(r.name for r in page), next_token)

    # -- executions: change -----------------------------------------------------------------------
    def terminate(self, project: str, domain: str, name: str, cause: str, principal: str = "") -> None:
        """TerminateExecution: ABORTING now (with abort metadata), ABORTED after one more step."""
        ident = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)
        with self._lock:
            rec = self._find(ident)
            now = self._clock()
            self._evaluate(rec, now)
            if rec.terminal:
                raise FailedPrecondition(
                    f"Cannot abort an already terminated workflow execution (phase {PHASE_NAMES[rec.phase]})"
                )
            rec.abort_cause, rec.abort_principal = cause, principal
            rec.error = None
            if rec.phase != ABORTING:
                rec.path, rec.idx, rec.anchor, rec.reads = ABORT_PATH, 0, now, 0
                self._enter(rec, ABORTING, now)
            else:
                rec.cache_full = rec.cache_list = None
                self._save(rec)

    def update_execution(self, ident: identifier_pb2.WorkflowExecutionIdentifier, state: int) -> None:
        with self._lock:
            rec = self._find(ident)
            rec.state = state
            rec.cache_full = rec.cache_list = None
            self._save(rec)

    def advance(self, project: str, domain: str, name: str) -> str:
        """One phase step now (any advance mode); returns the new phase name."""
        ident = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)
        with self._lock:
            rec = self._find(ident)
            now = self._clock()
            self._evaluate(rec, now)
            if rec.terminal:
                raise FailedPrecondition(f"execution {name} is already {PHASE_NAMES[rec.phase]}")
            if not self._step(rec, now):
                raise FailedPrecondition(
                    f"execution {name} hangs in {PHASE_NAMES[rec.phase]} until terminated"
                )
            return PHASE_NAMES[rec.phase]

    def complete(self, project: str, domain: str, name: str, outcome: Outcome | None = None) -> str:
        """Jump to the terminal phase of ``outcome`` (default: its own; a hang completes as success)."""
        ident = identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)
        with self._lock:
            rec = self._find(ident)
            now = self._clock()
            self._evaluate(rec, now)
            if rec.terminal:
                raise FailedPrecondition(f"execution {name} is already {PHASE_NAMES[rec.phase]}")
            self._complete(rec, outcome, now)
            return PHASE_NAMES[rec.phase]

    def _complete(self, rec: ExecutionRecord, outcome: Outcome | None, now: float) -> None:
        if rec.phase == ABORTING:
            rec.idx = len(rec.path) - 1
            self._enter(rec, ABORTED, now)
            return
        target = outcome or rec.outcome
        if target.kind == "hang":
            target = Outcome.succeed(outputs=target.outputs)
        rec.outcome = target
        rec.path = target.path
        if rec.started_at is None:
            rec.started_at = now
        rec.idx = len(rec.path) - 1
        rec.anchor, rec.reads = now, 0
        self._enter(rec, rec.path[-1], now)

    def complete_many(
        self, project: str, domain: str, names: Iterable[str], outcome: Outcome | None = None
    ) -> tuple[int, float]:
        """Complete many executions at one instant; returns (how many flipped, that instant)."""
        with self._lock:
            now = self._clock()
            by_name = self._executions.get((project, domain), {})
            count = 0
            for name in names:
                rec = by_name.get(name)
                if rec is None:
                    continue
                self._evaluate(rec, now)
                if rec.terminal:
                    continue
                self._complete(rec, outcome, now)
                count += 1
            return count, now

    def names(self, project: str, domain: str) -> list[str]:
        with self._lock:
            return list(self._executions.get((project, domain), {}))

    def phase_counts(self) -> dict[str, int]:
        """How many executions are in each phase (evaluated now), for dashboards and benchmarks."""
        counts: dict[str, int] = {}
        with self._lock:
            now = self._clock()
            for by_name in self._executions.values():
                for rec in by_name.values():
                    self._evaluate(rec, now)
                    counts[PHASE_NAMES[rec.phase]] = counts.get(PHASE_NAMES[rec.phase], 0) + 1
        return counts

    # -- serialization ----------------------------------------------------------------------------
    def _proto(self, rec: ExecutionRecord) -> execution_pb2.Execution:
        ex = execution_pb2.Execution()
        ex.id.project, ex.id.domain, ex.id.name = rec.project, rec.domain, rec.name
        ex.spec.CopyFrom(rec.spec)
        c = ex.closure
        c.phase = rec.phase
        c.created_at.CopyFrom(timestamp(rec.created_at))
        c.updated_at.CopyFrom(timestamp(rec.updated_at))
        if rec.started_at is not None:
            c.started_at.CopyFrom(timestamp(rec.started_at))
        if rec.duration is not None:
            c.duration.FromNanoseconds(round(rec.duration * 1e6) * 1000)
        if rec.abort_cause is not None:
            c.abort_metadata.cause = rec.abort_cause
            c.abort_metadata.principal = rec.abort_principal
        elif rec.error is not None:
            code, message, kind = rec.error
            c.error.CopyFrom(
                core_execution_pb2.ExecutionError(code=code, message=message, kind=_ERROR_KIND.get(kind, 0))
            )
        elif rec.phase == SUCCEEDED:
            c.outputs.uri = f"emulator://{rec.project}/{rec.domain}/{rec.name}/outputs.pb"
        c.workflow_id.CopyFrom(rec.workflow_id)
        c.state_change_details.state = rec.state
        c.state_change_details.principal = rec.spec.metadata.principal
        c.state_change_details.occurred_at.CopyFrom(c.created_at)
        return ex

    def _full_bytes(self, rec: ExecutionRecord) -> bytes:
        if rec.cache_full is None:
            rec.cache_full = self._proto(rec).SerializeToString()
        return rec.cache_full

    def _list_bytes(self, rec: ExecutionRecord) -> bytes:
        """The execution as a list item (error trimmed, inputs dropped), framed as ExecutionList field 1."""
        if rec.cache_list is None:
            ex = self._proto(rec)
            ex.spec.ClearField("inputs")
            ex.closure.ClearField("computed_inputs")
            if ex.closure.HasField("error") and ex.closure.error.message:
                ex.closure.error.message = trim_error_message(ex.closure.error.message)
            rec.cache_list = _field_bytes(1, ex.SerializeToString())
        return rec.cache_list

    # -- persistence ------------------------------------------------------------------------------
    def _save(self, rec: ExecutionRecord) -> None:
        if self._sink is not None:
            self._sink.save_execution(record_state(rec))

    def restore_execution(self, state: dict[str, Any]) -> None:
        """Load one persisted execution (entities must be restored first)."""
        rec = record_from_state(state)
        with self._lock:
            self._executions.setdefault((rec.project, rec.domain), {})[rec.name] = rec
            self._seq = max(self._seq, rec.seq)


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


def check_inputs(
    user_inputs: literals_pb2.LiteralMap, lp: launch_plan_pb2.LaunchPlan
) -> literals_pb2.LiteralMap:
    """flyteadmin's CheckAndFetchInputsForExecution: unknown, missing, wrong type; defaults; fixed inputs."""
    expected = lp.closure.expected_inputs.parameters
    for name in user_inputs.literals:
        if name not in expected:
            raise InvalidArgument(f"invalid input {name}")
    result = literals_pb2.LiteralMap()
    for name, param in expected.items():
        if name in user_inputs.literals:
            lit = user_inputs.literals[name]
            if not literal_matches(lit, param.var.type):
                raise InvalidArgument(
                    f"invalid {name} input wrong type. Expected {describe_type(param.var.type)}, "
                    f"but got {describe_literal(lit)}"
                )
            result.literals[name].CopyFrom(lit)
        elif param.required:
            raise InvalidArgument(f"expected_inputs {name} missing")
        else:
            result.literals[name].CopyFrom(param.default)
    for name, lit in lp.spec.fixed_inputs.literals.items():
        if name in result.literals:
            raise InvalidArgument(f"fixed_inputs {name} cannot be overridden")
        result.literals[name].CopyFrom(lit)
    return result


def trim_error_message(message: str) -> str:
    """Cut to 100 bytes, dropping a split UTF-8 character (as flyteadmin's list transformer)."""
    raw = message.encode()
    if len(raw) <= TRIMMED_ERROR_BYTES:
        return message
    return raw[:TRIMMED_ERROR_BYTES].decode("utf-8", errors="ignore")


def _by_seq(rec: ExecutionRecord) -> int:
    return rec.seq


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: tag, length, payload."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload
