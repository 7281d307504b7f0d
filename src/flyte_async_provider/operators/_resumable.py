"""Stand-in for Airflow 3.3's ``ResumableJobMixin`` on older Airflow 3.x (imported via ``_compat``).

Airflow < 3.3 has no ``task_state_store``, so nothing is persisted: every try calls ``submit_job``,
and the operator's deterministic per-try execution names carry retries instead (an earlier try's
live execution is re-attached to, an unrecorded success is returned; see
:mod:`flyte_async_provider.operators.naming` and ``FlyteOperator._launch_or_find``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class ResumableJobMixin(ABC):
    """Same abstract interface as ``airflow.sdk.bases.resumablejobmixin.ResumableJobMixin``."""

    external_id_key: str = "remote_job_id"

    def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.durable = durable

    def execute_resumable(self, context: Any) -> Any:
        """Submit (or find the earlier try's execution), wait, return the result."""
        external_id = self.submit_job(context)
        return self.poll_until_complete(external_id, context)

    @abstractmethod
    def submit_job(self, context: Any) -> Any: ...

    @abstractmethod
    def get_job_status(self, external_id: Any, context: Any) -> str: ...

    @abstractmethod
    def is_job_active(self, status: str) -> bool: ...

    @abstractmethod
    def is_job_succeeded(self, status: str) -> bool: ...

    @abstractmethod
    def poll_until_complete(self, external_id: Any, context: Any) -> Any: ...

    @abstractmethod
    def get_job_result(self, external_id: Any, context: Any) -> Any: ...
