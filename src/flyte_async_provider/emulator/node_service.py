"""Node/task execution RPCs and GetExecutionMetrics, with flyteadmin v1.16.8's validation and codes.

Everything is derived on each call from the execution's record (``Backend.run_state``) and its
registered workflow (nodes.py), so it cannot drift from what GetExecution says. As in flyteadmin,
listing the nodes or tasks of an unknown execution answers an empty list (a query with no rows), while
getting one answers NOT_FOUND.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flyteidl.admin import common_pb2, execution_pb2, node_execution_pb2, task_execution_pb2
from flyteidl.core import compiler_pb2, identifier_pb2

from flyte_async_provider.emulator.rpc_impl import Impl, rpc_methods, sort_of

from . import filters as flt
from .backend import Backend
from .entities import check_sort, parse_token
from .errors import InvalidArgument, NotFound
from .metrics import execution_span
from .node_wire import (
    has_task_execution,
    node_column,
    node_data,
    node_execution_proto,
    task_column,
    task_data,
    task_execution_proto,
)
from .nodes import NodeRun, RunState, derive


def _check_execution_id(ident: identifier_pb2.WorkflowExecutionIdentifier) -> None:
    for part in ("project", "domain", "name"):
        if not getattr(ident, part):
            raise InvalidArgument(f"missing {part}")


def _check_node_id(ident: identifier_pb2.NodeExecutionIdentifier) -> None:
    if not ident.HasField("execution_id"):
        raise InvalidArgument("missing execution_id")
    if not ident.node_id:
        raise InvalidArgument("missing node_id")
    _check_execution_id(ident.execution_id)


def _check_task_id(ident: identifier_pb2.TaskExecutionIdentifier) -> None:
    _check_node_id(ident.node_execution_id)
    if not ident.HasField("task_id"):
        raise InvalidArgument("missing task_id")
    for part in ("project", "domain", "name", "version"):
        if not getattr(ident.task_id, part):
            raise InvalidArgument(f"missing {part}")


def _task_key(ident: identifier_pb2.Identifier) -> tuple[str, str, str, str]:
    return (ident.project, ident.domain, ident.name, ident.version)


def _missing_task_execution(ident: identifier_pb2.TaskExecutionIdentifier) -> str:
    t, n = ident.task_id, ident.node_execution_id
    return (
        "missing entity of type task execution with identifier "
        f"task_id:{{{t.project}/{t.domain}/{t.name}/{t.version}}} node_id:{n.node_id} "
        f"execution:{n.execution_id.project}/{n.execution_id.domain}/{n.execution_id.name} "
        f"retry_attempt:{ident.retry_attempt}"
    )


def _page(
    rows: list[Any],
    rpc: str,
    filters: str,
    entity: str,
    column: Callable[[Any, str, str], Any],
    sort: common_pb2.Sort | None,
    limit: int,
    token: str,
) -> tuple[list[Any], str]:
    """flyteadmin's list steps for a derived table: filters, sort key, token, then filter/sort/page."""
    parsed = flt.parse_filters(filters, entity)
    if sort is not None:
        check_sort(sort, flt.COLUMNS[entity])
    try:
        offset = parse_token(token)
    except InvalidArgument:
        raise InvalidArgument(f"invalid pagination token {token} for {rpc}") from None
    selected = [r for r in rows if flt.matches_all(parsed, functools.partial(column, r))]
    if sort is not None:
        key = sort.key
        selected.sort(
            key=lambda r: (column(r, entity, key) is not None, column(r, entity, key)),
            reverse=sort.direction == common_pb2.Sort.DESCENDING,
        )
    page = selected[offset : offset + limit]
    return page, (str(offset + len(page)) if len(page) == limit else "")


class NodeExecutionsImpl:
    """ListNodeExecutions, GetNodeExecution(Data), List/GetTaskExecution(s)(Data), GetExecutionMetrics."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def methods(self) -> dict[str, Impl]:
        return rpc_methods(self)

    # -- derivation -------------------------------------------------------------------------------
    def _compiled(self, run: RunState) -> compiler_pb2.CompiledWorkflowClosure:
        return self.b.entities.get_workflow(run.workflow_id).closure.compiled_workflow

    def _nodes(self, ident: identifier_pb2.WorkflowExecutionIdentifier) -> tuple[RunState, list[NodeRun]]:
        run = self.b.run_state(ident)
        source = None
        if run.mode == execution_pb2.ExecutionMetadata.RECOVERED and run.reference is not None:
            try:
                _, source_nodes = self._nodes(run.reference)
            except NotFound:
                source_nodes = []
            source = {n.node_id: n for n in source_nodes}
        return run, derive(run, self._compiled(run), source)

    def _nodes_or_none(
        self, ident: identifier_pb2.WorkflowExecutionIdentifier
    ) -> tuple[RunState, list[NodeRun]] | None:
        try:
            return self._nodes(ident)
        except NotFound:
            return None

    def _node(self, ident: identifier_pb2.NodeExecutionIdentifier) -> tuple[RunState, NodeRun]:
        found = self._nodes_or_none(ident.execution_id) if ident.node_id else None
        if found is not None:
            run, nodes = found
            for node in nodes:
                if node.node_id == ident.node_id:
                    return run, node
        e = ident.execution_id
        raise NotFound(
            "missing entity of type node execution with identifier "
            f"node_id:{ident.node_id} execution_id:{{project:{e.project} domain:{e.domain} name:{e.name}}}"
        )

    def _task(self, ident: identifier_pb2.TaskExecutionIdentifier) -> tuple[RunState, NodeRun]:
        _check_task_id(ident)
        try:
            run, node = self._node(ident.node_execution_id)
        except NotFound:
            node = None
        if node is None or node.task is None or not has_task_execution(node) or ident.retry_attempt != 0:
            raise NotFound(_missing_task_execution(ident))
        if _task_key(node.task.id) != _task_key(ident.task_id):
            raise NotFound(_missing_task_execution(ident))
        return run, node

    # -- node executions --------------------------------------------------------------------------
    def ListNodeExecutions(
        self, req: node_execution_pb2.NodeExecutionListRequest, principal: str
    ) -> node_execution_pb2.NodeExecutionList:
        ident = req.workflow_execution_id
        if not (ident.project and ident.domain and ident.name):
            raise InvalidArgument("missing execution_id")
        if req.limit <= 0:
            raise InvalidArgument("invalid value for limit")
        found = self._nodes_or_none(ident)
        rows = [(found[0], n) for n in found[1]] if found is not None else []
        if req.unique_parent_id:
            parent = identifier_pb2.NodeExecutionIdentifier(node_id=req.unique_parent_id, execution_id=ident)
            self._node(parent)  # NOT_FOUND for an unknown parent, as flyteadmin
            rows = []  # parent nodes have no child node executions in the emulator
        page, token = _page(
            rows,
            "ListNodeExecutions",
            req.filters,
            flt.NODE_EXECUTION,
            lambda row, entity, column: node_column(row[0], row[1], entity, column),
            sort_of(req),
            req.limit,
            req.token,
        )
        listed = [node_execution_proto(run, n, trim_error=True) for run, n in page]
        return node_execution_pb2.NodeExecutionList(node_executions=listed, token=token)

    def GetNodeExecution(
        self, req: node_execution_pb2.NodeExecutionGetRequest, principal: str
    ) -> node_execution_pb2.NodeExecution:
        run, node = self._node(req.id)
        return node_execution_proto(run, node)

    def GetNodeExecutionData(
        self, req: node_execution_pb2.NodeExecutionGetDataRequest, principal: str
    ) -> node_execution_pb2.NodeExecutionGetDataResponse:
        _, node = self._node(req.id)
        return node_data(node)

    # -- task executions --------------------------------------------------------------------------
    def ListTaskExecutions(
        self, req: task_execution_pb2.TaskExecutionListRequest, principal: str
    ) -> task_execution_pb2.TaskExecutionList:
        _check_node_id(req.node_execution_id)
        if req.limit <= 0:
            raise InvalidArgument("invalid value for limit")
        try:
            run, node = self._node(req.node_execution_id)
            rows = [(run, node)] if has_task_execution(node) else []
        except NotFound:
            rows = []  # flyteadmin: a query with no rows
        page, token = _page(
            rows,
            "ListTaskExecutions",
            req.filters,
            flt.TASK_EXECUTION,
            lambda row, entity, column: task_column(row[0], row[1], entity, column),
            sort_of(req),
            req.limit,
            req.token,
        )
        listed = [task_execution_proto(run, n) for run, n in page]
        return task_execution_pb2.TaskExecutionList(task_executions=listed, token=token)

    def ListNodeExecutionsForTask(
        self, req: node_execution_pb2.NodeExecutionForTaskListRequest, principal: str
    ) -> node_execution_pb2.NodeExecutionList:
        """Nodes a task launched (dynamic tasks): the task execution must exist; it launched none."""
        _check_task_id(req.task_execution_id)
        if req.limit <= 0:
            raise InvalidArgument("invalid value for limit")
        self._task(req.task_execution_id)
        return node_execution_pb2.NodeExecutionList()

    def GetTaskExecution(
        self, req: task_execution_pb2.TaskExecutionGetRequest, principal: str
    ) -> task_execution_pb2.TaskExecution:
        run, node = self._task(req.id)
        return task_execution_proto(run, node)

    def GetTaskExecutionData(
        self, req: task_execution_pb2.TaskExecutionGetDataRequest, principal: str
    ) -> task_execution_pb2.TaskExecutionGetDataResponse:
        _, node = self._task(req.id)
        return task_data(node)

    # -- metrics ----------------------------------------------------------------------------------
    def GetExecutionMetrics(
        self, req: execution_pb2.WorkflowExecutionGetMetricsRequest, principal: str
    ) -> execution_pb2.WorkflowExecutionGetMetricsResponse:
        _check_execution_id(req.id)
        execution = self.b.execution(req.id.project, req.id.domain, req.id.name)
        run, nodes = self._nodes(req.id)
        compiled = self._compiled(run)
        node_protos = [node_execution_proto(run, n) for n in nodes]
        tasks = {n.node_id: [task_execution_proto(run, n)] for n in nodes if has_task_execution(n)}
        task_nodes = frozenset(n.id for n in compiled.primary.template.nodes if n.HasField("task_node"))
        span = execution_span(execution, compiled, node_protos, tasks, task_nodes, req.depth)
        return execution_pb2.WorkflowExecutionGetMetricsResponse(span=span)


__all__ = ["NodeExecutionsImpl"]
