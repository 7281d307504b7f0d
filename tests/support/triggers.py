"""Run a FlyteExecutionTrigger the way the triggerer does, and read its one event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger
from support.flyte import DOMAIN, PROJECT
from support.waits import eventually


def make_trigger(conn_id: str, name: str, **kwargs: Any) -> FlyteExecutionTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    return FlyteExecutionTrigger(
        conn_id=conn_id,
        project=PROJECT,
        domain=DOMAIN,
        execution_name=name,
        dag_id="ml",
        task_id="train",
        run_id="manual__1",
        **kwargs,
    )


async def single_event(trigger: FlyteExecutionTrigger, timeout: float = 30.0) -> dict[str, Any]:
    """Run the trigger to its event and prove it yields nothing after it."""
    events = trigger.run()
    try:
        event = await asyncio.wait_for(events.__anext__(), timeout)
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(events.__anext__(), timeout)
    finally:
        await events.aclose()
    assert isinstance(event, TriggerEvent)
    return dict(event.payload)


async def status_read(emulator: Any, timeout: float = 10.0) -> None:
    """Wait (bounded) until the emulator has answered a status read: the watch is under way."""

    def read() -> bool:
        counters = emulator.counters()
        return counters.get("ListExecutions", 0) + counters.get("GetExecution", 0) > 0

    await eventually(read, timeout, what="the trigger to read the execution's status")
