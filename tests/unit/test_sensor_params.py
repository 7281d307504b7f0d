"""FlyteSensor arguments: old names kept, deferrable default, worker-free start_from_trigger."""

from __future__ import annotations

import datetime
import inspect

import pytest
from airflow.sdk import DAG

from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.sensors.flyte import FlyteSensor


def test_old_parameters_and_templates() -> None:
    assert {"execution_name", "project", "domain", "flyte_conn_id"} <= set(
        inspect.signature(FlyteSensor.__init__).parameters
    )
    assert {"execution_name", "project", "domain", "flyte_conn_id"} <= set(FlyteSensor.template_fields)
    sensor = FlyteSensor(task_id="s", execution_name="x")
    assert sensor.flyte_conn_id == "flyte_default"
    assert sensor.deferrable is False
    assert sensor.start_from_trigger is False


def test_start_from_trigger_builds_the_trigger_kwargs_without_touching_the_class() -> None:
    sensor = FlyteSensor(
        task_id="s",
        execution_name="{{ ti.xcom_pull(task_ids='launch', map_indexes=-1) }}",
        project="flytesnacks",
        domain="development",
        start_from_trigger=True,
        poke_interval=7,
        timeout=120,
    )
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger is True
    assert sensor.deferrable is True
    # Stored in the serialized DAG: the classpath must never move.
    assert args.trigger_cls == "flyte_async_provider.triggers.flyte.FlyteExecutionTrigger"
    assert args.next_method == "execute_complete"
    assert args.timeout == datetime.timedelta(seconds=120)
    assert args.trigger_kwargs == {
        "conn_id": "flyte_default",
        "project": "flytesnacks",
        "domain": "development",
        "execution_name": "{{ ti.xcom_pull(task_ids='launch', map_indexes=-1) }}",
        "poll_interval": 7.0,
        "terminate_on_kill": False,
        "task_id": "s",
    }
    # The class keeps None: a mapped sensor (no __init__) then runs the ordinary path.
    assert FlyteSensor.start_trigger_args is None
    from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger

    trigger = FlyteExecutionTrigger(**args.trigger_kwargs)  # the scheduler builds exactly this
    # The triggerer renders operator template fields that are trigger attributes of the same name.
    assert {"execution_name", "project", "domain"} <= {
        f for f in sensor.template_fields if hasattr(trigger, f)
    }


def test_start_from_trigger_needs_project_domain_and_a_template_not_an_xcomarg() -> None:
    with pytest.raises(FlyteConfigError, match="explicit project and domain"):
        FlyteSensor(task_id="s", execution_name="x", start_from_trigger=True)
    with DAG("d", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
        from airflow.sdk import task

        @task
        def launch() -> str:
            return "x"

        with pytest.raises(FlyteConfigError, match="Jinja"):
            FlyteSensor(
                task_id="s", execution_name=launch(), project="p", domain="d", start_from_trigger=True
            )
