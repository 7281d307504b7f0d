"""Every difference between Airflow 3.1 (oldest supported) and 3.3, behind one name each.

Names that moved are imported from here only; behaviour that differs is asked through the functions
below, so no other module tests for an Airflow version or probes for an attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Connection, conf
    from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )
else:
    try:  # Airflow >= 3.3: the execution name is kept in task_state_store across retries
        from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin
    except ImportError:  # older 3.x has neither; deterministic per-try names carry retries alone
        from flyte_async_provider.operators._resumable import ResumableJobMixin
    try:  # Airflow >= 3.2
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    try:
        from airflow.sdk.exceptions import AirflowException
    except ImportError:
        from airflow.exceptions import AirflowException
    try:
        from airflow.sdk.exceptions import (
            AirflowRescheduleException,
            AirflowSensorTimeout,
            AirflowSkipException,
            AirflowTaskTimeout,
            TaskDeferred,
        )
    except ImportError:
        from airflow.exceptions import (
            AirflowRescheduleException,
            AirflowSensorTimeout,
            AirflowSkipException,
            AirflowTaskTimeout,
            TaskDeferred,
        )

# True where Airflow has task_state_store (3.3+): only there does ResumableJobMixin persist anything.
HAS_TASK_STATE_STORE: bool = ResumableJobMixin.__module__ == "airflow.sdk.bases.resumablejobmixin"


def _airflow_at_least(major: int, minor: int) -> bool:
    from airflow import __version__

    parts = __version__.split(".")
    return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (major, minor)


# Airflow 3.1/3.2 ignore start_from_trigger (the scheduler branch is commented out there): tasks run
# execute() on a worker. 3.3 starts them on the triggerer.
STARTS_FROM_TRIGGER: bool = _airflow_at_least(3, 3)


def has_task_success_listeners() -> bool:
    """Whether a plugin listens to ``on_task_instance_success`` (the worker calls it; a trigger can't).

    Airflow 3.3's task SDK keeps its own listener manager; 3.1 has only the core one.
    """
    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # Airflow 3.1
        from airflow.listeners.listener import get_listener_manager  # type: ignore[assignment]
    manager = get_listener_manager()
    hook = getattr(manager.pm.hook, "on_task_instance_success", None) if hasattr(manager, "pm") else None
    if hook is None:
        return bool(getattr(manager, "has_listeners", False))
    return bool(hook.get_hookimpls())


def trigger_on_kill_is_called() -> bool:
    """Whether Airflow calls ``BaseTrigger.on_kill()`` on a user action (3.3+; older 3.x never does).

    Without it a trigger's cancel may be a user kill or a triggerer shutdown alike.
    """
    from airflow.triggers.base import BaseTrigger

    return "on_kill" in BaseTrigger.__dict__


async def aget_connection(conn_id: str) -> Connection:
    """Look up a connection without blocking the event loop (a thread where there is no async lookup)."""
    import asyncio

    from airflow.sdk import BaseHook

    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)  # type: ignore[no-any-return]
    return await asyncio.to_thread(BaseHook.get_connection, conn_id)


def connection_from_metadata_db(conn_id: str) -> Connection | None:
    """The connection as stored in Airflow's database, for code run outside any Airflow process.

    Airflow 3's task SDK lookup (``BaseHook.get_connection``) reads the database only through a task's
    supervisor or a server process; in a Python shell it sees environment variables and secrets
    backends only, so a connection saved in the UI "isn't defined" there. Outside those processes the
    core model reads the database directly. Inside them this returns None (their lookup is the truth).
    """
    import os
    import sys

    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if getattr(runner, "SUPERVISOR_COMMS", None) is not None or os.environ.get("_AIRFLOW_PROCESS_CONTEXT"):
        return None
    try:
        from airflow.models.connection import Connection as StoredConnection

        return StoredConnection.get_connection_from_secrets(conn_id)
    except Exception:
        return None


async def atask_is_deferred(dag_id: str, task_id: str, run_id: str, map_index: int) -> bool | None:
    """Whether the triggerer's supervisor says the task instance is deferred; None without one.

    There is no public API for this on the triggerer: it goes through the task runner's private
    supervisor channel (``GetTaskStates``), present where triggers run.
    """
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetTaskStates

    asend = getattr(getattr(task_runner, "SUPERVISOR_COMMS", None), "asend", None)
    if asend is None:
        return None
    response = await asend(
        GetTaskStates(dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index)
    )
    states = getattr(response, "task_states", {}) or {}
    key = task_id if map_index < 0 else f"{task_id}_{map_index}"
    return bool(states.get(run_id, {}).get(key) == "deferred")


def serialized_task_of(trigger: Any) -> Any:
    """The task a trigger's task instance carries (given to start-from-trigger tasks on 3.3+), or None."""
    return getattr(trigger.task_instance, "task", None)


def has_mapped_dependants(task: Any) -> bool:
    """Whether a mapped task or task group expands over ``task``'s output (needs the worker's TaskMap row).

    Airflow 3.3's serialized *mapped* operator lacks ``iter_mapped_dependants``: the DAG is walked the
    way its unmapped sibling does it.
    """
    iterate = getattr(task, "iter_mapped_dependants", None)
    if iterate is not None:
        return any(True for _ in iterate())

    def walk(group: Any) -> Any:
        for child in group.children.values():
            yield child
            if hasattr(child, "children"):
                yield from walk(child)

    for node in walk(task.dag.task_group):
        dependencies = getattr(node, "iter_mapped_dependencies", None)
        if dependencies is not None and any(p.node_id == task.node_id for p in dependencies()):
            return True
    return False


async def apull_xcom(*, key: str, dag_id: str, task_id: str, run_id: str) -> Any:
    """An unmapped upstream task's XCom, read from a trigger (Airflow >= 3.3).

    With an explicit map index (-1): Airflow 3.3.2's triggerer supervisor answers that, but never a
    read without one, nor one of all map indexes (the caller bounds the wait).
    """
    from airflow.sdk.execution_time.xcom import XCom  # the configured backend class

    return await XCom.aget_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1)


async def apush_xcom(key: str, value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
    """Push an XCom from a trigger exactly as a worker would (same XCom backend serialization).

    ``TaskSuccessEvent(xcoms=...)`` stores values JSON-encoded as strings on every 3.x (downstream tasks
    would read ``'5'`` for ``5``), so triggers that end a task push through the supervisor instead.
    """
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import SetXCom
    from airflow.sdk.execution_time.xcom import XCom  # the configured backend class

    aset = getattr(XCom, "aset", None)
    if aset is not None:  # Airflow >= 3.3
        await aset(key, value, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
        return
    ids: dict[str, Any] = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
    serialized = XCom.serialize_value(value=value, key=key, **ids)
    await task_runner.SUPERVISOR_COMMS.asend(SetXCom(key=key, value=serialized, **ids))


__all__ = [
    "HAS_TASK_STATE_STORE",
    "STARTS_FROM_TRIGGER",
    "AirflowException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "ResumableJobMixin",
    "TaskDeferred",
    "aget_connection",
    "apush_xcom",
    "atask_is_deferred",
    "conf",
    "connection_from_metadata_db",
    "has_task_success_listeners",
    "serialized_task_of",
    "trigger_on_kill_is_called",
]
