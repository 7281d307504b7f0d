"""Node and task executions, derived from an execution's phase and its workflow's nodes, over sockets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from flyteidl.admin import common_pb2, node_execution_pb2, task_execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.emulator.single_task import node_id_for
from support.admin_rpc import create, create_request, ident
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT

if TYPE_CHECKING:
    from flytekit.remote import FlyteRemote

NodePhase = core_execution_pb2.NodeExecution.Phase
TaskPhase = core_execution_pb2.TaskExecution.Phase
SPLIT = "ml_training.pima_diabetes.diabetes.split_traintest_dataset"
FIT = "ml_training.pima_diabetes.diabetes.fit_and_score"


def list_nodes(
    admin: admin_pb2_grpc.AdminServiceStub, name: str, **kwargs: object
) -> node_execution_pb2.NodeExecutionList:
    kwargs.setdefault("limit", 100)
    return admin.ListNodeExecutions(
        node_execution_pb2.NodeExecutionListRequest(workflow_execution_id=ident(name), **kwargs)  # type: ignore[arg-type]
    )


def phases(listed: node_execution_pb2.NodeExecutionList) -> dict[str, str]:
    return {ne.id.node_id: NodePhase.Name(ne.closure.phase) for ne in listed.node_executions}


def node_id(name: str, node: str) -> identifier_pb2.NodeExecutionIdentifier:
    return identifier_pb2.NodeExecutionIdentifier(node_id=node, execution_id=ident(name))


def test_flytekit_sync_nodes_shows_every_node_of_a_succeeded_execution(
    flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(outputs={"accuracy": 0.91}), Advance.after_seconds(0))
    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    execution = remote.sync(
        remote.execute(lp, inputs={"seed": 42}, execution_name="nodes-ok"), sync_nodes=True
    )

    nodes = execution.node_executions
    assert list(nodes) == ["start-node", "n0", "n1", "end-node"]  # creation order, as flyteadmin lists them
    assert {k: NodePhase.Name(n.closure.phase) for k, n in nodes.items()} == dict.fromkeys(nodes, "SUCCEEDED")
    fit = nodes["n1"]
    assert fit.outputs["accuracy"] == pytest.approx(0.91)  # the workflow output bound to it
    assert fit.inputs["seed"] == 42  # resolved from the workflow inputs
    assert fit.inputs["train_rows"] == nodes["n0"].outputs["o0"]  # resolved from the upstream node
    assert [TaskPhase.Name(t.closure.phase) for t in fit.task_executions] == ["SUCCEEDED"]
    assert fit.task_executions[0].id.task_id.name == FIT
    assert fit.task_executions[0].outputs["accuracy"] == pytest.approx(0.91)
    # the node times lie inside the execution's running time, one level after the other
    closure = execution.closure
    start = closure.started_at
    assert nodes["start-node"].closure.started_at == start
    assert nodes["n0"].closure.started_at <= nodes["n1"].closure.started_at
    assert nodes["end-node"].closure.created_at == start + closure.duration


def test_flytekit_sync_nodes_of_a_failed_execution_puts_the_error_on_the_last_node(
    flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    flyte_admin_emulator.set_default(
        Outcome.fail("bad split ratio", code="USER:ValueError"), Advance.after_seconds(0)
    )
    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    execution = remote.sync(
        remote.execute(lp, inputs={"seed": 1}, execution_name="nodes-bad"), sync_nodes=True
    )

    nodes = execution.node_executions
    assert list(nodes) == ["start-node", "n0", "n1"]  # the end-node is never reached
    assert NodePhase.Name(nodes["n0"].closure.phase) == "SUCCEEDED"
    failed = nodes["n1"]
    assert NodePhase.Name(failed.closure.phase) == "FAILED"
    assert failed.closure.error.code == "USER:ValueError"
    assert failed.closure.error.message == "bad split ratio"
    assert [TaskPhase.Name(t.closure.phase) for t in failed.task_executions] == ["FAILED"]
    assert execution.error.code == failed.closure.error.code


def test_nodes_follow_the_execution_phase_step_by_step(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.hang(), Advance.manual())
    create(admin, "stepwise")
    assert phases(list_nodes(admin, "stepwise")) == {}  # UNDEFINED: propeller has not picked it up
    flyte_admin_emulator.advance(PROJECT, DOMAIN, "stepwise")
    assert phases(list_nodes(admin, "stepwise")) == {}  # QUEUED
    flyte_admin_emulator.advance(PROJECT, DOMAIN, "stepwise")  # RUNNING
    assert phases(list_nodes(admin, "stepwise")) == {"start-node": "SUCCEEDED", "n0": "RUNNING"}
    running = admin.GetNodeExecution(node_execution_pb2.NodeExecutionGetRequest(id=node_id("stepwise", "n0")))
    assert not running.closure.HasField("duration")
    assert running.metadata.spec_node_id == "n0"

    flyte_admin_emulator.terminate(PROJECT, DOMAIN, "stepwise", cause="enough")
    assert phases(list_nodes(admin, "stepwise")) == {"start-node": "SUCCEEDED", "n0": "RUNNING"}  # ABORTING
    flyte_admin_emulator.advance(PROJECT, DOMAIN, "stepwise")  # ABORTED
    assert phases(list_nodes(admin, "stepwise")) == {"start-node": "SUCCEEDED", "n0": "ABORTED"}
    tasks = admin.ListTaskExecutions(
        task_execution_pb2.TaskExecutionListRequest(node_execution_id=node_id("stepwise", "n0"), limit=10)
    )
    assert [TaskPhase.Name(t.closure.phase) for t in tasks.task_executions] == ["ABORTED"]


def test_a_timed_out_execution_times_out_its_last_node(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.time_out(), Advance.after_seconds(0))
    create(admin, "too-slow")
    assert phases(list_nodes(admin, "too-slow")) == {
        "start-node": "SUCCEEDED",
        "n0": "SUCCEEDED",
        "n1": "TIMED_OUT",
    }


def test_a_single_task_execution_has_one_task_node(
    flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(outputs={"accuracy": 0.5}), Advance.after_seconds(0))
    task = remote.fetch_task(name=FIT)
    execution = remote.execute(task, inputs={"train_rows": 10, "seed": 2}, execution_name="one-task")
    synced = remote.sync(execution, sync_nodes=True)
    node = node_id_for(FIT)  # flyteadmin's node id for the task in its generated workflow
    assert list(synced.node_executions) == ["start-node", node, "end-node"]
    assert synced.node_executions[node].outputs["accuracy"] == pytest.approx(0.5)
    assert synced.node_executions[node].inputs["train_rows"] == 10


def test_list_filters_sort_and_pages_like_flyteadmin(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.after_seconds(0))
    create(admin, "paged")
    first = list_nodes(admin, "paged", limit=3)
    assert [n.id.node_id for n in first.node_executions] == ["start-node", "n0", "n1"]
    assert first.token == "3"
    rest = list_nodes(admin, "paged", limit=3, token=first.token)
    assert [n.id.node_id for n in rest.node_executions] == ["end-node"]
    assert rest.token == ""
    only = list_nodes(admin, "paged", filters="value_in(node_id,n0;n1)+eq(phase,SUCCEEDED)")
    assert [n.id.node_id for n in only.node_executions] == ["n0", "n1"]
    newest = list_nodes(
        admin, "paged", sort_by=common_pb2.Sort(key="node_id", direction=common_pb2.Sort.DESCENDING)
    )
    assert [n.id.node_id for n in newest.node_executions] == ["start-node", "n1", "n0", "end-node"]
    assert list(list_nodes(admin, "paged", unique_parent_id="n0").node_executions) == []  # no child nodes
    assert list(list_nodes(admin, "never-created").node_executions) == []  # flyteadmin: a query with no rows


@pytest.mark.parametrize(
    ("request_kwargs", "code", "message"),
    [
        ({"limit": 0}, grpc.StatusCode.INVALID_ARGUMENT, "invalid value for limit"),
        ({"filters": "eq(name,n0)"}, grpc.StatusCode.INVALID_ARGUMENT, "'ne.name' is invalid filter"),
        (
            {"filters": "eq(launch_plan.name,x)"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "'l' entity is not allowed",
        ),
        (
            {"token": "x"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid pagination token x for ListNodeExecutions",
        ),
        ({"sort_by": common_pb2.Sort(key="nope")}, grpc.StatusCode.INVALID_ARGUMENT, "invalid sort key"),
        ({"unique_parent_id": "ghost"}, grpc.StatusCode.NOT_FOUND, "node execution"),
    ],
)
def test_bad_list_requests_get_flyteadmins_codes(
    admin: admin_pb2_grpc.AdminServiceStub,
    request_kwargs: dict[str, object],
    code: grpc.StatusCode,
    message: str,
) -> None:
    create(admin, "asked")
    with pytest.raises(grpc.RpcError) as err:
        list_nodes(admin, "asked", **request_kwargs)
    assert err.value.code() == code
    assert message in (err.value.details() or "")


def test_get_and_data_of_unknown_nodes_are_not_found(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.manual())
    create(admin, "not-started")
    for call, request in (
        (admin.GetNodeExecution, node_execution_pb2.NodeExecutionGetRequest(id=node_id("not-started", "n0"))),
        (
            admin.GetNodeExecutionData,
            node_execution_pb2.NodeExecutionGetDataRequest(id=node_id("ghost", "n0")),
        ),
        (admin.GetNodeExecution, node_execution_pb2.NodeExecutionGetRequest(id=node_id("not-started", "zz"))),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call(request)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        admin.ListNodeExecutions(node_execution_pb2.NodeExecutionListRequest(limit=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "missing execution_id"


def test_task_executions_and_their_data(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.after_seconds(0))
    admin.CreateExecution(create_request("tasks", test_split_ratio=0.5))
    listed = admin.ListTaskExecutions(
        task_execution_pb2.TaskExecutionListRequest(node_execution_id=node_id("tasks", "n0"), limit=10)
    )
    (attempt,) = listed.task_executions
    assert attempt.id.task_id.name == SPLIT
    assert attempt.id.retry_attempt == 0
    assert attempt.closure.task_type == "python-task"
    again = admin.GetTaskExecution(task_execution_pb2.TaskExecutionGetRequest(id=attempt.id))
    assert again == attempt
    data = admin.GetTaskExecutionData(task_execution_pb2.TaskExecutionGetDataRequest(id=attempt.id))
    assert data.full_inputs.literals["test_split_ratio"].scalar.primitive.float_value == 0.5
    assert "o0" in data.full_outputs.literals
    assert (
        list(
            admin.ListTaskExecutions(
                task_execution_pb2.TaskExecutionListRequest(
                    node_execution_id=node_id("tasks", "start-node"), limit=10
                )
            ).task_executions
        )
        == []
    )
    missing = identifier_pb2.TaskExecutionIdentifier()
    missing.CopyFrom(attempt.id)
    missing.retry_attempt = 1
    with pytest.raises(grpc.RpcError) as err:
        admin.GetTaskExecution(task_execution_pb2.TaskExecutionGetRequest(id=missing))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        admin.ListTaskExecutions(task_execution_pb2.TaskExecutionListRequest(limit=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_real_runs_get_node_executions_from_the_same_record(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> None:
    from flytekit.configuration import Config, PlatformConfig
    from flytekit.remote import FlyteRemote

    emu = flyte_admin_emulator_factory(run_code=True, default_advance=Advance.after_seconds(0), run_workers=1)
    config = Config(platform=PlatformConfig(endpoint=emu.grpc_endpoint, insecure=True))
    remote = FlyteRemote(config, default_project=PROJECT, default_domain=DOMAIN)
    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    good = remote.execute(lp, inputs={"seed": 42}, execution_name="real-ok")
    bad = remote.execute(lp, inputs={"test_split_ratio": 1.5}, execution_name="real-bad")
    good = remote.sync(remote.wait(good, timeout=120, poll_interval=0.1), sync_nodes=True)
    assert list(good.node_executions) == ["start-node", "n0", "n1", "end-node"]
    assert good.node_executions["n1"].outputs["accuracy"] == good.outputs["accuracy"]  # computed by the run

    bad = remote.sync(remote.wait(bad, timeout=120, poll_interval=0.1), sync_nodes=True)
    assert list(bad.node_executions) == ["start-node", "n0"]  # fit_and_score never started
    failed = bad.node_executions["n0"]  # the task that raised, as flytekit's error names it
    assert NodePhase.Name(failed.closure.phase) == "FAILED"
    assert len(failed.closure.error.message.encode()) <= 100  # listed: trimmed, as flyteadmin lists it
    ended = failed.closure.started_at + failed.closure.duration
    assert abs(ended - (bad.closure.started_at + bad.closure.duration)) <= timedelta(microseconds=2)
    (attempt,) = failed.task_executions  # fetched with GetTaskExecution: the whole message
    assert "test_split_ratio must be within (0, 1)" in attempt.closure.error.message


def test_nodes_launched_by_a_task_are_none_and_an_unknown_task_execution_is_not_found(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.after_seconds(0))
    create(admin, "static")
    (attempt,) = admin.ListTaskExecutions(
        task_execution_pb2.TaskExecutionListRequest(node_execution_id=node_id("static", "n1"), limit=1)
    ).task_executions
    request = node_execution_pb2.NodeExecutionForTaskListRequest(task_execution_id=attempt.id, limit=10)
    assert list(admin.ListNodeExecutionsForTask(request).node_executions) == []
    request.task_execution_id.node_execution_id.node_id = "n0"  # n0 ran another task
    with pytest.raises(grpc.RpcError) as err:
        admin.ListNodeExecutionsForTask(request)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    request.limit = 0
    with pytest.raises(grpc.RpcError) as err:
        admin.ListNodeExecutionsForTask(request)
    assert (
        err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    )  # the limit is checked before the lookup, as flyteadmin


def test_start_node_outputs_the_workflow_inputs_and_end_node_takes_its_outputs(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(outputs={"n_estimators": 12}), Advance.after_seconds(0))
    admin.CreateExecution(create_request("edges", seed=4))
    get_data = node_execution_pb2.NodeExecutionGetDataRequest
    start = admin.GetNodeExecutionData(get_data(id=node_id("edges", "start-node")))
    assert dict(start.full_inputs.literals) == {}
    assert start.full_outputs.literals["seed"].scalar.primitive.integer == 4
    assert start.full_outputs.literals["test_split_ratio"].scalar.primitive.float_value == 0.33  # default
    end = admin.GetNodeExecutionData(get_data(id=node_id("edges", "end-node")))
    assert end.full_inputs.literals["n_estimators"].scalar.primitive.integer == 12
    assert end.full_outputs == end.full_inputs


def test_branch_and_sub_workflow_nodes_are_parent_nodes_flytekit_can_sync(
    flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    from node_workflows import branching

    from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend

    (name,) = register_in_backend(
        flyte_admin_emulator.backend, compile_workflow(branching, PROJECT, DOMAIN, "v1")
    )
    flyte_admin_emulator.set_default(Outcome.succeed(outputs={"o0": -8}), Advance.after_seconds(0))
    lp = remote.fetch_launch_plan(name=name)
    synced = remote.sync(remote.execute(lp, inputs={"x": 2}, execution_name="branchy"), sync_nodes=True)
    nodes = synced.node_executions
    assert list(nodes) == ["start-node", "n0", "n1", "n2", "end-node"]
    assert [nodes[n].metadata.is_parent_node for n in ("n0", "n1", "n2")] == [False, True, True]
    assert nodes["n1"].subworkflow_node_executions == {}  # no child node executions
    assert nodes["n2"].outputs["o0"] == -8  # the sub-workflow's output, bound to the workflow's
    assert synced.outputs["o0"] == -8
