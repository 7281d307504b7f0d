"""Wire forms of derived node and task executions (admin.NodeExecution, admin.TaskExecution) and their
filter columns, as flyteadmin's transformers build them from its node/task execution rows.

Each task node that started has one task execution (retry attempt 0); recovered nodes have none, as
propeller copies their outputs instead of running them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flyteidl.admin import node_execution_pb2, task_execution_pb2
from flyteidl.core import catalog_pb2, identifier_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2

from . import filters as flt
from .entities import timestamp
from .errors import InvalidArgument
from .nodes import N_ABORTED, N_FAILED, N_RECOVERED, N_RUNNING, N_SUCCEEDED, N_TIMED_OUT, NodeRun, RunState
from .nodes import execution_error as _execution_error
from .scripting import PHASE_NAMES
from .wire import trim_error_message

TaskPhase = core_execution_pb2.TaskExecution.Phase
_TASK_PHASE = {
    N_RUNNING: TaskPhase.Value("RUNNING"),
    N_SUCCEEDED: TaskPhase.Value("SUCCEEDED"),
    N_FAILED: TaskPhase.Value("FAILED"),
    N_ABORTED: TaskPhase.Value("ABORTED"),
    N_TIMED_OUT: TaskPhase.Value("ABORTED"),  # propeller aborts the task when the node times out
}
_NODE_PHASE_NAME = core_execution_pb2.NodeExecution.Phase.Name
_TASK_PHASE_NAME = TaskPhase.Name


def node_execution_id(run: RunState, node_id: str) -> identifier_pb2.NodeExecutionIdentifier:
    return identifier_pb2.NodeExecutionIdentifier(node_id=node_id, execution_id=run.execution_id)


def _uri(run: RunState, node_id: str, leaf: str) -> str:
    return f"emulator://{run.project}/{run.domain}/{run.name}/{node_id}/{leaf}"


def node_execution_proto(
    run: RunState, node: NodeRun, *, trim_error: bool = False
) -> node_execution_pb2.NodeExecution:
    """``trim_error``: list form (flyteadmin cuts list errors to 100 bytes)."""
    ne = node_execution_pb2.NodeExecution(id=node_execution_id(run, node.node_id))
    ne.input_uri = _uri(run, node.node_id, "inputs.pb")
    c = ne.closure
    c.phase = node.phase
    c.created_at.CopyFrom(timestamp(node.created_at))
    c.updated_at.CopyFrom(timestamp(node.updated_at))
    if node.started_at is not None:
        c.started_at.CopyFrom(timestamp(node.started_at))
        if node.ended_at is not None:
            c.duration.FromNanoseconds(round((node.ended_at - node.started_at) * 1e6) * 1000)
    if node.error is not None:
        c.error.CopyFrom(_execution_error(node.error))
        if trim_error:
            c.error.message = trim_error_message(c.error.message)
    elif node.outputs is not None:
        c.output_uri = _uri(run, node.node_id, "outputs.pb")
    if node.kind == "task_node":
        status = catalog_pb2.CACHE_DISABLED if node.phase != N_RECOVERED else catalog_pb2.CACHE_SKIPPED
        c.task_node_metadata.cache_status = status
    meta = ne.metadata
    meta.spec_node_id = node.node_id
    meta.is_parent_node = node.kind in ("branch_node", "workflow_node")
    meta.is_array = node.kind == "array_node"
    return ne


def node_data(node: NodeRun) -> node_execution_pb2.NodeExecutionGetDataResponse:
    response = node_execution_pb2.NodeExecutionGetDataResponse()
    response.full_inputs.CopyFrom(node.inputs)
    if node.outputs is not None:
        response.full_outputs.CopyFrom(node.outputs)
    return response


def has_task_execution(node: NodeRun) -> bool:
    return node.task is not None and node.kind == "task_node" and node.phase in _TASK_PHASE


def task_execution_id(run: RunState, node: NodeRun) -> identifier_pb2.TaskExecutionIdentifier:
    assert node.task is not None
    return identifier_pb2.TaskExecutionIdentifier(
        task_id=node.task.id, node_execution_id=node_execution_id(run, node.node_id), retry_attempt=0
    )


def task_execution_proto(run: RunState, node: NodeRun) -> task_execution_pb2.TaskExecution:
    """The node's single attempt; its times are the node's (no setup or teardown overhead)."""
    assert node.task is not None
    te = task_execution_pb2.TaskExecution(id=task_execution_id(run, node))
    te.input_uri = _uri(run, node.node_id, "inputs.pb")
    c = te.closure
    c.phase = _TASK_PHASE[node.phase]
    c.task_type = node.task.type
    c.event_version = 1
    c.created_at.CopyFrom(timestamp(node.created_at))
    c.updated_at.CopyFrom(timestamp(node.updated_at))
    if node.started_at is not None:
        c.started_at.CopyFrom(timestamp(node.started_at))
        if node.ended_at is not None:
            c.duration.FromNanoseconds(round((node.ended_at - node.started_at) * 1e6) * 1000)
    if node.error is not None:
        c.error.CopyFrom(_execution_error(node.error))
    elif node.outputs is not None:
        c.output_uri = _uri(run, node.node_id, "0/outputs.pb")
    return te


def task_data(node: NodeRun) -> task_execution_pb2.TaskExecutionGetDataResponse:
    response = task_execution_pb2.TaskExecutionGetDataResponse()
    response.full_inputs.CopyFrom(node.inputs)
    if node.outputs is not None:
        response.full_outputs.CopyFrom(node.outputs)
    return response


def _micros(seconds: float | None) -> int | None:
    return flt.micros(seconds)


_NODE_COLUMNS: dict[str, Callable[[RunState, NodeRun], Any]] = {
    "execution_project": lambda r, n: r.project,
    "execution_domain": lambda r, n: r.domain,
    "execution_name": lambda r, n: r.name,
    "node_id": lambda r, n: n.node_id,
    "phase": lambda r, n: _NODE_PHASE_NAME(n.phase),
    "created_at": lambda r, n: _micros(n.created_at),
    "node_execution_created_at": lambda r, n: _micros(n.created_at),
    "updated_at": lambda r, n: _micros(n.updated_at),
    "node_execution_updated_at": lambda r, n: _micros(n.updated_at),
    "started_at": lambda r, n: _micros(n.started_at),
    "duration": lambda r, n: (n.ended_at - n.started_at) if n.ended_at and n.started_at else 0.0,
    "error_kind": lambda r, n: n.error[2] if n.error else None,
    "error_code": lambda r, n: n.error[0] if n.error else None,
}
_EXECUTION_COLUMNS: dict[str, Callable[[RunState], Any]] = {
    "execution_project": lambda r: r.project,
    "execution_domain": lambda r: r.domain,
    "execution_name": lambda r: r.name,
    "phase": lambda r: PHASE_NAMES[r.phase],
}


def node_column(run: RunState, node: NodeRun, entity: str, column: str) -> Any:
    """Values for ListNodeExecutions filters and sort keys (flyteadmin column names)."""
    if entity == flt.NODE_EXECUTION and column in _NODE_COLUMNS:
        return _NODE_COLUMNS[column](run, node)
    if entity == flt.EXECUTION and column in _EXECUTION_COLUMNS:
        return _EXECUTION_COLUMNS[column](run)
    raise InvalidArgument(f"filtering or sorting on '{entity}.{column}' is not supported by the emulator")


def task_column(run: RunState, node: NodeRun, entity: str, column: str) -> Any:
    """Values for ListTaskExecutions filters (the task's id columns, else the node's)."""
    if entity == flt.TASK_EXECUTION:
        assert node.task is not None
        task_id = node.task.id
        if column in ("project", "domain", "name", "version"):
            return getattr(task_id, column)
        if column == "retry_attempt":
            return "0"
        if column == "phase":
            return _TASK_PHASE_NAME(_TASK_PHASE[node.phase])
        if column in ("task_execution_created_at", "task_execution_updated_at"):
            column = column.replace("task_execution_", "")
        entity = flt.NODE_EXECUTION
    return node_column(run, node, entity, column)


__all__ = [
    "has_task_execution",
    "node_column",
    "node_data",
    "node_execution_id",
    "node_execution_proto",
    "task_column",
    "task_data",
    "task_execution_id",
    "task_execution_proto",
]
