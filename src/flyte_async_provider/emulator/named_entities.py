"""ListNamedEntities / GetNamedEntity: one entry per (project, domain, name) of a registered resource type.

flyteadmin joins the task/workflow/launch plan table, grouped by name, with its named entity metadata
table (description, state); the emulator has no UpdateNamedEntity, so the metadata is always the
default (empty description, NAMED_ENTITY_ACTIVE). Without filters, system-generated ``.flytegen.*``
entities (single-task executions) are left out, as flyteadmin's implicit ``not_like(name,.flytegen%)``.
Filters, sort keys and tokens follow the other list RPCs (filters.py).
"""

from __future__ import annotations

import functools
from typing import Any

from flyteidl.admin import common_pb2
from flyteidl.core import identifier_pb2

from flyte_async_provider.emulator.rpc_impl import Impl, rpc_methods

from . import filters as flt
from .entities import EntityRecord, EntityStore, check_sort, parse_token
from .errors import InvalidArgument, NotFound

_KIND = {
    identifier_pb2.TASK: "task",
    identifier_pb2.WORKFLOW: "workflow",
    identifier_pb2.LAUNCH_PLAN: "launch_plan",
}
IMPLICIT_FILTER = "not_like(name,.flytegen%)"


def _check_resource_type(resource_type: int) -> str:
    known = identifier_pb2.ResourceType.values()
    if resource_type == identifier_pb2.UNSPECIFIED or resource_type not in known:
        raise InvalidArgument("invalid value for resource_type")
    kind = _KIND.get(resource_type)
    if kind is None:
        raise InvalidArgument(
            "Cannot get NamedEntityMetadata for resource type: "
            f"{identifier_pb2.ResourceType.Name(resource_type)}"
        )
    return kind


def _named(resource_type: int, record: EntityRecord[Any]) -> common_pb2.NamedEntity:
    project, domain, name, _ = record.key
    return common_pb2.NamedEntity(
        resource_type=resource_type,
        id=common_pb2.NamedEntityIdentifier(project=project, domain=domain, name=name),
        metadata=common_pb2.NamedEntityMetadata(state=common_pb2.NAMED_ENTITY_ACTIVE),
    )


def _column(resource_type: int, record: EntityRecord[Any], entity: str, column: str) -> Any:
    project, domain, name, _ = record.key
    values: dict[str, Any] = {
        "project": project,
        "domain": domain,
        "name": name,
        "resource_type": str(resource_type),
        "description": "",
        "state": str(common_pb2.NAMED_ENTITY_ACTIVE),
    }
    if column in values:
        return values[column]
    raise InvalidArgument(f"filtering or sorting on '{entity}.{column}' is not supported by the emulator")


def _first_versions(rows: list[EntityRecord[Any]], project: str, domain: str) -> list[EntityRecord[Any]]:
    """The first registered version of each name in project/domain, in registration order."""
    first: dict[str, EntityRecord[Any]] = {}
    for row in sorted(rows, key=lambda r: r.seq):
        if row.key[:2] == (project, domain):
            first.setdefault(row.key[2], row)
    return list(first.values())


class NamedEntityImpl:
    """The two RPCs, over the registered entities."""

    def __init__(self, entities: EntityStore) -> None:
        self.entities = entities

    def methods(self) -> dict[str, Impl]:
        return rpc_methods(self)

    def ListNamedEntities(
        self, req: common_pb2.NamedEntityListRequest, principal: str
    ) -> common_pb2.NamedEntityList:
        if not req.project:
            raise InvalidArgument("missing project")
        if not req.domain:
            raise InvalidArgument("missing domain")
        if req.resource_type == identifier_pb2.UNSPECIFIED:
            raise InvalidArgument("invalid value for resource_type")
        if req.limit <= 0:
            raise InvalidArgument("invalid value for limit")
        kind = _check_resource_type(req.resource_type)
        parsed = flt.parse_filters(req.filters or IMPLICIT_FILTER, flt.NAMED_ENTITY)
        sort = req.sort_by if req.HasField("sort_by") else None
        if sort is not None:
            check_sort(sort, flt.COLUMNS[flt.NAMED_ENTITY])
        try:
            offset = parse_token(req.token)
        except InvalidArgument:
            raise InvalidArgument(f"invalid pagination token {req.token} for ListNamedEntities") from None
        column = functools.partial(_column, req.resource_type)
        rows = [
            r
            for r in _first_versions(self.entities.rows(kind), req.project, req.domain)
            if flt.matches_all(parsed, functools.partial(column, r))
        ]
        if sort is not None:
            key = sort.key
            descending = sort.direction == common_pb2.Sort.DESCENDING
            rows.sort(key=lambda r: column(r, flt.NAMED_ENTITY, key), reverse=descending)
        page = rows[offset : offset + req.limit]
        token = str(offset + len(page)) if len(page) == req.limit else ""
        return common_pb2.NamedEntityList(entities=[_named(req.resource_type, r) for r in page], token=token)

    def GetNamedEntity(self, req: common_pb2.NamedEntityGetRequest, principal: str) -> common_pb2.NamedEntity:
        kind = _check_resource_type(req.resource_type)
        for part in ("project", "domain", "name"):
            if not getattr(req.id, part):
                raise InvalidArgument(f"missing {part}")
        for row in self.entities.rows(kind):
            if row.key[:3] == (req.id.project, req.id.domain, req.id.name):
                return _named(req.resource_type, row)
        raise NotFound(
            f"missing entity of type named entity with identifier {kind} "
            f"{req.id.project}/{req.id.domain}/{req.id.name}"
        )


__all__ = ["NamedEntityImpl"]
