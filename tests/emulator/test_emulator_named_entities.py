"""ListNamedEntities / GetNamedEntity over the registered launch plans, workflows and tasks."""

from __future__ import annotations

import grpc
import pytest
from flyteidl.admin import common_pb2
from flyteidl.core import identifier_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator.registration import compile_workflow, register_over_grpc
from support import workflows
from support.admin_rpc import create_request
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT

SPLIT = "ml_training.pima_diabetes.diabetes.split_traintest_dataset"
FIT = "ml_training.pima_diabetes.diabetes.fit_and_score"
WORKFLOW = identifier_pb2.WORKFLOW


def listed(
    admin: admin_pb2_grpc.AdminServiceStub, resource_type: int, project: str = PROJECT, **kwargs: object
) -> list[str]:
    kwargs.setdefault("limit", 100)
    request = common_pb2.NamedEntityListRequest(
        resource_type=resource_type,  # type: ignore[arg-type]
        project=project,
        domain=DOMAIN,
        **kwargs,  # type: ignore[arg-type]
    )
    return [e.id.name for e in admin.ListNamedEntities(request).entities]


def test_each_resource_type_lists_one_entry_per_registered_name(
    admin: admin_pb2_grpc.AdminServiceStub, channel: grpc.Channel
) -> None:
    register_over_grpc(channel, compile_workflow(workflows.needs_input, PROJECT, DOMAIN, "v1"))
    register_over_grpc(channel, compile_workflow(workflows.needs_input, PROJECT, DOMAIN, "v2"))  # same name
    assert listed(admin, identifier_pb2.LAUNCH_PLAN) == [LAUNCH_PLAN, "support.workflows.needs_input"]
    assert listed(admin, WORKFLOW) == [LAUNCH_PLAN, "support.workflows.needs_input"]
    assert sorted(listed(admin, identifier_pb2.TASK)) == sorted([SPLIT, FIT, "support.workflows.count_rows"])
    entity = admin.GetNamedEntity(
        common_pb2.NamedEntityGetRequest(
            resource_type=identifier_pb2.LAUNCH_PLAN,
            id=common_pb2.NamedEntityIdentifier(project=PROJECT, domain=DOMAIN, name=LAUNCH_PLAN),
        )
    )
    assert entity.resource_type == identifier_pb2.LAUNCH_PLAN
    assert entity.id.name == LAUNCH_PLAN
    assert entity.metadata.state == common_pb2.NAMED_ENTITY_ACTIVE


def test_generated_single_task_entities_are_hidden_unless_filters_are_given(
    admin: admin_pb2_grpc.AdminServiceStub,
) -> None:
    task = identifier_pb2.Identifier(
        resource_type=identifier_pb2.TASK, project=PROJECT, domain=DOMAIN, name=SPLIT, version="v1"
    )
    admin.CreateExecution(create_request("alone", lp=task, test_split_ratio=0.2))
    assert listed(admin, WORKFLOW) == [LAUNCH_PLAN]  # flyteadmin's implicit not_like(name,.flytegen%)
    assert listed(admin, WORKFLOW, filters="contains(name,flytegen)") == [f".flytegen.{SPLIT}"]


def test_filters_sort_and_pages(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    first = admin.ListNamedEntities(
        common_pb2.NamedEntityListRequest(
            resource_type=identifier_pb2.TASK, project=PROJECT, domain=DOMAIN, limit=1
        )
    )
    assert len(first.entities) == 1
    assert first.token == "1"
    by_name = common_pb2.Sort(key="name", direction=common_pb2.Sort.DESCENDING)
    assert listed(admin, identifier_pb2.TASK, sort_by=by_name) == [SPLIT, FIT]
    assert listed(admin, identifier_pb2.TASK, filters=f"eq(name,{FIT})") == [FIT]
    assert sorted(listed(admin, identifier_pb2.TASK, filters="eq(state,0)")) == [FIT, SPLIT]  # all ACTIVE
    assert listed(admin, identifier_pb2.TASK, filters="eq(state,1)") == []
    assert listed(admin, identifier_pb2.TASK, project="nope") == []


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (
            common_pb2.NamedEntityListRequest(project=PROJECT, domain=DOMAIN, limit=1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid value for resource_type",
        ),
        (
            common_pb2.NamedEntityListRequest(resource_type=WORKFLOW, domain=DOMAIN, limit=1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "missing project",
        ),
        (
            common_pb2.NamedEntityListRequest(resource_type=WORKFLOW, project=PROJECT, domain=DOMAIN),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid value for limit",
        ),
        (
            common_pb2.NamedEntityListRequest(
                resource_type=WORKFLOW, project=PROJECT, domain=DOMAIN, limit=1, filters="eq(version,v1)"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'nen.version' is invalid filter",
        ),
    ],
)
def test_bad_list_requests_get_flyteadmins_codes(
    admin: admin_pb2_grpc.AdminServiceStub,
    request_: common_pb2.NamedEntityListRequest,
    code: grpc.StatusCode,
    message: str,
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        admin.ListNamedEntities(request_)
    assert err.value.code() == code
    assert err.value.details() == message


def test_get_of_an_unknown_name_is_not_found(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    unknown = common_pb2.NamedEntityIdentifier(project=PROJECT, domain=DOMAIN, name="nope")
    with pytest.raises(grpc.RpcError) as err:
        admin.GetNamedEntity(common_pb2.NamedEntityGetRequest(resource_type=WORKFLOW, id=unknown))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        admin.GetNamedEntity(common_pb2.NamedEntityGetRequest(id=unknown))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
