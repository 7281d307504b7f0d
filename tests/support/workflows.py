"""A second workflow with a required input, registered by tests through the Create RPCs."""

from __future__ import annotations

from flytekit import task, workflow


@task
def count_rows(n: int, label: str) -> int:
    return n * 2


@workflow
def needs_input(n: int, label: str = "x") -> int:
    return count_rows(n=n, label=label)
