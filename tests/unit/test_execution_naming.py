"""Execution names: valid for Flyte, stable per task try, distinct across tries, runs and map indexes."""

from __future__ import annotations

import pytest

from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.hooks.flyte import validate_execution_name
from flyte_async_provider.operators.naming import default_base_name, name_for_try


def _name(
    task_id: str = "diabetes_predictions", run_id: str = "r1", map_index: int = -1, try_number: int = 1
) -> str:
    return name_for_try(default_base_name("dag", task_id, run_id, map_index), try_number, explicit=False)


def test_default_names_are_valid_short_and_deterministic() -> None:
    name = _name()
    assert validate_execution_name(name) == name
    assert len(name) <= 32
    assert name.startswith("diabetes-predict")
    assert _name() == name


def test_default_names_differ_where_executions_must_differ() -> None:
    names = {
        _name(),
        _name(try_number=2),
        _name(run_id="r2"),
        _name(map_index=0),
        _name(map_index=1),
        _name(task_id="other"),
        name_for_try(
            default_base_name("dag", "diabetes_predictions", "r1", -1, clear_number=1), 1, explicit=False
        ),
    }
    assert len(names) == 7


@pytest.mark.parametrize("task_id", ["1st_task", "___", "Über-Task.Group", "x" * 300])
def test_any_task_id_yields_a_valid_name(task_id: str) -> None:
    for try_number in (1, 12):
        validate_execution_name(_name(task_id=task_id, try_number=try_number))


def test_explicit_name_is_kept_on_first_try_and_suffixed_on_retries() -> None:
    assert name_for_try("nightly-train", 1, explicit=True) == "nightly-train"
    assert name_for_try("nightly-train", 3, explicit=True) == "nightly-train-r3"
    long = "a" * 63
    retry = name_for_try(long, 10, explicit=True)
    assert len(retry) == 63
    assert retry.endswith("-r10")


@pytest.mark.parametrize("bad", ["Upper", "1abc", "a_b", "", "a" * 64, "with space", None, 5])
def test_names_flyte_would_reject(bad: object) -> None:
    with pytest.raises(FlyteConfigError, match="not valid for Flyte"):
        validate_execution_name(bad)
