"""Trigger DAG runs and wait for task states through the REST API: the demo's and the e2e tests' verbs.

Every wait is a bounded poll (:func:`~flyte_async_provider.demo.stack.poll_until`); while waiting, an
optional ``check`` callback (the stack's liveness check) turns a crashed component into an error at
once instead of a timeout minutes later.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from flyte_async_provider.demo.rest import FINISHED_RUN_STATES, AirflowRestClient
from flyte_async_provider.demo.stack import poll_until

TaskKey = tuple[str, int]


class DagRuns:
    """Trigger runs, read task-instance states (mapped ones by map index), wait on both."""

    def __init__(self, rest: AirflowRestClient, check: Callable[[], None] | None = None) -> None:
        self.rest = rest
        self.check = check or (lambda: None)
        self._unpaused: set[str] = set()

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Unpause the DAG (once) and start a manual run; return its run id."""
        if dag_id not in self._unpaused:
            self.rest.set_paused(dag_id, False)
            self._unpaused.add(dag_id)
        run = self.rest.trigger_dag_run(dag_id, conf=conf, run_id=run_id)
        return str(run["dag_run_id"])

    def states(self, dag_id: str, run_id: str, task_id: str | None = None) -> dict[TaskKey, str | None]:
        """``{(task_id, map_index): state}`` for the run (optionally one task)."""
        return {
            (str(ti["task_id"]), int(ti["map_index"])): ti["state"]
            for ti in self.rest.task_instances(dag_id, run_id, task_id=task_id)
        }

    def wait_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        accept: Collection[str | None] | Callable[[str | None], bool],
        *,
        map_index: int = -1,
        timeout: float = 120.0,
        interval: float = 0.5,
    ) -> str | None:
        """Wait until one task instance's state is accepted; return that state."""
        check: Callable[[str | None], bool] = accept if callable(accept) else accept.__contains__
        last: list[str | None] = [None]

        def probe() -> tuple[str | None] | None:
            self.check()
            state = self.states(dag_id, run_id, task_id).get((task_id, map_index))
            last[0] = state
            return (state,) if check(state) else None

        found = poll_until(
            probe,
            timeout=timeout,
            interval=interval,
            what=f"{dag_id}.{task_id}[{map_index}] of {run_id}",
            on_timeout=lambda: f"last state {last[0]!r}",
        )
        return found[0]

    def wait_tasks(
        self,
        dag_id: str,
        run_id: str,
        accept: Callable[[dict[TaskKey, str | None]], bool],
        *,
        task_id: str | None = None,
        timeout: float = 120.0,
        interval: float = 0.5,
        what: str = "task states",
    ) -> dict[TaskKey, str | None]:
        """Wait until ``accept(states)`` holds for the run's task instances; return those states."""
        last: dict[TaskKey, str | None] = {}

        def probe() -> dict[TaskKey, str | None] | None:
            nonlocal last
            self.check()
            last = self.states(dag_id, run_id, task_id)
            return last if last and accept(last) else None

        return poll_until(probe, timeout=timeout, interval=interval, what=what, on_timeout=lambda: str(last))

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180.0, interval: float = 1.0) -> str:
        """Wait until the DAG run is finished; return its state (``success`` / ``failed``)."""

        def probe() -> str | None:
            self.check()
            state = str(self.rest.get_dag_run(dag_id, run_id)["state"])
            return state if state in FINISHED_RUN_STATES else None

        return poll_until(
            probe,
            timeout=timeout,
            interval=interval,
            what=f"run {run_id} of {dag_id} to finish",
            on_timeout=lambda: str(self.states(dag_id, run_id)),
        )
