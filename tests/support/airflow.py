"""Stand-ins for the task-instance surface the operator and sensor use outside a task runner."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeTI:
    """The task instance: identity, try number and the XComs pushed (JSON-checked like the real ones)."""

    dag_id: str = "dag"
    task_id: str = "task"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)
    stats_tags: dict[str, str] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serializable
        self.xcoms[key] = value


class FakeStateStore:
    """``task_state_store`` stand-in: survives across tries of one task like the real one."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


@dataclass
class FakeDagRun:
    """The dag-run surface the operator reads: ``clear_number`` grows when a user clears the run."""

    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    clear_number: int = 0


def make_context(
    ti: FakeTI | None = None, store: FakeStateStore | None = None, clear_number: int = 0
) -> dict[str, Any]:
    """A minimal task context (``ti``, ``dag_run``, ``task_state_store``)."""
    ti = ti or FakeTI()
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "dag_run": FakeDagRun(ti.run_id, clear_number),
    }
    if store is not None:
        context["task_state_store"] = store
    return context
