"""Backend errors, each carrying the gRPC status code flyteadmin answers with.

The backend raises these; the servicer turns them into gRPC statuses in one place.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base: ``code`` is a ``grpc.StatusCode`` name (never UNKNOWN)."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(EmulatorError):
    code = "INVALID_ARGUMENT"


class NotFound(EmulatorError):
    code = "NOT_FOUND"


class AlreadyExists(EmulatorError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(EmulatorError):
    code = "FAILED_PRECONDITION"


class Unauthenticated(EmulatorError):
    code = "UNAUTHENTICATED"


class Unavailable(EmulatorError):
    code = "UNAVAILABLE"


class ResourceExhausted(EmulatorError):
    code = "RESOURCE_EXHAUSTED"


class Unimplemented(EmulatorError):
    code = "UNIMPLEMENTED"


_BY_CODE: dict[str, type[EmulatorError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Unauthenticated,
        Unavailable,
        ResourceExhausted,
        Unimplemented,
    )
}


def error_for_code(code: str, message: str) -> EmulatorError:
    """Build the error class for a gRPC code name (used by fault injection and the control API)."""
    cls = _BY_CODE.get(code.upper())
    if cls is None:
        err = EmulatorError(message)
        err.code = code.upper()
        return err
    return cls(message)
