"""Deterministic Flyte execution names, one per Airflow task try.

A name derived from (dag_id, task_id, run_id, map_index) plus the try number makes every submit of
one try idempotent (a resent CreateExecution gets ALREADY_EXISTS, which flytekit and the hook treat
as "ours"), while a retry after a failure gets a fresh name. Earlier tries' names are recomputable,
so a retry can find an execution that an earlier, crashed try left running.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from flyte_async_provider.hooks.flyte import MAX_EXECUTION_NAME_LENGTH, validate_execution_name
from flyte_async_provider.phases import ExecutionPhase

_SLUG_LENGTH = 16
# How many earlier tries a retry probes for a still-running execution (closes the gap where a worker
# died after CreateExecution but before the name reached task_state_store).
MAX_PROBED_TRIES = 5
_DIGEST_LENGTH = 12


def default_base_name(dag_id: str, task_id: str, run_id: str, map_index: int, clear_number: int = 0) -> str:
    """Readable, collision-resistant stem: ``<task slug>-<12 hex digest>`` (at most 29 chars).

    ``clear_number`` (how often the DAG run was cleared) makes a user's re-run a new execution.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", task_id.lower()).strip("-")[:_SLUG_LENGTH].strip("-")
    if not slug or not slug[0].isalpha():
        slug = ("af-" + slug)[:_SLUG_LENGTH].strip("-")
    parts = [dag_id, task_id, run_id, str(map_index)]
    if clear_number:
        parts.append(f"clear{clear_number}")
    identity = "\x1f".join(parts)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_DIGEST_LENGTH]
    return f"{slug}-{digest}"


def name_for_try(base: str, try_number: int, *, explicit: bool) -> str:
    """The execution name of one try.

    Generated names always carry the try (``...-3``). A user-chosen name is used as is on the first
    try and gets ``-r<try>`` on later ones, because Flyte never reuses a name, not even after failure.
    """
    try_number = max(int(try_number), 1)
    if explicit and try_number == 1:
        return base
    suffix = f"-r{try_number}" if explicit else f"-{try_number}"
    return base[: MAX_EXECUTION_NAME_LENGTH - len(suffix)] + suffix


@dataclass(frozen=True)
class TryNames:
    """This try's execution name, earlier tries' names (newest first), and whether they share its clear."""

    current: str
    earlier: tuple[str, ...]
    same_clear: bool


def execution_names(
    *,
    explicit: str | None,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    clear_number: int,
    try_number: int,
) -> TryNames:
    """Names of one task try and of the earlier tries a retry probes (worker and triggerer alike).

    Generated names carry the DAG run's ``clear_number``; an explicit ``execution_name`` does not, so its
    earlier tries are known to be this clear's only while the run was never cleared.
    """
    if explicit:
        base, is_explicit = validate_execution_name(explicit), True
    else:
        base, is_explicit = default_base_name(dag_id, task_id, run_id, map_index, clear_number), False
    try_number = max(int(try_number), 1)
    earlier = range(try_number - 1, max(0, try_number - 1 - MAX_PROBED_TRIES), -1)
    return TryNames(
        current=name_for_try(base, try_number, explicit=is_explicit),
        earlier=tuple(name_for_try(base, t, explicit=is_explicit) for t in earlier),
        same_clear=not is_explicit or clear_number == 0,
    )


def choose_execution(earlier: Iterable[tuple[str, ExecutionPhase | None]], *, same_clear: bool) -> str | None:
    """The earlier try's execution a retry should adopt instead of launching, if any.

    The newest earlier try that left an execution decides: still live, re-attach; succeeded (the
    worker died before Airflow recorded it) and of this clear, return its result; failed or aborted,
    launch anew. Tries that launched nothing (``None``) are skipped.
    """
    for name, phase in earlier:
        if phase is None:
            continue
        # Live (ExecutionPhase.is_attachable): a second execution next to it would break "one live
        # execution per task".
        if phase.is_attachable or (phase is ExecutionPhase.SUCCEEDED and same_clear):
            return name
        return None
    return None
