"""Modes ``old_poke`` and ``old_reschedule``: the old fire-and-forget launch plus a FlyteSensor per item.

A mapped task group per input: ``launch`` (FlyteOperator(wait_for_completion=False), returns the
execution name) then ``watch`` (FlyteSensor on that name, in the worker: mode poke or reschedule).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task_group
from fanout_bench_common import CONFIG

from flyte_async_provider.operators.flyte import FlyteOperator
from flyte_async_provider.sensors.flyte import FlyteSensor


def launch_and_watch(dag_id: str, sensor_mode: str) -> DAG:
    with DAG(**CONFIG.dag_kwargs(dag_id)) as dag:

        @task_group(group_id="item")
        def item(inputs: dict[str, Any]) -> None:
            launch = FlyteOperator(
                task_id="launch", inputs=inputs, wait_for_completion=False, **CONFIG.flyte_kwargs()
            )
            FlyteSensor(
                task_id="watch",
                execution_name=launch.output,
                project=CONFIG.project,
                domain=CONFIG.domain,
                flyte_conn_id=CONFIG.conn_id,
                deferrable=False,
                mode=sensor_mode,
                poke_interval=CONFIG.interval,
            )

        item.expand(inputs=CONFIG.inputs())
    return dag


old_poke = launch_and_watch("fanout_bench_old_poke", "poke")
old_reschedule = launch_and_watch("fanout_bench_old_reschedule", "reschedule")
