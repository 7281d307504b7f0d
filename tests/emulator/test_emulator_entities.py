"""Tasks, workflows, launch plans, projects and version over gRPC; registration through the Create RPCs."""

from __future__ import annotations

import grpc
import pytest
from flyteidl.admin import common_pb2, launch_plan_pb2, node_execution_pb2, project_pb2, task_pb2, version_pb2
from flyteidl.core import identifier_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator.registration import compile_workflow, register_over_grpc
from support import workflows
from support.admin_rpc import create_request, lp_id
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT

WF_NAME = "support.workflows.needs_input"


def named(name: str) -> common_pb2.NamedEntityIdentifier:
    return common_pb2.NamedEntityIdentifier(project=PROJECT, domain=DOMAIN, name=name)


def register_needs_input(channel: grpc.Channel, version: str) -> None:
    register_over_grpc(channel, compile_workflow(workflows.needs_input, PROJECT, DOMAIN, version))


def test_register_through_create_rpcs_then_execute_with_required_input(
    channel: grpc.Channel, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    register_needs_input(channel, "v1")
    lp = admin.GetLaunchPlan(common_pb2.ObjectGetRequest(id=lp_id(WF_NAME, "v1")))
    assert lp.closure.expected_inputs.parameters["n"].required
    assert set(lp.closure.expected_outputs.variables) == {"o0"}
    assert lp.closure.state == launch_plan_pb2.ACTIVE  # register_over_grpc activates it

    wf = admin.GetWorkflow(common_pb2.ObjectGetRequest(id=lp.spec.workflow_id))
    compiled = wf.closure.compiled_workflow
    assert compiled.primary.template.id.name == WF_NAME
    assert [t.template.id.name for t in compiled.tasks] == ["support.workflows.count_rows"]
    assert compiled.primary.connections.upstream  # edges computed from the node bindings

    task = admin.GetTask(common_pb2.ObjectGetRequest(id=compiled.tasks[0].template.id))
    assert task.closure.compiled_task.template.interface.inputs.variables["n"].type.simple

    with pytest.raises(grpc.RpcError) as err:
        admin.CreateExecution(create_request("no-n", lp=lp_id(WF_NAME, "v1")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "expected_inputs n missing"
    ok = admin.CreateExecution(create_request("with-n", lp=lp_id(WF_NAME, "v1"), n=3))
    assert ok.id.name == "with-n"


def test_identical_registration_is_already_exists_and_different_is_invalid(
    channel: grpc.Channel, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    requests = compile_workflow(workflows.needs_input, PROJECT, DOMAIN, "v1")
    task_request = requests[0]
    assert isinstance(task_request, task_pb2.TaskCreateRequest)
    admin.CreateTask(task_request)
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateTask(task_request)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    task_request.spec.template.metadata.retries.retries = 7
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateTask(task_request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_workflow_with_unregistered_task_is_invalid(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    requests = compile_workflow(workflows.needs_input, PROJECT, DOMAIN, "v1")
    wf_request = requests[1]
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateWorkflow(wf_request)  # type: ignore[arg-type]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is not registered" in err.value.details()


def test_launch_plan_for_unknown_workflow_is_not_found(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    spec = launch_plan_pb2.LaunchPlanSpec(workflow_id=lp_id("no.such.workflow", "v1"))
    spec.workflow_id.resource_type = identifier_pb2.WORKFLOW
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateLaunchPlan(
            launch_plan_pb2.LaunchPlanCreateRequest(id=lp_id("no.such.workflow"), spec=spec)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_latest_version_lookup_as_flytekit_sends_it(
    channel: grpc.Channel, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    for version in ("v1", "v3", "v2"):
        register_needs_input(channel, version)
    latest = admin.ListLaunchPlans(
        common_pb2.ResourceListRequest(
            id=named(WF_NAME),
            limit=1,
            sort_by=common_pb2.Sort(key="created_at", direction=common_pb2.Sort.DESCENDING),
        )
    )
    assert [lp.id.version for lp in latest.launch_plans] == ["v2"]  # the last one created
    assert latest.token == "1"
    for method in (admin.ListWorkflows, admin.ListTasks):
        page = method(
            common_pb2.ResourceListRequest(
                id=named(WF_NAME if method == admin.ListWorkflows else "support.workflows.count_rows"),
                limit=10,
                sort_by=common_pb2.Sort(key="version", direction=common_pb2.Sort.ASCENDING),
            )
        )
        entities = page.workflows if method == admin.ListWorkflows else page.tasks
        assert [e.id.version for e in entities] == ["v1", "v2", "v3"]
    filtered = admin.ListLaunchPlans(
        common_pb2.ResourceListRequest(id=named(WF_NAME), limit=10, filters="eq(version,v3)")
    )
    assert [lp.id.version for lp in filtered.launch_plans] == ["v3"]
    active = admin.GetActiveLaunchPlan(launch_plan_pb2.ActiveLaunchPlanRequest(id=named(WF_NAME)))
    assert active.id.version == "v2"  # activating a version deactivates the others
    actives = admin.ListActiveLaunchPlans(
        launch_plan_pb2.ActiveLaunchPlanListRequest(project=PROJECT, domain=DOMAIN, limit=10)
    )
    assert sorted(lp.id.name for lp in actives.launch_plans) == sorted([LAUNCH_PLAN, WF_NAME])
    ids = admin.ListLaunchPlanIds(
        common_pb2.NamedEntityIdentifierListRequest(project=PROJECT, domain=DOMAIN, limit=10)
    )
    assert sorted(e.name for e in ids.entities) == sorted([LAUNCH_PLAN, WF_NAME])
    task_ids = admin.ListTaskIds(
        common_pb2.NamedEntityIdentifierListRequest(project=PROJECT, domain=DOMAIN, limit=10)
    )
    assert "support.workflows.count_rows" in {e.name for e in task_ids.entities}
    wf_ids = admin.ListWorkflowIds(
        common_pb2.NamedEntityIdentifierListRequest(project=PROJECT, domain=DOMAIN, limit=10)
    )
    assert WF_NAME in {e.name for e in wf_ids.entities}


def test_update_launch_plan_state_and_active_lookup(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    admin.UpdateLaunchPlan(
        launch_plan_pb2.LaunchPlanUpdateRequest(id=lp_id(), state=launch_plan_pb2.INACTIVE)
    )
    with pytest.raises(grpc.RpcError) as err:
        admin.GetActiveLaunchPlan(launch_plan_pb2.ActiveLaunchPlanRequest(id=named(LAUNCH_PLAN)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    admin.UpdateLaunchPlan(launch_plan_pb2.LaunchPlanUpdateRequest(id=lp_id(), state=launch_plan_pb2.ACTIVE))
    assert (
        admin.GetActiveLaunchPlan(launch_plan_pb2.ActiveLaunchPlanRequest(id=named(LAUNCH_PLAN))).id.version
        == "v1"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.GetTask(common_pb2.ObjectGetRequest(id=lp_id("nope"))),
        lambda a: a.GetWorkflow(common_pb2.ObjectGetRequest(id=lp_id("nope"))),
        lambda a: a.GetLaunchPlan(common_pb2.ObjectGetRequest(id=lp_id("nope"))),
        lambda a: a.GetProject(project_pb2.ProjectGetRequest(id="nope")),
    ],
)
def test_unknown_entities_are_not_found(admin: admin_pb2_grpc.AdminServiceStub, call: object) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(admin)  # type: ignore[operator]
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_get_with_incomplete_identifier_is_invalid(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    ident = lp_id()
    ident.ClearField("version")
    with pytest.raises(grpc.RpcError) as err:
        admin.GetLaunchPlan(common_pb2.ObjectGetRequest(id=ident))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_projects_domains_and_version(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    projects = admin.ListProjects(project_pb2.ProjectListRequest(limit=10)).projects
    assert [p.id for p in projects] == [PROJECT]
    assert [d.id for d in projects[0].domains] == ["development", "staging", "production"]
    admin.RegisterProject(project_pb2.ProjectRegisterRequest(project=project_pb2.Project(id="analytics")))
    with pytest.raises(grpc.RpcError) as err:
        admin.RegisterProject(project_pb2.ProjectRegisterRequest(project=project_pb2.Project(id="analytics")))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert admin.GetProject(project_pb2.ProjectGetRequest(id="analytics")).name == "analytics"
    page = admin.ListProjects(project_pb2.ProjectListRequest(limit=1))
    assert [p.id for p in page.projects] == ["analytics"]
    assert page.token == "1"
    domains = admin.GetDomains(project_pb2.GetDomainRequest()).domains
    assert [d.name for d in domains] == ["development", "staging", "production"]
    version = admin.GetVersion(version_pb2.GetVersionRequest()).control_plane_version
    assert version.Version.startswith("v1.16")


def test_unimplemented_rpcs_answer_unimplemented(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        admin.GetDynamicNodeWorkflow(node_execution_pb2.GetDynamicNodeWorkflowRequest())
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "GetDynamicNodeWorkflow" in err.value.details()


def test_node_executions_of_a_new_or_unknown_execution_are_none(
    admin: admin_pb2_grpc.AdminServiceStub,
) -> None:
    from support.admin_rpc import create, ident

    create(admin, "has-no-nodes")
    listed = admin.ListNodeExecutions(
        node_execution_pb2.NodeExecutionListRequest(workflow_execution_id=ident("has-no-nodes"), limit=10)
    )
    assert list(listed.node_executions) == []
    ghost = admin.ListNodeExecutions(
        node_execution_pb2.NodeExecutionListRequest(workflow_execution_id=ident("ghost"), limit=10)
    )
    assert list(ghost.node_executions) == []  # flyteadmin lists without checking the execution exists
