"""What every group of RPC implementations shares: the handler type, its method table, the sort field.

A group (AdminService, DataProxy, signals, ...) is a class whose CamelCase methods are the RPCs; the
dispatcher in server.py takes them all from :func:`rpc_methods`, so adding an RPC is adding a method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flyteidl.admin import common_pb2

# (request, principal) -> reply; raising an emulator error answers its gRPC code.
Impl = Callable[[Any, str], Any]


def rpc_methods(group: object) -> dict[str, Impl]:
    """The group's RPCs by name: its public CamelCase methods."""
    return {
        name: getattr(group, name)
        for name in dir(group)
        if name[:1].isupper() and callable(getattr(group, name))
    }


def sort_of(req: Any) -> common_pb2.Sort | None:
    """A list request's ``sort_by``, or None when the client sent none (each list has its default)."""
    return req.sort_by if req.HasField("sort_by") else None
