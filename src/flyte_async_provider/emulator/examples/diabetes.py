# mypy: disable-error-code="untyped-decorator,no-any-return"
# (flytekit's task/workflow decorators are untyped)
"""The seed's example: the Pima diabetes XGBoost training workflow, as a small flytekit workflow.

Registered by the emulator as ``ml_training.pima_diabetes.diabetes.diabetes_xgboost_model`` in
project ``flytesnacks``, domain ``development`` (the name it has in flytesnacks). The tasks do no real
training (no xgboost here); they compute a deterministic score so the workflow also runs locally.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from flytekit import task, workflow

# The module path the workflow has in flytesnacks; registration renames our module to it.
FLYTESNACKS_MODULE = "ml_training.pima_diabetes.diabetes"
LAUNCH_PLAN_NAME = f"{FLYTESNACKS_MODULE}.diabetes_xgboost_model"


class TrainingOutputs(NamedTuple):
    accuracy: float
    n_estimators: int


@task
def split_traintest_dataset(test_split_ratio: float) -> int:
    """How many of the 768 Pima rows go to training."""
    if not 0.0 < test_split_ratio < 1.0:
        raise ValueError("test_split_ratio must be within (0, 1)")
    return int(768 * (1.0 - test_split_ratio))


@task
def fit_and_score(train_rows: int, seed: int) -> TrainingOutputs:
    """A stand-in for fit + predict + score: deterministic per seed."""
    rng = random.Random(seed)
    accuracy = round(0.70 + 0.1 * rng.random() + train_rows / 1e5, 4)
    return TrainingOutputs(accuracy=accuracy, n_estimators=100)


@workflow
def diabetes_xgboost_model(test_split_ratio: float = 0.33, seed: int = 7) -> TrainingOutputs:
    """Train on the Pima Indians diabetes data and report the test accuracy."""
    train_rows = split_traintest_dataset(test_split_ratio=test_split_ratio)
    return fit_and_score(train_rows=train_rows, seed=seed)
