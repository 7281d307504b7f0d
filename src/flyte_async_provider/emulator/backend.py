"""All emulator state: registered entities, executions and their deterministic phase machine.

Plain objects behind one lock (tests drive it from another thread than the gRPC loop). An execution's
outcome and advance rule are fixed when it is created (first matching script rule, else the default).
Phases are evaluated lazily and in O(1): time-based steps are computed from the last transition time
when the execution is looked at, read-based steps are counted after each status read is answered.

Status reads (GetExecution, appearing in a ListExecutions page) answer the state *before* that read is
counted: with ``Advance.after_reads(2)`` the 1st and 2nd reads see UNDEFINED, the 3rd sees QUEUED.
The serialized Execution (full and list forms) is cached per execution and rebuilt only on change, so
``value_in(execution_name, …)`` polls cost a dict lookup and a bytes join per execution.
The record itself lives in records.py, its wire forms in wire.py, input checking in literals.py.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flyteidl.admin import common_pb2, execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2

from . import filters as flt
from .entities import EntityStore, check_list_request, parse_token, validate_identifier
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from .literals import check_inputs, default_literal, python_to_literal
from .nodes import RunState
from .records import ACTIVE, ExecutionRecord, record_from_state, record_state
from .scripting import (
    ABORT_PATH,
    ABORTED,
    ABORTING,
    FAILED,
    FAILING,
    PHASE_NAMES,
    RUNNING,
    SUCCEEDED,
    TERMINAL_PHASES,
    Advance,
    Outcome,
    ScriptRule,
)
from .signals import SignalStore
from .wire import field_bytes, full_bytes, list_bytes

EXECUTION_NAME_RE = re.compile(r"^[a-z][a-z\-0-9]*$")
MAX_EXECUTION_NAME = 63
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what flyteadmin's generated names are made of


class ExecutionSink(Protocol):
    """Where execution state goes when persistence is on (see persistence.py)."""

    def save_execution(self, state: dict[str, Any]) -> None: ...


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
        self.signals = SignalStore()
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
        """flyteadmin's CreateExecution: validate, resolve inputs against the launch plan, store.

        ``spec.launch_plan`` may name a task (single-task execution): its generated launch plan is used,
        and script rules match the task name as the launch plan name.
        """
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
        if lp_ref.resource_type not in (identifier_pb2.LAUNCH_PLAN, identifier_pb2.TASK):
            raise InvalidArgument(
                "Invalid reference entity resource type "
                f"[{identifier_pb2.ResourceType.Name(lp_ref.resource_type)}],"
                " only [LAUNCH_PLAN TASK] allowed"
            )
        user_inputs = request.inputs if request.inputs.literals else request.spec.inputs
        if lp_ref.resource_type == identifier_pb2.TASK:
            # Single-task execution: through the generated ".flytegen.<task>" launch plan (single_task.py).
            lp, workflow_id = self.entities.single_task_launch_plan(lp_ref, request.spec)
        else:
            lp = self.entities.get_launch_plan(lp_ref)
            workflow_id = lp.spec.workflow_id
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
                workflow_id,
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
        return _execution_id(project, domain, name)

    def _generate_name(self, taken: dict[str, ExecutionRecord]) -> str:
        while True:
            name = "a" + "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(19))
            if name not in taken:
                return name

    def relaunch_execution(
        self, request: execution_pb2.ExecutionRelaunchRequest, principal: str = ""
    ) -> identifier_pb2.WorkflowExecutionIdentifier:
        spec, create = self._again(request.id, request.name)
        spec.metadata.mode = execution_pb2.ExecutionMetadata.RELAUNCH
        spec.metadata.reference_execution.CopyFrom(request.id)
        spec.overwrite_cache = request.overwrite_cache
        return self.create_execution(create, principal)

    def recover_execution(
        self, request: execution_pb2.ExecutionRecoverRequest, principal: str = ""
    ) -> identifier_pb2.WorkflowExecutionIdentifier:
        """flyteadmin's RecoverExecution: a new execution of the same spec and user inputs, mode RECOVERED.

        Its node executions show what the source execution completed as RECOVERED (see nodes.py).
        """
        spec, create = self._again(request.id, request.name)
        if request.HasField("metadata"):
            spec.metadata.parent_node_execution.CopyFrom(request.metadata.parent_node_execution)
        spec.metadata.mode = execution_pb2.ExecutionMetadata.RECOVERED
        spec.metadata.reference_execution.CopyFrom(request.id)
        return self.create_execution(create, principal)

    def _again(
        self, source: identifier_pb2.WorkflowExecutionIdentifier, name: str
    ) -> tuple[execution_pb2.ExecutionSpec, execution_pb2.ExecutionCreateRequest]:
        """A create request re-running ``source`` (its spec and user inputs) under ``name``.

        The returned spec is the request's own: callers set the mode and references on it.
        """
        with self._lock:
            rec = self._find(source)
            user_inputs = rec.user_inputs
            create = execution_pb2.ExecutionCreateRequest(
                project=source.project, domain=source.domain, name=name, inputs=user_inputs
            )
            create.spec.CopyFrom(rec.spec)
        return create.spec, create

    # -- executions: read -------------------------------------------------------------------------
    def run_state(self, ident: identifier_pb2.WorkflowExecutionIdentifier) -> RunState:
        """What node executions are derived from (nodes.py), brought up to now; no status read counted."""
        with self._lock:
            rec, _ = self._evaluated(ident)
            error = rec.error
            if error is None and rec.phase == FAILING and rec.outcome.kind == "fail":
                error = (rec.outcome.code, rec.outcome.message, rec.outcome.error_kind)
            meta = rec.spec.metadata
            return RunState(
                rec.project,
                rec.domain,
                rec.name,
                rec.phase,
                rec.created_at,
                rec.updated_at,
                rec.started_at,
                rec.duration,
                error,
                rec.inputs,
                rec.outputs,
                rec.workflow_id,
                meta.mode,
                meta.reference_execution if meta.HasField("reference_execution") else None,
                rec.gate,
            )

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

    def _evaluated(self, ident: identifier_pb2.WorkflowExecutionIdentifier) -> tuple[ExecutionRecord, float]:
        """Under the lock: the execution brought up to now, and that now."""
        rec = self._find(ident)
        now = self._clock()
        self._evaluate(rec, now)
        return rec, now

    def get_execution_bytes(self, ident: identifier_pb2.WorkflowExecutionIdentifier) -> bytes:
        """GetExecution: the serialized admin.Execution; counts as one status read."""
        with self._lock:
            rec, now = self._evaluated(ident)
            payload = full_bytes(rec)
            self._count_read(rec, now)
            return payload

    def execution(self, project: str, domain: str, name: str) -> execution_pb2.Execution:
        """Current state for the control API (no read counted)."""
        ident = _execution_id(project, domain, name)
        with self._lock:
            rec, _ = self._evaluated(ident)
            return execution_pb2.Execution.FromString(full_bytes(rec))

    def get_execution_data(
        self, ident: identifier_pb2.WorkflowExecutionIdentifier
    ) -> execution_pb2.WorkflowExecutionGetDataResponse:
        with self._lock:
            rec, _ = self._evaluated(ident)
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
        check_list_request(project, domain, limit)
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
            chunks = [list_bytes(rec) for rec in page]
            for rec in page:
                self._count_read(rec, now)
        next_token = str(offset + len(page)) if len(page) == limit else ""
        if next_token:
            chunks.append(field_bytes(2, next_token.encode()))
        return ListResult(b"".join(chunks), tuple(r.name for r in page), next_token)

    # -- executions: change -----------------------------------------------------------------------
    def terminate(self, project: str, domain: str, name: str, cause: str, principal: str = "") -> None:
        """TerminateExecution: ABORTING now (with abort metadata), ABORTED after one more step."""
        ident = _execution_id(project, domain, name)
        with self._lock:
            rec, now = self._evaluated(ident)
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
        ident = _execution_id(project, domain, name)
        with self._lock:
            rec, now = self._evaluated(ident)
            if rec.terminal:
                raise FailedPrecondition(f"execution {name} is already {PHASE_NAMES[rec.phase]}")
            if not self._step(rec, now):
                raise FailedPrecondition(
                    f"execution {name} hangs in {PHASE_NAMES[rec.phase]} until terminated"
                )
            return PHASE_NAMES[rec.phase]

    def complete(self, project: str, domain: str, name: str, outcome: Outcome | None = None) -> str:
        """Jump to the terminal phase of ``outcome`` (default: its own; a hang completes as success)."""
        ident = _execution_id(project, domain, name)
        with self._lock:
            rec, now = self._evaluated(ident)
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


def _execution_id(project: str, domain: str, name: str) -> identifier_pb2.WorkflowExecutionIdentifier:
    return identifier_pb2.WorkflowExecutionIdentifier(project=project, domain=domain, name=name)


def _by_seq(rec: ExecutionRecord) -> int:
    return rec.seq


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)
