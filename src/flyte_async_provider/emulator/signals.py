"""SignalService (GetOrCreateSignal, ListSignals, SetSignal) as flyteadmin v1.16.8 answers it.

Signals are what gate nodes wait for. flyteadmin stores one row per (execution, signal id), created by
propeller through GetOrCreateSignal when a gate node starts; the emulator's scripted executions run no
gate nodes, so an execution has no signal until something calls GetOrCreateSignal (a test), or until
a real run reaches a gate (the backend creates it then, and ``on_set`` hands a later SetSignal's value
to the waiting run: see runs.py and rungates.py). Like flyteadmin, neither call checks that the
execution exists. SetSignal of a signal that was never created is INVALID_ARGUMENT ("failed to
validate that signal ... exists"), and a value whose type does not fit the signal's type is
INVALID_ARGUMENT: flyteadmin validates both before updating.
Signals live in memory only (not persisted with ``--db``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flyteidl.admin import signal_pb2
from flyteidl.core import identifier_pb2, literals_pb2

from flyte_async_provider.emulator.rpc_impl import Impl, rpc_methods

from . import filters as flt
from .entities import check_sort, parse_token
from .errors import InvalidArgument
from .literals import describe_literal, describe_type, literal_matches

SIGNAL_SERVICE = "flyteidl.service.SignalService"
SignalKey = tuple[str, str, str, str]


@dataclass
class _Row:
    signal: signal_pb2.Signal
    seq: int


def _key(ident: identifier_pb2.SignalIdentifier) -> SignalKey:
    e = ident.execution_id
    return (e.project, e.domain, e.name, ident.signal_id)


def _check_execution_id(ident: identifier_pb2.WorkflowExecutionIdentifier) -> None:
    for part in ("project", "domain", "name"):
        if not getattr(ident, part):
            raise InvalidArgument(f"missing {part}")


def _check_signal_id(ident: identifier_pb2.SignalIdentifier) -> None:
    if not ident.HasField("execution_id"):
        raise InvalidArgument("missing execution_id")
    if not ident.signal_id:
        raise InvalidArgument("missing signal_id")
    _check_execution_id(ident.execution_id)


def _column(row: _Row, entity: str, column: str) -> Any:
    s = row.signal
    values = {
        "execution_project": s.id.execution_id.project,
        "execution_domain": s.id.execution_id.domain,
        "execution_name": s.id.execution_id.name,
        "signal_id": s.id.signal_id,
    }
    if column in values:
        return values[column]
    raise InvalidArgument(f"filtering or sorting on '{entity}.{column}' is not supported by the emulator")


class SignalStore:
    """Signals by (project, domain, execution name, signal id); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[SignalKey, _Row] = {}
        self._seq = 0
        # told of every value set, outside the store's lock (a real run may be waiting for it)
        self.on_set: Callable[[SignalKey, literals_pb2.Literal], None] | None = None

    def get_or_create(self, request: signal_pb2.SignalGetOrCreateRequest) -> signal_pb2.Signal:
        if not request.HasField("id"):
            raise InvalidArgument("missing id")
        _check_signal_id(request.id)
        if not request.HasField("type"):
            raise InvalidArgument("missing type")
        with self._lock:
            row = self._rows.get(_key(request.id))
            if row is None:
                self._seq += 1
                row = _Row(signal_pb2.Signal(id=request.id, type=request.type), self._seq)
                self._rows[_key(request.id)] = row
            return _copy(row.signal)

    def list(self, request: signal_pb2.SignalListRequest) -> signal_pb2.SignalList:
        e = request.workflow_execution_id
        if not (e.project and e.domain and e.name):
            raise InvalidArgument("missing execution_id")
        if request.limit <= 0:
            raise InvalidArgument("invalid value for limit")
        parsed = flt.parse_filters(request.filters, flt.SIGNAL)
        sort = request.sort_by if request.HasField("sort_by") else None
        if sort is not None:
            check_sort(sort, flt.COLUMNS[flt.SIGNAL])
        try:
            offset = parse_token(request.token)
        except InvalidArgument:
            raise InvalidArgument(f"invalid pagination token {request.token} for ListSignals") from None
        with self._lock:
            rows = sorted(
                (r for k, r in self._rows.items() if k[:3] == (e.project, e.domain, e.name)),
                key=lambda r: r.seq,
            )
        rows = [r for r in rows if flt.matches_all(parsed, functools.partial(_column, r))]
        if sort is not None:
            key = sort.key
            rows.sort(key=lambda r: _column(r, flt.SIGNAL, key), reverse=sort.direction == sort.DESCENDING)
        page = rows[offset : offset + request.limit]
        token = str(offset + len(page)) if len(page) == request.limit else ""
        return signal_pb2.SignalList(signals=[_copy(r.signal) for r in page], token=token)

    def set(self, request: signal_pb2.SignalSetRequest) -> None:
        if not request.HasField("id"):
            raise InvalidArgument("missing id")
        _check_signal_id(request.id)
        if not request.HasField("value"):
            raise InvalidArgument("missing value")
        key = _key(request.id)
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                raise InvalidArgument(
                    f"failed to validate that signal [{{{{{key[0]} {key[1]} {key[2]}}} {key[3]}}}] exists, "
                    "err: [record not found]"
                )
            if not literal_matches(request.value, row.signal.type):
                raise InvalidArgument(
                    f"requested signal value [{describe_literal(request.value)}] is not castable to existing "
                    f"signal type [{describe_type(row.signal.type)}]"
                )
            row.signal.value.CopyFrom(request.value)
        if self.on_set is not None:
            self.on_set(key, request.value)


def _copy(signal: signal_pb2.Signal) -> signal_pb2.Signal:
    out = signal_pb2.Signal()
    out.CopyFrom(signal)
    return out


class SignalImpl:
    """The SignalService methods for the dispatcher (same auth, faults and counters as AdminService)."""

    def __init__(self, store: SignalStore) -> None:
        self.store = store

    def methods(self) -> dict[str, Impl]:
        return rpc_methods(self)

    def GetOrCreateSignal(
        self, req: signal_pb2.SignalGetOrCreateRequest, principal: str
    ) -> signal_pb2.Signal:
        return self.store.get_or_create(req)

    def ListSignals(self, req: signal_pb2.SignalListRequest, principal: str) -> signal_pb2.SignalList:
        return self.store.list(req)

    def SetSignal(self, req: signal_pb2.SignalSetRequest, principal: str) -> signal_pb2.SignalSetResponse:
        self.store.set(req)
        return signal_pb2.SignalSetResponse()


__all__ = ["SIGNAL_SERVICE", "SignalImpl", "SignalKey", "SignalStore"]
