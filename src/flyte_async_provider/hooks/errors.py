"""Translate flytekit / gRPC failures on the launch path into the provider's typed errors.

flytekit wraps each ``grpc.RpcError`` in its own exception (``raise ... from e``); the gRPC status
found in the cause chain is the truth, and :func:`admin_error_for_code` is the one code table.
Messages are built from the status details only: flytekit's ``FlyteInvalidInputException`` carries
the whole request (which may name secrets), so its ``str()`` is never used.
"""

from __future__ import annotations

from collections.abc import Iterator

from flyte_async_provider.exceptions import FlyteAdminError, admin_error_for_code

# flytekit exception class name -> gRPC code, for errors raised without a gRPC cause.
_FLYTEKIT_CODES = {
    "FlyteEntityNotExistException": "NOT_FOUND",
    "FlyteEntityAlreadyExistsException": "ALREADY_EXISTS",
    "FlyteAuthenticationException": "UNAUTHENTICATED",
    "AuthenticationError": "UNAUTHENTICATED",
    "AccessTokenNotFoundError": "UNAUTHENTICATED",
    "FlyteInvalidInputException": "INVALID_ARGUMENT",
    "FlyteSystemUnavailableException": "UNAVAILABLE",
    "FlyteTimeout": "DEADLINE_EXCEEDED",
}
_SAFE_TO_QUOTE = {
    "AuthenticationError",
    "AccessTokenNotFoundError",
    "FlyteEntityNotExistException",
    "FlyteTimeout",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def grpc_status(exc: BaseException) -> tuple[str, str] | None:
    """``(code name, details)`` of the first gRPC error in the cause chain, if any."""
    for err in _chain(exc):
        code = getattr(err, "code", None)
        details = getattr(err, "details", None)
        if callable(code) and callable(details):
            try:
                status = code()
                text = details()
            except Exception:
                continue
            name = getattr(status, "name", None)
            if isinstance(name, str):
                return name, str(text or "")
    return None


def translate(exc: BaseException, rpc: str, what: str = "") -> FlyteAdminError:
    """Typed error for a failed Flyte Admin call; ``what`` names the object for the message."""
    found = grpc_status(exc)
    if found is not None:
        code, details = found
        return admin_error_for_code(code, f"{what}: {details}" if what else details, rpc=rpc)
    for err in _chain(exc):
        name = type(err).__name__
        if name in _FLYTEKIT_CODES:
            text = str(err) if name in _SAFE_TO_QUOTE else name
            message = f"{what}: {text}" if what else text
            return admin_error_for_code(_FLYTEKIT_CODES[name], message, rpc=rpc)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return admin_error_for_code("UNAVAILABLE", f"{what}: {exc}" if what else str(exc), rpc=rpc)
    detail = f"{type(exc).__name__}: {exc}"
    return FlyteAdminError(
        f"Flyte Admin {rpc or 'call'} failed: {what + ': ' if what else ''}{detail}", code="UNKNOWN", rpc=rpc
    )
