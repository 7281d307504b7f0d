"""Bulk execution creation for benchmarks: the CreateExecution path without one RPC per execution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flyteidl.admin import execution_pb2
from flyteidl.core import identifier_pb2

from .backend import Backend
from .errors import NotFound
from .literals import python_to_literal


def latest_launch_plan(backend: Backend, project: str, domain: str, name: str) -> identifier_pb2.Identifier:
    rows = [r for r in backend.entities.rows("launch_plan") if r.key[:3] == (project, domain, name)]
    if not rows:
        raise NotFound(f"launch plan {project}/{domain}/{name} not found")
    latest = max(rows, key=lambda r: (r.created_at, r.seq))
    return identifier_pb2.Identifier(
        resource_type=identifier_pb2.LAUNCH_PLAN,
        project=project,
        domain=domain,
        name=name,
        version=latest.key[3],
    )


def create_executions(
    backend: Backend,
    project: str,
    domain: str,
    launch_plan: str,
    names: Iterable[str],
    inputs: dict[str, Any] | None = None,
    version: str | None = None,
) -> int:
    """Create one execution per name with the same (plain Python) inputs; returns the count."""
    if version:
        lp_id = identifier_pb2.Identifier(
            resource_type=identifier_pb2.LAUNCH_PLAN,
            project=project,
            domain=domain,
            name=launch_plan,
            version=version,
        )
    else:
        lp_id = latest_launch_plan(backend, project, domain, launch_plan)
    lp = backend.entities.get_launch_plan(lp_id)
    spec = execution_pb2.ExecutionSpec(launch_plan=lp_id)
    spec.metadata.mode = execution_pb2.ExecutionMetadata.MANUAL
    request = execution_pb2.ExecutionCreateRequest(project=project, domain=domain, spec=spec)
    params = lp.closure.expected_inputs.parameters
    for key, value in (inputs or {}).items():
        var_type = params[key].var.type if key in params else None
        request.inputs.literals[key].CopyFrom(python_to_literal(value, var_type))
    count = 0
    for name in names:
        request.name = name
        backend.create_execution(request)
        count += 1
    return count
