"""The provider's registration dict, validated by Airflow against ``provider_info.schema.json``."""

from __future__ import annotations

from typing import Any

from flyte_async_provider import __version__


def provider_info() -> dict[str, Any]:
    """Return the registration dict; filled in as hooks, operators and triggers land."""
    return {
        "package-name": "airflow-provider-flyte-async",
        "name": "Flyte (async)",
        "description": "Run Flyte executions from Airflow; deferrable, watched over Flyte Admin gRPC.",
        "versions": [__version__],
    }
