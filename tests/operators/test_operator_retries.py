"""Retries: re-attach to a live execution, relaunch after a failed one, never two live executions per try."""

from __future__ import annotations

from typing import Any

import pytest

from flyte_async_provider._compat import HAS_TASK_STATE_STORE
from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import FlyteExecutionFailedError
from flyte_async_provider.operators.flyte import FlyteOperator
from support.airflow import FakeStateStore, FakeTI, make_context
from support.flyte import DOMAIN, GOOD_INPUTS, LAUNCH_PLAN, PROJECT


class WorkerDied(Exception):
    """Stands for the worker process dying while the Flyte execution keeps running."""


def _op(**kwargs: Any) -> FlyteOperator:
    return FlyteOperator(
        task_id="train", launchplan_name=LAUNCH_PLAN, inputs=dict(GOOD_INPUTS), poll_interval=0.02, **kwargs
    )


def _assert_stored(store: FakeStateStore, expected: dict[str, Any]) -> None:
    """What ResumableJobMixin kept in task_state_store for the next try.

    Airflow < 3.3 has no task_state_store (the context never holds one; our stand-in mixin writes
    nothing); there the retry behaviour asserted by each test comes from the per-try names alone.
    """
    if HAS_TASK_STATE_STORE:
        assert store.values["flyte_execution_name"] == expected
    else:
        assert store.values == {}


def _crash_while_waiting(op: FlyteOperator) -> None:
    def died(name: str) -> None:
        raise WorkerDied(name)

    op._wait_in_worker = died  # type: ignore[method-assign]


def _crash_right_after_create(op: FlyteOperator) -> None:
    """Dies after CreateExecution but before the name reaches task_state_store."""
    launch = op.submit_job

    def submit(context: Any) -> str:
        launch(context)
        raise WorkerDied("after CreateExecution")

    op.submit_job = submit  # type: ignore[method-assign]


@pytest.mark.parametrize("crash", [_crash_while_waiting, _crash_right_after_create])
def test_retry_after_worker_death_reattaches_instead_of_launching_twice(flyte: Any, crash: Any) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_reads(2))
    store = FakeStateStore()
    first = _op()
    crash(first)
    with pytest.raises(WorkerDied):
        first.execute(make_context(FakeTI(try_number=1), store))
    (launched,) = flyte.backend.names(PROJECT, DOMAIN)

    result = _op().execute(make_context(FakeTI(try_number=2), store))

    assert result == launched
    assert flyte.counters()["CreateExecution"] == 1
    assert flyte.backend.names(PROJECT, DOMAIN) == [launched]


def test_retry_without_any_task_state_store_still_reattaches(flyte: Any) -> None:
    """Airflow < 3.3 (no task_state_store): the deterministic name of try 1 is probed."""
    flyte.set_default(Outcome.succeed(), Advance.after_reads(2))
    first = _op()
    _crash_while_waiting(first)
    with pytest.raises(WorkerDied):
        first.execute(make_context(FakeTI(try_number=1)))
    assert _op().execute(make_context(FakeTI(try_number=2))).endswith("-1")
    assert flyte.counters()["CreateExecution"] == 1


def test_retry_after_flyte_failure_launches_a_new_execution(flyte: Any) -> None:
    flyte.script(Outcome.fail("flaky node"), advance=Advance.after_reads(1), name_pattern="*-1")
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    store = FakeStateStore()
    with pytest.raises(FlyteExecutionFailedError, match="flaky node"):
        _op().execute(make_context(FakeTI(try_number=1), store))
    second = _op().execute(make_context(FakeTI(try_number=2), store))
    assert second.endswith("-2")
    assert flyte.counters()["CreateExecution"] == 2
    _assert_stored(store, {"execution": second, "clear_number": 0})


def test_retry_after_an_unrecorded_success_returns_without_relaunching(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed({"accuracy": 0.9, "n_estimators": 3}), Advance.after_seconds(0))
    store = FakeStateStore()
    first = _op(fetch_outputs=True)
    _crash_while_waiting(first)
    with pytest.raises(WorkerDied):
        first.execute(make_context(FakeTI(try_number=1), store))
    assert _op(fetch_outputs=True).execute(make_context(FakeTI(try_number=2), store)) == {
        "accuracy": 0.9,
        "n_estimators": 3,
    }
    assert flyte.counters()["CreateExecution"] == 1


def test_retry_without_any_task_state_store_returns_an_unrecorded_success(flyte: Any) -> None:
    """Airflow < 3.3: try 1's name is probed; its success is returned, nothing is relaunched."""
    flyte.set_default(Outcome.succeed({"accuracy": 0.9, "n_estimators": 3}), Advance.after_seconds(0))
    first = _op(fetch_outputs=True)
    _crash_while_waiting(first)
    with pytest.raises(WorkerDied):
        first.execute(make_context(FakeTI(try_number=1)))
    assert _op(fetch_outputs=True).execute(make_context(FakeTI(try_number=2))) == {
        "accuracy": 0.9,
        "n_estimators": 3,
    }
    assert flyte.counters()["CreateExecution"] == 1


def test_retry_after_a_newer_failure_never_returns_an_older_success(flyte: Any) -> None:
    """The most recent earlier execution decides: try 2's failure is not skipped to reach try 1's success."""
    flyte.script(Outcome.succeed(), advance=Advance.after_seconds(0), name_pattern="*-1")
    flyte.script(Outcome.fail("flaky node"), advance=Advance.after_seconds(0), name_pattern="*-2")
    flyte.set_default(Outcome.succeed(), Advance.after_seconds(0))
    op = _op()
    context = make_context(FakeTI(try_number=3))
    for earlier in (1, 2):  # both earlier tries launched (try 2 never learnt of try 1's success)
        op.hook.launch(
            op._name_for_try(context, earlier),
            launchplan_name=LAUNCH_PLAN,
            inputs=dict(GOOD_INPUTS),
            options=op.options,
        )
    assert op.execute(context).endswith("-3")
    assert flyte.counters()["CreateExecution"] == 3


def test_explicit_name_after_a_clear_launches_instead_of_returning_the_old_success(flyte: Any) -> None:
    """A given execution_name does not carry the clear count: after a clear its old success is not reused."""
    flyte.set_default(Outcome.succeed(), Advance.after_seconds(0))
    first = _op(execution_name="nightly-train").execute(make_context(FakeTI(try_number=1)))
    again = _op(execution_name="nightly-train").execute(make_context(FakeTI(try_number=2), clear_number=1))
    assert (first, again) == ("nightly-train", "nightly-train-r2")
    assert flyte.counters()["CreateExecution"] == 2


def test_explicit_execution_name_gets_a_retry_suffix(flyte: Any) -> None:
    flyte.script(Outcome.fail("boom"), advance=Advance.after_reads(1), name_pattern="nightly-train")
    flyte.set_default(Outcome.succeed(), Advance.after_reads(1))
    store = FakeStateStore()
    with pytest.raises(FlyteExecutionFailedError):
        _op(execution_name="nightly-train").execute(make_context(FakeTI(try_number=1), store))
    assert (
        _op(execution_name="nightly-train").execute(make_context(FakeTI(try_number=2), store))
        == "nightly-train-r2"
    )


def test_mapped_instances_never_share_an_execution(flyte: Any) -> None:
    flyte.set_default(Outcome.succeed(), Advance.after_seconds(0))
    names = {_op().execute(make_context(FakeTI(map_index=i))) for i in range(3)}
    assert len(names) == 3
    assert sorted(flyte.backend.names(PROJECT, DOMAIN)) == sorted(names)


def test_a_cleared_task_runs_again_instead_of_returning_the_old_result(flyte: Any) -> None:
    """After success, a user clear (the run's clear_number grows) launches a new execution."""
    flyte.set_default(Outcome.succeed(), Advance.after_seconds(0))
    store = FakeStateStore()
    first = _op().execute(make_context(FakeTI(try_number=1), store))
    again = _op().execute(make_context(FakeTI(try_number=2), store, clear_number=1))
    assert again != first
    assert flyte.counters()["CreateExecution"] == 2
    _assert_stored(store, {"execution": again, "clear_number": 1})
