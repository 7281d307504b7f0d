"""Create executions on the emulator the way any Flyte client does: a CreateExecution RPC."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from flyteidl.admin import common_pb2, execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.connections import clear_connection_cache

PROJECT = "flytesnacks"
DOMAIN = "development"
LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"


def _literal(value: float | int) -> literals_pb2.Literal:
    primitive = (
        literals_pb2.Primitive(float_value=value)
        if isinstance(value, float)
        else literals_pb2.Primitive(integer=value)
    )
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=primitive))


def launch(endpoint: str, *names: str, project: str = PROJECT, domain: str = DOMAIN) -> None:
    """Start executions of the example launch plan (latest version) with valid inputs."""
    with grpc.insecure_channel(endpoint) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        plans = stub.ListLaunchPlans(
            common_pb2.ResourceListRequest(
                id=common_pb2.NamedEntityIdentifier(project=project, domain=domain, name=LAUNCH_PLAN),
                limit=1,
                sort_by=common_pb2.Sort(key="created_at", direction=common_pb2.Sort.DESCENDING),
            )
        )
        lp_id = plans.launch_plans[0].id
        inputs = literals_pb2.LiteralMap(literals={"test_split_ratio": _literal(0.66), "seed": _literal(5)})
        for name in names:
            stub.CreateExecution(
                execution_pb2.ExecutionCreateRequest(
                    project=project,
                    domain=domain,
                    name=name,
                    spec=execution_pb2.ExecutionSpec(
                        launch_plan=identifier_pb2.Identifier(
                            resource_type=identifier_pb2.LAUNCH_PLAN,
                            project=lp_id.project,
                            domain=lp_id.domain,
                            name=lp_id.name,
                            version=lp_id.version,
                        )
                    ),
                    inputs=inputs,
                )
            )


def set_flyte_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, endpoint: str, **fields: Any) -> None:
    """Define ``conn_id`` through ``AIRFLOW_CONN_*`` and forget cached configs."""
    host, port = endpoint.rsplit(":", 1)
    conn: dict[str, Any] = {"conn_type": "flyte", "host": host, "port": int(port)}
    extra = {"insecure": True, **fields.pop("extra", {})}
    conn.update(fields)
    conn["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    clear_connection_cache()
