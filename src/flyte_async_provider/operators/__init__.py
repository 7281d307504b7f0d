"""Operators: launch Flyte executions from Airflow tasks."""
