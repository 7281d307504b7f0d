"""Single-task executions (CreateExecution of a TASK) as flyteadmin v1.16 runs them, over real gRPC.

flyteadmin wraps the task in a generated workflow and launch plan ``.flytegen.<task>`` (created on the
first launch, INACTIVE, every task input required) and runs that through the usual phase machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import common_pb2, execution_pb2, launch_plan_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2
from flyteidl.service import admin_pb2_grpc
from flytekit.exceptions.user import FlyteEntityNotExistException, FlyteInvalidInputException
from flytekit.models.core.execution import WorkflowExecutionPhase
from flytekit.remote import FlyteRemote

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.emulator.single_task import node_id_for, skeleton_workflow
from support.admin_rpc import create_request, get, ident, list_request
from support.flyte import DOMAIN, PROJECT

Phase = core_execution_pb2.WorkflowExecution
MODULE = "ml_training.pima_diabetes.diabetes"
FIT = f"{MODULE}.fit_and_score"  # (train_rows: int, seed: int) -> (accuracy: float, n_estimators: int)
SPLIT = f"{MODULE}.split_traintest_dataset"  # (test_split_ratio: float) -> o0: int


def task_id(name: str = FIT, version: str = "v1") -> identifier_pb2.Identifier:
    return identifier_pb2.Identifier(
        resource_type=identifier_pb2.TASK, project=PROJECT, domain=DOMAIN, name=name, version=version
    )


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert isinstance(err.value, grpc.RpcError)
    return err.value


def test_flyteremote_executes_a_registered_task(
    remote: FlyteRemote, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(
        Outcome.succeed(outputs={"accuracy": 0.93}), Advance.after_reads(1), launch_plan=FIT
    )
    task = remote.fetch_task(name=FIT)  # latest version
    assert task.id.version == "v1"
    assert set(task.interface.inputs) == {"train_rows", "seed"}

    first = remote.execute(task, inputs={"train_rows": 514, "seed": 3}, execution_name="fit-1")
    again = remote.execute(task, inputs={"train_rows": 514, "seed": 3}, execution_name="fit-1")
    assert first.id == again.id  # ALREADY_EXISTS is "the same execution" to flytekit
    assert flyte_admin_emulator.backend.names(PROJECT, DOMAIN) == ["fit-1"]

    done = remote.wait(first, timeout=30, poll_interval=0.01)
    assert done.closure.phase == WorkflowExecutionPhase.SUCCEEDED
    assert done.outputs["accuracy"] == pytest.approx(0.93)  # scripted by launch plan name = task name
    assert done.outputs["n_estimators"] == 0  # a default of the declared type
    assert done.inputs["train_rows"] == 514
    assert done.inputs["seed"] == 3

    fetched = remote.fetch_execution(name="fit-1")
    assert fetched.spec.launch_plan.resource_type == identifier_pb2.TASK
    assert fetched.spec.launch_plan.name == FIT
    synced = remote.sync_execution(fetched, sync_nodes=True)  # the task is the one node
    assert synced.node_executions
    assert synced.outputs["accuracy"] == pytest.approx(0.93)


def test_outputs_match_the_task_output_interface(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.after_seconds(0))
    request = create_request("split-1", lp=task_id(SPLIT), test_split_ratio=0.25)
    admin.CreateExecution(request)
    assert get(admin, "split-1").closure.phase == Phase.SUCCEEDED
    data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("split-1")))
    assert set(data.full_outputs.literals) == {"o0"}
    assert data.full_outputs.literals["o0"].scalar.primitive.WhichOneof("value") == "integer"
    assert data.full_inputs.literals["test_split_ratio"].scalar.primitive.float_value == 0.25


def test_generated_workflow_and_launch_plan_are_flyteadmins(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    admin.CreateExecution(create_request("fit-gen", lp=task_id(), train_rows=1, seed=2))
    admin.CreateExecution(create_request("fit-gen-2", lp=task_id(), train_rows=1, seed=2))  # reuses them
    ex = get(admin, "fit-gen")
    wf_id = ex.closure.workflow_id
    assert (wf_id.resource_type, wf_id.name, wf_id.version) == (
        identifier_pb2.WORKFLOW,
        f".flytegen.{FIT}",
        "v1",
    )
    assert get(admin, "fit-gen-2").closure.workflow_id == wf_id

    wf = admin.GetWorkflow(common_pb2.ObjectGetRequest(id=wf_id)).closure.compiled_workflow
    (node,) = wf.primary.template.nodes
    assert node.id == "mltrainingpimadiabetesdiabetesfitandscore"  # letters, digits and '-' only
    assert node.task_node.reference_id == task_id()
    assert node.metadata.HasField("retries")  # the task's own retry strategy (flytekit always sets one)
    assert node.metadata.retries.retries == 0
    assert {b.var: b.binding.promise.node_id for b in node.inputs} == {"train_rows": "", "seed": ""}
    assert {b.var: b.binding.promise.node_id for b in wf.primary.template.outputs} == {
        "accuracy": node.id,
        "n_estimators": node.id,
    }
    assert list(wf.primary.connections.upstream[node.id].ids) == ["start-node"]
    assert [t.template.id.name for t in wf.tasks] == [FIT]

    lp_ref = identifier_pb2.Identifier(
        resource_type=identifier_pb2.LAUNCH_PLAN,
        project=PROJECT,
        domain=DOMAIN,
        name=f".flytegen.{FIT}",
        version="v1",
    )
    lp = admin.GetLaunchPlan(common_pb2.ObjectGetRequest(id=lp_ref))
    assert lp.closure.state == launch_plan_pb2.INACTIVE
    assert lp.spec.workflow_id.name == FIT  # flyteadmin names the task here, not the generated workflow
    params = lp.closure.expected_inputs.parameters
    assert {name: p.required for name, p in params.items()} == {"train_rows": True, "seed": True}
    assert set(lp.closure.expected_outputs.variables) == {"accuracy", "n_estimators"}
    listed = admin.ListLaunchPlans(
        common_pb2.ResourceListRequest(
            id=common_pb2.NamedEntityIdentifier(project=PROJECT, domain=DOMAIN, name=lp_ref.name), limit=10
        )
    )
    assert len(listed.launch_plans) == 1


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"seed": 2}, "expected_inputs train_rows missing"),
        ({}, "missing"),
        ({"train_rows": 1, "seed": "two"}, "invalid seed input wrong type"),
        ({"train_rows": 1.5, "seed": 2}, "invalid train_rows input wrong type"),
        ({"train_rows": 1, "seed": 2, "epochs": 3}, "invalid input epochs"),
    ],
)
def test_inputs_are_checked_against_the_task_interface(
    admin: admin_pb2_grpc.AdminServiceStub,
    flyte_admin_emulator: FlyteAdminEmulator,
    inputs: dict[str, object],
    message: str,
) -> None:
    err = rpc_error(lambda: admin.CreateExecution(create_request("bad-input", lp=task_id(), **inputs)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (err.details() or "")
    assert flyte_admin_emulator.backend.names(PROJECT, DOMAIN) == []


def test_wrong_type_message_is_the_launch_plan_one(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    from_task = rpc_error(
        lambda: admin.CreateExecution(create_request("bad-type", lp=task_id(), train_rows=1, seed="two"))
    )
    from_lp = rpc_error(lambda: admin.CreateExecution(create_request("bad-type", seed="two")))
    assert (
        from_task.details()
        == from_lp.details()
        == "invalid seed input wrong type. Expected INTEGER, but got STRING"
    )


def test_skeleton_node_gets_flyteadmins_default_retries_when_the_task_sets_none() -> None:
    from flyteidl.admin import task_pb2

    task = task_pb2.Task(id=task_id("my-task.with_odd.Name-2"))
    task.closure.compiled_task.template.id.CopyFrom(task.id)
    request = skeleton_workflow(task.id, task)
    (node,) = request.spec.template.nodes
    assert node.metadata.retries.retries == 3
    assert node.id == node.metadata.name == "my-taskwithoddName-2"
    assert request.id.name == ".flytegen.my-task.with_odd.Name-2"
    assert node_id_for("x" * 70 + ".t") == "x" * 61 + "t"  # the last 63 characters, then filtered


def test_flyteremote_sees_invalid_argument_for_a_missing_input(remote: FlyteRemote) -> None:
    task = remote.fetch_task(name=FIT, version="v1")
    with pytest.raises(FlyteInvalidInputException, match="expected_inputs train_rows missing"):
        remote.execute(task, inputs={"seed": 1}, execution_name="no-rows")


def test_unknown_task_or_version_is_not_found_and_creates_nothing(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    for ref in (task_id("no.such.task"), task_id(FIT, "v9")):
        err = rpc_error(lambda ref=ref: admin.CreateExecution(create_request("ghost", lp=ref)))
        assert err.code() == grpc.StatusCode.NOT_FOUND
    assert flyte_admin_emulator.backend.names(PROJECT, DOMAIN) == []
    generated = [r.key[2] for r in flyte_admin_emulator.backend.entities.rows("workflow")]
    assert not any(name.startswith(".flytegen.") for name in generated)
    with pytest.raises(FlyteEntityNotExistException):
        remote.fetch_task(name="no.such.task", version="v1")
    err = rpc_error(
        lambda: admin.CreateExecution(
            create_request(
                "wrong-kind",
                lp=identifier_pb2.Identifier(
                    resource_type=identifier_pb2.WORKFLOW,
                    project=PROJECT,
                    domain=DOMAIN,
                    name=FIT,
                    version="v1",
                ),
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "only [LAUNCH_PLAN TASK] allowed" in (err.details() or "")


def test_scripting_by_name_pattern_and_by_task_name(
    remote: FlyteRemote, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(
        Outcome.fail("rows < 0", code="USER:ValueError"), Advance.after_reads(1), name_pattern="fail-*"
    )
    flyte_admin_emulator.script(Outcome.hang(), Advance.after_reads(1), launch_plan=SPLIT)
    fit = remote.fetch_task(name=FIT, version="v1")
    failed = remote.wait(
        remote.execute(fit, inputs={"train_rows": -1, "seed": 0}, execution_name="fail-1"),
        timeout=30,
        poll_interval=0.01,
    )
    assert failed.closure.phase == WorkflowExecutionPhase.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == ("USER:ValueError", "rows < 0")

    split = remote.fetch_task(name=SPLIT, version="v1")
    stuck = remote.execute(split, inputs={"test_split_ratio": 0.5}, execution_name="split-stuck")
    for _ in range(5):
        stuck = remote.sync_execution(stuck)
    assert stuck.closure.phase == WorkflowExecutionPhase.RUNNING
    remote.terminate(stuck, cause="enough")
    aborted = remote.wait(stuck, timeout=30, poll_interval=0.01)
    assert aborted.closure.phase == WorkflowExecutionPhase.ABORTED
    assert aborted.closure.abort_metadata.cause == "enough"


def test_list_filters_join_the_task_not_a_launch_plan(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.create_executions(PROJECT, DOMAIN, f"{MODULE}.diabetes_xgboost_model", ["from-lp"])
    admin.CreateExecution(create_request("from-task", lp=task_id(), train_rows=1, seed=2))

    def names(filters: str) -> list[str]:
        return [e.id.name for e in admin.ListExecutions(list_request(filters)).executions]

    assert names(f"eq(task.name,{FIT})") == ["from-task"]
    assert names("eq(task.version,v1)") == ["from-task"]
    assert names(f"eq(launch_plan.name,{FIT})") == []  # flyteadmin sets no launch_plan_id for task runs
    assert names("eq(launch_plan.version,v1)") == ["from-lp"]
    assert names(f"eq(workflow.name,.flytegen.{FIT})") == ["from-task"]
    assert names("eq(launch_entity,task)") == ["from-task"]
    assert names("eq(launch_entity,launch_plan)") == ["from-lp"]


def test_relaunch_of_a_task_execution(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    admin.CreateExecution(create_request("fit-orig", lp=task_id(), train_rows=7, seed=8))
    admin.RelaunchExecution(execution_pb2.ExecutionRelaunchRequest(id=ident("fit-orig"), name="fit-again"))
    again = get(admin, "fit-again")
    assert again.spec.launch_plan == task_id()
    assert again.spec.metadata.mode == execution_pb2.ExecutionMetadata.RELAUNCH
    data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("fit-again")))
    assert data.full_inputs.literals["seed"].scalar.primitive.integer == 8


def test_restart_keeps_task_executions_and_generated_entities(
    tmp_path: Path, flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]
) -> None:
    db = str(tmp_path / "admin.sqlite")
    first = flyte_admin_emulator_factory(db_path=db, default_advance=Advance.manual())
    with grpc.insecure_channel(first.grpc_endpoint) as channel:
        admin_pb2_grpc.AdminServiceStub(channel).CreateExecution(
            create_request("fit-kept", lp=task_id(), train_rows=3, seed=4)
        )
    first.complete(PROJECT, DOMAIN, "fit-kept", Outcome.succeed(outputs={"n_estimators": 12}))
    before = first.execution(PROJECT, DOMAIN, "fit-kept")
    first.stop_in_thread()

    second = flyte_admin_emulator_factory(db_path=db, default_advance=Advance.manual())
    with grpc.insecure_channel(second.grpc_endpoint) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        assert get(admin, "fit-kept") == before
        data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("fit-kept")))
        assert data.full_outputs.literals["n_estimators"].scalar.primitive.integer == 12
        admin.CreateExecution(create_request("fit-after", lp=task_id(), train_rows=3, seed=4))  # reuses them
        assert get(admin, "fit-after").closure.workflow_id == before.closure.workflow_id
