"""Names that moved between Airflow 3.1 (oldest supported) and 3.3; import them from here only."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import conf
    from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin
    from airflow.sdk.exceptions import (
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )
else:
    try:  # Airflow >= 3.3: the execution name is kept in task_state_store across retries
        from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin
    except ImportError:  # older 3.x has neither; deterministic per-try names carry retries alone
        from flyte_async_provider.operators._resumable import ResumableJobMixin
    try:  # Airflow >= 3.2
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    try:
        from airflow.sdk.exceptions import (
            AirflowRescheduleException,
            AirflowSensorTimeout,
            AirflowSkipException,
            AirflowTaskTimeout,
            TaskDeferred,
        )
    except ImportError:
        from airflow.exceptions import (
            AirflowRescheduleException,
            AirflowSensorTimeout,
            AirflowSkipException,
            AirflowTaskTimeout,
            TaskDeferred,
        )

# True where Airflow has task_state_store (3.3+): only there does ResumableJobMixin persist anything.
HAS_TASK_STATE_STORE: bool = ResumableJobMixin.__module__ == "airflow.sdk.bases.resumablejobmixin"

__all__ = [
    "HAS_TASK_STATE_STORE",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "ResumableJobMixin",
    "TaskDeferred",
    "conf",
]
