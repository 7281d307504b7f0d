"""A throwaway Airflow deployment (+ Flyte Admin emulator) for the demo and the end-to-end tests.

:mod:`.stack` starts real Airflow processes (scheduler, dag-processor, api-server, triggerer) on
SQLite + LocalExecutor in a temporary ``AIRFLOW_HOME``; :mod:`.rest` talks to them through the public
REST API v2; :mod:`.runner` is ``python -m flyte_async_provider.demo`` (``make demo``).
Nothing here imports Airflow in the calling process: the stack is driven from outside, as a user would.
"""

from __future__ import annotations

from flyte_async_provider.demo.rest import AirflowApiError, AirflowRestClient
from flyte_async_provider.demo.stack import (
    AirflowStack,
    FlyteTarget,
    StackError,
    StackSettings,
    poll_until,
)

__all__ = [
    "AirflowApiError",
    "AirflowRestClient",
    "AirflowStack",
    "FlyteTarget",
    "StackError",
    "StackSettings",
    "poll_until",
]
