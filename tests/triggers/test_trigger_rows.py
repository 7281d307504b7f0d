"""Trigger rows already in Airflow's database, and the triggers' own factories."""

from __future__ import annotations

import datetime
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger
from flyte_async_provider.triggers.launch import FlyteLaunchTrigger


def import_string(classpath: str) -> Any:
    module, _, name = classpath.rpartition(".")
    return getattr(import_module(module), name)


# Rows as version 0.1.0 wrote them (classpath, kwargs): they must keep deserializing.
WATCH_ROW: tuple[str, dict[str, Any]] = (
    "flyte_async_provider.triggers.flyte.FlyteExecutionTrigger",
    {
        "conn_id": "flyte_default",
        "project": "flytesnacks",
        "domain": "development",
        "execution_name": "train-0123456789ab-1",
        "poll_interval": 30.0,
        "deadline": 1900000000.5,
        "terminate_on_kill": True,
        "not_found_grace": 60.0,
        "dag_id": "ml",
        "task_id": "train",
        "run_id": "manual__1",
        "map_index": 2,
        "end_from_trigger": True,
        "fetch_outputs": False,
        "push_return_value": True,
    },
)
SENSOR_START_ROW: tuple[str, dict[str, Any]] = (
    "flyte_async_provider.triggers.flyte.FlyteExecutionTrigger",
    {
        "conn_id": "flyte_default",
        "project": "flytesnacks",
        "domain": "development",
        "execution_name": "abc",
        "poll_interval": 7.0,
        "terminate_on_kill": False,
        "task_id": "s",
    },
)
LAUNCH_ROW: tuple[str, dict[str, Any]] = (
    "flyte_async_provider.triggers.launch.FlyteLaunchTrigger",
    {
        "flyte_conn_id": "flyte_default",
        "project": "flytesnacks",
        "domain": "development",
        "launchplan_name": "lp",
        "task_name": None,
        "workflow_name": None,
        "version": None,
        "inputs": {"seed": 5},
        "execution_name": None,
        "raw_output_data_config": None,
        "kubernetes_service_account": None,
        "oauth2_client": None,
        "labels": {"team": "ml"},
        "annotations": {},
        "secrets": None,
        "notifications": None,
        "disable_notifications": None,
        "max_parallelism": None,
        "overwrite_cache": None,
        "envs": {},
        "tags": [],
        "interruptible": None,
        "cluster_pool": None,
        "execution_timeout": 600.0,
        "poll_interval": 30.0,
        "terminate_on_kill": True,
        "end_from_trigger": True,
        "fetch_outputs": False,
        "push_return_value": True,
        "render_native": False,
    },
)


def test_rows_written_by_earlier_versions_still_deserialize_to_the_same_row() -> None:
    for classpath, kwargs in (WATCH_ROW, LAUNCH_ROW):
        trigger = import_string(classpath)(**kwargs)
        assert trigger.serialize() == (classpath, kwargs)
    classpath, kwargs = SENSOR_START_ROW
    trigger = import_string(classpath)(**kwargs)
    assert (trigger.execution_name, trigger.flyte_task_id, trigger.terminate_on_kill) == ("abc", "s", False)


def test_for_task_instance_adds_the_hook_s_scope_and_the_task_identity() -> None:
    ti = SimpleNamespace(dag_id="ml", task_id="train", run_id="manual__1", map_index=None)
    hook = SimpleNamespace(flyte_conn_id="c", project="p", domain="d")
    trigger = FlyteExecutionTrigger.for_task_instance(ti, hook, execution_name="abc", deadline=None)  # type: ignore[arg-type]
    _, kwargs = trigger.serialize()
    assert (kwargs["conn_id"], kwargs["project"], kwargs["domain"]) == ("c", "p", "d")
    assert (kwargs["dag_id"], kwargs["task_id"], kwargs["run_id"], kwargs["map_index"]) == (
        "ml",
        "train",
        "manual__1",
        -1,
    )


def test_start_trigger_args_name_the_class_and_keep_the_kwargs_as_given() -> None:
    _, kwargs = LAUNCH_ROW
    args = FlyteLaunchTrigger.start_trigger_args(timeout=datetime.timedelta(seconds=5), **kwargs)
    assert args.trigger_cls == LAUNCH_ROW[0]
    assert args.trigger_kwargs == kwargs
    assert (args.next_method, args.next_kwargs, args.timeout) == (
        "execute_complete",
        None,
        datetime.timedelta(seconds=5),
    )
