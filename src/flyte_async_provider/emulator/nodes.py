"""Node and task executions derived from one workflow execution's record and its compiled workflow.

flyteadmin stores node executions from propeller's events; the emulator has no propeller, so it
derives them, on every read, from what the execution record says (phase, timestamps, error,
inputs/outputs) and the registered workflow's nodes. Scripted and real runs share the record, so both
get the same node executions. The derivation is a pure function of ``RunState``:

- before RUNNING there are none (propeller has not picked the execution up);
- RUNNING (and ABORTING): start-node SUCCEEDED, the first level of nodes RUNNING;
- SUCCEEDING/SUCCEEDED: every node SUCCEEDED, then end-node; the running time is split evenly between
  the topological levels of the workflow;
- FAILING/FAILED, TIMED_OUT: one node ends as the workflow did (FAILED with the execution's error, or
  TIMED_OUT): the task flytekit names in the error (a real run's), else the last node in topological
  order; the levels before it SUCCEEDED, its own level's other nodes too, later ones never started;
  no end-node;
- ABORTED: the nodes that were RUNNING are ABORTED.
- a real run waiting at a top-level gate node (``RunState.gate``): the nodes before it (local
  execution runs them in their order) SUCCEEDED, the gate RUNNING since the run reached it, later
  ones not started; once the signal came, the gate SUCCEEDED (later nodes show when the run ends);
  a run that ends there (the gate timed out or was rejected) fails on the gate node.

A recovered execution (``mode=RECOVERED``) shows the nodes its source execution completed as
RECOVERED. Node outputs come from the workflow outputs they are bound to, else a default of their
type; node inputs are resolved from their bindings. Launch-plan nodes (child executions) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flyteidl.admin import execution_pb2
from flyteidl.core import compiler_pb2, identifier_pb2, interface_pb2, literals_pb2, tasks_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import workflow_pb2 as core_workflow_pb2

from .literals import default_literal
from .rungates import REJECTED
from .scripting import ABORTED, FAILED, FAILING, RUNNING, SUCCEEDED, SUCCEEDING, TIMED_OUT

START_NODE = "start-node"
END_NODE = "end-node"

NodePhase = core_execution_pb2.NodeExecution.Phase
N_RUNNING = NodePhase.Value("RUNNING")
N_SUCCEEDED = NodePhase.Value("SUCCEEDED")
N_FAILED = NodePhase.Value("FAILED")
N_ABORTED = NodePhase.Value("ABORTED")
N_TIMED_OUT = NodePhase.Value("TIMED_OUT")
N_RECOVERED = NodePhase.Value("RECOVERED")
N_TERMINAL = frozenset({N_SUCCEEDED, N_FAILED, N_ABORTED, N_TIMED_OUT, N_RECOVERED})
_ERROR_KIND = {"UNKNOWN": 0, "USER": 1, "SYSTEM": 2}


@dataclass(frozen=True)
class GateWait:
    """A real run at a gate node: the signal it waits for, since when, and when the value came."""

    signal_id: str
    since: float
    passed_at: float | None = None


@dataclass(frozen=True)
class RunState:
    """What the derivation reads of an execution, copied out of the backend under its lock."""

    project: str
    domain: str
    name: str
    phase: int
    created_at: float
    updated_at: float
    started_at: float | None
    duration: float | None
    error: tuple[str, str, str] | None  # (code, message, kind); while FAILING: the scripted error
    inputs: literals_pb2.LiteralMap
    outputs: literals_pb2.LiteralMap | None
    workflow_id: identifier_pb2.Identifier
    mode: int = execution_pb2.ExecutionMetadata.MANUAL
    reference: identifier_pb2.WorkflowExecutionIdentifier | None = None
    gate: GateWait | None = None

    @property
    def execution_id(self) -> identifier_pb2.WorkflowExecutionIdentifier:
        return identifier_pb2.WorkflowExecutionIdentifier(
            project=self.project, domain=self.domain, name=self.name
        )


@dataclass
class NodeRun:
    """One derived node execution (top level only: parent nodes list no children)."""

    node_id: str
    kind: str  # the Node's target: task_node, branch_node, gate_node, array_node, workflow_node, or ""
    level: int
    order: int
    phase: int
    created_at: float
    started_at: float | None
    ended_at: float | None
    error: tuple[str, str, str] | None = None
    inputs: literals_pb2.LiteralMap = field(default_factory=literals_pb2.LiteralMap)
    outputs: literals_pb2.LiteralMap | None = None
    task: tasks_pb2.TaskTemplate | None = None

    @property
    def updated_at(self) -> float:
        return self.ended_at if self.ended_at is not None else self.created_at

    @property
    def terminal(self) -> bool:
        return self.phase in N_TERMINAL


@dataclass(frozen=True)
class _Node:
    node: core_workflow_pb2.Node
    kind: str
    level: int
    order: int
    task: tasks_pb2.TaskTemplate | None
    outputs: interface_pb2.VariableMap  # the node's declared outputs (task or sub-workflow interface)


def derive(
    run: RunState,
    compiled: compiler_pb2.CompiledWorkflowClosure,
    recovered_from: Mapping[str, NodeRun] | None = None,
) -> list[NodeRun]:
    """The node executions flyteadmin would list for ``run`` now, in creation order."""
    if run.started_at is None or run.phase < RUNNING:
        return []
    nodes = _ordered_nodes(compiled)
    start = run.started_at
    end = _activity_end(run)
    levels = max((n.level for n in nodes), default=0)
    gate = _gate_node(run, nodes)
    failing = gate.node.id if gate is not None and _failed_at_gate(run) else _failing_node(run, nodes)
    succeeded = run.phase in (SUCCEEDING, SUCCEEDED)
    # the levels that ran share the running time: all of them, or up to the one that failed
    ran = levels if succeeded else next((n.level for n in nodes if n.node.id == failing), levels)
    step = (end - start) / ran if end is not None and ran else 0.0
    # start-node has no inputs; its outputs are the workflow inputs
    runs = [NodeRun(START_NODE, "", 0, -1, N_SUCCEEDED, start, start, start, outputs=run.inputs)]
    by_id: dict[str, NodeRun] = {START_NODE: runs[0]}
    for n in nodes:
        begin = start + (n.level - 1) * step
        if end is not None and n.level > ran:
            continue  # downstream of the node that failed: never started
        if end is None:  # still running (or aborting): the first level has started, or up to a gate
            unfinished = _unfinished(run, n, gate, nodes)
            if unfinished is None:
                continue
            nr = unfinished
        else:
            phase, error = _ended_phase(run, n.node.id == failing)
            nr = NodeRun(n.node.id, n.kind, n.level, n.order, phase, begin, begin, begin + step, error)
            nr.task = n.task
        source = (recovered_from or {}).get(n.node.id)
        if source is not None and source.phase in (N_SUCCEEDED, N_RECOVERED):
            nr.phase, nr.error, nr.ended_at = N_RECOVERED, None, nr.started_at
        nr.inputs = _resolve_inputs(n.node.inputs, run.inputs, by_id)
        if nr.phase in (N_SUCCEEDED, N_RECOVERED):
            copied = source.outputs if source is not None and nr.phase == N_RECOVERED else None
            nr.outputs = copied or _node_outputs(n, compiled.primary.template.outputs, run.outputs)
        by_id[n.node.id] = nr
        runs.append(nr)
    if end is not None and succeeded:
        outputs = run.outputs or literals_pb2.LiteralMap()
        end_node = NodeRun(END_NODE, "", levels + 1, len(nodes), N_SUCCEEDED, end, end, end, inputs=outputs)
        end_node.outputs = outputs
        runs.append(end_node)
    runs.sort(key=lambda r: (r.created_at, r.level, r.order))
    return runs


def _unfinished(run: RunState, n: _Node, gate: _Node | None, nodes: list[_Node]) -> NodeRun | None:
    """A node of a run that has not ended; None if it has not started."""
    start = run.started_at or run.created_at
    aborted_at = start + (run.duration or 0.0) if run.phase == ABORTED else None
    if gate is None or run.gate is None:
        if n.level != 1:
            return None
        phase = N_ABORTED if aborted_at is not None else N_RUNNING
        return NodeRun(n.node.id, n.kind, n.level, n.order, phase, start, start, aborted_at, task=n.task)
    if n.order == gate.order:
        since, passed = run.gate.since, run.gate.passed_at
        phase = N_SUCCEEDED if passed is not None else N_ABORTED if aborted_at is not None else N_RUNNING
        return NodeRun(n.node.id, n.kind, n.level, n.order, phase, since, since, passed or aborted_at)
    before = sorted(m.order for m in nodes if m.order < gate.order)
    if n.order not in before:
        return None
    step = (run.gate.since - start) / len(before)
    begin = start + before.index(n.order) * step
    return NodeRun(n.node.id, n.kind, n.level, n.order, N_SUCCEEDED, begin, begin, begin + step, task=n.task)


def _failed_at_gate(run: RunState) -> bool:
    """The run ends at its gate: no value came (a timeout, or the time limit), or it was a rejection."""
    if run.gate is None:
        return False
    return run.gate.passed_at is None or (run.error is not None and run.error[0] == REJECTED[0])


def _gate_node(run: RunState, nodes: list[_Node]) -> _Node | None:
    """The top-level gate node whose signal the run waits (or waited) for."""
    if run.gate is None:
        return None
    for n in nodes:
        if n.kind == "gate_node":
            gate = n.node.gate_node
            condition = gate.WhichOneof("condition")
            if (
                condition in ("signal", "approve")
                and getattr(gate, condition).signal_id == run.gate.signal_id
            ):
                return n
    return None


def _activity_end(run: RunState) -> float | None:
    """When the nodes stopped running, or None while they still run."""
    if run.phase in (SUCCEEDING, FAILING):
        return run.updated_at
    if run.phase in (SUCCEEDED, FAILED, TIMED_OUT) and run.started_at is not None:
        return run.started_at + (run.duration or 0.0)
    return None  # RUNNING, ABORTING, ABORTED (aborted nodes end where they were)


_FLYTEKIT_FAILURE = re.compile(r"Error encountered while executing '([^']+)'")


def _failing_node(run: RunState, nodes: list[_Node]) -> str | None:
    """The node a failure is put on: the task flytekit names in the error, else the last node.

    A real run's error says ``Error encountered while executing '<task name>'``; the task is matched
    by its last dotted part (the registered module path may differ from the one that ran).
    """
    if not nodes:
        return None
    named = _FLYTEKIT_FAILURE.findall(run.error[1]) if run.error else []
    if named:
        short = named[-1].rsplit(".", 1)[-1]
        for n in nodes:
            if n.task is not None and n.task.id.name.rsplit(".", 1)[-1] == short:
                return str(n.node.id)
    return str(nodes[-1].node.id)


def _ended_phase(run: RunState, is_failing: bool) -> tuple[int, tuple[str, str, str] | None]:
    if not is_failing or run.phase in (SUCCEEDING, SUCCEEDED):
        return N_SUCCEEDED, None
    if run.phase == TIMED_OUT:
        return N_TIMED_OUT, None
    return N_FAILED, run.error or ("USER:Error", "node failed", "USER")


def _ordered_nodes(compiled: compiler_pb2.CompiledWorkflowClosure) -> list[_Node]:
    """Top-level nodes with their topological level (1 = right after start-node), in level order."""
    template = compiled.primary.template
    upstream = {k: set(v.ids) for k, v in compiled.primary.connections.upstream.items()}
    tasks = {_key(t.template.id): t.template for t in compiled.tasks}
    subs = {_key(w.template.id): w.template for w in compiled.sub_workflows}
    index = {node.id: i for i, node in enumerate(template.nodes)}
    levels: dict[str, int] = {}

    def level(node_id: str, seen: frozenset[str]) -> int:
        if node_id not in index:
            return 0  # start-node, or "" (the workflow's inputs)
        if node_id in levels:
            return levels[node_id]
        node = template.nodes[index[node_id]]
        deps = upstream.get(node_id) or set(node.upstream_node_ids) | {
            b.binding.promise.node_id for b in node.inputs if b.binding.HasField("promise")
        }
        found = 1 + max((level(d, seen | {node_id}) for d in deps if d not in seen | {node_id}), default=0)
        levels[node_id] = found
        return found

    result = []
    for node in template.nodes:
        kind = node.WhichOneof("target") or ""
        if kind == "workflow_node" and node.workflow_node.HasField("launchplan_ref"):
            continue  # a child execution flyteadmin would link to; the emulator launches none
        task = None
        if kind == "task_node" and node.task_node.HasField("reference_id"):
            task = tasks.get(_key(node.task_node.reference_id))
        elif kind == "array_node" and node.array_node.node.task_node.HasField("reference_id"):
            task = tasks.get(_key(node.array_node.node.task_node.reference_id))
        outputs = task.interface.outputs if task is not None else interface_pb2.VariableMap()
        if kind == "workflow_node" and node.workflow_node.HasField("sub_workflow_ref"):
            sub = subs.get(_key(node.workflow_node.sub_workflow_ref))
            if sub is not None:
                outputs = sub.interface.outputs
        result.append(_Node(node, kind, level(node.id, frozenset()), index[node.id], task, outputs))
    result.sort(key=lambda n: (n.level, n.order))
    return result


def _key(ident: identifier_pb2.Identifier) -> tuple[str, str, str, str]:
    return (ident.project, ident.domain, ident.name, ident.version)


def _resolve_inputs(
    bindings: Iterable[literals_pb2.Binding],
    workflow_inputs: literals_pb2.LiteralMap,
    done: Mapping[str, NodeRun],
) -> literals_pb2.LiteralMap:
    result = literals_pb2.LiteralMap()
    for binding in bindings:
        value = _resolve(binding.binding, workflow_inputs, done)
        if value is not None:
            result.literals[binding.var].CopyFrom(value)
    return result


def _resolve(
    data: literals_pb2.BindingData,
    workflow_inputs: literals_pb2.LiteralMap,
    done: Mapping[str, NodeRun],
) -> literals_pb2.Literal | None:
    kind = data.WhichOneof("value")
    if kind == "scalar":
        return literals_pb2.Literal(scalar=data.scalar)
    if kind == "promise":
        ref = data.promise
        source = workflow_inputs if ref.node_id in ("", START_NODE) else None
        if source is None:
            upstream = done.get(ref.node_id)
            source = upstream.outputs if upstream is not None else None
        if source is not None and ref.var in source.literals:
            return source.literals[ref.var]
        return None
    if kind == "collection":
        items = [_resolve(b, workflow_inputs, done) for b in data.collection.bindings]
        return literals_pb2.Literal(
            collection=literals_pb2.LiteralCollection(literals=[i for i in items if i is not None])
        )
    if kind == "map":
        resolved = {k: _resolve(b, workflow_inputs, done) for k, b in data.map.bindings.items()}
        return literals_pb2.Literal(
            map=literals_pb2.LiteralMap(literals={k: v for k, v in resolved.items() if v is not None})
        )
    if kind == "union":
        return _resolve(data.union.value, workflow_inputs, done)
    return None


def _node_outputs(
    n: _Node, workflow_outputs: Iterable[literals_pb2.Binding], run_outputs: literals_pb2.LiteralMap | None
) -> literals_pb2.LiteralMap:
    """A node's outputs: the workflow output bound to it when there is one, else a default of its type."""
    interface = n.outputs
    bound = {
        b.binding.promise.var: b.var
        for b in workflow_outputs
        if b.binding.HasField("promise") and b.binding.promise.node_id == n.node.id
    }
    result = literals_pb2.LiteralMap()
    for var, declared in interface.variables.items():
        wf_var = bound.get(var)
        if run_outputs is not None and wf_var is not None and wf_var in run_outputs.literals:
            result.literals[var].CopyFrom(run_outputs.literals[wf_var])
        else:
            result.literals[var].CopyFrom(
                default_literal(declared.type, f"emulator://nodes/{n.node.id}/{var}")
            )
    return result


def execution_error(error: tuple[str, str, str]) -> core_execution_pb2.ExecutionError:
    code, message, kind = error
    return core_execution_pb2.ExecutionError(code=code, message=message, kind=_ERROR_KIND.get(kind, 0))


__all__ = ["END_NODE", "START_NODE", "GateWait", "NodeRun", "RunState", "derive", "execution_error"]
