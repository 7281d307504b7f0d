"""AsyncAdminClient against the emulator: calls, typed errors, retries, shared channel, loops, caps."""

from __future__ import annotations

import asyncio
import time

import pytest

from flyte_async_provider.admin import RetryPolicy, get_admin_client
from flyte_async_provider.admin import channels as channels_mod
from flyte_async_provider.admin.client import AsyncAdminClient
from flyte_async_provider.emulator import FlyteAdminEmulator, Outcome
from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteInvalidArgumentError,
    FlyteNotFoundError,
    FlyteTransientError,
)
from flyte_async_provider.phases import ExecutionPhase
from support.flyte import DOMAIN, PROJECT, config_for, create_without_rpcs

FAST_RETRY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05)


async def test_get_list_terminate(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["alpha", "beta", "gamma"])
    emu.advance(PROJECT, DOMAIN, "beta")
    client = get_admin_client(config_for(emu))

    status = await client.get_execution(PROJECT, DOMAIN, "beta")
    assert (status.name, status.phase) == ("beta", ExecutionPhase.QUEUED)

    statuses, token = await client.list_executions(
        PROJECT, DOMAIN, filters="value_in(execution_name,alpha;gamma)", limit=10
    )
    assert sorted(s.name for s in statuses) == ["alpha", "gamma"]
    assert token == ""

    assert await client.terminate_execution(PROJECT, DOMAIN, "gamma", "test says stop") is True
    emu.complete(PROJECT, DOMAIN, "gamma")
    assert await client.terminate_execution(PROJECT, DOMAIN, "gamma", "again") is False  # already terminal
    aborted = await client.get_execution(PROJECT, DOMAIN, "gamma")
    assert aborted.phase is ExecutionPhase.ABORTED
    assert aborted.abort_cause == "test says stop"


async def test_unknown_execution_is_not_found_and_not_retried(emu: FlyteAdminEmulator) -> None:
    client = get_admin_client(config_for(emu))
    with pytest.raises(FlyteNotFoundError) as info:
        await client.get_execution(PROJECT, DOMAIN, "missing", retry=FAST_RETRY)
    assert (info.value.code, info.value.rpc) == ("NOT_FOUND", "GetExecution")
    assert emu.counters()["GetExecution"] == 1


async def test_bad_filter_is_invalid_argument(emu: FlyteAdminEmulator) -> None:
    client = get_admin_client(config_for(emu))
    with pytest.raises(FlyteInvalidArgumentError):
        await client.list_executions(PROJECT, DOMAIN, filters="eq(name,x)", retry=FAST_RETRY)
    assert emu.counters()["ListExecutions"] == 1


@pytest.mark.parametrize("code", ["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"])
async def test_retryable_codes_are_retried_then_raised(emu: FlyteAdminEmulator, code: str) -> None:
    create_without_rpcs(emu, ["alpha"])
    emu.inject_fault("GetExecution", error_rate=1.0, code=code)
    client = get_admin_client(config_for(emu))
    with pytest.raises(FlyteTransientError) as info:
        await client.get_execution(PROJECT, DOMAIN, "alpha", retry=FAST_RETRY)
    assert info.value.code == code
    assert emu.counters()["GetExecution"] == FAST_RETRY.attempts


@pytest.mark.parametrize("code", ["INTERNAL", "ABORTED"])
async def test_other_codes_are_not_retried(emu: FlyteAdminEmulator, code: str) -> None:
    create_without_rpcs(emu, ["alpha"])
    emu.inject_fault("GetExecution", error_rate=1.0, code=code)
    client = get_admin_client(config_for(emu))
    with pytest.raises(FlyteAdminError) as info:
        await client.get_execution(PROJECT, DOMAIN, "alpha", retry=FAST_RETRY)
    assert info.value.code == code
    assert not info.value.retryable
    assert emu.counters()["GetExecution"] == 1


async def test_twenty_percent_unavailable_is_absorbed_by_retries(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["alpha"])
    emu.inject_fault("*", error_rate=0.2, code="UNAVAILABLE")
    client = get_admin_client(config_for(emu))
    policy = RetryPolicy(attempts=6, initial_backoff=0.01, max_backoff=0.05)
    results = [await client.get_execution(PROJECT, DOMAIN, "alpha", retry=policy) for _ in range(50)]
    assert all(r.phase is ExecutionPhase.UNDEFINED for r in results)
    assert emu.counters()["GetExecution"] > 50  # some calls really failed and were re-sent


async def test_one_channel_per_connection_and_loop(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["alpha"])
    config = config_for(emu)
    client = get_admin_client(config)
    assert get_admin_client(config_for(emu)) is client  # equal configs share the client
    await asyncio.gather(*(client.get_execution(PROJECT, DOMAIN, "alpha") for _ in range(200)))
    other = AsyncAdminClient(config)  # even a separately built client reuses the loop's channel
    await other.get_execution(PROJECT, DOMAIN, "alpha")
    assert channels_mod.channel_count() == 1
    assert await channels_mod.get_channel(config) is await channels_mod.get_channel(config_for(emu))


def test_loop_closed_and_new_loop_started(emu: FlyteAdminEmulator) -> None:
    """dag.test() closes its loop and starts another: nothing of the old loop may be reused."""
    create_without_rpcs(emu, ["alpha"])
    config = config_for(emu)
    seen: list[tuple[object, object]] = []

    async def use() -> None:
        client = get_admin_client(config)
        await client.get_execution(PROJECT, DOMAIN, "alpha")
        seen.append((client, await channels_mod.get_channel(config)))
        assert asyncio.get_running_loop() in channels_mod._channels._by_loop

    first_loop = asyncio.new_event_loop()
    first_loop.run_until_complete(use())
    first_loop.close()
    asyncio.run(use())
    (client1, channel1), (client2, channel2) = seen
    assert client1 is not client2
    assert channel1 is not channel2
    assert first_loop not in channels_mod._channels._by_loop  # dropped once the loop was closed


async def test_rate_cap_is_honoured(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["alpha"])
    rate = 20.0
    client = get_admin_client(config_for(emu, max_admin_calls_per_second=rate))
    calls = 30
    started = time.monotonic()
    await asyncio.gather(*(client.get_execution(PROJECT, DOMAIN, "alpha") for _ in range(calls)))
    elapsed = time.monotonic() - started
    burst = 2  # TokenBucket's default for low rates
    # An upper bound only: a slow machine can make fewer calls, never more than the cap allows.
    assert emu.counters()["GetExecution"] == calls
    assert calls <= rate * elapsed + burst


async def test_terminal_failure_details(emu: FlyteAdminEmulator) -> None:
    message = "Traceback (most recent call last): " + "x" * 300
    emu.script(Outcome.fail(message, code="USER:ValueError", kind="USER"), name_pattern="bad*")
    create_without_rpcs(emu, ["bad-one"])
    emu.complete(PROJECT, DOMAIN, "bad-one")
    status = await get_admin_client(config_for(emu)).get_execution(PROJECT, DOMAIN, "bad-one")
    assert status.phase is ExecutionPhase.FAILED
    assert (status.error_code, status.error_kind, status.error_message) == (
        "USER:ValueError",
        "USER",
        message,
    )
    fields = status.to_event_fields()
    assert fields["phase"] == "FAILED"
    assert fields["execution"] == "bad-one"
    assert isinstance(fields.get("duration_seconds", 0.0), float)
