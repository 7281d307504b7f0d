"""The seed's DAG: train the Pima diabetes model on Flyte, then wait for the execution.

The same DAG as airflow-provider-flyte 0.0.5's example (``flyte_provider`` imports became
``flyte_async_provider``). FlyteOperator now waits for the execution by itself (deferrable when
``[operators] default_deferrable`` is on); the sensor is kept to show the old pattern still works,
e.g. with ``wait_for_completion=False`` for the old fire-and-forget launch.

Needs an Airflow connection ``flyte_default`` of type ``flyte``; see docs/connection.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from flyte_async_provider.operators.flyte import FlyteOperator
from flyte_async_provider.sensors.flyte import FlyteSensor

with DAG(
    dag_id="example_flyte",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    dagrun_timeout=timedelta(minutes=60),
    catchup=False,
    tags=["example", "flyte"],
) as dag:
    task = FlyteOperator(
        task_id="diabetes_predictions",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        launchplan_name="ml_training.pima_diabetes.diabetes.diabetes_xgboost_model",
        inputs={"test_split_ratio": 0.66, "seed": 5},
        poll_interval=5,
    )

    sensor = FlyteSensor(
        task_id="sensor",
        execution_name=task.output,
        project="flytesnacks",
        domain="development",
        flyte_conn_id="flyte_default",
        poke_interval=5,
    )

    task >> sensor
