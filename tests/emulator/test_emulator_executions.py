"""Executions over a real gRPC socket: create, get, terminate, data, relaunch and their error codes."""

from __future__ import annotations

import grpc
import pytest
from flyteidl.admin import execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from support.admin_rpc import create, create_request, get, ident, lp_id
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT

Phase = core_execution_pb2.WorkflowExecution


def code_of(call: object) -> grpc.StatusCode:
    assert isinstance(call, grpc.RpcError)
    return call.code()  # type: ignore[no-any-return]


def test_create_then_get_returns_the_execution_with_flyteadmin_fields(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), Advance.manual(), name_pattern="first")
    response = admin.CreateExecution(create_request("first", test_split_ratio=0.2, seed=3))
    assert (response.id.project, response.id.domain, response.id.name) == (PROJECT, DOMAIN, "first")

    ex = get(admin, "first")
    assert ex.id.name == "first"
    assert ex.closure.phase == Phase.UNDEFINED
    assert ex.closure.created_at.seconds > 0
    assert ex.closure.updated_at == ex.closure.created_at
    assert not ex.closure.HasField("started_at")
    assert ex.closure.workflow_id.name == LAUNCH_PLAN
    assert ex.closure.workflow_id.resource_type == identifier_pb2.WORKFLOW
    assert ex.spec.launch_plan.name == LAUNCH_PLAN
    assert ex.spec.metadata.system_metadata.namespace == f"{PROJECT}-{DOMAIN}"
    assert ex.closure.state_change_details.state == execution_pb2.EXECUTION_ACTIVE


def test_generated_name_when_empty(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    name = create(admin)
    assert len(name) == 20
    assert name[0] == "a"
    assert name.isalnum()
    assert name.islower()
    assert get(admin, name).id.name == name


def test_duplicate_name_is_already_exists(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    create(admin, "dup")
    with pytest.raises(grpc.RpcError) as err:
        create(admin, "dup")
    assert code_of(err.value) == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("1starts-with-digit", "does not match regex"),
        ("has_underscore", "does not match regex"),
        ("a" * 64, "exceeded length 63"),
    ],
)
def test_bad_execution_name_is_invalid_argument(
    admin: admin_pb2_grpc.AdminServiceStub, name: str, fragment: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        create(admin, name)
    assert code_of(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in err.value.details()


def test_name_of_63_chars_and_uppercase_are_accepted_like_flyteadmin(
    admin: admin_pb2_grpc.AdminServiceStub,
) -> None:
    # flyteadmin validates the lower-cased name.
    assert create(admin, "a" * 63) == "a" * 63
    assert create(admin, "Upper-Case") == "Upper-Case"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.ClearField("project"), "missing project"),
        (lambda r: r.ClearField("domain"), "missing domain"),
        (lambda r: r.ClearField("spec"), "missing spec"),
        (lambda r: r.spec.launch_plan.ClearField("version"), "missing version"),
        (lambda r: setattr(r, "project", "nope"), "failed to validate that project [nope]"),
        (lambda r: setattr(r, "domain", "qa"), "and domain [qa] are registered"),
    ],
)
def test_missing_or_unknown_fields_are_invalid_argument(
    admin: admin_pb2_grpc.AdminServiceStub, mutate: object, message: str
) -> None:
    request = create_request("some-name")
    mutate(request)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateExecution(request)
    assert code_of(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()


def test_unknown_launch_plan_is_not_found(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    request = create_request("x", lp=lp_id(version="v999"))
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateExecution(request)
    assert code_of(err.value) == grpc.StatusCode.NOT_FOUND


def test_input_of_wrong_type_names_the_input(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        create(admin, "wrong-type", seed="seven")
    assert code_of(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid seed input wrong type" in err.value.details()
    assert "INTEGER" in err.value.details()
    assert "STRING" in err.value.details()


def test_unknown_input_names_the_input(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        create(admin, "unknown-input", learning_rate=0.1)
    assert code_of(err.value) == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "invalid input learning_rate"


def test_defaults_from_the_launch_plan_are_applied(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    create(admin, "defaults", seed=11)
    data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("defaults")))
    inputs = data.full_inputs.literals
    assert inputs["seed"].scalar.primitive.integer == 11
    assert inputs["test_split_ratio"].scalar.primitive.float_value == pytest.approx(0.33)
    assert not data.full_outputs.literals


def test_get_unknown_execution_is_not_found_and_missing_name_invalid(
    admin: admin_pb2_grpc.AdminServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        get(admin, "never-created")
    assert code_of(err.value) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        admin.GetExecution(execution_pb2.WorkflowExecutionGetRequest(id=ident("")))
    assert code_of(err.value) == grpc.StatusCode.INVALID_ARGUMENT


def test_terminate_sets_aborting_with_metadata_then_aborted(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(Outcome.hang(), Advance.manual())
    create(admin, "to-abort")
    flyte_admin_emulator.advance(PROJECT, DOMAIN, "to-abort")
    assert flyte_admin_emulator.advance(PROJECT, DOMAIN, "to-abort") == "RUNNING"
    running = get(admin, "to-abort")

    admin.TerminateExecution(
        execution_pb2.ExecutionTerminateRequest(id=ident("to-abort"), cause="user asked")
    )
    aborting = get(admin, "to-abort")
    assert aborting.closure.phase == Phase.ABORTING
    assert aborting.closure.abort_metadata.cause == "user asked"
    assert aborting.closure.abort_metadata.principal == ""  # no auth: flyteadmin has no user either
    assert aborting.closure.updated_at == running.closure.updated_at  # flyteadmin leaves it alone here

    assert flyte_admin_emulator.advance(PROJECT, DOMAIN, "to-abort") == "ABORTED"
    aborted = get(admin, "to-abort")
    assert aborted.closure.phase == Phase.ABORTED
    assert aborted.closure.abort_metadata.cause == "user asked"
    assert aborted.closure.duration.ToNanoseconds() >= 0
    assert aborted.closure.HasField("duration")

    with pytest.raises(grpc.RpcError) as err:
        admin.TerminateExecution(execution_pb2.ExecutionTerminateRequest(id=ident("to-abort"), cause="again"))
    assert code_of(err.value) == grpc.StatusCode.FAILED_PRECONDITION


def test_terminate_unknown_is_not_found(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        admin.TerminateExecution(execution_pb2.ExecutionTerminateRequest(id=ident("ghost"), cause="x"))
    assert code_of(err.value) == grpc.StatusCode.NOT_FOUND


def test_execution_data_has_outputs_matching_the_interface_on_success(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(outputs={"accuracy": 0.91}), Advance.manual())
    create(admin, "with-outputs")
    assert flyte_admin_emulator.complete(PROJECT, DOMAIN, "with-outputs") == "SUCCEEDED"
    data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("with-outputs")))
    outputs = data.full_outputs.literals
    assert set(outputs) == {"accuracy", "n_estimators"}
    assert outputs["accuracy"].scalar.primitive.float_value == pytest.approx(0.91)
    assert outputs["n_estimators"].scalar.primitive.HasField("integer")
    ex = get(admin, "with-outputs")
    assert ex.closure.outputs.uri.endswith("/with-outputs/outputs.pb")


def test_failed_execution_has_no_outputs(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.script(Outcome.fail("bad data", code="USER:ValueError"), Advance.manual())
    create(admin, "failing")
    assert flyte_admin_emulator.complete(PROJECT, DOMAIN, "failing") == "FAILED"
    ex = get(admin, "failing")
    assert ex.closure.error.code == "USER:ValueError"
    assert ex.closure.error.message == "bad data"
    assert ex.closure.error.kind == core_execution_pb2.ExecutionError.USER
    data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("failing")))
    assert not data.full_outputs.literals


def test_relaunch_creates_a_new_execution_with_the_same_inputs(
    admin: admin_pb2_grpc.AdminServiceStub,
) -> None:
    create(admin, "original", seed=5)
    response = admin.RelaunchExecution(
        execution_pb2.ExecutionRelaunchRequest(id=ident("original"), name="again")
    )
    assert response.id.name == "again"
    again = get(admin, "again")
    assert again.spec.metadata.mode == execution_pb2.ExecutionMetadata.RELAUNCH
    assert again.spec.metadata.reference_execution.name == "original"
    data = admin.GetExecutionData(execution_pb2.WorkflowExecutionGetDataRequest(id=ident("again")))
    assert data.full_inputs.literals["seed"].scalar.primitive.integer == 5
    generated = admin.RelaunchExecution(execution_pb2.ExecutionRelaunchRequest(id=ident("original"))).id.name
    assert generated not in ("original", "again")
    with pytest.raises(grpc.RpcError) as err:
        admin.RelaunchExecution(execution_pb2.ExecutionRelaunchRequest(id=ident("nothing-here")))
    assert code_of(err.value) == grpc.StatusCode.NOT_FOUND


def test_single_task_execution_of_unknown_task_is_not_found(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    # Single-task executions are emulated (test_emulator_single_task.py); only the task must exist.
    task = identifier_pb2.Identifier(
        resource_type=identifier_pb2.TASK, project=PROJECT, domain=DOMAIN, name="t", version="v1"
    )
    with pytest.raises(grpc.RpcError) as err:
        admin.CreateExecution(create_request("task-run", lp=task))
    assert code_of(err.value) == grpc.StatusCode.NOT_FOUND


def test_archived_executions_disappear_from_lists_like_flyteadmin(
    admin: admin_pb2_grpc.AdminServiceStub,
) -> None:
    from support.admin_rpc import list_request

    create(admin, "keep")
    create(admin, "archive-me")
    admin.UpdateExecution(
        execution_pb2.ExecutionUpdateRequest(id=ident("archive-me"), state=execution_pb2.EXECUTION_ARCHIVED)
    )
    names = {e.id.name for e in admin.ListExecutions(list_request()).executions}
    assert names == {"keep"}
    archived = admin.ListExecutions(list_request("eq(state,1)")).executions
    assert [e.id.name for e in archived] == ["archive-me"]
