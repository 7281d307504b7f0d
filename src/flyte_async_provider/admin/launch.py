"""Submit a Flyte execution from the triggerer: async entity lookup and CreateExecution.

The worker launches through flytekit's ``FlyteRemote`` (hooks/flyte.py). A task that starts on the
triggerer (``FlyteOperator(start_from_trigger=True)``) cannot block the event loop, so here the RPCs go
through :class:`~flyte_async_provider.admin.client.AsyncAdminClient`, and only the Python -> Flyte
literal conversion (flytekit's TypeEngine, the same code and the same up-front input checks as the
worker path) runs in a thread, and only for inputs that are not plain values of simple types
(:mod:`~flyte_async_provider.admin.requests` builds those without flytekit): flytekit is then
imported there once per process, never on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte_async_provider.exceptions import FlyteAlreadyExistsError, FlyteConfigError, FlyteNotFoundError

if TYPE_CHECKING:
    from flyte_async_provider.admin.client import AsyncAdminClient
    from flyte_async_provider.spec.options import ExecutionOptions

# The kinds FlyteOperator launches, as flyteidl's ResourceType numbers (core.identifier_pb2).
_TASK, _WORKFLOW, _LAUNCH_PLAN = 1, 2, 3
_LIST_RPC = {_TASK: "ListTasks", _WORKFLOW: "ListWorkflows", _LAUNCH_PLAN: "ListLaunchPlans"}
_GET_RPC = {_TASK: "GetTask", _WORKFLOW: "GetWorkflow", _LAUNCH_PLAN: "GetLaunchPlan"}
_LABEL = {_TASK: "task", _WORKFLOW: "workflow", _LAUNCH_PLAN: "launch plan"}


@dataclass(frozen=True)
class LaunchTarget:
    """What to launch: exactly one of ``launchplan_name``, ``task_name``, ``workflow_name``."""

    launchplan_name: str | None = None
    task_name: str | None = None
    workflow_name: str | None = None
    version: str | None = None

    def kind_and_name(self) -> tuple[int, str]:
        given = [
            (kind, name)
            for kind, name in (
                (_LAUNCH_PLAN, self.launchplan_name),
                (_TASK, self.task_name),
                (_WORKFLOW, self.workflow_name),
            )
            if name
        ]
        if len(given) != 1:
            raise FlyteConfigError("Give exactly one of launchplan_name, task_name or workflow_name.")
        return given[0]


async def _fetch(
    client: AsyncAdminClient, kind: int, project: str, domain: str, name: str, version: str | None
) -> Any:
    """The entity at ``version``, or the newest one (as flytekit: ListX sorted by created_at)."""
    from flyteidl.admin import common_pb2
    from flyteidl.core import identifier_pb2

    if version:
        ident = identifier_pb2.Identifier(
            resource_type=kind, project=project, domain=domain, name=name, version=version
        )
        return await client.call(_GET_RPC[kind], common_pb2.ObjectGetRequest(id=ident))
    page = await client.call(
        _LIST_RPC[kind],
        common_pb2.ResourceListRequest(
            id=common_pb2.NamedEntityIdentifier(project=project, domain=domain, name=name),
            limit=1,
            sort_by=common_pb2.Sort(key="created_at", direction=common_pb2.Sort.DESCENDING),
        ),
    )
    items = page.tasks if kind == _TASK else page.workflows if kind == _WORKFLOW else page.launch_plans
    if not items:
        raise FlyteNotFoundError(
            f"no version of {_LABEL[kind]} {name}", code="NOT_FOUND", rpc=_LIST_RPC[kind]
        )
    return items[0]


async def resolve(
    client: AsyncAdminClient, project: str, domain: str, target: LaunchTarget
) -> tuple[str, Any]:
    """``(label, entity)``: the launch plan (workflows: their default one) or the task to execute."""
    kind, name = target.kind_and_name()
    where = f"{_LABEL[kind]} {project}/{domain}/{name} (version {target.version or 'latest'})"
    try:
        if kind == _WORKFLOW:
            workflow = await _fetch(client, _WORKFLOW, project, domain, name, target.version)
            kind, where = _LAUNCH_PLAN, f"default launch plan of {where}"
            entity = await _fetch(client, _LAUNCH_PLAN, project, domain, name, workflow.id.version)
        else:
            entity = await _fetch(client, kind, project, domain, name, target.version)
    except FlyteNotFoundError as exc:
        raise FlyteNotFoundError(
            f"Flyte {where} was not found in Flyte Admin at {client.config.endpoint}. Check the name, "
            "version, project and domain. Nothing was submitted.",
            code=exc.code,
            rpc=exc.rpc,
        ) from None
    return f"{_LABEL[kind]} {name} (version {entity.id.version})", entity


def flytekit_request(
    label: str,
    entity: Any,
    *,
    project: str,
    domain: str,
    name: str,
    inputs: Mapping[str, Any],
    options: ExecutionOptions,
) -> Any:
    """The request for inputs that need flytekit's TypeEngine (blocking, imports flytekit: use a thread).

    Same checks as the worker path (unknown, fixed, missing and unconvertible inputs, one error listing
    them all) and the same conversion; the spec is :func:`requests.execution_spec`'s.
    """
    from flytekit.models.interface import Variable
    from flytekit.models.types import LiteralType

    from flyte_async_provider.admin.requests import create_request, entity_interface
    from flyte_async_provider.spec.values import check_inputs, has_side_effects, to_literal

    types, required, fixed = entity_interface(entity)
    interface = {n: Variable(type=LiteralType.from_flyte_idl(t), description="") for n, t in types.items()}
    prepared = check_inputs(label, interface, inputs, required=required, fixed=fixed)
    uploads = sorted(n for n in prepared if has_side_effects(interface[n].type))
    if uploads:
        raise FlyteConfigError(
            f"Bad inputs for {label}: input(s) {uploads} are files, directories or datasets, which flytekit "
            "uploads from a worker; use start_from_trigger=False for this task. Nothing was submitted."
        )
    literals = {n: to_literal(v, interface[n].type).to_flyte_idl() for n, v in prepared.items()}
    return create_request(
        entity, project=project, domain=domain, name=name, literals=literals, options=options
    )


async def submit(
    client: AsyncAdminClient,
    *,
    project: str,
    domain: str,
    name: str,
    target: LaunchTarget,
    inputs: Mapping[str, Any],
    options: ExecutionOptions,
    convert_with_flytekit: bool = True,
) -> tuple[bool, str]:
    """Create execution ``name``; ``(created, label)``, created False if it already existed (ours).

    Idempotent per name, like the worker path: a trigger started again after a triggerer restart or
    running twice under HA finds its own execution instead of creating a second one. With
    ``convert_with_flytekit=False`` inputs that are not plain raise :class:`NeedsFlytekit` (the worker
    then launches through FlyteRemote, which can also upload files).
    """
    from flyte_async_provider.admin.requests import NeedsFlytekit, plain_request

    label, entity = await resolve(client, project, domain, target)
    fields: dict[str, Any] = {"project": project, "domain": domain, "name": name, "inputs": inputs}
    try:
        request = plain_request(label, entity, options=options, **fields)
    except NeedsFlytekit:  # the first such submit per process imports flytekit, off the event loop
        if not convert_with_flytekit:
            raise
        request = await asyncio.to_thread(flytekit_request, label, entity, options=options, **fields)
    try:
        await client.call("CreateExecution", request)
    except FlyteAlreadyExistsError:
        return False, label
    return True, label
