"""Deterministic Flyte execution names, one per Airflow task try.

A name derived from (dag_id, task_id, run_id, map_index) plus the try number makes every submit of
one try idempotent (a resent CreateExecution gets ALREADY_EXISTS, which flytekit and the hook treat
as "ours"), while a retry after a failure gets a fresh name. Earlier tries' names are recomputable,
so a retry can find an execution that an earlier, crashed try left running.
"""

from __future__ import annotations

import hashlib
import re

from flyte_async_provider.hooks.flyte import MAX_EXECUTION_NAME_LENGTH

_SLUG_LENGTH = 16
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
