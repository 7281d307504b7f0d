"""Turn a trigger event payload into the operator's result or a typed error.

Shared by FlyteOperator (deferrable and worker-side waiting) and FlyteSensor so the same Flyte outcome
always raises the same error class with the same message, whichever mode ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteExecutionAbortedError,
    FlyteExecutionDeadlineError,
    FlyteExecutionError,
    FlyteExecutionFailedError,
    FlyteExecutionTimedOutError,
    FlyteProviderError,
)

_STATUS_TO_ERROR: dict[str, type[FlyteExecutionError]] = {
    "failed": FlyteExecutionFailedError,
    "aborted": FlyteExecutionAbortedError,
    "timed_out": FlyteExecutionTimedOutError,
    "deadline": FlyteExecutionDeadlineError,
}


def describe_flyte_reason(event: Mapping[str, Any]) -> str:
    """Flyte's own words for why the execution ended (error text, or abort cause and principal)."""
    if event.get("error_message"):
        code = event.get("error_code")
        kind = event.get("error_kind")
        tag = ", ".join(str(x) for x in (code, kind) if x)
        return f"{event['error_message']}" + (f" [{tag}]" if tag else "")
    if event.get("abort_cause"):
        principal = event.get("abort_principal") or "unknown principal"
        return f"aborted by {principal}: {event['abort_cause']}"
    return str(event.get("message") or "")


def raise_for_event(event: Mapping[str, Any]) -> None:
    """Return if the event says success; raise the matching typed error otherwise."""
    status = event.get("status")
    if status == "success":
        return
    execution = str(event.get("execution", ""))
    phase = str(event.get("phase", ""))
    url = str(event.get("console_url", ""))
    reason = describe_flyte_reason(event)
    where = f" See {url}" if url else ""
    if status in _STATUS_TO_ERROR:
        cls = _STATUS_TO_ERROR[status]
        verb = {
            "failed": "failed",
            "aborted": "was aborted",
            "timed_out": "timed out in Flyte",
            "deadline": "exceeded the task's execution_timeout and was terminated",
        }[str(status)]
        raise cls(
            f"Flyte execution {execution} {verb} (phase {phase or 'unknown'}): {reason}.{where}",
            execution=execution,
            phase=phase,
            flyte_message=reason,
            console_url=url,
        )
    if status == "error":
        code = str(event.get("error_code") or "UNKNOWN")
        err = FlyteAdminError(
            f"Watching Flyte execution {execution} failed: {event.get('message', '')}{where}",
            code=code,
            rpc=str(event.get("rpc", "")),
        )
        raise err
    raise FlyteProviderError(f"Unexpected Flyte trigger event status {status!r} for execution {execution}.")
