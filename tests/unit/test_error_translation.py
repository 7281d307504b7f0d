"""flytekit/gRPC failures on the launch path map to the typed tree through the one code table."""

from __future__ import annotations

from enum import Enum

import pytest
from flytekit.exceptions.user import (
    FlyteEntityAlreadyExistsException,
    FlyteEntityNotExistException,
    FlyteInvalidInputException,
)

from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteAlreadyExistsError,
    FlyteAuthError,
    FlyteInvalidArgumentError,
    FlyteNotFoundError,
    FlyteTransientError,
)
from flyte_async_provider.hooks.errors import translate


class _Code(Enum):
    NOT_FOUND = 5
    UNAVAILABLE = 14
    PERMISSION_DENIED = 7


class _RpcError(Exception):
    """Shaped like grpc.RpcError / grpc.Call."""

    def __init__(self, code: _Code, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> _Code:
        return self._code

    def details(self) -> str:
        return self._details


def _wrapped(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (_Code.NOT_FOUND, FlyteNotFoundError),
        (_Code.UNAVAILABLE, FlyteTransientError),
        (_Code.PERMISSION_DENIED, FlyteAuthError),
    ],
)
def test_grpc_status_in_the_cause_chain_wins(code: _Code, cls: type[FlyteAdminError]) -> None:
    err = translate(
        _wrapped(RuntimeError("flytekit wrapper"), _RpcError(code, "admin said no")), "GetExecution", "x"
    )
    assert isinstance(err, cls)
    assert (err.code, err.rpc) == (code.name, "GetExecution")
    assert "admin said no" in str(err)


def test_flytekit_exceptions_without_grpc_cause() -> None:
    assert isinstance(translate(FlyteEntityNotExistException("lp"), "GetLaunchPlan"), FlyteNotFoundError)
    assert isinstance(
        translate(FlyteEntityAlreadyExistsException(), "CreateExecution"), FlyteAlreadyExistsError
    )
    assert isinstance(translate(ConnectionRefusedError("refused"), "ListExecutions"), FlyteTransientError)
    other = translate(KeyError("boom"), "GetExecution")
    assert type(other) is FlyteAdminError
    assert other.code == "UNKNOWN"


def test_invalid_input_error_never_quotes_the_request() -> None:
    request = {"security_context": "client_secret=hunter2"}
    err = translate(FlyteInvalidInputException(request), "CreateExecution", "execution x")
    assert isinstance(err, FlyteInvalidArgumentError)
    assert "hunter2" not in str(err)
