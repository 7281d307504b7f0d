"""Register flytekit workflows (``module:workflow``) the way ``pyflyte register`` does.

A workflow is compiled with flytekit's own translator (``get_serializable``) into the TaskSpec /
WorkflowSpec / LaunchPlan protos flytekit sends, then created through CreateTask, CreateWorkflow and
CreateLaunchPlan: either in-process into a backend (same code the RPC handlers run) or over gRPC into a
running emulator (or a real Flyte Admin). flytekit is imported lazily: it takes seconds to import.
"""

from __future__ import annotations

import functools
import importlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, TypeAlias

from flyteidl.admin import launch_plan_pb2, task_pb2, workflow_pb2
from flyteidl.core import identifier_pb2
from flyteidl.core import workflow_pb2 as core_workflow_pb2

from .backend import Backend
from .errors import AlreadyExists

CreateRequest: TypeAlias = (
    task_pb2.TaskCreateRequest | workflow_pb2.WorkflowCreateRequest | launch_plan_pb2.LaunchPlanCreateRequest
)

EXAMPLE_PROJECT = "flytesnacks"
EXAMPLE_DOMAIN = "development"
EXAMPLE_VERSION = "v1"
EXAMPLE_WORKFLOW = "flyte_async_provider.emulator.examples.diabetes:diabetes_xgboost_model"
EXAMPLE_LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"


def load_object(spec: str) -> Any:
    """``package.module:attribute`` -> the attribute."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:workflow', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def compile_workflow(
    workflow: Any, project: str, domain: str, version: str, rename_module: tuple[str, str] | None = None
) -> list[CreateRequest]:
    """flytekit workflow -> create requests (tasks, workflow, default launch plan) in dependency order.

    ``rename_module=(old, new)`` rewrites the module prefix of every entity name (so an example can carry
    the name it has elsewhere, e.g. in flytesnacks).
    """
    from flytekit import LaunchPlan
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.models import launch_plan as launch_plan_models
    from flytekit.models import task as task_models
    from flytekit.models.admin import workflow as workflow_models
    from flytekit.tools.translator import get_serializable

    settings = SerializationSettings(
        image_config=ImageConfig.auto_default_image(), project=project, domain=domain, version=version
    )
    ctx = FlyteContextManager.current_context()
    default_lp = LaunchPlan.get_default_launch_plan(ctx, workflow)
    mapping: OrderedDict[Any, Any] = OrderedDict()
    get_serializable(mapping, settings, default_lp)
    requests: list[CreateRequest] = []
    for model in mapping.values():
        if isinstance(model, task_models.TaskSpec):
            spec = model.to_flyte_idl()
            requests.append(task_pb2.TaskCreateRequest(id=spec.template.id, spec=spec))
        elif isinstance(model, workflow_models.WorkflowSpec):
            wf_spec = model.to_flyte_idl()
            requests.append(workflow_pb2.WorkflowCreateRequest(id=wf_spec.template.id, spec=wf_spec))
        elif isinstance(model, launch_plan_models.LaunchPlan):
            lp = model.to_flyte_idl()
            requests.append(launch_plan_pb2.LaunchPlanCreateRequest(id=lp.id, spec=lp.spec))
    if rename_module is not None:
        for request in requests:
            _rename(request, *rename_module)
    return requests


def _rename(request: CreateRequest, old: str, new: str) -> None:
    def fix(ident: identifier_pb2.Identifier) -> None:
        if ident.name == old or ident.name.startswith(old + "."):
            ident.name = new + ident.name[len(old) :]

    fix(request.id)
    if isinstance(request, task_pb2.TaskCreateRequest):
        fix(request.spec.template.id)
    elif isinstance(request, workflow_pb2.WorkflowCreateRequest):
        fix(request.spec.template.id)
        for template in (request.spec.template, *request.spec.sub_workflows):
            fix(template.id)
            for node in _nodes(template.nodes):
                if node.HasField("task_node"):
                    fix(node.task_node.reference_id)
                if node.HasField("workflow_node"):
                    fix(node.workflow_node.launchplan_ref)
                    fix(node.workflow_node.sub_workflow_ref)
    else:
        fix(request.spec.workflow_id)


def _nodes(nodes: Iterable[core_workflow_pb2.Node]) -> Iterable[core_workflow_pb2.Node]:
    for node in nodes:
        yield node
        if node.HasField("branch_node"):
            ie = node.branch_node.if_else
            yield from _nodes([ie.case.then_node, *(c.then_node for c in ie.other), ie.else_node])
        if node.HasField("array_node"):
            yield from _nodes([node.array_node.node])


@functools.lru_cache(maxsize=1)
def _example_bytes() -> tuple[tuple[str, bytes], ...]:
    """The example compiled once per process (flytekit import + translation take seconds)."""
    from .examples import diabetes

    requests = compile_workflow(
        diabetes.diabetes_xgboost_model,
        EXAMPLE_PROJECT,
        EXAMPLE_DOMAIN,
        EXAMPLE_VERSION,
        rename_module=(diabetes.__name__, diabetes.FLYTESNACKS_MODULE),
    )
    return tuple((type(r).__name__, r.SerializeToString()) for r in requests)


_CLASSES: dict[str, type[Any]] = {
    "TaskCreateRequest": task_pb2.TaskCreateRequest,
    "WorkflowCreateRequest": workflow_pb2.WorkflowCreateRequest,
    "LaunchPlanCreateRequest": launch_plan_pb2.LaunchPlanCreateRequest,
}


def example_requests() -> list[CreateRequest]:
    """Fresh copies of the example's create requests."""
    return [_CLASSES[kind].FromString(data) for kind, data in _example_bytes()]


def register_in_backend(
    backend: Backend, requests: Iterable[CreateRequest], activate: bool = True
) -> list[str]:
    """Create each entity (already existing identical ones are fine); activate launch plans.

    Returns the launch plan names registered.
    """
    launch_plans = []
    for request in requests:
        try:
            if isinstance(request, task_pb2.TaskCreateRequest):
                backend.entities.register_project_if_missing(request.id.project)
                backend.entities.create_task(request)
            elif isinstance(request, workflow_pb2.WorkflowCreateRequest):
                backend.entities.register_project_if_missing(request.id.project)
                backend.entities.create_workflow(request)
            else:
                backend.entities.register_project_if_missing(request.id.project)
                backend.entities.create_launch_plan(request)
        except AlreadyExists:
            pass
        if isinstance(request, launch_plan_pb2.LaunchPlanCreateRequest):
            launch_plans.append(request.id.name)
            if activate:
                backend.entities.update_launch_plan(request.id, launch_plan_pb2.ACTIVE)
    return launch_plans


def register_example(backend: Backend) -> list[str]:
    return register_in_backend(backend, example_requests())


def register_workflow(
    backend: Backend,
    spec: str,
    project: str = EXAMPLE_PROJECT,
    domain: str = EXAMPLE_DOMAIN,
    version: str = "v1",
) -> list[str]:
    """Register ``module:workflow`` into the backend; returns the launch plan names."""
    return register_in_backend(backend, compile_workflow(load_object(spec), project, domain, version))


def register_over_grpc(channel: Any, requests: Iterable[CreateRequest], activate: bool = True) -> None:
    """Send the create requests to a running Admin (the RPCs ``pyflyte register`` makes)."""
    import grpc
    from flyteidl.service import admin_pb2_grpc

    stub = admin_pb2_grpc.AdminServiceStub(channel)
    for request in requests:
        try:
            if isinstance(request, task_pb2.TaskCreateRequest):
                stub.CreateTask(request)
            elif isinstance(request, workflow_pb2.WorkflowCreateRequest):
                stub.CreateWorkflow(request)
            else:
                stub.CreateLaunchPlan(request)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        if activate and isinstance(request, launch_plan_pb2.LaunchPlanCreateRequest):
            stub.UpdateLaunchPlan(
                launch_plan_pb2.LaunchPlanUpdateRequest(id=request.id, state=launch_plan_pb2.ACTIVE)
            )
