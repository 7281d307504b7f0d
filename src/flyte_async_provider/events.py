"""Build the one event payload of a watched execution (the inverse of :mod:`.outcome`).

The trigger yields these, and the worker-side waits (operator, sensor, hook) build the very same
payload from a status read before :func:`~flyte_async_provider.outcome.raise_for_event`, so a Flyte
outcome raises the same error with the same message in every mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyte_async_provider.phases import PHASE_TO_STATUS, EventStatus, FlyteEventPayload

if TYPE_CHECKING:
    from flyte_async_provider.admin.models import ExecutionStatus
    from flyte_async_provider.exceptions import FlyteAdminError


def event_payload(
    status: EventStatus, project: str, domain: str, execution: str, console_url: str = "", **fields: Any
) -> FlyteEventPayload:
    """The execution's identity, ``status`` and ``fields`` (None values are left out)."""
    payload: FlyteEventPayload = {
        "status": status,
        "project": project,
        "domain": domain,
        "execution": execution,
        "console_url": console_url,
    }
    payload.update({k: v for k, v in fields.items() if v is not None})  # type: ignore[typeddict-item]
    return payload


def ended_event(state: ExecutionStatus, console_url: str) -> FlyteEventPayload:
    """The event of an execution that reached its terminal phase (non-terminal reads say ``error``)."""
    ref = f"{state.project}/{state.domain}/{state.name}"
    payload = event_payload(
        PHASE_TO_STATUS.get(state.phase, "error"),
        state.project,
        state.domain,
        state.name,
        console_url,
        message=f"Flyte execution {ref} ended {state.phase.name}.",
    )
    payload.update(state.to_event_fields())
    return payload


def deadline_event(
    project: str,
    domain: str,
    execution: str,
    cause: str,
    console_url: str,
    *,
    terminated: bool,
    state: ExecutionStatus | None = None,
    failure: FlyteAdminError | None = None,
) -> FlyteEventPayload:
    """The event once the task's execution_timeout passed and termination was tried.

    The real end wins: an execution that had already ended by itself (``terminated`` False) reports
    that end. ``failure`` is what terminating or re-reading it raised; ``state`` the read after it.
    """
    if failure is not None:
        message = f"{cause} Terminating it failed: {failure}"
        return event_payload(
            "deadline", project, domain, execution, console_url, message=message, error_code=failure.code
        )
    if state is not None and state.phase.is_terminal and not terminated:
        return ended_event(state, console_url)
    payload = event_payload("deadline", project, domain, execution, console_url, message=cause)
    if state is not None:
        payload.update(state.to_event_fields())
    return payload
