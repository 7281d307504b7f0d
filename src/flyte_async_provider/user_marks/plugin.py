"""The Airflow plugin that installs :mod:`.listener` in the API server, and nowhere else.

A plugin's ``listeners`` would register in every Airflow process, and with any listener registered
the DAG processor rejects ``end_from_trigger=True`` tasks (Airflow 3.1-3.3 ``DagBag``) and the
triggerer could no longer end tasks. A root ASGI middleware is built only by the API server's app,
so it registers the listener there. Import-light: every Airflow process imports its plugins.

Off with ``[flyte] terminate_marked_tasks_from_api_server = False`` (e.g. an API server that cannot
reach Flyte Admin); a live triggerer's ``on_kill`` still terminates.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin


def api_server_terminates() -> bool:
    """The ``[flyte] terminate_marked_tasks_from_api_server`` option (default True)."""
    from airflow.configuration import conf

    from flyte_async_provider.provider_info import CONFIG_SECTION, TERMINATE_MARKED_OPTION

    return conf.getboolean(CONFIG_SECTION, TERMINATE_MARKED_OPTION, fallback=True)


class RegisterUserMarkListener:
    """Pass-through ASGI middleware; building it (once per API server worker) registers the listener."""

    def __init__(self, app: Any) -> None:
        self.app = app
        if api_server_terminates():
            from airflow.listeners.listener import get_listener_manager

            from flyte_async_provider.user_marks.listener import LISTENER

            get_listener_manager().add_listener(LISTENER)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class FlyteUserMarkPlugin(AirflowPlugin):
    """Terminates a deferred Flyte task's execution when a user marks the task (see the module)."""

    name = "flyte_async_provider_user_marks"
    fastapi_root_middlewares = [  # Airflow's plugin attribute: a class-level list
        {"name": "flyte-user-mark-listener", "middleware": RegisterUserMarkListener}
    ]
