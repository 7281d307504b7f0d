"""Mapped zero-worker tasks: one map index's arguments worked out on the triggerer, then submitted.

The mapped tasks are real DAG-file tasks, serialized and deserialized exactly as the triggerer gets
them. The oracle for "which arguments does map index i get" is Airflow's own worker-side expansion of
the same task (the task SDK's MappedOperator), not a table written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, task, task_group

from flyte_async_provider._compat import STARTS_FROM_TRIGGER
from flyte_async_provider.connections import clear_connection_cache
from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.operators.flyte import FlyteOperator
from flyte_async_provider.operators.naming import default_base_name, name_for_try
from flyte_async_provider.triggers.launch import MAPPED_START_TRIGGER_ARGS, FlyteMappedLaunchTrigger
from flyte_async_provider.triggers.mapped import (
    WHOLE,
    RunOnWorker,
    UpstreamXCom,
    map_index_launch_kwargs,
    upstream_xcoms,
)
from support.admin_rpc import ident
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT, set_flyte_connection
from support.triggers import single_event

# Airflow 3.1/3.2's scheduler ignores start_from_trigger: no map index is ever started on a triggerer
# there, and the e2e suite on 3.1 runs such tasks down the ordinary worker path.
pytestmark = pytest.mark.skipif(
    not STARTS_FROM_TRIGGER, reason="Airflow < 3.3 never starts a task on the triggerer"
)
START = pendulum.datetime(2026, 1, 1, tz="UTC")
CONN_ID = "flyte_mapped_zero"


class CustomFlyteOperator(FlyteOperator):
    pass


@task
def upstream() -> list[dict[str, Any]]:
    return [{"seed": 1}]


@task
def one_seed(seed: int) -> dict[str, Any]:
    return {"seed": seed}


def same(value: Any) -> Any:
    return value


def serialized(dag: DAG) -> Any:
    """The DAG as the triggerer rebuilds it from the serialized DAG it is handed."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def ti(map_index: int) -> SimpleNamespace:
    return SimpleNamespace(map_index=map_index)


def worker_expansion(dag: DAG, task_id: str, map_index: int) -> dict[str, Any]:
    """What Airflow's worker-side expansion gives this map index (the SDK's MappedOperator)."""
    mapped, _ = dag.get_task(task_id)._expand_mapped_kwargs({"ti": ti(map_index)})
    return dict(mapped)


@pytest.fixture(scope="module")
def dag() -> DAG:
    with DAG("mapped_zero", schedule=None, start_date=START, render_template_as_native_obj=True) as dag:
        common: dict[str, Any] = {
            "flyte_conn_id": CONN_ID,
            "launchplan_name": LAUNCH_PLAN,
            "poll_interval": 0.2,
            "start_from_trigger": True,
        }
        FlyteOperator.partial(
            task_id="cross", project=PROJECT, domain=DOMAIN, execution_timeout=timedelta(seconds=90), **common
        ).expand(inputs=[{"seed": s, "test_split_ratio": 0.5} for s in (1, 2, 3)], version=["v1", "v2"])
        FlyteOperator.partial(task_id="kwargs", **common).expand_kwargs(
            [{"inputs": {"seed": 5}, "execution_name": "first"}, {"inputs": {"seed": 6}, "project": "p2"}]
        )
        FlyteOperator.partial(task_id="over_xcom", **common).expand(inputs=upstream())
        FlyteOperator.partial(task_id="over_mapped", **common).expand(inputs=one_seed.expand(seed=[1, 2]))
        FlyteOperator.partial(task_id="kwargs_xcom", **common).expand_kwargs(upstream())
        FlyteOperator.partial(task_id="over_fn", **common).expand(inputs=upstream().map(same))
        FlyteOperator.partial(task_id="xcom_partial", labels=upstream(), **common).expand(
            inputs=[{"seed": 1}]
        )
        CustomFlyteOperator.partial(task_id="subclass", **common).expand(inputs=[{"seed": 1}])
        FlyteOperator.partial(task_id="no_wait", wait_for_completion=False, **common).expand(
            inputs=[{"seed": 1}]
        )
        FlyteOperator.partial(task_id="callback", on_success_callback=lambda _: None, **common).expand(
            inputs=[{"seed": 1}]
        )
        FlyteOperator.partial(task_id="two_entities", task_name="t", **common).expand(inputs=[{"seed": 1}])
        FlyteOperator.partial(task_id="mapped_downstream", **common).expand(inputs=[{"seed": 1}])
        FlyteOperator.partial(
            task_id="templated", inputs={"seed": "{{ dag_run.conf['seed'] }}"}, **common
        ).expand(execution_name=["templated-{{ dag_run.conf['seed'] }}"])

        @task
        def consume(value: Any) -> Any:
            return value

        consume.expand(value=dag.get_task("mapped_downstream").output)

        @task_group
        def group(seed: int) -> None:
            FlyteOperator(task_id="in_group", inputs={"seed": seed}, **common)

        group.expand(seed=[1, 2])
    return dag


def test_every_map_index_gets_the_arguments_airflow_s_own_expansion_gives_it(dag: DAG) -> None:
    task_ = serialized(dag).get_task("cross")
    seen = set()
    for index in range(6):
        kwargs = map_index_launch_kwargs(task_, ti(index))
        expected = worker_expansion(dag, "cross", index)
        assert (kwargs["inputs"], kwargs["version"]) == (expected["inputs"], expected["version"])
        assert (kwargs["project"], kwargs["launchplan_name"]) == (PROJECT, LAUNCH_PLAN)
        assert kwargs["execution_timeout"] == 90.0
        seen.add((kwargs["inputs"]["seed"], kwargs["version"]))
    assert len(seen) == 6  # the whole cross product, each pair once


def test_expand_kwargs_literals_override_the_partial_arguments(dag: DAG) -> None:
    task_ = serialized(dag).get_task("kwargs")
    first, second = (map_index_launch_kwargs(task_, ti(i)) for i in (0, 1))
    assert (first["inputs"], first["execution_name"], first["project"]) == ({"seed": 5}, "first", None)
    assert (second["inputs"], second["execution_name"], second["project"]) == ({"seed": 6}, None, "p2")


@pytest.mark.parametrize(
    ("task_id", "reason"),
    [
        ("over_xcom", "the expanded values: not literal values of the DAG file"),  # not fetched
        ("over_fn", "the expanded values: not literal values of the DAG file"),
        ("xcom_partial", "labels: not literal values of the DAG file"),
        ("subclass", "the task's operator is CustomFlyteOperator, not FlyteOperator itself"),
        ("no_wait", "wait_for_completion=False has nothing to wait for"),
        ("group.in_group", "the task is in a mapped task group"),
    ],
)
def test_what_only_a_worker_can_resolve_sends_the_task_to_a_worker(
    dag: DAG, task_id: str, reason: str
) -> None:
    with pytest.raises(RunOnWorker, match=reason):
        map_index_launch_kwargs(serialized(dag).get_task(task_id), ti(0))


def test_plain_upstream_xcoms_are_named_for_the_trigger_to_read(dag: DAG) -> None:
    tasks = serialized(dag)
    assert upstream_xcoms(tasks.get_task("over_xcom")) == {
        "inputs": UpstreamXCom("upstream", "return_value", mapped=False)
    }
    assert upstream_xcoms(tasks.get_task("over_mapped")) == {
        "inputs": UpstreamXCom("one_seed", "return_value", mapped=True)
    }
    (whole,) = upstream_xcoms(tasks.get_task("kwargs_xcom")).items()
    assert whole[0] == WHOLE
    assert whole[1].mapped is False
    assert upstream_xcoms(tasks.get_task("over_fn")) == {}  # .map() runs a function: a worker's job
    assert upstream_xcoms(tasks.get_task("cross")) == {}


def test_fetched_upstream_values_expand_like_literals(dag: DAG) -> None:
    tasks = serialized(dag)
    values = [{"seed": 21}, {"seed": 22}, {"seed": 23}]
    for index, expected in enumerate(values):
        kwargs = map_index_launch_kwargs(tasks.get_task("over_xcom"), ti(index), {"inputs": values})
        assert kwargs["inputs"] == expected
    rows = [{"inputs": {"seed": 31}, "execution_name": "kw-a"}, {"inputs": {"seed": 32}}]
    second = map_index_launch_kwargs(tasks.get_task("kwargs_xcom"), ti(1), {WHOLE: rows})
    assert (second["inputs"], second["execution_name"]) == ({"seed": 32}, None)
    with pytest.raises(RunOnWorker, match="do not expand here"):  # an XCom that is not a list
        map_index_launch_kwargs(tasks.get_task("over_xcom"), ti(0), {"inputs": 5})


def test_a_success_callback_makes_the_map_index_resume_on_a_worker(dag: DAG) -> None:
    tasks = serialized(dag)
    assert map_index_launch_kwargs(tasks.get_task("cross"), ti(0))["end_from_trigger"] is True
    assert map_index_launch_kwargs(tasks.get_task("callback"), ti(0))["end_from_trigger"] is False


def test_invalid_arguments_raise_the_operator_s_own_error(dag: DAG) -> None:
    with pytest.raises(FlyteConfigError, match="give exactly one of launchplan_name, task_name"):
        map_index_launch_kwargs(serialized(dag).get_task("two_entities"), ti(0))


def test_the_scheduler_starts_mapped_tasks_only_when_asked_to(dag: DAG) -> None:
    tasks = serialized(dag)
    assert tasks.get_task("cross").start_from_trigger is True
    assert tasks.get_task("cross").start_trigger_args.trigger_cls == MAPPED_START_TRIGGER_ARGS.trigger_cls
    with DAG("plain_mapped", schedule=None, start_date=START) as plain:
        FlyteOperator.partial(task_id="plain", launchplan_name=LAUNCH_PLAN).expand(inputs=[{"seed": 1}])
        FlyteOperator(task_id="unmapped", launchplan_name=LAUNCH_PLAN)
    assert serialized(plain).get_task("plain").start_from_trigger is False
    assert serialized(plain).get_task("unmapped").start_from_trigger is False


def triggered(dag: DAG, task_id: str, map_index: int) -> FlyteMappedLaunchTrigger:
    """The trigger as the triggerer builds it: static kwargs, task instance, then rendering."""
    trigger = FlyteMappedLaunchTrigger(**MAPPED_START_TRIGGER_ARGS.trigger_kwargs)
    instance = SimpleNamespace(
        dag_id=dag.dag_id,
        task_id=task_id,
        run_id="manual__1",
        map_index=map_index,
        try_number=1,
        task=serialized(dag).get_task(task_id),
    )
    trigger.task_instance = instance
    trigger.render_template_fields({"ti": instance, "dag_run": SimpleNamespace(conf={"seed": 42})})
    return trigger


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, flyte_admin_emulator: Any) -> Iterator[Any]:
    """The DAG's connection, pointing at the emulator (an environment variable, as users set it)."""
    set_flyte_connection(
        monkeypatch,
        CONN_ID,
        flyte_admin_emulator.grpc_endpoint,
        extra={"project": PROJECT, "domain": DOMAIN},
    )
    flyte_admin_emulator.script(Outcome.succeed(), advance=Advance.after_reads(1))
    yield flyte_admin_emulator
    clear_connection_cache()


def seed_of(emulator: Any, name: str) -> int:
    data = emulator.backend.get_execution_data(ident(name))
    return int(data.full_inputs.literals["seed"].scalar.primitive.integer)


async def test_the_trigger_submits_its_own_map_index_s_execution_and_renders_it(
    dag: DAG, emulator: Any
) -> None:
    event = await single_event(triggered(dag, "templated", 0))
    assert event["status"] == "success", event
    assert event["execution"] == "templated-42"  # rendered on the "triggerer"
    assert emulator.counters()["CreateExecution"] == 1
    assert seed_of(emulator, "templated-42") == 42  # native: the DAG renders native objects


async def test_the_same_map_index_twice_submits_once(dag: DAG, emulator: Any) -> None:
    names = {(await single_event(triggered(dag, "cross", 4)))["execution"] for _ in range(2)}
    base = default_base_name(dag.dag_id, "cross", "manual__1", 4)
    assert names == {name_for_try(base, 1, explicit=False)}
    assert emulator.counters()["CreateExecution"] == 2  # the second run was refused: ALREADY_EXISTS
    assert emulator.success_counters()["CreateExecution"] == 1
    assert seed_of(emulator, names.pop()) == worker_expansion(dag, "cross", 4)["inputs"]["seed"]


@pytest.mark.parametrize(
    ("task_id", "why"),
    [
        ("over_fn", "not literal values of the DAG file"),
        ("over_xcom", "could not read upstream task 'upstream''s XCom here"),  # no supervisor here
        ("over_mapped", "it expands over mapped upstream task 'one_seed''s XComs"),
    ],
)
async def test_what_the_trigger_cannot_expand_goes_to_a_worker_without_submitting(
    dag: DAG, flyte_admin_emulator: Any, task_id: str, why: str
) -> None:
    event = await single_event(triggered(dag, task_id, 0))
    assert event["status"] == "run_on_worker"
    assert why in event["message"]
    assert flyte_admin_emulator.counters().get("CreateExecution", 0) == 0


def test_the_mapped_dependant_check_sees_a_task_expanding_over_a_mapped_task(dag: DAG) -> None:
    from flyte_async_provider._compat import has_mapped_dependants

    tasks = serialized(dag)
    assert has_mapped_dependants(tasks.get_task("mapped_downstream")) is True
    assert has_mapped_dependants(tasks.get_task("cross")) is False
