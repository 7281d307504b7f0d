"""Modes ``v005_poke`` and ``v005_reschedule``: the anchor itself, airflow-provider-flyte 0.0.5, unmodified.

What users of the old provider run today: its ``FlyteOperator`` launches and returns the execution name
(fire-and-forget), its ``FlyteSensor`` waits for it in the worker. ``benchmarks/fanout.py`` puts the
unpacked 0.0.5 wheel on every component's ``PYTHONPATH`` (installing it would register a second
``flyte`` connection type). 0.0.5 names an execution from dag id, task id, run id and try number only,
so mapped instances of one task would all get the same name: the N items are N separate task pairs,
which is how a 0.0.5 fan-out has to be written.
"""

from __future__ import annotations

from airflow.sdk import DAG
from fanout_bench_common import CONFIG, LAUNCH_PLAN
from flyte_provider.operators.flyte import FlyteOperator as V005FlyteOperator
from flyte_provider.sensors.flyte import FlyteSensor as V005FlyteSensor


def launch_and_watch(dag_id: str, sensor_mode: str) -> DAG:
    with DAG(**CONFIG.dag_kwargs(dag_id)) as dag:
        for i, inputs in enumerate(CONFIG.inputs()):
            launch = V005FlyteOperator(
                task_id=f"launch_{i}",
                flyte_conn_id=CONFIG.conn_id,
                project=CONFIG.project,
                domain=CONFIG.domain,
                launchplan_name=LAUNCH_PLAN,
                inputs=inputs,
            )
            watch = V005FlyteSensor(
                task_id=f"watch_{i}",
                execution_name=launch.output,
                project=CONFIG.project,
                domain=CONFIG.domain,
                flyte_conn_id=CONFIG.conn_id,
                mode=sensor_mode,
                poke_interval=CONFIG.interval,
            )
            launch >> watch
    return dag


v005_poke = launch_and_watch("fanout_bench_v005_poke", "poke")
v005_reschedule = launch_and_watch("fanout_bench_v005_reschedule", "reschedule")
