"""GetExecutionMetrics: the span tree flyteadmin's MetricsManager builds, over the derived executions.

The structure follows flyteadmin v1.16.8 (``metrics_manager.go``): a workflow span (created → updated)
holding WORKFLOW_SETUP (created → start-node updated), one span per node execution (each led by
NODE_TRANSITION from its latest upstream node), and WORKFLOW_TEARDOWN (latest node before end-node →
execution updated). Task nodes hold NODE_SETUP, their task execution spans (TASK_SETUP, TASK_RUNTIME,
TASK_TEARDOWN) and NODE_TEARDOWN. ``depth`` limits how far down spans are broken out, as there.
Only task nodes are broken down further; other node kinds get their node span without children.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flyteidl.admin import execution_pb2, node_execution_pb2, task_execution_pb2
from flyteidl.core import compiler_pb2, metrics_pb2
from google.protobuf import timestamp_pb2

from .nodes import END_NODE, START_NODE

Timestamp = timestamp_pb2.Timestamp


def _op(start: Timestamp, end: Timestamp, operation: str) -> metrics_pb2.Span:
    return metrics_pb2.Span(start_time=start, end_time=end, operation_id=operation)


def _later(a: Timestamp, b: Timestamp) -> bool:
    return (a.seconds, a.nanos) > (b.seconds, b.nanos)


def _latest_upstream(
    node_id: str,
    connections: compiler_pb2.ConnectionSet,
    nodes: Mapping[str, node_execution_pb2.NodeExecution],
) -> node_execution_pb2.NodeExecution | None:
    best: node_execution_pb2.NodeExecution | None = None
    if node_id in connections.upstream:
        for upstream_id in connections.upstream[node_id].ids:
            candidate = nodes.get(upstream_id)
            if candidate is None:
                continue
            if best is None or _later(candidate.closure.updated_at, best.closure.updated_at):
                best = candidate
    return best


def _task_span(te: task_execution_pb2.TaskExecution) -> metrics_pb2.Span:
    c = te.closure
    spans = []
    if not c.HasField("started_at") or c.started_at == Timestamp():
        spans.append(_op(c.created_at, c.updated_at, "TASK_SETUP"))
    else:
        spans.append(_op(c.created_at, c.started_at, "TASK_SETUP"))
        if not c.HasField("duration") or (c.duration.seconds == 0 and c.duration.nanos == 0):
            spans.append(_op(c.started_at, c.updated_at, "TASK_RUNTIME"))
        else:
            end = Timestamp()
            end.FromNanoseconds(c.started_at.ToNanoseconds() + c.duration.ToNanoseconds())
            spans.append(_op(c.started_at, end, "TASK_RUNTIME"))
            if not _later(end, c.updated_at):
                spans.append(_op(end, c.updated_at, "TASK_TEARDOWN"))
    return metrics_pb2.Span(start_time=c.created_at, end_time=c.updated_at, task_id=te.id, spans=spans)


def _node_span(
    ne: node_execution_pb2.NodeExecution,
    tasks: Sequence[task_execution_pb2.TaskExecution],
    is_task_node: bool,
    depth: int,
) -> metrics_pb2.Span:
    spans: list[metrics_pb2.Span] = []
    c = ne.closure
    if depth != 0 and is_task_node:
        if not tasks:
            spans.append(_op(c.created_at, c.updated_at, "NODE_SETUP"))
        else:
            ordered = sorted(tasks, key=lambda t: t.closure.created_at.ToNanoseconds())
            spans.append(_op(c.created_at, ordered[0].closure.created_at, "NODE_SETUP"))
            for i, te in enumerate(ordered):
                if i > 0:
                    spans.append(_op(ordered[i - 1].closure.updated_at, te.closure.created_at, "NODE_RESET"))
                if depth - 1 != 0:
                    spans.append(_task_span(te))
            if not _later(ordered[-1].closure.updated_at, c.updated_at):
                spans.append(_op(ordered[-1].closure.updated_at, c.updated_at, "NODE_TEARDOWN"))
    return metrics_pb2.Span(start_time=c.created_at, end_time=c.updated_at, node_id=ne.id, spans=spans)


def execution_span(
    execution: execution_pb2.Execution,
    compiled: compiler_pb2.CompiledWorkflowClosure,
    nodes: Sequence[node_execution_pb2.NodeExecution],
    tasks: Mapping[str, Sequence[task_execution_pb2.TaskExecution]],
    task_nodes: frozenset[str],
    depth: int,
) -> metrics_pb2.Span:
    """The workflow span; ``tasks`` by node id, ``task_nodes``: ids of the workflow's task nodes."""
    c = execution.closure
    spans: list[metrics_pb2.Span] = []
    if depth != 0:
        by_id = {ne.id.node_id: ne for ne in nodes}
        start = by_id.get(START_NODE)
        if start is None or start.closure.updated_at == Timestamp():
            spans.append(_op(c.created_at, c.updated_at, "WORKFLOW_SETUP"))
        else:
            spans.append(_op(c.created_at, start.closure.updated_at, "WORKFLOW_SETUP"))
            connections = compiled.primary.connections
            for ne in sorted(nodes, key=lambda n: n.closure.created_at.ToNanoseconds()):
                spec_id = ne.metadata.spec_node_id
                if spec_id in (START_NODE, END_NODE):
                    continue
                span = _node_span(ne, tasks.get(spec_id, ()), spec_id in task_nodes, depth - 1)
                upstream = _latest_upstream(spec_id, connections, by_id)
                if upstream is not None:
                    transition = _op(upstream.closure.updated_at, ne.closure.created_at, "NODE_TRANSITION")
                    span.spans.insert(0, transition)
                spans.append(span)
            last = _latest_upstream(END_NODE, connections, by_id)
            if last is not None and not _later(last.closure.updated_at, c.updated_at):
                spans.append(_op(last.closure.updated_at, c.updated_at, "WORKFLOW_TEARDOWN"))
    return metrics_pb2.Span(
        start_time=c.created_at, end_time=c.updated_at, workflow_id=execution.id, spans=spans
    )


__all__ = ["execution_span"]
