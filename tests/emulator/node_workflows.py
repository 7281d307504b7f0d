# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Workflows with branch and sub-workflow nodes, for the node execution tests (imported lazily: flytekit)."""

from __future__ import annotations

from flytekit import conditional, task, workflow


@task
def double(x: int) -> int:
    return x * 2


@task
def negate(x: int) -> int:
    return -x


@workflow
def twice(x: int) -> int:
    return double(x=x)


@workflow
def branching(x: int = 3) -> int:
    """n0 a task, n1 a branch node, n2 a sub-workflow node."""
    y = double(x=x)
    z = conditional("sign").if_(y > 0).then(negate(x=y)).else_().then(double(x=y))
    return twice(x=z)
