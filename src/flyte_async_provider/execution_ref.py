"""Which Flyte execution an Airflow task owns, and how the task is named in Flyte abort causes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionRef:
    """An execution, the connection that reaches it, and whether its task may terminate it.

    ``project`` / ``domain`` may be empty: the connection's ``project`` / ``domain`` extras then apply.
    """

    conn_id: str
    project: str
    domain: str
    name: str
    terminate_on_kill: bool


def task_label(dag_id: str | None, task_id: str | None, run_id: str | None, map_index: int) -> str:
    """``DAG d, task t[i], run r``: how a Flyte abort cause names the Airflow task that caused it."""
    mapped = f"[{map_index}]" if map_index >= 0 else ""
    return f"DAG {dag_id or '?'}, task {task_id or '?'}{mapped}, run {run_id or '?'}"
