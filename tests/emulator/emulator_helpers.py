"""Shared helpers for the emulator tests (imported as a top-level module: tests dirs have no __init__)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from flyteidl.admin import common_pb2, execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2
from flyteidl.service import admin_pb2_grpc
from flytekit import task, workflow

PROJECT = "flytesnacks"
DOMAIN = "development"
LP_NAME = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"

T = TypeVar("T")


def lp_id(name: str = LP_NAME, version: str = "v1") -> identifier_pb2.Identifier:
    return identifier_pb2.Identifier(
        resource_type=identifier_pb2.LAUNCH_PLAN, project=PROJECT, domain=DOMAIN, name=name, version=version
    )


def ident(name: str) -> identifier_pb2.WorkflowExecutionIdentifier:
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


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll until ``predicate()`` is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


# A second workflow with a required input, registered by tests through the Create RPCs.
@task
def count_rows(n: int, label: str) -> int:
    return n * 2


@workflow
def needs_input(n: int, label: str = "x") -> int:
    return count_rows(n=n, label=label)
