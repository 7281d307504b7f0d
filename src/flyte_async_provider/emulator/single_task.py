"""Single-task executions: the skeleton workflow and launch plan flyteadmin generates around a task.

A CreateExecution whose ``spec.launch_plan`` names a TASK makes flyteadmin (v1.16,
``launchSingleTaskExecution``) create, on the first launch of that task version, a system-generated
workflow and launch plan both named ``.flytegen.<task name>`` (same project, domain and version), and
reuse them afterwards. The workflow has the task's interface and one node that runs the task: node
inputs bound to the workflow inputs, workflow outputs bound to the node outputs. The launch plan is
INACTIVE, has no defaults or fixed inputs, and expects every task input as *required* (a task interface
cannot carry defaults). Its ``spec.workflow_id`` names the task (with resource type WORKFLOW), not the
generated workflow: flyteadmin does exactly that, so the emulator does too.
"""

from __future__ import annotations

from flyteidl.admin import execution_pb2, launch_plan_pb2, task_pb2, workflow_pb2
from flyteidl.core import identifier_pb2, interface_pb2, literals_pb2, types_pb2

GENERATED_PREFIX = ".flytegen."
MAX_NODE_ID = 63
DEFAULT_RETRIES = 3  # flyteadmin's retry strategy for the node when the task sets none


def generated_name(task_name: str) -> str:
    """Name of the workflow and launch plan generated for a task."""
    return GENERATED_PREFIX + task_name


def node_id_for(task_name: str) -> str:
    """flyteadmin's node name: the last 63 characters, keeping letters, digits and '-' only."""
    tail = task_name[-MAX_NODE_ID:] if len(task_name) >= MAX_NODE_ID else task_name
    return "".join(c for c in tail if c == "-" or c.isalpha() or c.isnumeric())


def _generated_id(
    task_id: identifier_pb2.Identifier, resource_type: int, name: str
) -> identifier_pb2.Identifier:
    return identifier_pb2.Identifier(
        resource_type=resource_type,
        project=task_id.project,
        domain=task_id.domain,
        name=name,
        version=task_id.version,
    )


def _promise(var: str, node_id: str) -> literals_pb2.Binding:
    return literals_pb2.Binding(
        var=var, binding=literals_pb2.BindingData(promise=types_pb2.OutputReference(node_id=node_id, var=var))
    )


def skeleton_workflow(
    task_id: identifier_pb2.Identifier, task: task_pb2.Task
) -> workflow_pb2.WorkflowCreateRequest:
    """The CreateWorkflow request flyteadmin makes for a task launched on its own.

    Node inputs bind to node id "" (the workflow's inputs; the compiler reads it as start-node).
    Bindings are sorted by name (flyteadmin's order is Go map order).
    """
    template = task.closure.compiled_task.template
    wf_id = _generated_id(task_id, identifier_pb2.WORKFLOW, generated_name(task_id.name))
    node_id = node_id_for(task_id.name)
    spec = workflow_pb2.WorkflowSpec()
    wt = spec.template
    wt.id.CopyFrom(wf_id)
    wt.interface.CopyFrom(template.interface)
    node = wt.nodes.add(id=node_id)
    node.metadata.name = node_id
    if template.metadata.HasField("retries"):
        node.metadata.retries.CopyFrom(template.metadata.retries)
    else:
        node.metadata.retries.retries = DEFAULT_RETRIES
    node.inputs.extend(_promise(var, "") for var in sorted(template.interface.inputs.variables))
    node.task_node.reference_id.CopyFrom(task_id)
    wt.outputs.extend(_promise(var, node_id) for var in sorted(template.interface.outputs.variables))
    return workflow_pb2.WorkflowCreateRequest(id=wf_id, spec=spec)


def skeleton_launch_plan(
    task_id: identifier_pb2.Identifier,
    interface: interface_pb2.TypedInterface,
    execution_spec: execution_pb2.ExecutionSpec,
) -> launch_plan_pb2.LaunchPlan:
    """The launch plan flyteadmin generates (closure timestamps and state are set by the store)."""
    spec = launch_plan_pb2.LaunchPlanSpec()
    spec.workflow_id.CopyFrom(_generated_id(task_id, identifier_pb2.WORKFLOW, task_id.name))
    for present in (
        spec.entity_metadata,
        spec.default_inputs,
        spec.fixed_inputs,
        spec.labels,
        spec.annotations,
    ):
        present.SetInParent()
    if execution_spec.HasField("auth_role"):
        spec.auth_role.CopyFrom(execution_spec.auth_role)
    if execution_spec.HasField("security_context"):
        spec.security_context.CopyFrom(execution_spec.security_context)
    for name, var in interface.inputs.variables.items():
        param = spec.default_inputs.parameters[name]
        param.var.type.CopyFrom(var.type)
        param.var.description = var.description
        param.required = True
    lp = launch_plan_pb2.LaunchPlan(
        id=_generated_id(task_id, identifier_pb2.LAUNCH_PLAN, generated_name(task_id.name)), spec=spec
    )
    lp.closure.expected_inputs.CopyFrom(spec.default_inputs)
    lp.closure.expected_outputs.CopyFrom(interface.outputs)
    return lp
