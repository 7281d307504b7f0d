"""The "Flyte Console" button on FlyteOperator / FlyteSensor task instances.

Airflow 3 renders extra links from XCom: the worker calls :meth:`get_link` when the task finishes or
defers and stores the result under :attr:`xcom_key`. The operator pushes the console URL to that
same key *before* deferring, so the link works while the execution is still running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

XCOM_CONSOLE_URL_KEY = "flyte_console_url"
XCOM_EXECUTION_NAME_KEY = "flyte_execution_name"


class FlyteExecutionLink(BaseOperatorLink):
    """Link to the Flyte console page of the task's execution."""

    name = "Flyte Console"

    @property
    def xcom_key(self) -> str:
        """The XCom key holding the console URL (pushed by the operator and the sensor)."""
        return XCOM_CONSOLE_URL_KEY

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The URL the task pushed, or "" before the execution is known."""
        url = getattr(operator, "console_url", None)
        if isinstance(url, str) and url:
            return url
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=XCOM_CONSOLE_URL_KEY)
        return value if isinstance(value, str) else ""
