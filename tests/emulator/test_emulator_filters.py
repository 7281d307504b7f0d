"""flyteadmin's filter grammar (parser unit tests) and ListExecutions over gRPC: filters, sort, pages."""

from __future__ import annotations

from datetime import datetime, timezone

import grpc
import pytest
from flyteidl.admin import common_pb2, execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.emulator.errors import InvalidArgument
from flyte_async_provider.emulator.filters import parse_duration, parse_filters, parse_time
from support.admin_rpc import create, get, list_request
from support.flyte import DOMAIN, PROJECT

Phase = core_execution_pb2.WorkflowExecution


# -- parser ---------------------------------------------------------------------------------------
def test_parses_every_function_joined_by_plus() -> None:
    text = (
        "eq(phase,RUNNING)+ne(phase,FAILED)+gt(execution_created_at,2024-01-01T00:00:00Z)"
        "+gte(duration,1.5)+lt(started_at,2030-01-01T00:00:00.123456789Z)+lte(duration,1m30s)"
        "+contains(execution_name,abc)+value_in(execution_name,a;b;c)+value_not_in(phase,ABORTED;FAILED)"
    )
    parsed = parse_filters(text)
    assert [f.func for f in parsed] == [
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "contains",
        "value_in",
        "value_not_in",
    ]
    assert parsed[2].values == (int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()) * 10**6,)
    assert parsed[5].values == (90.0,)
    assert parsed[7].values == ("a", "b", "c")
    assert parsed[0].test("RUNNING")
    assert not parsed[0].test("FAILED")
    assert parsed[7].test("b")
    assert not parsed[7].test("d")
    assert parsed[8].test("RUNNING")
    assert not parsed[8].test("FAILED")
    assert parsed[6].test("xxabcxx")
    assert not parsed[6].test("ab")


def test_space_after_comma_is_accepted() -> None:
    assert parse_filters("eq(phase, RUNNING)")[0].values == ("RUNNING",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("eq(name,x)", "'e.name' is invalid filter"),
        ("eq(project,x)", "'e.project' is invalid filter"),
        ("eq(nosuchcolumn,x)", "'e.nosuchcolumn' is invalid filter"),
        ("like(phase,x)", "unrecognized filter function: like"),
        ("phase=RUNNING", "invalid value for filters"),
        ("eq(phase,A;B)", "invalid single value filter expression: equal"),
        ("eq(node_execution.phase,x)", "'ne' entity is not allowed in filters"),
        ("eq(launch_plan.nosuch,x)", "'l.nosuch' is invalid filter"),
        ("gt(execution_created_at,yesterday)", "Timestamp yesterday must conform to RFC3339 Nano spec"),
        ("gt(duration,forever)", "Failed to parse duration [forever]"),
    ],
)
def test_rejections_have_flyteadmins_messages(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_filters(text)
    assert err.value.message == message


def test_time_and_duration_parsing() -> None:
    assert parse_time("1970-01-01T00:00:10Z") == 10_000_000
    assert parse_time("1970-01-01T01:00:10.000001+01:00") == 10_000_001
    assert parse_time("1970-01-01T00:00:10.123456789Z") == 10_123_456
    assert parse_duration("2h") == 7200.0
    assert parse_duration("1.5") == 1.5
    assert parse_duration("250ms") == pytest.approx(0.25)
    with pytest.raises(InvalidArgument):
        parse_time("2024-01-01T00:00:00")  # no zone: not RFC 3339


# -- over gRPC --------------------------------------------------------------------------------------
def test_value_in_execution_name_fetches_many_in_one_call(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    for i in range(5):
        create(admin, f"many-{i}")
    result = admin.ListExecutions(list_request("value_in(execution_name,many-1;many-3;ghost)"))
    assert [e.id.name for e in result.executions] == ["many-1", "many-3"]
    assert result.token == ""


def test_eq_name_is_invalid_argument_over_grpc(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        admin.ListExecutions(list_request("eq(name,x)"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'e.name' is invalid filter" in err.value.details()


def test_phase_and_time_filters(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.manual())
    for name in ("p-1", "p-2", "p-3"):
        create(admin, name)
    flyte_admin_emulator.complete(PROJECT, DOMAIN, "p-2")
    flyte_admin_emulator.terminate(PROJECT, DOMAIN, "p-3", "stop", "someone")

    def names(filters: str) -> list[str]:
        return [e.id.name for e in admin.ListExecutions(list_request(filters)).executions]

    assert names("eq(phase,SUCCEEDED)") == ["p-2"]
    assert names("value_in(phase,UNDEFINED;ABORTING)") == ["p-1", "p-3"]
    assert names("ne(phase,UNDEFINED)") == ["p-2", "p-3"]
    assert names("eq(abort_cause,stop)") == ["p-3"]
    assert names("contains(execution_name,-2)") == ["p-2"]
    created = get(admin, "p-2").closure.created_at.ToDatetime(tzinfo=timezone.utc)
    stamp = created.isoformat().replace("+00:00", "Z")
    assert names(f"gte(execution_created_at,{stamp})+lte(execution_created_at,{stamp})") == ["p-2"]
    assert names("gt(execution_created_at,2999-01-01T00:00:00Z)") == []
    assert names(
        "eq(launch_plan.name,ml_training.pima_diabetes.diabetes.diabetes_xgboost_model)+eq(phase,SUCCEEDED)"
    ) == ["p-2"]
    assert names("eq(launch_plan.name,other)") == []


def test_sort_limit_and_offset_tokens(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    for i in range(5):
        create(admin, f"page-{i}")
    desc = common_pb2.Sort(key="execution_created_at", direction=common_pb2.Sort.DESCENDING)
    first = admin.ListExecutions(list_request(limit=2, sort_by=desc))
    assert [e.id.name for e in first.executions] == ["page-4", "page-3"]
    assert first.token == "2"
    second = admin.ListExecutions(list_request(limit=2, token=first.token, sort_by=desc))
    assert [e.id.name for e in second.executions] == ["page-2", "page-1"]
    assert second.token == "4"
    last = admin.ListExecutions(list_request(limit=2, token=second.token, sort_by=desc))
    assert [e.id.name for e in last.executions] == ["page-0"]
    assert last.token == ""  # only a full page carries a token
    asc = common_pb2.Sort(key="execution_name", direction=common_pb2.Sort.ASCENDING)
    assert [e.id.name for e in admin.ListExecutions(list_request(limit=3, sort_by=asc)).executions] == [
        "page-0",
        "page-1",
        "page-2",
    ]


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"limit": 0}, "invalid value for limit"),
        ({"token": "abc"}, "invalid pagination token abc for ListExecutions"),
        ({"token": "-1"}, "invalid pagination token -1 for ListExecutions"),
        ({"sort_by": common_pb2.Sort(key="name")}, "invalid sort key 'name'"),
    ],
)
def test_bad_list_requests_are_invalid_argument(
    admin: admin_pb2_grpc.AdminServiceStub, request_kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        admin.ListExecutions(list_request(**request_kwargs))  # type: ignore[arg-type]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == message


def test_missing_project_is_invalid_argument(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        admin.ListExecutions(common_pb2.ResourceListRequest(limit=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_lists_trim_error_messages_and_drop_inputs(
    admin: admin_pb2_grpc.AdminServiceStub, flyte_admin_emulator: FlyteAdminEmulator
) -> None:
    long_message = "é" + "x" * 300  # a 2-byte character first: the cut must stay valid UTF-8
    flyte_admin_emulator.script(Outcome.fail(long_message), Advance.manual())
    request = execution_pb2.ExecutionCreateRequest(
        project=PROJECT,
        domain=DOMAIN,
        name="long-error",
        spec=execution_pb2.ExecutionSpec(launch_plan=get_lp()),
    )
    request.spec.inputs.literals["seed"].scalar.primitive.integer = 1  # old clients put inputs in the spec
    admin.CreateExecution(request)
    flyte_admin_emulator.complete(PROJECT, DOMAIN, "long-error")
    listed = admin.ListExecutions(list_request("eq(execution_name,long-error)")).executions[0]
    assert len(listed.closure.error.message.encode()) == 100
    assert listed.closure.error.message == long_message.encode()[:100].decode()
    assert not listed.spec.inputs.literals
    full = get(admin, "long-error")
    assert full.closure.error.message == long_message
    assert full.spec.inputs.literals["seed"].scalar.primitive.integer == 1


def get_lp() -> object:
    from support.admin_rpc import lp_id

    return lp_id()


def test_name_in_the_request_id_filters_like_flyteadmin(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    create(admin, "by-id-a")
    create(admin, "by-id-b")
    request = list_request()
    request.id.name = "by-id-b"
    assert [e.id.name for e in admin.ListExecutions(request).executions] == ["by-id-b"]
