"""The listener the API server calls when a user marks a task instance failed or success.

Airflow calls ``on_task_instance_failed`` / ``_success`` with ``previous_state=None`` right after a
user's mark (REST ``PATCH .../taskInstances/...``, which the UI sends, and a DAG run's mark on 3.3),
inside the mark's transaction. If the task holds one of our triggers and the execution is known
(:mod:`.lookup`), it is terminated as the trigger's ``on_kill`` would. A live triggerer's ``on_kill``
also runs, about a second later, and finds the execution already ABORTING
(``FlyteAsyncHook.terminate_unless_ending``): one TerminateExecution per mark.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

from flyte_async_provider.execution_ref import task_label

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
    """Terminate the execution ``ti``'s trigger owns; never raises into Airflow's request."""
    from flyte_async_provider.user_marks.lookup import Unresolvable, execution_ref

    label = task_label(ti.dag_id, ti.task_id, ti.run_id, int(ti.map_index))
    try:
        ref = execution_ref(ti)
        if ref is None or not ref.terminate_on_kill:
            return
        from flyte_async_provider.user_marks.terminator import TERMINATOR

        cause = (
            f"Airflow user marked {label} {new_state} while deferred; "
            "terminated by airflow-provider-flyte-async."
        )
        TERMINATOR.submit(ref, cause)
    except Unresolvable as exc:
        log.warning(
            "Marked %s: not terminating its Flyte execution from the API server: %s "
            "(the triggerer holding its trigger, if alive, still does).",
            label,
            exc,
        )
    except Exception:
        log.exception("Could not act on the user mark of %s", label)


LISTENER = UserMarkListener()
