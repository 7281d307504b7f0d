"""flyteidl requests as any Flyte client sends them, for tests that talk raw gRPC to the emulator."""

from __future__ import annotations

from typing import Any

import grpc
from flyteidl.admin import common_pb2, execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2
from flyteidl.service import admin_pb2_grpc

from support.flyte import DOMAIN, GOOD_INPUTS, LAUNCH_PLAN, PROJECT


def lp_id(name: str = LAUNCH_PLAN, version: str = "v1") -> identifier_pb2.Identifier:
    return identifier_pb2.Identifier(
        resource_type=identifier_pb2.LAUNCH_PLAN, project=PROJECT, domain=DOMAIN, name=name, version=version
    )


def ident(
    name: str, project: str = PROJECT, domain: str = DOMAIN
) -> identifier_pb2.WorkflowExecutionIdentifier:
    return identifier_pb2.WorkflowExecutionIdentifier(project=PROJECT, domain=DOMAIN, name=name)


def literal(value: Any) -> literals_pb2.Literal:
    if isinstance(value, bool):
        prim = literals_pb2.Primitive(boolean=value)
    elif isinstance(value, int):
        prim = literals_pb2.Primitive(integer=value)
    elif isinstance(value, float):
        prim = literals_pb2.Primitive(float_value=value)
    else:
        prim = literals_pb2.Primitive(string_value=str(value))
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=prim))


def create_request(
    name: str = "", lp: identifier_pb2.Identifier | None = None, **inputs: Any
) -> execution_pb2.ExecutionCreateRequest:
    req = execution_pb2.ExecutionCreateRequest(
        project=PROJECT, domain=DOMAIN, name=name, spec=execution_pb2.ExecutionSpec(launch_plan=lp or lp_id())
    )
    for key, value in inputs.items():
        req.inputs.literals[key].CopyFrom(literal(value))
    return req


def create(stub: admin_pb2_grpc.AdminServiceStub, name: str = "", **inputs: Any) -> str:
    return str(stub.CreateExecution(create_request(name, **inputs)).id.name)


def get(stub: admin_pb2_grpc.AdminServiceStub, name: str) -> execution_pb2.Execution:
    return stub.GetExecution(execution_pb2.WorkflowExecutionGetRequest(id=ident(name)))


def list_request(
    filters: str = "", limit: int = 100, token: str = "", **kwargs: Any
) -> common_pb2.ResourceListRequest:
    return common_pb2.ResourceListRequest(
        id=common_pb2.NamedEntityIdentifier(project=PROJECT, domain=DOMAIN),
        filters=filters,
        limit=limit,
        token=token,
        **kwargs,
    )


def launch(endpoint: str, *names: str) -> None:
    """Start executions of the example launch plan (its latest version) with valid inputs, over gRPC."""
    with grpc.insecure_channel(endpoint) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        plans = stub.ListLaunchPlans(
            common_pb2.ResourceListRequest(
                id=common_pb2.NamedEntityIdentifier(project=PROJECT, domain=DOMAIN, name=LAUNCH_PLAN),
                limit=1,
                sort_by=common_pb2.Sort(key="created_at", direction=common_pb2.Sort.DESCENDING),
            )
        )
        latest = plans.launch_plans[0].id
        for name in names:
            stub.CreateExecution(create_request(name, lp_id(latest.name, latest.version), **GOOD_INPUTS))
