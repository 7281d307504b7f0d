"""FlyteSensor with ``start_from_trigger=True``: the watch starts on the triggerer, no worker at all.

The test creates the execution first (emulator control API) and passes its name in the run's conf;
the triggerer renders the Jinja ``execution_name`` before the trigger starts.
"""

from __future__ import annotations

from airflow.sdk import DAG

from flyte_async_provider.sensors.flyte import FlyteSensor

with DAG(dag_id="e2e_start_from_trigger", schedule=None, catchup=False, tags=["e2e"]) as dag:
    FlyteSensor(
        task_id="watch",
        flyte_conn_id="flyte_default",
        project="flytesnacks",
        domain="development",
        execution_name="{{ dag_run.conf['execution'] }}",
        poke_interval=1,
        timeout=600,
        start_from_trigger=True,
    )
