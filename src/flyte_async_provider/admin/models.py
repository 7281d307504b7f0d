"""The one model of an execution's state: a small immutable value, no protobuf or flytekit inside.

Both paths read into it: the async admin client from flyteidl messages, the hook's flytekit fallback
from flytekit models. :mod:`flyte_async_provider.events` turns it into the event payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flyte_async_provider.phases import ExecutionPhase, FlyteEventPayload

# flyteidl ``core.ExecutionError.ErrorKind`` by value.
ERROR_KINDS = {0: "UNKNOWN", 1: "USER", 2: "SYSTEM"}


def error_kind_name(kind: int | None) -> str:
    """Flyte's name for an error kind (the number itself when this table does not know it)."""
    return ERROR_KINDS.get(int(kind or 0), str(kind))


@dataclass(frozen=True)
class ExecutionStatus:
    """Phase of one Flyte execution, with Flyte's error or abort details once it ended."""

    project: str
    domain: str
    name: str
    phase: ExecutionPhase
    error_code: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    error_uri: str | None = None
    abort_cause: str | None = None
    abort_principal: str | None = None
    started_at: datetime | None = None
    duration_seconds: float | None = None

    @classmethod
    def from_proto(cls, execution: Any) -> ExecutionStatus:
        """Build from a flyteidl ``admin.Execution`` (from GetExecution or a ListExecutions item)."""
        closure = execution.closure
        started = closure.started_at
        duration = closure.duration
        return cls._read(
            execution.id,
            closure.phase,
            closure.error if closure.HasField("error") else None,
            closure.abort_metadata if closure.HasField("abort_metadata") else None,
            started.ToDatetime(tzinfo=timezone.utc)
            if closure.HasField("started_at") and (started.seconds or started.nanos)
            else None,
            duration.seconds + duration.nanos / 1e9 if closure.HasField("duration") else None,
            deprecated_abort_cause=closure.abort_cause,  # older flyteadmin
        )

    @classmethod
    def from_flytekit(cls, execution: Any) -> ExecutionStatus:
        """Build from a flytekit ``models.execution.Execution`` (the hook's fallback client)."""
        closure = execution.closure
        error = closure.error
        started = closure.started_at
        # flytekit's model cannot tell an unset duration from zero: only a positive one is known.
        seconds = closure.duration.total_seconds() if closure.duration is not None else 0.0
        return cls._read(
            execution.id,
            closure.phase,
            error if error is not None and (error.message or error.code) else None,
            getattr(closure, "abort_metadata", None),
            started if started is not None and started.year > 1970 else None,
            seconds if seconds > 0 else None,
        )

    @classmethod
    def _read(
        cls,
        ident: Any,
        phase: int,
        error: Any,
        abort: Any,
        started_at: datetime | None,
        duration_seconds: float | None,
        *,
        deprecated_abort_cause: str = "",
    ) -> ExecutionStatus:
        """Both wire models name identifier, error and abort fields alike: read them once."""
        return cls(
            project=ident.project,
            domain=ident.domain,
            name=ident.name,
            phase=ExecutionPhase(int(phase)),
            error_code=(error.code or None) if error is not None else None,
            error_kind=error_kind_name(error.kind) if error is not None else None,
            error_message=(error.message or None) if error is not None else None,
            error_uri=(error.error_uri or None) if error is not None else None,
            abort_cause=((abort.cause if abort is not None else "") or deprecated_abort_cause) or None,
            abort_principal=(abort.principal or None) if abort is not None else None,
            started_at=started_at,
            duration_seconds=duration_seconds,
        )

    def to_event_fields(self) -> FlyteEventPayload:
        """The event payload keys this status knows (JSON-safe; ``status`` is the trigger's to set)."""
        fields: FlyteEventPayload = {
            "project": self.project,
            "domain": self.domain,
            "execution": self.name,
            "phase": self.phase.name,
        }
        if self.error_code is not None:
            fields["error_code"] = self.error_code
        if self.error_kind is not None:
            fields["error_kind"] = self.error_kind
        if self.error_message is not None:
            fields["error_message"] = self.error_message
        if self.error_uri is not None:
            fields["error_uri"] = self.error_uri
        if self.abort_cause is not None:
            fields["abort_cause"] = self.abort_cause
        if self.abort_principal is not None:
            fields["abort_principal"] = self.abort_principal
        if self.started_at is not None:
            fields["started_at"] = self.started_at.isoformat()
        if self.duration_seconds is not None:
            fields["duration_seconds"] = self.duration_seconds
        return fields
