"""When a deferred FlyteOperator may end on the triggerer, and when it must resume on a worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import DAG, Asset, task

from flyte_async_provider.operators.flyte import FlyteOperator

LP = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"


def _op(**kwargs: Any) -> FlyteOperator:
    return FlyteOperator(task_id=kwargs.pop("task_id", "t"), launchplan_name=LP, **kwargs)


def test_a_plain_task_ends_on_the_triggerer() -> None:
    assert _op().worker_resume_reasons() == []


def test_airflow_s_end_from_trigger_attribute_is_never_set() -> None:
    # Airflow's DagBag rejects tasks whose end_from_trigger is true when a listener plugin is loaded.
    assert getattr(_op(), "end_from_trigger", False) is False


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"finish_on_triggerer": False}, "finish_on_triggerer=False"),
        ({"on_success_callback": lambda context: None}, "on_success_callback"),
        ({"outlets": [Asset("s3://bucket/model")]}, "outlets"),
        ({"multiple_outputs": True}, "multiple_outputs"),
        ({"post_execute": lambda context, result: None}, "post_execute"),
    ],
)
def test_what_needs_a_worker_resume(kwargs: dict[str, Any], reason: str) -> None:
    reasons = _op(**kwargs).worker_resume_reasons()
    assert any(reason in r for r in reasons), reasons


def test_an_overridden_resume_method_needs_a_worker() -> None:
    class Custom(FlyteOperator):
        def execute_complete(self, context: Any, event: Any = None) -> Any:
            return "custom"

    reasons = Custom(task_id="c", launchplan_name=LP).worker_resume_reasons()
    assert any("overridden" in r for r in reasons), reasons


def test_a_downstream_mapped_over_the_result_needs_a_worker() -> None:
    with DAG("fanout_of_outputs", schedule=None):
        train = _op(task_id="train", fetch_outputs=True)

        @task
        def score(model: Any) -> Any:
            return model

        score.expand(model=train.output)
    reasons = train.worker_resume_reasons()
    assert any("mapped" in r for r in reasons), reasons


@pytest.fixture
def success_listener() -> Iterator[None]:
    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # Airflow 3.1
        from airflow.listeners.listener import get_listener_manager
    from pluggy import HookimplMarker

    hookimpl = HookimplMarker("airflow")  # the marker Airflow's listener specs use, on 3.1 and 3.3

    class Listener:
        @hookimpl  # type: ignore[misc]
        def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
            pass

    manager = get_listener_manager()
    listener = Listener()
    manager.add_listener(listener)
    try:
        yield
    finally:
        manager.pm.unregister(listener)


def test_a_success_listener_plugin_needs_a_worker(success_listener: None) -> None:
    reasons = _op().worker_resume_reasons()
    assert any("listener" in r for r in reasons), reasons
