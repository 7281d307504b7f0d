"""SignalService through real sockets: flytekit's list_signals/approve and raw stubs, flyteadmin's codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from flyteidl.admin import signal_pb2
from flyteidl.core import identifier_pb2, types_pb2
from flyteidl.service import signal_pb2_grpc

from flyte_async_provider.emulator import FlyteAdminEmulator
from support.admin_rpc import create, ident, literal

if TYPE_CHECKING:
    from flyteidl.service import admin_pb2_grpc
    from flytekit.remote import FlyteRemote

BOOL = types_pb2.LiteralType(simple=types_pb2.BOOLEAN)


@pytest.fixture
def signals(flyte_admin_emulator: FlyteAdminEmulator) -> Iterator[signal_pb2_grpc.SignalServiceStub]:
    with grpc.insecure_channel(flyte_admin_emulator.grpc_endpoint) as channel:
        yield signal_pb2_grpc.SignalServiceStub(channel)


def signal_id(execution: str, name: str) -> identifier_pb2.SignalIdentifier:
    return identifier_pb2.SignalIdentifier(signal_id=name, execution_id=ident(execution))


def test_a_scripted_execution_has_no_signals_until_one_is_created(
    admin: admin_pb2_grpc.AdminServiceStub, signals: signal_pb2_grpc.SignalServiceStub, remote: FlyteRemote
) -> None:
    create(admin, "gated")
    assert remote.list_signals("gated") == []
    made = signals.GetOrCreateSignal(
        signal_pb2.SignalGetOrCreateRequest(id=signal_id("gated", "approve"), type=BOOL)
    )
    assert made.id.signal_id == "approve"
    assert not made.HasField("value")
    again = signals.GetOrCreateSignal(
        signal_pb2.SignalGetOrCreateRequest(
            id=signal_id("gated", "approve"), type=types_pb2.LiteralType(simple=types_pb2.STRING)
        )
    )
    assert again.type == BOOL  # the existing signal, as flyteadmin's get-or-create

    remote.approve("approve", "gated")  # flytekit's SetSignal with a boolean True
    (listed,) = remote.list_signals("gated")
    assert listed.id.signal_id == "approve"
    assert listed.value.scalar.primitive.boolean is True


def test_list_signals_pages_and_filters(signals: signal_pb2_grpc.SignalServiceStub) -> None:
    for name in ("a", "b", "c"):
        signals.GetOrCreateSignal(signal_pb2.SignalGetOrCreateRequest(id=signal_id("many", name), type=BOOL))
    first = signals.ListSignals(signal_pb2.SignalListRequest(workflow_execution_id=ident("many"), limit=2))
    assert [s.id.signal_id for s in first.signals] == ["a", "b"]
    assert first.token == "2"
    rest = signals.ListSignals(
        signal_pb2.SignalListRequest(workflow_execution_id=ident("many"), limit=2, token=first.token)
    )
    assert [s.id.signal_id for s in rest.signals] == ["c"]
    only = signals.ListSignals(
        signal_pb2.SignalListRequest(workflow_execution_id=ident("many"), limit=9, filters="eq(signal_id,b)")
    )
    assert [s.id.signal_id for s in only.signals] == ["b"]
    other = signals.ListSignals(signal_pb2.SignalListRequest(workflow_execution_id=ident("other"), limit=9))
    assert list(other.signals) == []


def test_set_signal_of_an_unknown_signal_or_with_a_wrong_type_is_invalid(
    signals: signal_pb2_grpc.SignalServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        signals.SetSignal(signal_pb2.SignalSetRequest(id=signal_id("gated", "nobody"), value=literal(True)))
    # flyteadmin v1.16.8 validates that the signal exists before updating it: INVALID_ARGUMENT, not NOT_FOUND
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "failed to validate that signal" in (err.value.details() or "")
    signals.GetOrCreateSignal(signal_pb2.SignalGetOrCreateRequest(id=signal_id("gated", "go"), type=BOOL))
    with pytest.raises(grpc.RpcError) as err:
        signals.SetSignal(signal_pb2.SignalSetRequest(id=signal_id("gated", "go"), value=literal("yes")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is not castable" in (err.value.details() or "")


@pytest.mark.parametrize(
    ("call", "request_", "message"),
    [
        ("GetOrCreateSignal", signal_pb2.SignalGetOrCreateRequest(), "missing id"),
        (
            "GetOrCreateSignal",
            signal_pb2.SignalGetOrCreateRequest(id=signal_id("x", "")),
            "missing signal_id",
        ),
        ("GetOrCreateSignal", signal_pb2.SignalGetOrCreateRequest(id=signal_id("x", "s")), "missing type"),
        ("ListSignals", signal_pb2.SignalListRequest(limit=1), "missing execution_id"),
        (
            "ListSignals",
            signal_pb2.SignalListRequest(workflow_execution_id=ident("x")),
            "invalid value for limit",
        ),
        ("SetSignal", signal_pb2.SignalSetRequest(id=signal_id("x", "s")), "missing value"),
    ],
)
def test_bad_signal_requests_are_invalid_arguments(
    signals: signal_pb2_grpc.SignalServiceStub, call: str, request_: object, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        getattr(signals, call)(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == message
