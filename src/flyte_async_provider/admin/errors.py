"""The one place where gRPC status codes of the watch path become the provider's typed errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flyte_async_provider.exceptions import FlyteAdminError, admin_error_for_code

if TYPE_CHECKING:
    import grpc.aio

RETRYABLE_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})


def code_name(err: grpc.aio.AioRpcError) -> str:
    """``"NOT_FOUND"`` etc. for an RPC error."""
    code = err.code()
    return str(getattr(code, "name", code))


def translate_rpc_error(err: grpc.aio.AioRpcError, rpc: str) -> FlyteAdminError:
    """Typed error for a failed RPC (details kept; Flyte Admin never echoes credentials)."""
    return admin_error_for_code(code_name(err), err.details() or "", rpc=rpc)
