"""flyteadmin's list filter grammar: ``func(field,value)`` joined by ``+``, repeated values ``;``-separated.

Columns are validated against flyteadmin's database columns for the entity (so ``execution_name`` is
valid and ``name`` is not, for executions); fields may name a joined entity (``launch_plan.name``).
Values are parsed once here, typed by the column, so evaluation is a plain comparison.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import InvalidArgument

EXECUTION, LAUNCH_PLAN, WORKFLOW, TASK = "e", "l", "w", "t"
NODE_EXECUTION, TASK_EXECUTION, SIGNAL = "ne", "te", "s"
NAMED_ENTITY, NAMED_ENTITY_METADATA = "nen", "nem"

_BASE = ("id", "created_at", "updated_at", "deleted_at")
COLUMNS: dict[str, frozenset[str]] = {
    EXECUTION: frozenset(
        (
            *_BASE,
            "execution_project",
            "execution_domain",
            "execution_name",
            "launch_plan_id",
            "workflow_id",
            "task_id",
            "phase",
            "closure",
            "spec",
            "started_at",
            "execution_created_at",
            "execution_updated_at",
            "duration",
            "abort_cause",
            "mode",
            "source_execution_id",
            "parent_node_execution_id",
            "cluster",
            "inputs_uri",
            "user_inputs_uri",
            "error_kind",
            "error_code",
            "user",
            "state",
            "launch_entity",
        )
    ),
    LAUNCH_PLAN: frozenset(
        (
            *_BASE,
            "project",
            "domain",
            "name",
            "version",
            "spec",
            "workflow_id",
            "closure",
            "state",
            "digest",
            "schedule_type",
            "launch_condition_type",
        )
    ),
    WORKFLOW: frozenset(
        (
            *_BASE,
            "project",
            "domain",
            "name",
            "version",
            "typed_interface",
            "remote_closure_identifier",
            "digest",
            "short_description",
        )
    ),
    TASK: frozenset(
        (*_BASE, "project", "domain", "name", "version", "closure", "digest", "type", "short_description")
    ),
    NODE_EXECUTION: frozenset(
        (
            *_BASE,
            "execution_project",
            "execution_domain",
            "execution_name",
            "node_id",
            "phase",
            "input_uri",
            "closure",
            "started_at",
            "node_execution_created_at",
            "node_execution_updated_at",
            "duration",
            "node_execution_metadata",
            "parent_id",
            "parent_task_execution_id",
            "error_kind",
            "error_code",
            "cache_status",
            "dynamic_workflow_remote_closure_reference",
            "internal_data",
        )
    ),
    TASK_EXECUTION: frozenset(
        (
            *_BASE,
            "project",
            "domain",
            "name",
            "version",
            "execution_project",
            "execution_domain",
            "execution_name",
            "node_id",
            "retry_attempt",
            "phase",
            "phase_version",
            "input_uri",
            "closure",
            "started_at",
            "task_execution_created_at",
            "task_execution_updated_at",
            "duration",
        )
    ),
    NAMED_ENTITY: frozenset(("resource_type", "project", "domain", "name", "description", "state")),
    NAMED_ENTITY_METADATA: frozenset(
        (*_BASE, "resource_type", "project", "domain", "name", "description", "state")
    ),
    SIGNAL: frozenset(
        (*_BASE, "execution_project", "execution_domain", "execution_name", "signal_id", "type", "value")
    ),
}

# Entities a field prefix may refer to ("launch_plan.name"), and which joins each list allows.
_PREFIXES = {
    "task": TASK,
    "workflow": WORKFLOW,
    "launch_plan": LAUNCH_PLAN,
    "execution": EXECUTION,
    "node_execution": "ne",
    "task_execution": "te",
    "entities": "nen",
    "named_entity_metadata": "nem",
    "project": "p",
    "signal": "s",
    "admin_tag": "at",
    "execution_admin_tag": "eat",
    "execution_tag": "et",
}
_ALLOWED_JOINS = {
    EXECUTION: frozenset({EXECUTION, LAUNCH_PLAN, WORKFLOW, TASK, "at", "et"}),
    LAUNCH_PLAN: frozenset({LAUNCH_PLAN, WORKFLOW}),
    WORKFLOW: frozenset({WORKFLOW}),
    TASK: frozenset({TASK}),
    NODE_EXECUTION: frozenset({NODE_EXECUTION, EXECUTION}),
    TASK_EXECUTION: frozenset({TASK_EXECUTION, TASK, EXECUTION, NODE_EXECUTION}),
    NAMED_ENTITY: frozenset({NAMED_ENTITY, NAMED_ENTITY_METADATA}),
    SIGNAL: frozenset({SIGNAL}),
}

_FILTER_RE = re.compile(r"(.+)\((.+),\s?(.+)\)")
SINGLE_VALUE = frozenset({"contains", "not_like", "gt", "gte", "lt", "lte", "eq", "ne"})
REPEATED_VALUE = frozenset({"value_in", "value_not_in"})
_FUNC_NAMES = {
    "contains": "contains",
    "not_like": "not like",
    "gt": "greater than",
    "gte": "greater than or equal",
    "lt": "less than",
    "lte": "less than or equal",
    "eq": "equal",
    "ne": "not equal",
    "value_in": "value in",
    "value_not_in": "value not in",
}

TIME_COLUMNS = frozenset(
    {"created_at", "updated_at", "started_at", "execution_created_at", "execution_updated_at", "deleted_at"}
)
_GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time(value: str) -> int:
    """RFC 3339 (what flyteadmin accepts) to epoch microseconds (a database timestamp's precision)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11 accepts at most 6 fractional digits: cut nanoseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"Timestamp {value} must conform to RFC3339 Nano spec") from None
    if parsed.tzinfo is None:
        raise InvalidArgument(f"Timestamp {value} must conform to RFC3339 Nano spec")
    return (parsed - _EPOCH) // timedelta(microseconds=1)


def micros(seconds: float | None) -> int | None:
    """Epoch seconds to integer microseconds, how time columns are compared."""
    return None if seconds is None else round(seconds * 1e6)


def parse_duration(value: str) -> float:
    """Seconds as a float, or a Go duration such as ``1m30s``."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    for match in _GO_DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise InvalidArgument(f"Failed to parse duration [{value}]")
    return sign * total


def _typed(field: str, raw: str) -> Any:
    if field in TIME_COLUMNS:
        return parse_time(raw)
    if field == "duration":
        return parse_duration(raw)
    return raw


@dataclass(frozen=True)
class Filter:
    """One parsed ``func(field,value)``; ``entity`` is flyteadmin's entity key (``e``, ``l``, ``w``…)."""

    func: str
    entity: str
    field: str
    values: tuple[Any, ...]
    value_set: frozenset[Any] = frozenset()

    def test(self, value: Any) -> bool:
        """SQL semantics: NULL (None) never matches. Typed columns compare typed; others as text."""
        if value is None:
            return False
        func, values = self.func, self.values
        if isinstance(values[0], str) and not isinstance(value, str):
            value = str(value)
        if func == "value_in":
            return value in self.value_set
        if func == "value_not_in":
            return value not in self.value_set
        target = values[0]
        try:
            if func == "eq":
                return bool(value == target)
            if func == "ne":
                return bool(value != target)
            if func == "contains":
                return str(target) in str(value)
            if func == "not_like":
                return not _like(str(value), str(target))
            if func == "gt":
                return bool(value > target)
            if func == "gte":
                return bool(value >= target)
            if func == "lt":
                return bool(value < target)
            if func == "lte":
                return bool(value <= target)
        except TypeError:
            return False
        return False


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _parse_field(field: str, primary: str) -> tuple[str, str]:
    for prefix, entity in _PREFIXES.items():
        if field.startswith(prefix + "."):
            return entity, field[len(prefix) + 1 :]
    return primary, field


def parse_filters(text: str, primary: str = EXECUTION) -> tuple[Filter, ...]:
    """Parse a request's ``filters`` string; raises InvalidArgument with flyteadmin's messages.

    Cached: pollers send the same filter strings again and again.
    """
    if not text:
        return ()
    return _parse_cached(text, primary)


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, primary: str) -> tuple[Filter, ...]:
    parsed: list[Filter] = []
    for expression in text.split("+"):
        match = _FILTER_RE.match(expression)
        if match is None:
            raise InvalidArgument("invalid value for filters")
        func, raw_field, raw_values = match.group(1), match.group(2), match.group(3)
        entity, field = _parse_field(raw_field, primary)
        if entity not in _ALLOWED_JOINS.get(primary, frozenset({primary})):
            raise InvalidArgument(f"'{entity}' entity is not allowed in filters")
        if field not in COLUMNS.get(entity, frozenset()):
            raise InvalidArgument(f"'{entity}.{field}' is invalid filter")
        if func not in _FUNC_NAMES:
            raise InvalidArgument(f"unrecognized filter function: {func}")
        raw_list = raw_values.split(";")
        if func in SINGLE_VALUE and len(raw_list) != 1:
            raise InvalidArgument(f"invalid single value filter expression: {_FUNC_NAMES[func]}")
        values = tuple(_typed(field, raw) for raw in raw_list)
        parsed.append(Filter(func, entity, field, values, frozenset(values)))
    return tuple(parsed)


def name_candidates(filters: Iterable[Filter], name_column: str) -> set[str] | None:
    """Names an ``eq``/``value_in`` filter on the name column restricts the result to (None: no such filter).

    Lets the backend answer ``value_in(execution_name,a;b;c)`` with dict lookups instead of a scan.
    """
    result: set[str] | None = None
    for flt in filters:
        if flt.entity == EXECUTION and flt.field == name_column and flt.func in ("eq", "value_in"):
            names = flt.value_set
            result = set(names) if result is None else result & names
    return result


def matches_all(filters: Iterable[Filter], get: Callable[[str, str], Any]) -> bool:
    """True when every filter accepts the value ``get(entity, field)`` returns."""
    return all(flt.test(get(flt.entity, flt.field)) for flt in filters)
