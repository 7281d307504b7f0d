"""Registered tasks, workflows, launch plans and projects, with flyteadmin's create/get/list rules.

Creating an identical entity again is ALREADY_EXISTS (flytekit treats that as success); a different
entity under the same id is INVALID_ARGUMENT. Workflows are "compiled" into the closure flytekit reads
(``closure.compiled_workflow`` with the referenced tasks); launch plans get expected inputs/outputs.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flyteidl.admin import common_pb2, execution_pb2, launch_plan_pb2, project_pb2, task_pb2, workflow_pb2
from flyteidl.core import compiler_pb2, identifier_pb2
from flyteidl.core import workflow_pb2 as core_workflow_pb2
from google.protobuf import message as pb_message
from google.protobuf import timestamp_pb2

from . import filters as flt
from .errors import AlreadyExists, InvalidArgument, NotFound
from .single_task import skeleton_launch_plan, skeleton_workflow

DOMAINS: tuple[str, ...] = ("development", "staging", "production")
DEFAULT_PROJECTS: tuple[str, ...] = ("flytesnacks",)

M = TypeVar("M", bound=pb_message.Message)
Key = tuple[str, str, str, str]


@dataclass
class EntityRecord(Generic[M]):
    """One stored entity version; ``seq`` breaks ties between equal creation times."""

    key: Key
    message: M
    created_at: float
    seq: int
    state: int = 0  # launch plans: LaunchPlanState


@dataclass
class _Table(Generic[M]):
    kind: str
    rows: dict[Key, EntityRecord[M]] = field(default_factory=dict)


def key_of(ident: identifier_pb2.Identifier) -> Key:
    return (ident.project, ident.domain, ident.name, ident.version)


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(round(seconds * 1e6) * 1000)  # microseconds, as flyteadmin's database keeps them
    return ts


def validate_identifier(ident: identifier_pb2.Identifier, what: str = "id") -> None:
    """flyteadmin's ValidateIdentifierFieldsSet: every part must be present."""
    for part in ("project", "domain", "name", "version"):
        if not getattr(ident, part):
            raise InvalidArgument(f"missing {part}")


class EntityStore:
    """Thread-safe store; ``on_change(kind, key, bytes, created_at, state)`` persists when configured."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str, Key, bytes, float, int], None] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._seq = 0
        self._on_change = on_change
        self.tasks: _Table[task_pb2.Task] = _Table("task")
        self.workflows: _Table[workflow_pb2.Workflow] = _Table("workflow")
        self.launch_plans: _Table[launch_plan_pb2.LaunchPlan] = _Table("launch_plan")
        self.projects: dict[str, project_pb2.Project] = {}
        for name in DEFAULT_PROJECTS:
            self.register_project(project_pb2.Project(id=name, name=name), persist=False, exist_ok=True)

    # -- projects ---------------------------------------------------------------------------------
    def register_project(
        self, project: project_pb2.Project, *, persist: bool = True, exist_ok: bool = False
    ) -> None:
        if not project.id:
            raise InvalidArgument("missing project_id")
        with self._lock:
            if project.id in self.projects:
                if exist_ok:
                    return
                raise AlreadyExists(f"project with id [{project.id}] already exists")
            stored = project_pb2.Project()
            stored.CopyFrom(project)
            if not stored.name:
                stored.name = stored.id
            del stored.domains[:]
            stored.domains.extend(project_pb2.Domain(id=d, name=d) for d in DOMAINS)
            self.projects[project.id] = stored
            if persist and self._on_change is not None:
                self._on_change("project", (project.id, "", "", ""), stored.SerializeToString(), 0.0, 0)

    def register_project_if_missing(self, project_id: str) -> None:
        self.register_project(project_pb2.Project(id=project_id, name=project_id), exist_ok=True)

    def get_project(self, project_id: str) -> project_pb2.Project:
        with self._lock:
            found = self.projects.get(project_id)
        if found is None:
            raise NotFound(f"project [{project_id}] not found")
        return found

    def check_project_domain(self, project: str, domain: str) -> None:
        """flyteadmin's ValidateProjectAndDomain (INVALID_ARGUMENT, as flyteadmin answers)."""
        with self._lock:
            known = project in self.projects
        if not known or domain not in DOMAINS:
            raise InvalidArgument(
                f"failed to validate that project [{project}] and domain [{domain}] are registered"
            )

    # -- generic helpers --------------------------------------------------------------------------
    def _insert(self, table: _Table[M], key: Key, message: M, state: int = 0) -> EntityRecord[M]:
        existing = table.rows.get(key)
        if existing is not None:
            if _same(existing.message, message, table.kind):
                raise AlreadyExists(f"{table.kind} with identical structure already exists")
            raise InvalidArgument(f"{table.kind} with different structure already exists")
        self._seq += 1
        record = EntityRecord(key, message, self._clock(), self._seq, state)
        table.rows[key] = record
        self._persist(table.kind, record)
        return record

    def _persist(self, kind: str, record: EntityRecord[Any]) -> None:
        if self._on_change is not None:
            self._on_change(
                kind, record.key, record.message.SerializeToString(), record.created_at, record.state
            )

    def restore(self, kind: str, key: Key, data: bytes, created_at: float, state: int) -> None:
        """Load one persisted row (no validation, no persistence)."""
        with self._lock:
            if kind == "project":
                self.projects[key[0]] = project_pb2.Project.FromString(data)
                return
            self._seq += 1
            if kind == "task":
                self.tasks.rows[key] = EntityRecord(
                    key, task_pb2.Task.FromString(data), created_at, self._seq
                )
            elif kind == "workflow":
                wf = workflow_pb2.Workflow.FromString(data)
                self.workflows.rows[key] = EntityRecord(key, wf, created_at, self._seq)
            elif kind == "launch_plan":
                lp = launch_plan_pb2.LaunchPlan.FromString(data)
                self.launch_plans.rows[key] = EntityRecord(key, lp, created_at, self._seq, state)

    @staticmethod
    def _get(table: _Table[M], ident: identifier_pb2.Identifier) -> EntityRecord[M]:
        validate_identifier(ident)
        found = table.rows.get(key_of(ident))
        if found is None:
            raise NotFound(
                f"entity not found: {table.kind} {ident.project}/{ident.domain}/{ident.name}/{ident.version}"
            )
        return found

    # -- tasks ------------------------------------------------------------------------------------
    def create_task(self, request: task_pb2.TaskCreateRequest) -> None:
        validate_identifier(request.id)
        if not request.HasField("spec") or not request.spec.HasField("template"):
            raise InvalidArgument("missing spec")
        self.check_project_domain(request.id.project, request.id.domain)
        template = type(request.spec.template)()
        template.CopyFrom(request.spec.template)
        template.id.CopyFrom(request.id)
        template.id.resource_type = identifier_pb2.TASK
        with self._lock:
            task = task_pb2.Task(id=template.id, short_description=request.spec.description.short_description)
            task.closure.compiled_task.template.CopyFrom(template)
            self._seq_stamp(task.closure.created_at)
            self._insert(self.tasks, key_of(request.id), task)

    def _seq_stamp(self, ts: Any) -> None:
        ts.CopyFrom(timestamp(self._clock()))

    def get_task(self, ident: identifier_pb2.Identifier) -> task_pb2.Task:
        with self._lock:
            return self._get(self.tasks, ident).message

    # -- workflows --------------------------------------------------------------------------------
    def create_workflow(self, request: workflow_pb2.WorkflowCreateRequest) -> None:
        validate_identifier(request.id)
        if not request.HasField("spec") or not request.spec.HasField("template"):
            raise InvalidArgument("missing spec")
        self.check_project_domain(request.id.project, request.id.domain)
        with self._lock:
            primary = core_workflow_pb2.WorkflowTemplate()
            primary.CopyFrom(request.spec.template)
            primary.id.CopyFrom(request.id)
            primary.id.resource_type = identifier_pb2.WORKFLOW
            closure = compiler_pb2.CompiledWorkflowClosure()
            closure.primary.template.CopyFrom(primary)
            _connect(primary, closure.primary.connections)
            for sub in request.spec.sub_workflows:
                compiled = closure.sub_workflows.add()
                compiled.template.CopyFrom(sub)
                _connect(sub, compiled.connections)
            task_ids: dict[Key, identifier_pb2.Identifier] = {}
            for template in (primary, *request.spec.sub_workflows):
                for node in _walk_nodes(template.nodes):
                    if node.HasField("task_node") and node.task_node.HasField("reference_id"):
                        task_ids[key_of(node.task_node.reference_id)] = node.task_node.reference_id
            for key, ref in sorted(task_ids.items()):
                task = self.tasks.rows.get(key)
                if task is None:
                    raise InvalidArgument(
                        "failed to compile workflow: task "
                        f"{ref.project}/{ref.domain}/{ref.name}/{ref.version} is not registered"
                    )
                closure.tasks.add().template.CopyFrom(task.message.closure.compiled_task.template)
            wf = workflow_pb2.Workflow(
                id=primary.id, short_description=request.spec.description.short_description
            )
            wf.closure.compiled_workflow.CopyFrom(closure)
            self._seq_stamp(wf.closure.created_at)
            self._insert(self.workflows, key_of(request.id), wf)

    def get_workflow(self, ident: identifier_pb2.Identifier) -> workflow_pb2.Workflow:
        with self._lock:
            return self._get(self.workflows, ident).message

    # -- launch plans -----------------------------------------------------------------------------
    def create_launch_plan(
        self, request: launch_plan_pb2.LaunchPlanCreateRequest, *, active: bool = False
    ) -> None:
        validate_identifier(request.id)
        if not request.HasField("spec"):
            raise InvalidArgument("missing spec")
        validate_identifier(request.spec.workflow_id)
        self.check_project_domain(request.id.project, request.id.domain)
        with self._lock:
            wf = self._get(self.workflows, request.spec.workflow_id).message
            interface = wf.closure.compiled_workflow.primary.template.interface
            for name in request.spec.default_inputs.parameters:
                if name not in interface.inputs.variables:
                    raise InvalidArgument(
                        f"invalid launch plan default input: {name} is not a workflow input"
                    )
            lp_id = identifier_pb2.Identifier()
            lp_id.CopyFrom(request.id)
            lp_id.resource_type = identifier_pb2.LAUNCH_PLAN
            lp = launch_plan_pb2.LaunchPlan(id=lp_id, spec=request.spec)
            closure = lp.closure
            closure.expected_inputs.CopyFrom(request.spec.default_inputs)
            closure.expected_outputs.CopyFrom(interface.outputs)
            self._seq_stamp(closure.created_at)
            closure.updated_at.CopyFrom(closure.created_at)
            closure.state = launch_plan_pb2.INACTIVE
            self._insert(self.launch_plans, key_of(request.id), lp)
        if active:
            self.update_launch_plan(lp_id, launch_plan_pb2.ACTIVE)

    def get_launch_plan(self, ident: identifier_pb2.Identifier) -> launch_plan_pb2.LaunchPlan:
        with self._lock:
            return self._get(self.launch_plans, ident).message

    def update_launch_plan(self, ident: identifier_pb2.Identifier, state: int) -> None:
        """Activating a version deactivates the other versions of that launch plan (as flyteadmin)."""
        with self._lock:
            record = self._get(self.launch_plans, ident)
            now = timestamp(self._clock())
            if state == launch_plan_pb2.ACTIVE:
                for other in self.launch_plans.rows.values():
                    if other is not record and other.key[:3] == record.key[:3] and other.state:
                        other.state = launch_plan_pb2.INACTIVE
                        other.message.closure.state = launch_plan_pb2.INACTIVE
                        other.message.closure.updated_at.CopyFrom(now)
                        self._persist("launch_plan", other)
            record.state = state
            record.message.closure.state = state
            record.message.closure.updated_at.CopyFrom(now)
            self._persist("launch_plan", record)

    def single_task_launch_plan(
        self, task_id: identifier_pb2.Identifier, execution_spec: execution_pb2.ExecutionSpec
    ) -> tuple[launch_plan_pb2.LaunchPlan, identifier_pb2.Identifier]:
        """flyteadmin's CreateOrGetWorkflowModel + CreateOrGetLaunchPlan for a single-task execution.

        The task must exist (NOT_FOUND otherwise). Returns the generated launch plan and the generated
        workflow's id (the launch plan's own ``workflow_id`` names the task, as in flyteadmin).
        """
        with self._lock:
            task = self._get(self.tasks, task_id).message
            wf_request = skeleton_workflow(task_id, task)
            if key_of(wf_request.id) not in self.workflows.rows:
                self.create_workflow(wf_request)
            wf = self.workflows.rows[key_of(wf_request.id)].message
            existing = self.launch_plans.rows.get(
                (task_id.project, task_id.domain, wf_request.id.name, task_id.version)
            )
            if existing is not None:
                return existing.message, wf.id
            lp = skeleton_launch_plan(
                task_id, wf.closure.compiled_workflow.primary.template.interface, execution_spec
            )
            self._seq_stamp(lp.closure.created_at)
            lp.closure.updated_at.CopyFrom(lp.closure.created_at)
            lp.closure.state = launch_plan_pb2.INACTIVE
            self._insert(self.launch_plans, key_of(lp.id), lp)
            return lp, wf.id

    def get_active_launch_plan(self, ident: common_pb2.NamedEntityIdentifier) -> launch_plan_pb2.LaunchPlan:
        _require_named(ident)
        with self._lock:
            for record in self.launch_plans.rows.values():
                if record.key[:3] == (ident.project, ident.domain, ident.name) and record.state:
                    return record.message
        raise NotFound(f"no active launch plan version for {ident.project}/{ident.domain}/{ident.name}")

    def active_launch_plans(
        self, project: str, domain: str
    ) -> list[EntityRecord[launch_plan_pb2.LaunchPlan]]:
        with self._lock:
            return [r for r in self.launch_plans.rows.values() if r.key[:2] == (project, domain) and r.state]

    # -- listing ----------------------------------------------------------------------------------
    def rows(self, kind: str) -> list[EntityRecord[Any]]:
        table = {"task": self.tasks, "workflow": self.workflows, "launch_plan": self.launch_plans}[kind]
        with self._lock:
            return list(table.rows.values())


def _require_named(ident: common_pb2.NamedEntityIdentifier) -> None:
    for part in ("project", "domain", "name"):
        if not getattr(ident, part):
            raise InvalidArgument(f"missing {part}")


def _same(a: pb_message.Message, b: pb_message.Message, kind: str) -> bool:
    """Compare specs, ignoring creation timestamps (flyteadmin compares digests of the spec)."""
    a2, b2 = type(a)(), type(b)()
    a2.CopyFrom(a)
    b2.CopyFrom(b)
    for msg in (a2, b2):
        closure = getattr(msg, "closure", None)
        if closure is not None:
            for name in ("created_at", "updated_at", "state"):
                if closure.DESCRIPTOR.fields_by_name.get(name) is not None:
                    closure.ClearField(name)
    return bool(a2 == b2)


def _walk_nodes(nodes: Iterable[core_workflow_pb2.Node]) -> Iterator[core_workflow_pb2.Node]:
    for node in nodes:
        yield node
        if node.HasField("branch_node"):
            ifelse = node.branch_node.if_else
            inner = [ifelse.case.then_node, *(c.then_node for c in ifelse.other)]
            if ifelse.HasField("else_node"):
                inner.append(ifelse.else_node)
            yield from _walk_nodes(inner)
        if node.HasField("array_node"):
            yield from _walk_nodes([node.array_node.node])


def _connect(template: core_workflow_pb2.WorkflowTemplate, connections: compiler_pb2.ConnectionSet) -> None:
    """Upstream/downstream edges from each node's upstream ids and input bindings."""
    upstream: dict[str, set[str]] = {}
    for node in template.nodes:
        deps = set(node.upstream_node_ids)
        for binding in node.inputs:
            if binding.binding.HasField("promise"):
                # node id "" means the workflow's inputs; flytepropeller's compiler reads it as start-node
                deps.add(binding.binding.promise.node_id or "start-node")
        upstream[node.id] = deps
    end_deps = {b.binding.promise.node_id for b in template.outputs if b.binding.HasField("promise")}
    if end_deps:
        upstream["end-node"] = end_deps
    downstream: dict[str, set[str]] = {}
    for node_id, deps in upstream.items():
        for dep in deps:
            downstream.setdefault(dep, set()).add(node_id)
    for node_id, deps in upstream.items():
        if deps:
            connections.upstream[node_id].ids.extend(sorted(deps))
    for node_id, deps in downstream.items():
        connections.downstream[node_id].ids.extend(sorted(deps))


def entity_column(record: EntityRecord[Any], entity: str, column: str) -> Any:
    """Column values for entity list filters and sorting."""
    project, domain, name, version = record.key
    if column == "project":
        return project
    if column == "domain":
        return domain
    if column == "name":
        return name
    if column == "version":
        return version
    if column in ("created_at", "updated_at"):
        return flt.micros(record.created_at)
    if column == "state":
        return str(record.state)
    raise InvalidArgument(f"filtering or sorting on '{entity}.{column}' is not supported by the emulator")


def list_entities(
    rows: list[EntityRecord[Any]],
    entity: str,
    project: str,
    domain: str,
    name: str,
    filters: str,
    sort: common_pb2.Sort | None,
    limit: int,
    token: str,
) -> tuple[list[EntityRecord[Any]], str]:
    """flyteadmin's list rules for tasks/workflows/launch plans: validate, filter, sort, page."""
    check_list_request(project, domain, limit)
    offset = parse_token(token)
    parsed = flt.parse_filters(filters, entity)
    selected = []
    for record in rows:
        if record.key[0] != project or record.key[1] != domain or (name and record.key[2] != name):
            continue
        if flt.matches_all(parsed, functools.partial(entity_column, record)):
            selected.append(record)
    selected.sort(key=lambda r: r.seq)
    if sort is not None:
        check_sort(sort, flt.COLUMNS[entity])
        selected.sort(
            key=lambda r: (entity_column(r, entity, sort.key), r.seq),
            reverse=sort.direction == common_pb2.Sort.DESCENDING,
        )
    page = selected[offset : offset + limit]
    return page, (str(offset + len(page)) if len(page) == limit else "")


def check_list_request(project: str, domain: str, limit: int) -> None:
    """What flyteadmin checks first in every project/domain list request, in its order."""
    if not project:
        raise InvalidArgument("missing project")
    if not domain:
        raise InvalidArgument("missing domain")
    if limit <= 0:
        raise InvalidArgument("invalid value for limit")


def parse_token(token: str) -> int:
    if not token:
        return 0
    try:
        offset = int(token)
    except ValueError:
        raise InvalidArgument(f"invalid pagination token {token}") from None
    if offset < 0:
        raise InvalidArgument(f"Invalid token value: {token}")
    return offset


def check_sort(sort: common_pb2.Sort, columns: frozenset[str]) -> None:
    if sort.key not in columns:
        raise InvalidArgument(f"invalid sort key '{sort.key}'")
