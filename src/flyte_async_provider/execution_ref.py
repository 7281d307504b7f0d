"""The XCom record naming the Flyte execution a task try owns, and how the task is named in causes.

Whoever submits (the worker path of FlyteOperator, or a launch trigger on the triggerer) pushes it;
the API server's user-mark listener reads it back. Only names travel: no secret, no endpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

EXECUTION_REF_XCOM_KEY = "flyte_execution"


@dataclass(frozen=True)
class ExecutionRef:
    """Which execution to terminate, through which connection, and whether the task allows it."""

    conn_id: str
    project: str
    domain: str
    name: str
    terminate_on_kill: bool

    def to_xcom(self) -> dict[str, Any]:
        """Plain JSON (XCom backends and the API server read it without this package's types)."""
        return asdict(self)

    @classmethod
    def from_xcom(cls, value: Any) -> ExecutionRef | None:
        """The record, or None for anything that is not one (a user's own XCom under this key)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        names = ("conn_id", "project", "domain", "name")
        if not all(isinstance(value.get(k), str) and value[k] for k in names):
            return None
        conn_id, project, domain, name = (str(value[k]) for k in names)
        return cls(conn_id, project, domain, name, terminate_on_kill=value.get("terminate_on_kill") is True)


def task_label(dag_id: str | None, task_id: str | None, run_id: str | None, map_index: int) -> str:
    """``DAG d, task t[i], run r``: how a Flyte abort cause names the Airflow task that caused it."""
    mapped = f"[{map_index}]" if map_index >= 0 else ""
    return f"DAG {dag_id or '?'}, task {task_id or '?'}{mapped}, run {run_id or '?'}"
