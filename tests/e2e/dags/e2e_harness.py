"""Harness proof DAG: a worker task, a deferrable core sensor resumed by the triggerer, a worker task.

The sensor waits for the file named in the run's conf, so the test decides when it resumes.
"""

from __future__ import annotations

from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.sdk import DAG

with DAG(dag_id="e2e_harness", schedule=None, catchup=False, tags=["e2e"]) as dag:
    hello = PythonOperator(task_id="hello", python_callable=lambda: "hello from a worker")
    wait = FileSensor(
        task_id="wait",
        filepath="{{ dag_run.conf['path'] }}",
        fs_conn_id="fs_default",
        poke_interval=1,
        deferrable=True,
    )
    done = PythonOperator(task_id="done", python_callable=lambda: 42)
    hello >> wait >> done
