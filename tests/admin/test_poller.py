"""The shared batched poller against the emulator: batching, fallbacks, intervals, errors, no leaks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import pytest

from flyte_async_provider.admin import ExecutionStatus, get_admin_client, get_status_poller
from flyte_async_provider.admin import channels as channels_mod
from flyte_async_provider.admin.poller import StatusPoller
from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.exceptions import FlyteNotFoundError
from flyte_async_provider.phases import ExecutionPhase
from support.flyte import DOMAIN, PROJECT, config_for, create_without_rpcs
from support.waits import eventually


async def collect(poller: StatusPoller, name: str, **kwargs: float) -> list[ExecutionStatus]:
    return [status async for status in poller.watch(name, **kwargs)]


async def test_thousand_watches_share_one_channel_and_batched_lists(emu: FlyteAdminEmulator) -> None:
    names = create_without_rpcs(emu, [f"fan-{i:04d}" for i in range(1000)])
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    seen: dict[str, list[ExecutionPhase]] = {n: [] for n in names}

    async def watch(name: str) -> None:
        async for status in poller.watch(name, poll_interval=0.5):
            seen[name].append(status.phase)

    watches = [asyncio.ensure_future(watch(n)) for n in names]
    await eventually(lambda: all(seen.values()), what="every watch's first status")
    emu.complete_many(PROJECT, DOMAIN, names)
    await asyncio.wait_for(asyncio.gather(*watches), 30)
    assert all(phases == [ExecutionPhase.UNDEFINED, ExecutionPhase.SUCCEEDED] for phases in seen.values())
    counters = emu.counters()
    # Every read went through batched lists of up to 200 names; no GetExecution per watch.
    assert counters.get("GetExecution", 0) == 0
    assert counters["ListExecutions"] <= 5 * 10
    assert channels_mod.channel_count() == 1
    assert poller.stats() == {**poller.stats(), "watchers": 0, "names": 0, "heap": 0}


async def test_terminal_error_is_read_in_full(emu: FlyteAdminEmulator) -> None:
    message = "ValueError: " + "long explanation " * 20  # lists cut it to 100 bytes
    emu.script(Outcome.fail(message, code="USER:ValueError"), name_pattern="bad-*")
    create_without_rpcs(emu, ["bad-1"])
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    watch = asyncio.ensure_future(collect(poller, "bad-1", poll_interval=0.1))
    await eventually(lambda: poller.stats()["list_calls"] >= 1)
    emu.complete(PROJECT, DOMAIN, "bad-1")
    final = (await asyncio.wait_for(watch, 10))[-1]
    assert final.phase is ExecutionPhase.FAILED
    assert final.error_message == message
    assert emu.counters()["GetExecution"] == 1


async def test_names_missing_from_lists_are_read_one_by_one(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["archived-1", "active-1"])
    client = get_admin_client(config_for(emu))
    from flyteidl.admin import execution_pb2
    from flyteidl.core import identifier_pb2

    request = execution_pb2.ExecutionUpdateRequest(
        id=identifier_pb2.WorkflowExecutionIdentifier(project=PROJECT, domain=DOMAIN, name="archived-1"),
        state=execution_pb2.EXECUTION_ARCHIVED,
    )
    await client.call("UpdateExecution", request)
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    first = poller.watch("archived-1", poll_interval=0.1)
    status = await asyncio.wait_for(first.__anext__(), 5)
    await first.aclose()
    assert status.phase is ExecutionPhase.UNDEFINED
    assert emu.counters()["GetExecution"] >= 1


async def test_each_watcher_keeps_its_interval(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> None:
    # One phase step per status read: phases seen count the reads each watcher caused.
    emu = flyte_admin_emulator_factory(
        default_outcome=Outcome.succeed(), default_advance=Advance.after_reads(1)
    )
    create_without_rpcs(emu, ["fast", "slow"])
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    slow_seen: list[ExecutionStatus] = []

    async def slow() -> None:
        async for status in poller.watch("slow", poll_interval=3.0):
            slow_seen.append(status)

    slow_task = asyncio.ensure_future(slow())
    fast = await asyncio.wait_for(collect(poller, "fast", poll_interval=0.1), 10)
    assert [s.phase.name for s in fast] == ["UNDEFINED", "QUEUED", "RUNNING", "SUCCEEDING", "SUCCEEDED"]
    # "fast" needed 5 reads; in that time "slow" (every 3 s) was read at most twice.
    assert len(slow_seen) <= 2
    slow_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await slow_task


async def test_not_found_after_grace_fails_only_that_watcher(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["exists"])
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    other = asyncio.ensure_future(collect(poller, "exists", poll_interval=0.1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FlyteNotFoundError, match="typo-name"):
        await asyncio.wait_for(collect(poller, "typo-name", poll_interval=0.1, not_found_grace=0.5), 10)
    assert loop.time() - started >= 0.5  # kept looking for the whole grace
    assert not other.done()
    emu.complete(PROJECT, DOMAIN, "exists")
    assert (await asyncio.wait_for(other, 10))[-1].phase is ExecutionPhase.SUCCEEDED


async def test_execution_created_late_within_grace_is_found(emu: FlyteAdminEmulator) -> None:
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    watch = asyncio.ensure_future(collect(poller, "late-1", poll_interval=0.1, not_found_grace=30))
    await eventually(lambda: poller.stats()["get_calls"] >= 2, what="a few NOT_FOUND reads")
    create_without_rpcs(emu, ["late-1"])
    emu.complete(PROJECT, DOMAIN, "late-1")
    assert (await asyncio.wait_for(watch, 10))[-1].phase is ExecutionPhase.SUCCEEDED


async def test_errors_and_outage_never_end_the_watch(
    emu: FlyteAdminEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    names = create_without_rpcs(emu, [f"flaky-{i}" for i in range(50)])
    emu.inject_fault("*", error_rate=0.2, code="UNAVAILABLE")
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    poller.outage_backoff = (0.2, 0.5)
    caplog.set_level(logging.INFO, logger="flyte_async_provider.admin.poller")
    watches = [asyncio.ensure_future(collect(poller, n, poll_interval=0.1)) for n in names]
    await eventually(lambda: poller.stats()["list_calls"] >= 3)
    emu.start_outage(2.0)
    await eventually(lambda: any("failing status reads" in r.message for r in caplog.records), 5)
    await eventually(lambda: not emu.faults.in_outage(), 5, "the outage to end")
    for name in names:
        emu.complete(PROJECT, DOMAIN, name, Outcome.fail("boom") if name.startswith("flaky-1") else None)
    results = await asyncio.wait_for(asyncio.gather(*watches), 30)
    for name, statuses in zip(names, results, strict=True):
        expected = ExecutionPhase.FAILED if name.startswith("flaky-1") else ExecutionPhase.SUCCEEDED
        assert statuses[-1].phase is expected, name
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    recoveries = [r for r in caplog.records if "again after" in r.message]
    assert len(warnings) >= 1
    assert len(recoveries) == len(warnings)  # every outage: one warning, one recovery line
    assert len(caplog.records) <= 2 * len(warnings)  # nothing logged per poll


async def test_unsubscribing_leaks_nothing_and_poller_restarts(emu: FlyteAdminEmulator) -> None:
    names = create_without_rpcs(emu, [f"leak-{i:03d}" for i in range(300)])
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    baseline = len(asyncio.all_tasks())
    firsts: list[ExecutionStatus] = []

    async def watch_forever(name: str) -> None:
        async for status in poller.watch(name, poll_interval=0.1 + len(name) % 3 * 0.1):
            firsts.append(status)

    tasks = [asyncio.ensure_future(watch_forever(n)) for n in names[:200]]
    generators = [poller.watch(n, poll_interval=0.2) for n in names[200:]]
    await asyncio.wait_for(asyncio.gather(*(g.__anext__() for g in generators)), 10)
    await eventually(lambda: len(firsts) >= 200, what="every task watcher's first status")
    assert poller.stats()["watchers"] == 300
    for task in tasks[:100]:
        task.cancel()
    await asyncio.gather(*tasks[:100], return_exceptions=True)
    assert poller.stats()["watchers"] == 200
    for generator in generators:
        await generator.aclose()
    for task in tasks[100:]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await eventually(lambda: len(asyncio.all_tasks()) <= baseline, what="the poller task to stop")
    assert poller.stats() | {"list_calls": 0, "get_calls": 0} == {
        "watchers": 0,
        "names": 0,
        "heap": 0,
        "running": 0,
        "list_calls": 0,
        "get_calls": 0,
    }
    # Restarts on demand.
    emu.complete(PROJECT, DOMAIN, names[0])
    assert (await asyncio.wait_for(collect(poller, names[0], poll_interval=0.1), 10))[-1].phase.is_terminal
    await eventually(lambda: not poller.stats()["running"], what="the poller to stop again")


async def test_terminated_elsewhere_reports_abort_details(emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(emu, ["stopme"])
    poller = get_status_poller(config_for(emu), PROJECT, DOMAIN)
    watch = asyncio.ensure_future(collect(poller, "stopme", poll_interval=0.1))
    await eventually(lambda: poller.stats()["list_calls"] >= 1)
    emu.terminate(PROJECT, DOMAIN, "stopme", cause="not needed", principal="alice")
    emu.complete(PROJECT, DOMAIN, "stopme")
    final = (await asyncio.wait_for(watch, 10))[-1]
    assert final.phase is ExecutionPhase.ABORTED
    assert (final.abort_cause, final.abort_principal) == ("not needed", "alice")
