"""FlyteLaunchTrigger (zero-worker mode) against the emulator over real sockets.

Outside a triggerer there is no supervisor to push XComs through, so a success here always comes
back as an ordinary ``success`` event (the resume-on-a-worker fallback); the end-on-the-triggerer
path itself is covered by tests/e2e/test_zero_worker.py on a real Airflow.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

try:
    from airflow.sdk import serde
except ImportError:
    from airflow.serialization import serde  # type: ignore[no-redef]
from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.operators.naming import default_base_name, name_for_try
from flyte_async_provider.triggers.launch import FlyteLaunchTrigger
from support.admin_rpc import launch
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT
from support.triggers import single_event
from support.waits import eventually

GOOD_INPUTS = {"test_split_ratio": 0.5, "seed": 7}


def make_trigger(conn_id: str, try_number: int = 1, **kwargs: Any) -> FlyteLaunchTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("launchplan_name", LAUNCH_PLAN)
    kwargs.setdefault("inputs", dict(GOOD_INPUTS))
    trigger = FlyteLaunchTrigger(flyte_conn_id=conn_id, project=PROJECT, domain=DOMAIN, **kwargs)
    trigger.task_instance = SimpleNamespace(  # what the triggerer gives a start-from-trigger trigger
        dag_id="ml", task_id="train", run_id="manual__1", map_index=-1, try_number=try_number, task=None
    )
    return trigger


def expected_name(try_number: int) -> str:
    return name_for_try(default_base_name("ml", "train", "manual__1", -1), try_number, explicit=False)


def test_kwargs_round_trip_through_serde_as_primitives() -> None:
    trigger = FlyteLaunchTrigger(
        flyte_conn_id="flyte_default",
        project=PROJECT,
        domain=DOMAIN,
        launchplan_name=LAUNCH_PLAN,
        inputs={"seed": "{{ dag_run.conf['seed'] }}"},
        labels={"team": "ml"},
        execution_timeout=600.0,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "flyte_async_provider.triggers.launch.FlyteLaunchTrigger"
    restored = serde.deserialize(serde.serialize(kwargs))
    assert FlyteLaunchTrigger(**restored).serialize() == trigger.serialize()


async def test_submits_the_try_s_execution_once_and_watches_it(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.after_reads(1))
    event = await single_event(make_trigger(flyte_conn))
    assert event["status"] == "success", event
    assert event["execution"] == expected_name(1)
    assert flyte_admin_emulator.counters()["CreateExecution"] == 1
    execution = flyte_admin_emulator.execution(PROJECT, DOMAIN, expected_name(1))
    assert execution.spec.launch_plan.name == LAUNCH_PLAN


async def test_a_restarted_trigger_finds_its_execution_instead_of_a_second_one(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.after_reads(1))
    await single_event(make_trigger(flyte_conn))
    event = await single_event(make_trigger(flyte_conn))  # same try again: a triggerer restart
    assert event["status"] == "success"
    assert flyte_admin_emulator.counters()["CreateExecution"] == 2  # the second one: ALREADY_EXISTS
    assert flyte_admin_emulator.success_counters()["CreateExecution"] == 1
    assert sum(flyte_admin_emulator.phase_counts().values()) == 1


async def test_a_retry_re_attaches_to_the_earlier_try_s_live_execution(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.manual())
    launch(flyte_admin_emulator.grpc_endpoint, expected_name(1))  # try 1 submitted, then its worker died
    second = make_trigger(flyte_conn, try_number=2)
    watch = asyncio.ensure_future(single_event(second))
    await eventually(
        lambda: second.execution_name == expected_name(1), what="the trigger to adopt try 1's name"
    )
    flyte_admin_emulator.complete(PROJECT, DOMAIN, expected_name(1), Outcome.succeed())
    event = await watch
    assert event["status"] == "success"
    assert event["execution"] == expected_name(1)
    assert flyte_admin_emulator.counters()["CreateExecution"] == 1  # the test's own launch only


async def test_bad_inputs_fail_before_anything_is_submitted(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    event = await single_event(make_trigger(flyte_conn, inputs={"seed": "not a number", "bogus": 1}))
    assert event["status"] == "error"
    assert "bogus" in event["message"]
    assert "seed" in event["message"]
    assert "Nothing was submitted" in event["message"]
    assert flyte_admin_emulator.counters().get("CreateExecution", 0) == 0


async def test_an_unknown_launch_plan_is_a_not_found_error_event(
    flyte_admin_emulator: Any, flyte_conn: str
) -> None:
    event = await single_event(make_trigger(flyte_conn, launchplan_name="no.such.plan"))
    assert event["status"] == "error"
    assert event["error_code"] == "NOT_FOUND"
    assert "no.such.plan" in event["message"]


async def test_failure_carries_flyte_s_message(flyte_admin_emulator: Any, flyte_conn: str) -> None:
    flyte_admin_emulator.script(Outcome.fail("ValueError: bad seed", code="USER:ValueError"))
    event = await single_event(make_trigger(flyte_conn))
    assert event["status"] == "failed"
    assert event["error_message"] == "ValueError: bad seed"


async def test_options_reach_create_execution(flyte_admin_emulator: Any, flyte_conn: str) -> None:
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.after_reads(1))
    trigger = make_trigger(
        flyte_conn, labels={"team": "ml"}, envs={"MODE": "fast"}, tags=["nightly"], max_parallelism=3
    )
    await single_event(trigger)
    spec = flyte_admin_emulator.execution(PROJECT, DOMAIN, expected_name(1)).spec
    assert dict(spec.labels.values) == {"team": "ml"}
    assert spec.max_parallelism == 3
    assert list(spec.tags) == ["nightly"]
    assert {kv.key: kv.value for kv in spec.envs.values} == {"MODE": "fast"}


@pytest.mark.parametrize("missing", ["dag_id", "try_number"])
async def test_without_a_task_instance_nothing_is_submitted(
    flyte_admin_emulator: Any, flyte_conn: str, missing: str
) -> None:
    trigger = make_trigger(flyte_conn)
    setattr(trigger.task_instance, missing, None)
    event = await single_event(trigger)
    assert event["status"] == "error"
    assert flyte_admin_emulator.counters().get("CreateExecution", 0) == 0
