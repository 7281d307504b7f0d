"""Which execution a marked task owns, from what Airflow already stores: nothing extra is written.

The listener runs inside the mark's own database transaction (Airflow flushes the new state and
commits after the listener), so the task's trigger row is still there however fast a triggerer's
``Trigger.clean_unused`` runs. Its kwargs name the connection, project and domain (and, for the watch
trigger, the execution); a launch trigger's execution name is the ``flyte_execution_name`` XCom it
pushed after CreateExecution; a mapped launch trigger's kwargs are empty (Airflow starts every map
index with the class's static ones), so the serialized mapped task's ``partial_kwargs`` stand in.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from flyte_async_provider.config import DEFAULT_CONN_ID
from flyte_async_provider.execution_ref import ExecutionRef

log = logging.getLogger(__name__)

_TRIGGERS = "flyte_async_provider.triggers."
WATCH, LAUNCH, MAPPED = "FlyteExecutionTrigger", "FlyteLaunchTrigger", "FlyteMappedLaunchTrigger"


class Unresolvable(Exception):
    """The task owns an execution this listener cannot name; ``str(exc)`` says why."""


def execution_ref(ti: Any) -> ExecutionRef | None:
    """The execution ``ti``'s trigger watches or launched; None if it holds none of ours (yet)."""
    trigger: Any = getattr(ti, "trigger", None)
    classpath = str(getattr(trigger, "classpath", "") or "")
    if not classpath.startswith(_TRIGGERS):
        return None
    kind = classpath.rpartition(".")[2]
    kwargs: dict[str, Any] = dict(trigger.kwargs or {})
    if kind == WATCH:
        conn_id, name = kwargs.get("conn_id"), kwargs.get("execution_name")
    elif kind in (LAUNCH, MAPPED):
        if not kwargs:
            kwargs = _partial_kwargs(ti)
        conn_id, name = kwargs.get("flyte_conn_id", DEFAULT_CONN_ID), _pushed_name(ti)
        if name is None:
            return None  # nothing submitted yet (or the triggerer died before pushing the name)
    else:
        return None
    fields = {"conn_id": conn_id, "project": kwargs.get("project"), "domain": kwargs.get("domain")}
    for field, value in fields.items():
        if isinstance(value, str) and "{{" in value:
            raise Unresolvable(f"its {field} is a template ({value!r}) that only a task context renders")
    return ExecutionRef(
        conn_id=str(conn_id or DEFAULT_CONN_ID),
        project=str(fields["project"] or ""),
        domain=str(fields["domain"] or ""),
        name=str(name or ""),
        terminate_on_kill=bool(kwargs.get("terminate_on_kill", _operator_default("terminate_on_kill"))),
    )


def _pushed_name(ti: Any) -> str | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from flyte_async_provider.links.flyte import XCOM_EXECUTION_NAME_KEY

    session = object_session(ti)
    if session is None:
        raise Unresolvable("the task instance is not attached to a database session")
    row = session.execute(
        select(XComModel.value).where(
            XComModel.dag_id == ti.dag_id,
            XComModel.task_id == ti.task_id,
            XComModel.run_id == ti.run_id,
            XComModel.map_index == ti.map_index,
            XComModel.key == XCOM_EXECUTION_NAME_KEY,
        )
    ).first()
    value = None if row is None else XComModel.deserialize_value(row)
    return value if isinstance(value, str) and value else None


def _partial_kwargs(ti: Any) -> dict[str, Any]:
    """The mapped task's arguments that are the same for every map index (never expanded ones)."""
    from airflow.models.dagbag import DBDagBag
    from sqlalchemy.orm import object_session

    session = object_session(ti)
    dag = DBDagBag().get_dag_for_run(ti.dag_run, session=session) if session is not None else None
    task = dag.get_task(ti.task_id) if dag is not None else None
    if task is None:
        raise Unresolvable("its serialized DAG is not available")
    expanded = getattr(getattr(task, "expand_input", None), "value", None)
    if not isinstance(expanded, dict) or {"flyte_conn_id", "project", "domain"} & set(expanded):
        raise Unresolvable("its connection, project or domain differs per map index")
    return dict(getattr(task, "partial_kwargs", None) or {})


def _operator_default(name: str) -> Any:
    from flyte_async_provider.operators.flyte import FlyteOperator

    return inspect.signature(FlyteOperator.__init__).parameters[name].default
