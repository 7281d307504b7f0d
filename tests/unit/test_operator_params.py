"""FlyteOperator arguments: old names kept, bad ones rejected at parse time, templating, mapping."""

from __future__ import annotations

import datetime
import inspect
from typing import Any

import pytest
from airflow.sdk import DAG

from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.links.flyte import FlyteExecutionLink
from flyte_async_provider.operators.flyte import FlyteOperator

LP = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
OLD_PARAMETERS = {
    "flyte_conn_id",
    "project",
    "domain",
    "launchplan_name",
    "task_name",
    "version",
    "inputs",
    "raw_output_data_config",
    "kubernetes_service_account",
    "oauth2_client",
    "labels",
    "annotations",
    "secrets",
    "notifications",
    "disable_notifications",
    "max_parallelism",
    "execution_name",
}
NEW_PARAMETERS = {
    "workflow_name",
    "deferrable",
    "wait_for_completion",
    "poll_interval",
    "fetch_outputs",
    "terminate_on_kill",
    "overwrite_cache",
    "envs",
    "tags",
    "interruptible",
    "cluster_pool",
    "finish_on_triggerer",
    "start_from_trigger",
}


def _op(**kwargs: Any) -> FlyteOperator:
    kwargs.setdefault("task_id", "t")
    if not {"launchplan_name", "task_name", "workflow_name"} & set(kwargs):
        kwargs["launchplan_name"] = LP
    return FlyteOperator(**kwargs)


def test_every_old_parameter_keeps_its_name() -> None:
    params = set(inspect.signature(FlyteOperator.__init__).parameters)
    assert params >= OLD_PARAMETERS | NEW_PARAMETERS


@pytest.mark.parametrize(
    "entities",
    [{}, {"launchplan_name": "a", "task_name": "b"}, {"task_name": "b", "workflow_name": "c"}],
)
def test_exactly_one_entity(entities: dict[str, str]) -> None:
    with pytest.raises(FlyteConfigError, match="exactly one of launchplan_name, task_name or workflow_name"):
        FlyteOperator(task_id="t", **entities)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"execution_name": "Bad_Name"}, "not valid for Flyte"),
        ({"fetch_outputs": True, "wait_for_completion": False}, "fetch_outputs=True needs"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"notifications": [{"phases": ["RUNNING"], "email": {"recipients_email": ["a"]}}]}, "terminal"),
        ({"secrets": [{"key": "k"}]}, "'group'"),
        ({"oauth2_client": {"client_id": "c"}}, "oauth2_client"),
        ({"labels": {"a": 1}}, "labels"),
        ({"max_parallelism": -2}, "max_parallelism"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FlyteConfigError) as err:
        _op(**kwargs)
    assert fragment in str(err.value)


def test_templated_values_are_checked_after_rendering_not_before() -> None:
    op = _op(execution_name="{{ params.name }}", labels={"run": "{{ run_id }}"})
    assert op.execution_name == "{{ params.name }}"
    op.execution_name = "Not_Valid"
    with pytest.raises(FlyteConfigError, match="not valid for Flyte"):
        op._check_rendered()


def test_defaults() -> None:
    op = _op()
    assert op.flyte_conn_id == "flyte_default"
    assert op.wait_for_completion is True
    assert op.deferrable is False  # [operators] default_deferrable is off here
    assert op.terminate_on_kill is True
    assert op.inputs == {}
    assert op.labels == {}
    assert any(isinstance(link, FlyteExecutionLink) for link in op.operator_extra_links)


def test_nested_inputs_and_names_are_templated() -> None:
    with DAG("d", schedule=None, start_date=datetime.datetime(2026, 1, 1), params={"ratio": 0.5}) as dag:
        op = _op(
            launchplan_name="{{ params.lp }}",
            version="{{ params.version }}",
            project="{{ params.project }}",
            inputs={"test_split_ratio": "{{ params.ratio }}", "nested": {"list": ["{{ ds }}"]}},
            labels={"run": "{{ params.label }}"},
            execution_name="{{ params.name }}",
        )
    assert {
        "inputs",
        "launchplan_name",
        "task_name",
        "workflow_name",
        "version",
        "project",
        "domain",
        "labels",
        "annotations",
        "execution_name",
    } <= set(op.template_fields)
    context = {
        "params": {"lp": LP, "version": "v1", "project": "p", "ratio": 0.5, "label": "x", "name": "n-1"},
        "ds": "2026-01-01",
    }
    op.render_template_fields(context, jinja_env=dag.get_template_env())
    assert op.launchplan_name == LP
    assert op.inputs == {"test_split_ratio": "0.5", "nested": {"list": ["2026-01-01"]}}
    assert op.labels == {"run": "x"}
    assert op.execution_name == "n-1"
    op._check_rendered()


def test_dynamic_task_mapping_over_inputs_serializes() -> None:
    try:  # the DAG (de)serializer: DagSerialization on Airflow 3.3, SerializedDAG (same methods) on 3.1
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization

    with DAG("fan", schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        FlyteOperator.partial(task_id="train", launchplan_name=LP, poll_interval=1).expand(
            inputs=[{"seed": 1, "test_split_ratio": 0.5}, {"seed": 2, "test_split_ratio": 0.5}]
        )
        _op(task_id="single", notifications=[{"phases": [4], "slack": {"recipients_email": ["#ml"]}}])
    round_trip = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    assert set(round_trip.task_dict) == {"train", "single"}
    assert round_trip.task_dict["train"].expand_input.value["inputs"][1]["seed"] == 2
