"""One typed error tree for the provider.

Every failure a user can see is one of these, so DAG authors can ``except`` on the kind of failure
(configuration, Flyte Admin refusing a call, the Flyte execution itself ending badly) instead of
parsing strings. gRPC status codes are translated into this tree in exactly one place:
:func:`flyte_async_provider.admin.errors.translate_rpc_error` (watch path) and the hook's flytekit
error mapping (launch path) both call :func:`admin_error_for_code`.
"""

from __future__ import annotations

from flyte_async_provider._compat import AirflowException


class FlyteProviderError(AirflowException):
    """Base of every error raised by this provider."""


class FlyteConfigError(FlyteProviderError, ValueError):
    """The connection or operator arguments are invalid; raised before anything is submitted."""


class FlyteAdminError(FlyteProviderError):
    """Flyte Admin refused or failed an RPC.

    ``code`` is the gRPC status code name (e.g. ``"NOT_FOUND"``) and ``rpc`` the method name, so
    callers can branch on them without importing grpc.
    """

    retryable: bool = False

    def __init__(self, message: str, *, code: str = "UNKNOWN", rpc: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.rpc = rpc


class FlyteNotFoundError(FlyteAdminError):
    """The execution or entity does not exist (NOT_FOUND)."""


class FlyteAlreadyExistsError(FlyteAdminError):
    """An execution with that name already exists (ALREADY_EXISTS)."""


class FlyteInvalidArgumentError(FlyteAdminError):
    """Flyte Admin rejected the request as malformed (INVALID_ARGUMENT / FAILED_PRECONDITION)."""


class FlyteAuthError(FlyteAdminError):
    """Credentials were rejected (UNAUTHENTICATED / PERMISSION_DENIED) or no token could be had."""


class FlyteTransientError(FlyteAdminError):
    """A temporary failure worth retrying (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED)."""

    retryable = True


_CODE_TO_CLASS: dict[str, type[FlyteAdminError]] = {
    "NOT_FOUND": FlyteNotFoundError,
    "ALREADY_EXISTS": FlyteAlreadyExistsError,
    "INVALID_ARGUMENT": FlyteInvalidArgumentError,
    "FAILED_PRECONDITION": FlyteInvalidArgumentError,
    "UNAUTHENTICATED": FlyteAuthError,
    "PERMISSION_DENIED": FlyteAuthError,
    "UNAVAILABLE": FlyteTransientError,
    "DEADLINE_EXCEEDED": FlyteTransientError,
    "RESOURCE_EXHAUSTED": FlyteTransientError,
}


def admin_error_for_code(code: str, message: str, *, rpc: str = "") -> FlyteAdminError:
    """Build the typed error for a gRPC status code name (the single code→class table)."""
    cls = _CODE_TO_CLASS.get(code, FlyteAdminError)
    return cls(f"Flyte Admin {rpc or 'call'} failed with {code}: {message}", code=code, rpc=rpc)


def ended_before_terminate(error: FlyteAdminError) -> bool:
    """TerminateExecution refused only because the execution had already ended: not a failure.

    Flyte Admin says FAILED_PRECONDITION; older versions said INVALID_ARGUMENT naming the terminal phase.
    """
    return error.code == "FAILED_PRECONDITION" or (
        isinstance(error, FlyteInvalidArgumentError) and "terminal" in str(error).lower()
    )


class FlyteExecutionError(FlyteProviderError):
    """The Flyte execution ended without success.

    ``execution`` is the execution name, ``phase`` Flyte's phase name (``FAILED``, ``ABORTED``, ...)
    and ``flyte_message`` Flyte's own error text or abort cause; ``console_url`` points at it.
    """

    def __init__(
        self,
        message: str,
        *,
        execution: str = "",
        phase: str = "",
        flyte_message: str = "",
        console_url: str = "",
    ) -> None:
        super().__init__(message)
        self.execution = execution
        self.phase = phase
        self.flyte_message = flyte_message
        self.console_url = console_url


class FlyteExecutionFailedError(FlyteExecutionError):
    """Flyte reported the execution FAILED."""


class FlyteExecutionAbortedError(FlyteExecutionError):
    """The execution was ABORTED (terminated by a user or system)."""


class FlyteExecutionTimedOutError(FlyteExecutionError):
    """Flyte itself timed the execution out (TIMED_OUT)."""


class FlyteExecutionDeadlineError(FlyteExecutionError):
    """The Airflow task's execution_timeout passed; the provider terminated the execution."""
