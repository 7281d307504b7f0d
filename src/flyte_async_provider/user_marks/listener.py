"""The listener the API server calls when a user marks a task instance failed or success.

Airflow calls ``on_task_instance_failed`` / ``_success`` with ``previous_state=None`` right after a
user's mark (REST ``PATCH .../taskInstances/...``, which the UI sends). If the task had deferred in
this try and pushed an :class:`~flyte_async_provider.execution_ref.ExecutionRef` (only tasks that
submitted push one; sensors never do), its execution is terminated as the trigger's ``on_kill``
would. A live triggerer's ``on_kill`` also runs, about a second later, and finds the execution
already ABORTING (``FlyteAsyncHook.terminate_unless_ending``): one TerminateExecution per mark.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

from flyte_async_provider.execution_ref import EXECUTION_REF_XCOM_KEY, ExecutionRef, task_label

log = logging.getLogger(__name__)


class UserMarkListener:
    """Registered only in the API server (see :mod:`.plugin`): other processes never see it."""

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        if previous_state is None:
            on_user_mark(task_instance, "failed")

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        if previous_state is None:
            on_user_mark(task_instance, "success")


def on_user_mark(ti: Any, new_state: str) -> None:
    """Terminate the execution ``ti`` owns if it was deferred; never raises into Airflow's request."""
    try:
        # A task that never deferred in this try is on a worker (whose on_kill terminates) or is
        # fire-and-forget (wait_for_completion=False: its execution must outlive the task).
        if getattr(ti, "trigger_id", None) is None and not getattr(ti, "next_method", None):
            return
        ref = read_ref(ti.dag_id, ti.task_id, ti.run_id, int(ti.map_index))
        if ref is None or not ref.terminate_on_kill:
            return
        from flyte_async_provider.user_marks.terminator import TERMINATOR

        label = task_label(ti.dag_id, ti.task_id, ti.run_id, int(ti.map_index))
        cause = (
            f"Airflow user marked {label} {new_state} while deferred; "
            "terminated by airflow-provider-flyte-async."
        )
        TERMINATOR.submit(ref, cause)
    except Exception:
        log.exception("Could not act on the user mark of %s", getattr(ti, "task_id", ti))


def read_ref(dag_id: str, task_id: str, run_id: str, map_index: int) -> ExecutionRef | None:
    """The task's :class:`ExecutionRef` from Airflow's database (None if it pushed none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(XComModel.value).where(
        XComModel.dag_id == dag_id,
        XComModel.task_id == task_id,
        XComModel.run_id == run_id,
        XComModel.map_index == map_index,
        XComModel.key == EXECUTION_REF_XCOM_KEY,
    )
    with create_session() as session:
        row = session.execute(query).first()
    return None if row is None else ExecutionRef.from_xcom(XComModel.deserialize_value(row))


LISTENER = UserMarkListener()
