"""Stateless gRPC layer: AdminService and AuthMetadataService as ``grpc.aio`` generic handlers.

Every method of both services is registered (from flyteidl's descriptors), so each call is counted
and fault-injected; methods without an implementation answer UNIMPLEMENTED. Backend errors become
gRPC statuses here and only here; anything unexpected becomes INTERNAL, never UNKNOWN.
GetExecution and ListExecutions return pre-serialized bytes from the backend's cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from flyteidl.admin import (
    common_pb2,
    execution_pb2,
    launch_plan_pb2,
    project_pb2,
    task_pb2,
    version_pb2,
    workflow_pb2,
)
from flyteidl.service import admin_pb2 as admin_service_pb2
from flyteidl.service import auth_pb2, dataproxy_pb2
from flyteidl.service import signal_pb2 as signal_service_pb2
from google.protobuf import message as pb_message
from google.protobuf import message_factory

from flyte_async_provider.emulator.rpc_impl import Impl, rpc_methods, sort_of

from .backend import Backend
from .dataproxy import DATA_PROXY_SERVICE, DataProxyImpl
from .entities import DOMAINS, check_list_request, entity_column, list_entities
from .errors import EmulatorError, InvalidArgument, Unimplemented
from .faults import Faults
from .health import build_health_handler
from .health import check as health_check
from .named_entities import NamedEntityImpl
from .node_service import NodeExecutionsImpl
from .oauth import TOKEN_PATH, TokenAuthority, authorization_server_metadata
from .signals import SIGNAL_SERVICE, SignalImpl
from .state import EmulatorState

log = logging.getLogger(__name__)

ADMIN_SERVICE = "flyteidl.service.AdminService"
AUTH_SERVICE = "flyteidl.service.AuthMetadataService"
EMULATOR_VERSION = "v1.16.8-emulator"


def _serialize(response: Any) -> bytes:
    return response if isinstance(response, bytes) else bytes(response.SerializeToString())


_ENTITY_LETTER = {"task": "t", "workflow": "w", "launch_plan": "l"}


class AdminImpl:
    """The implemented AdminService methods: parse the request, call the backend, build the reply."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def methods(self) -> dict[str, Impl]:
        return rpc_methods(self)

    # -- tasks / workflows / launch plans -----------------------------------------------------------
    def CreateTask(self, req: task_pb2.TaskCreateRequest, principal: str) -> task_pb2.TaskCreateResponse:
        self.b.entities.create_task(req)
        return task_pb2.TaskCreateResponse()

    def GetTask(self, req: common_pb2.ObjectGetRequest, principal: str) -> task_pb2.Task:
        return self.b.entities.get_task(req.id)

    def ListTasks(self, req: common_pb2.ResourceListRequest, principal: str) -> task_pb2.TaskList:
        page, token = self._list("task", req)
        return task_pb2.TaskList(tasks=[r.message for r in page], token=token)

    def ListTaskIds(
        self, req: common_pb2.NamedEntityIdentifierListRequest, principal: str
    ) -> common_pb2.NamedEntityIdentifierList:
        return self._list_ids("task", req)

    def CreateWorkflow(
        self, req: workflow_pb2.WorkflowCreateRequest, principal: str
    ) -> workflow_pb2.WorkflowCreateResponse:
        self.b.entities.create_workflow(req)
        return workflow_pb2.WorkflowCreateResponse()

    def GetWorkflow(self, req: common_pb2.ObjectGetRequest, principal: str) -> workflow_pb2.Workflow:
        return self.b.entities.get_workflow(req.id)

    def ListWorkflows(self, req: common_pb2.ResourceListRequest, principal: str) -> workflow_pb2.WorkflowList:
        page, token = self._list("workflow", req)
        return workflow_pb2.WorkflowList(workflows=[r.message for r in page], token=token)

    def ListWorkflowIds(
        self, req: common_pb2.NamedEntityIdentifierListRequest, principal: str
    ) -> common_pb2.NamedEntityIdentifierList:
        return self._list_ids("workflow", req)

    def CreateLaunchPlan(
        self, req: launch_plan_pb2.LaunchPlanCreateRequest, principal: str
    ) -> launch_plan_pb2.LaunchPlanCreateResponse:
        self.b.entities.create_launch_plan(req)
        return launch_plan_pb2.LaunchPlanCreateResponse()

    def GetLaunchPlan(self, req: common_pb2.ObjectGetRequest, principal: str) -> launch_plan_pb2.LaunchPlan:
        return self.b.entities.get_launch_plan(req.id)

    def GetActiveLaunchPlan(
        self, req: launch_plan_pb2.ActiveLaunchPlanRequest, principal: str
    ) -> launch_plan_pb2.LaunchPlan:
        return self.b.entities.get_active_launch_plan(req.id)

    def ListLaunchPlans(
        self, req: common_pb2.ResourceListRequest, principal: str
    ) -> launch_plan_pb2.LaunchPlanList:
        page, token = self._list("launch_plan", req)
        return launch_plan_pb2.LaunchPlanList(launch_plans=[r.message for r in page], token=token)

    def ListLaunchPlanIds(
        self, req: common_pb2.NamedEntityIdentifierListRequest, principal: str
    ) -> common_pb2.NamedEntityIdentifierList:
        return self._list_ids("launch_plan", req)

    def ListActiveLaunchPlans(
        self, req: launch_plan_pb2.ActiveLaunchPlanListRequest, principal: str
    ) -> launch_plan_pb2.LaunchPlanList:
        check_list_request(req.project, req.domain, req.limit)
        rows = self.b.entities.active_launch_plans(req.project, req.domain)
        page, token = list_entities(
            rows,
            "l",
            req.project,
            req.domain,
            "",
            "",
            sort_of(req),
            req.limit,
            req.token,
        )
        return launch_plan_pb2.LaunchPlanList(launch_plans=[r.message for r in page], token=token)

    def UpdateLaunchPlan(
        self, req: launch_plan_pb2.LaunchPlanUpdateRequest, principal: str
    ) -> launch_plan_pb2.LaunchPlanUpdateResponse:
        self.b.entities.update_launch_plan(req.id, req.state)
        return launch_plan_pb2.LaunchPlanUpdateResponse()

    def _list(self, kind: str, req: common_pb2.ResourceListRequest) -> tuple[list[Any], str]:
        entity = _ENTITY_LETTER[kind]
        return list_entities(
            self.b.entities.rows(kind),
            entity,
            req.id.project,
            req.id.domain,
            req.id.name,
            req.filters,
            sort_of(req),
            req.limit,
            req.token,
        )

    def _list_ids(
        self, kind: str, req: common_pb2.NamedEntityIdentifierListRequest
    ) -> common_pb2.NamedEntityIdentifierList:
        entity = _ENTITY_LETTER[kind]
        rows = self.b.entities.rows(kind)
        latest: dict[str, Any] = {}
        for row in sorted(rows, key=lambda r: r.seq):
            latest[row.key[2]] = row  # one row per name
        page, token = list_entities(
            list(latest.values()),
            entity,
            req.project,
            req.domain,
            "",
            req.filters,
            sort_of(req),
            req.limit,
            req.token,
        )
        ids = [
            common_pb2.NamedEntityIdentifier(
                project=r.key[0], domain=r.key[1], name=entity_column(r, entity, "name")
            )
            for r in page
        ]
        return common_pb2.NamedEntityIdentifierList(entities=ids, token=token)

    # -- executions ---------------------------------------------------------------------------------
    def CreateExecution(
        self, req: execution_pb2.ExecutionCreateRequest, principal: str
    ) -> execution_pb2.ExecutionCreateResponse:
        return execution_pb2.ExecutionCreateResponse(id=self.b.create_execution(req, principal))

    def RelaunchExecution(
        self, req: execution_pb2.ExecutionRelaunchRequest, principal: str
    ) -> execution_pb2.ExecutionCreateResponse:
        return execution_pb2.ExecutionCreateResponse(id=self.b.relaunch_execution(req, principal))

    def RecoverExecution(
        self, req: execution_pb2.ExecutionRecoverRequest, principal: str
    ) -> execution_pb2.ExecutionCreateResponse:
        return execution_pb2.ExecutionCreateResponse(id=self.b.recover_execution(req, principal))

    def GetExecution(self, req: execution_pb2.WorkflowExecutionGetRequest, principal: str) -> bytes:
        return self.b.get_execution_bytes(req.id)

    def GetExecutionData(
        self, req: execution_pb2.WorkflowExecutionGetDataRequest, principal: str
    ) -> execution_pb2.WorkflowExecutionGetDataResponse:
        return self.b.get_execution_data(req.id)

    def ListExecutions(self, req: common_pb2.ResourceListRequest, principal: str) -> bytes:
        result = self.b.list_executions(
            req.id.project,
            req.id.domain,
            req.id.name,
            req.filters,
            sort_of(req),
            req.limit,
            req.token,
        )
        return result.payload

    def TerminateExecution(
        self, req: execution_pb2.ExecutionTerminateRequest, principal: str
    ) -> execution_pb2.ExecutionTerminateResponse:
        self.b.terminate(req.id.project, req.id.domain, req.id.name, req.cause, principal)
        return execution_pb2.ExecutionTerminateResponse()

    def UpdateExecution(
        self, req: execution_pb2.ExecutionUpdateRequest, principal: str
    ) -> execution_pb2.ExecutionUpdateResponse:
        self.b.update_execution(req.id, req.state)
        return execution_pb2.ExecutionUpdateResponse()

    # -- projects, domains, version -----------------------------------------------------------------
    def RegisterProject(
        self, req: project_pb2.ProjectRegisterRequest, principal: str
    ) -> project_pb2.ProjectRegisterResponse:
        self.b.entities.register_project(req.project)
        return project_pb2.ProjectRegisterResponse()

    def GetProject(self, req: project_pb2.ProjectGetRequest, principal: str) -> project_pb2.Project:
        if not req.id:
            raise InvalidArgument("missing project_id")
        return self.b.entities.get_project(req.id)

    def ListProjects(self, req: project_pb2.ProjectListRequest, principal: str) -> project_pb2.Projects:
        projects = sorted(self.b.entities.projects.values(), key=lambda p: p.id)
        if req.filters:
            raise Unimplemented("ListProjects filters are not emulated")
        offset = int(req.token) if req.token.isdigit() else 0
        limit = req.limit or len(projects) or 1
        page = projects[offset : offset + limit]
        token = str(offset + len(page)) if req.limit and len(page) == req.limit else ""
        return project_pb2.Projects(projects=page, token=token)

    def GetDomains(self, req: project_pb2.GetDomainRequest, principal: str) -> project_pb2.GetDomainsResponse:
        return project_pb2.GetDomainsResponse(domains=[project_pb2.Domain(id=d, name=d) for d in DOMAINS])

    def GetVersion(
        self, req: version_pb2.GetVersionRequest, principal: str
    ) -> version_pb2.GetVersionResponse:
        version = version_pb2.Version(Build="emulator", Version=EMULATOR_VERSION, BuildTime="")
        return version_pb2.GetVersionResponse(control_plane_version=version)


class AuthImpl:
    """AuthMetadataService: always callable without a token, as in flyteadmin."""

    def __init__(self, authority: TokenAuthority | None, http_url: Callable[[], str]) -> None:
        self.authority = authority
        self.http_url = http_url

    def methods(self) -> dict[str, Impl]:
        return rpc_methods(self)

    def GetOAuth2Metadata(
        self, req: auth_pb2.OAuth2MetadataRequest, principal: str
    ) -> auth_pb2.OAuth2MetadataResponse:
        if self.authority is None:
            raise Unimplemented("authentication is disabled on this emulator")
        meta = authorization_server_metadata(self.http_url(), self.authority.settings)
        return auth_pb2.OAuth2MetadataResponse(**meta)

    def GetPublicClientConfig(
        self, req: auth_pb2.PublicClientAuthConfigRequest, principal: str
    ) -> auth_pb2.PublicClientAuthConfigResponse:
        if self.authority is None:
            raise Unimplemented("authentication is disabled on this emulator")
        s = self.authority.settings
        return auth_pb2.PublicClientAuthConfigResponse(
            client_id="flytectl",
            redirect_uri="http://localhost:53593/callback",
            scopes=list(s.scopes),
            authorization_metadata_key=s.metadata_key,
            service_http_endpoint=self.http_url(),
            audience=s.audience,
        )


_SERVICE_FILES = {
    ADMIN_SERVICE: admin_service_pb2.DESCRIPTOR,
    AUTH_SERVICE: auth_pb2.DESCRIPTOR,
    DATA_PROXY_SERVICE: dataproxy_pb2.DESCRIPTOR,
    SIGNAL_SERVICE: signal_service_pb2.DESCRIPTOR,
}


def _method_classes(service: str) -> dict[str, tuple[type[pb_message.Message], str]]:
    """Every method of a service: request class and full method path."""
    file_desc = _SERVICE_FILES[service]
    desc = file_desc.services_by_name[service.rsplit(".", 1)[1]]
    return {
        m.name: (message_factory.GetMessageClass(m.input_type), f"/{service}/{m.name}") for m in desc.methods
    }


class _Dispatcher:
    """Wraps each implementation with counting, fault injection, auth and error mapping."""

    def __init__(self, faults: Faults, authority: TokenAuthority | None) -> None:
        self.faults = faults
        self.authority = authority
        self.metadata_key = authority.settings.metadata_key.lower() if authority else ""

    def wrap(
        self, rpc: str, impl: Impl | None, needs_auth: bool
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        faults = self.faults

        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            latency, injected = faults.on_call(rpc)
            if latency:
                await asyncio.sleep(latency)
            try:
                if injected is not None:
                    raise injected
                principal = ""
                if needs_auth and self.authority is not None:
                    principal = self.authority.check(self._header(context))
                if impl is None:
                    raise Unimplemented(f"{rpc} is not implemented by the Flyte Admin emulator")
                response = impl(request, principal)
            except EmulatorError as err:
                await context.abort(grpc.StatusCode[err.code], err.message)
            except Exception as err:  # a bug in the emulator: say so, as INTERNAL
                log.exception("emulator failure in %s", rpc)
                await context.abort(grpc.StatusCode.INTERNAL, f"emulator internal error in {rpc}: {err!r}")
            faults.on_success(rpc)
            return response

        return handler

    def _header(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        for key, value in context.invocation_metadata() or ():
            if key == self.metadata_key:
                return value if isinstance(value, str) else value.decode()
        return None


def build_handlers(state: EmulatorState) -> list[grpc.GenericRpcHandler]:
    """Generic handlers for every service, ready for ``server.add_generic_rpc_handlers``."""
    dispatcher = _Dispatcher(state.faults, state.authority)
    handlers: list[grpc.GenericRpcHandler] = []
    admin = {
        **AdminImpl(state.backend).methods(),
        **NodeExecutionsImpl(state.backend).methods(),
        **NamedEntityImpl(state.backend.entities).methods(),
    }
    for service, impls, needs_auth in (
        (ADMIN_SERVICE, admin, True),
        (SIGNAL_SERVICE, SignalImpl(state.backend.signals).methods(), True),
        (AUTH_SERVICE, AuthImpl(state.authority, lambda: state.http_url).methods(), False),
        (
            DATA_PROXY_SERVICE,
            DataProxyImpl(state.backend, state.blobs, lambda: state.http_url).methods(),
            True,
        ),
    ):
        method_handlers = {}
        for name, (request_cls, _path) in _method_classes(service).items():
            method_handlers[name] = grpc.unary_unary_rpc_method_handler(
                dispatcher.wrap(name, impls.get(name), needs_auth),
                request_deserializer=request_cls.FromString,
                response_serializer=_serialize,
            )
        handlers.append(grpc.method_handlers_generic_handler(service, method_handlers))
    handlers.append(build_health_handler(dispatcher.wrap("Check", health_check, False), state.faults))
    return handlers


__all__ = ["ADMIN_SERVICE", "AUTH_SERVICE", "TOKEN_PATH", "AdminImpl", "AuthImpl", "build_handlers"]
