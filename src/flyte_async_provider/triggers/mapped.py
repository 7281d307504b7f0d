"""One map index's FlyteLaunchTrigger kwargs, worked out on the triggerer from the serialized mapped task.

Airflow 3.3 starts every map index of ``FlyteOperator.partial(start_from_trigger=True).expand(...)`` with
the class's static ``start_trigger_args`` (it never calls ``expand_start_trigger_args``), but it hands
the trigger the serialized DAG: the mapped task's ``partial_kwargs`` and ``expand_input``. Where the
expanded values are literals in the DAG file, Airflow's own expansion (the task SDK's
``DictOfListsExpandInput`` / ``ListOfDictsExpandInput``, so the order is the worker's) gives this map
index's arguments here, and a FlyteOperator built from them gives the kwargs, validated exactly as on a
worker. An expanded argument that is an unmapped upstream task's return value (``.expand(inputs=make())``)
is read by the trigger first (:func:`upstream_xcoms`: the triggerer's supervisor answers an XCom read
for an explicit map index) and expanded like a literal. Anything only a worker can resolve (a mapped
upstream's XComs, ``.map()``/``.zip()`` of an XCom, an XComArg in ``.partial()``, a mapped task group,
a FlyteOperator subclass) raises :class:`RunOnWorker` with the reason; the task then runs the ordinary
deferrable path.
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATOR_MODULE = "flyte_async_provider.operators.flyte"
OPERATOR_CLASS = "FlyteOperator"
# BaseOperator arguments the launch kwargs depend on; the rest (retries, pool, owner...) are Airflow's.
_BASE_ARGUMENTS = ("execution_timeout", "do_xcom_push", "multiple_outputs")
# Serialized flags for callables the scheduler never sees; a success callback runs only on a worker.
_SUCCESS_CALLBACK_FLAG = "has_on_success_callback"
_NOT_LITERAL = "not literal values of the DAG file (an upstream task's XCom, or an object Airflow serialized)"
_PLAIN = (str, int, float, bool, type(None), datetime.datetime, datetime.timedelta, datetime.date)


# The key of ``.expand_kwargs(upstream.output)``: the whole list of kwargs dicts is the XCom.
WHOLE = ""


class RunOnWorker(Exception):
    """This map index cannot start on the triggerer; ``str(exc)`` says why."""


@dataclass(frozen=True)
class UpstreamXCom:
    """An expanded argument that is an upstream task's XCom, read by the trigger before expanding."""

    task_id: str
    key: str
    mapped: bool  # the upstream is mapped (its XComs, one per map index, are a worker's to read)


def upstream_xcoms(task: Any) -> dict[str, UpstreamXCom]:
    """The expanded arguments (:data:`WHOLE` for ``expand_kwargs``) that are a plain upstream XCom."""
    value = task.expand_input.value
    items = value.items() if isinstance(value, dict) else [(WHOLE, value)]
    return {
        name: UpstreamXCom(arg.operator.task_id, arg.key, bool(getattr(arg.operator, "is_mapped", False)))
        for name, arg in items
        if type(arg).__name__ == "SchedulerPlainXComArg"
    }


def map_index_launch_kwargs(task: Any, ti: Any, fetched: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The launch trigger's kwargs for ``ti``'s map index of the serialized mapped ``task``.

    ``fetched``: the values of :func:`upstream_xcoms`, by the same names.
    """
    from flyte_async_provider.operators.flyte import FlyteOperator

    if (getattr(task, "_task_module", None), getattr(task, "task_type", None)) != (
        OPERATOR_MODULE,
        OPERATOR_CLASS,
    ):
        raise RunOnWorker(
            f"the task's operator is {getattr(task, 'task_type', '?')}, not FlyteOperator itself "
            "(a subclass may change what its arguments mean)"
        )
    if task.get_closest_mapped_task_group() is not None:
        raise RunOnWorker("the task is in a mapped task group")
    accepted = set(inspect.signature(FlyteOperator.__init__).parameters) | set(_BASE_ARGUMENTS)
    accepted -= {"self", "kwargs", "start_from_trigger"}
    given = {**task.partial_kwargs, **_expanded(task, ti, fetched or {})}
    arguments = {k: v for k, v in given.items() if k in accepted}
    not_literal = sorted(k for k, v in arguments.items() if not _is_plain(v))
    if not_literal:
        raise RunOnWorker(f"{', '.join(not_literal)}: {_NOT_LITERAL}")
    resume_reasons = []
    if given.get(_SUCCESS_CALLBACK_FLAG) or getattr(task, _SUCCESS_CALLBACK_FLAG, False):
        resume_reasons.append("on_success_callback is set")
    if getattr(task, "outlets", None):
        resume_reasons.append("outlets are set")
    operator = FlyteOperator(task_id=task.task_id, **arguments)
    reason = operator.start_from_trigger_off_reason()
    if reason:
        raise RunOnWorker(reason)
    dag = getattr(task, "dag", None)
    return operator.launch_trigger_kwargs(
        resume_reasons=resume_reasons,
        render_native=bool(getattr(dag, "render_template_as_native_obj", False)),
    )


def _expanded(task: Any, ti: Any, fetched: Mapping[str, Any]) -> Mapping[str, Any]:
    """This map index's expanded arguments, by Airflow's own expansion of literal (or fetched) values."""
    from airflow.sdk.definitions._internal.expandinput import (
        DictOfListsExpandInput,
        ListOfDictsExpandInput,
    )

    expand_input = task.expand_input
    kinds: dict[str, Any] = {
        DictOfListsExpandInput.EXPAND_INPUT_TYPE: DictOfListsExpandInput,
        ListOfDictsExpandInput.EXPAND_INPUT_TYPE: ListOfDictsExpandInput,
    }
    kind = kinds.get(getattr(expand_input, "EXPAND_INPUT_TYPE", ""))
    value = expand_input.value
    if isinstance(value, dict):
        value = {name: fetched.get(name, arg) for name, arg in value.items()}
    else:
        value = fetched.get(WHOLE, value)
    if kind is None:
        raise RunOnWorker(f"unknown kind of expansion {type(expand_input).__name__}")
    if not _is_plain(value):
        raise RunOnWorker(f"the expanded values: {_NOT_LITERAL}")
    try:
        mapped, _ = kind(value).resolve({"ti": ti})
    except (IndexError, TypeError, ValueError) as exc:  # e.g. an upstream XCom that is not a list
        raise RunOnWorker(f"the expanded values do not expand here ({exc})") from exc
    return dict(mapped)


def _is_plain(value: Any) -> bool:
    """Literal DAG-file values all the way down (no XCom reference, no mapped argument)."""
    if isinstance(value, _PLAIN):
        return True
    # Exact types: a serialized XCom reference is a NamedTuple (``_XComRef``), i.e. a tuple.
    if type(value) is dict:
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if type(value) in (list, tuple):
        return all(_is_plain(v) for v in value)
    return False
