"""Wire forms of an execution: the admin.Execution proto, its serialized full and list forms.

The list form is pre-framed as field 1 of ``ExecutionList`` so a ListExecutions answer is a bytes join.
"""

from __future__ import annotations

from flyteidl.admin import execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2

from .entities import timestamp
from .records import ExecutionRecord
from .scripting import SUCCEEDED

TRIMMED_ERROR_BYTES = 100
_ERROR_KIND = {"UNKNOWN": 0, "USER": 1, "SYSTEM": 2}


def execution_proto(rec: ExecutionRecord) -> execution_pb2.Execution:
    """The admin.Execution flyteadmin would answer for this record."""
    ex = execution_pb2.Execution()
    ex.id.project, ex.id.domain, ex.id.name = rec.project, rec.domain, rec.name
    ex.spec.CopyFrom(rec.spec)
    c = ex.closure
    c.phase = rec.phase
    c.created_at.CopyFrom(timestamp(rec.created_at))
    c.updated_at.CopyFrom(timestamp(rec.updated_at))
    if rec.started_at is not None:
        c.started_at.CopyFrom(timestamp(rec.started_at))
    if rec.duration is not None:
        c.duration.FromNanoseconds(round(rec.duration * 1e6) * 1000)
    if rec.abort_cause is not None:
        c.abort_metadata.cause = rec.abort_cause
        c.abort_metadata.principal = rec.abort_principal
    elif rec.error is not None:
        code, message, kind = rec.error
        c.error.CopyFrom(
            core_execution_pb2.ExecutionError(code=code, message=message, kind=_ERROR_KIND.get(kind, 0))
        )
    elif rec.phase == SUCCEEDED:
        c.outputs.uri = f"emulator://{rec.project}/{rec.domain}/{rec.name}/outputs.pb"
    c.workflow_id.CopyFrom(rec.workflow_id)
    c.state_change_details.state = rec.state
    c.state_change_details.principal = rec.spec.metadata.principal
    c.state_change_details.occurred_at.CopyFrom(c.created_at)
    return ex


def full_bytes(rec: ExecutionRecord) -> bytes:
    """GetExecution's payload, cached on the record until it changes."""
    if rec.cache_full is None:
        rec.cache_full = execution_proto(rec).SerializeToString()
    return rec.cache_full


def list_bytes(rec: ExecutionRecord) -> bytes:
    """The execution as a list item (error trimmed, inputs dropped), framed as ExecutionList field 1."""
    if rec.cache_list is None:
        ex = execution_proto(rec)
        ex.spec.ClearField("inputs")
        ex.closure.ClearField("computed_inputs")
        if ex.closure.HasField("error") and ex.closure.error.message:
            ex.closure.error.message = trim_error_message(ex.closure.error.message)
        rec.cache_list = field_bytes(1, ex.SerializeToString())
    return rec.cache_list


def trim_error_message(message: str) -> str:
    """Cut to 100 bytes, dropping a split UTF-8 character (as flyteadmin's list transformer)."""
    raw = message.encode()
    if len(raw) <= TRIMMED_ERROR_BYTES:
        return message
    return raw[:TRIMMED_ERROR_BYTES].decode("utf-8", errors="ignore")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: tag, length, payload."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload
