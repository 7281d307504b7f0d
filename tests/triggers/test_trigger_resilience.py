"""The watch survives what Flyte Admin does in production: faults, outages, expiring tokens, scale."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from flyte_async_provider.emulator import Advance, AuthSettings, FlyteAdminEmulator, Outcome
from support.admin_rpc import launch
from support.flyte import DOMAIN, PROJECT, set_flyte_connection
from support.triggers import make_trigger, single_event
from support.waits import eventually


@pytest.fixture
def auth_emulator() -> Iterator[FlyteAdminEmulator]:
    emulator = FlyteAdminEmulator(
        port=0,
        http_port=0,
        auth=AuthSettings(client_id="airflow", client_secret="right-secret", token_ttl_seconds=1),
    )
    emulator.start_in_thread()
    try:
        yield emulator
    finally:
        emulator.stop_in_thread()


def _conn_id() -> str:
    return f"flyte_{uuid.uuid4().hex[:8]}"


async def test_injected_unavailable_and_an_outage_still_give_the_right_single_event(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.manual(), name_pattern="flaky-*")
    launch(flyte_admin_emulator.grpc_endpoint, "flaky-1")
    flyte_admin_emulator.inject_fault(rpc="*", error_rate=0.2, code="UNAVAILABLE")
    task = asyncio.ensure_future(single_event(make_trigger(flyte_conn, "flaky-1", poll_interval=0.1), 60))
    received, answered = flyte_admin_emulator.counters(), flyte_admin_emulator.success_counters()
    refused_before = sum(received.values()) - sum(answered.values())
    flyte_admin_emulator.start_outage()  # until end_outage: the test ends it once the trigger has met it

    def refused_in_outage() -> int:
        received, answered = flyte_admin_emulator.counters(), flyte_admin_emulator.success_counters()
        return sum(received.values()) - sum(answered.values()) - refused_before

    await eventually(lambda: refused_in_outage() >= 3, timeout=30, what="three reads refused by the outage")
    assert not task.done()
    flyte_admin_emulator.end_outage()
    flyte_admin_emulator.complete(PROJECT, DOMAIN, "flaky-1")
    event = await task
    assert (event["status"], event["phase"]) == ("success", "SUCCEEDED")


async def test_token_expiry_mid_watch_refreshes_without_failing(
    auth_emulator: FlyteAdminEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = _conn_id()
    set_flyte_connection(
        monkeypatch, conn_id, auth_emulator.grpc_endpoint, login="airflow", password="right-secret"
    )
    auth_emulator.script(Outcome.succeed(), advance=Advance.after_seconds(1.0))
    launch_with_token(auth_emulator, "tok-1")
    event = await single_event(make_trigger(conn_id, "tok-1", poll_interval=0.3), timeout=60)
    assert event["status"] == "success"


async def test_wrong_secret_is_a_quick_error_event_naming_the_connection_not_the_secret(
    auth_emulator: FlyteAdminEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = _conn_id()
    set_flyte_connection(
        monkeypatch, conn_id, auth_emulator.grpc_endpoint, login="airflow", password="wrong-secret-123"
    )
    event = await single_event(make_trigger(conn_id, "anything"), timeout=15)
    assert event["status"] == "error"
    assert conn_id in event["message"]
    assert "wrong-secret-123" not in repr(event)


async def test_thousand_triggers_share_one_poller_and_batch_their_reads(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    names = [f"fan-{i}" for i in range(1000)]
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.manual(), name_pattern="fan-*")
    launch(flyte_admin_emulator.grpc_endpoint, *names)
    flyte_admin_emulator.reset_counters()
    tasks = [
        asyncio.ensure_future(single_event(make_trigger(flyte_conn, n, poll_interval=1.0), 60)) for n in names
    ]
    # Three rounds of batched reads (5 pages of 200 names each), then count what they cost.
    await eventually(
        lambda: flyte_admin_emulator.success_counters().get("ListExecutions", 0) >= 15,
        timeout=30,
        what="three rounds of status reads",
    )
    during = flyte_admin_emulator.counters()
    flyte_admin_emulator.complete_many(PROJECT, DOMAIN, names)
    events = await asyncio.gather(*tasks)
    assert {e["status"] for e in events} == {"success"}
    # 1,000 watches x 3 intervals would be ~3,000 GetExecutions; batched lists read them all at once.
    assert during.get("GetExecution", 0) < 50
    assert 0 < during.get("ListExecutions", 0) < 100

    from flyte_async_provider.admin import channels

    assert channels.channel_count() == 1


def launch_with_token(emulator: FlyteAdminEmulator, name: str) -> None:
    """Launch on an auth-enabled emulator (the control API creates it as an authenticated user)."""
    from support.flyte import LAUNCH_PLAN

    emulator.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, [name], {"test_split_ratio": 0.66, "seed": 5})
