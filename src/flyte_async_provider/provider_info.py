"""The provider's registration dict, validated by Airflow against ``provider_info.schema.json``.

Kept import-light: Airflow reads it in every component (scheduler, API server, triggerer) before any
hook is imported, so the connection form (``conn-fields``) comes from a pure module.
"""

from __future__ import annotations

from typing import Any

from flyte_async_provider import __version__
from flyte_async_provider.connection_form import conn_fields, ui_field_behaviour

INTEGRATION = "Flyte"
# The provider's own Airflow config section (``airflow config list --section flyte``).
CONFIG_SECTION = "flyte"
TERMINATE_MARKED_OPTION = "terminate_marked_tasks_from_api_server"


def provider_info() -> dict[str, Any]:
    """Return the registration dict read through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-provider-flyte-async",
        "name": "Flyte (async)",
        "description": (
            "Run Flyte launch plans, tasks and workflows from Airflow: launch with flytekit, wait on the "
            "triggerer (deferrable) or in the worker, over Flyte Admin gRPC."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.flyte.org/",
                "tags": ["software"],
            }
        ],
        "operators": [
            {"integration-name": INTEGRATION, "python-modules": ["flyte_async_provider.operators.flyte"]}
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["flyte_async_provider.sensors.flyte"]}
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["flyte_async_provider.hooks.flyte"]}],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["flyte_async_provider.triggers.flyte"]}
        ],
        "connection-types": [
            {
                "connection-type": "flyte",
                "hook-class-name": "flyte_async_provider.hooks.flyte.FlyteHook",
                "hook-name": "Flyte",
                "conn-fields": conn_fields(),
                "ui-field-behaviour": ui_field_behaviour(),
            }
        ],
        "extra-links": ["flyte_async_provider.links.flyte.FlyteExecutionLink"],
        "config": {
            CONFIG_SECTION: {
                "description": "airflow-provider-flyte-async.",
                "options": {
                    TERMINATE_MARKED_OPTION: {
                        "description": (
                            "The API server terminates the Flyte execution of a deferred task a user marks "
                            "failed or success, even while no triggerer holds its trigger. Turn off where "
                            "the API server cannot reach Flyte Admin (the triggerers still terminate)."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    }
                },
            }
        },
    }
