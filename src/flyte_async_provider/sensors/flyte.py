"""FlyteSensor: wait for an existing Flyte execution to end.

Drop-in successor of ``flyte_provider.sensors.flyte.FlyteSensor`` (airflow-provider-flyte 0.0.5).
Three ways to wait, one outcome: ``poke``/``reschedule`` read the status from the worker; deferrable
mode (the default when ``[operators] default_deferrable`` is on) hands the watch to
:class:`FlyteExecutionTrigger`; ``start_from_trigger=True`` skips the worker entirely. Failure, abort
and Flyte timeout raise the same typed errors as FlyteOperator (skipped instead with ``soft_fail``).

The sensor does not own the execution: a sensor timeout or a killed sensor never terminates it.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from flyte_async_provider._compat import AirflowSkipException, conf
from flyte_async_provider.config import DEFAULT_CONN_ID
from flyte_async_provider.exceptions import FlyteConfigError, FlyteExecutionError
from flyte_async_provider.hooks.flyte import FlyteHook
from flyte_async_provider.links.flyte import XCOM_CONSOLE_URL_KEY, FlyteExecutionLink
from flyte_async_provider.outcome import raise_for_event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context, XComArg
    from airflow.triggers.base import StartTriggerArgs


class FlyteSensor(BaseSensorOperator):
    """Wait until a Flyte execution ends; succeed if it SUCCEEDED, raise a typed error otherwise.

    :param execution_name: the execution to watch (templated; e.g. ``launch_task.output``).
    :param project: Flyte project (default: connection extra ``project``; required with
        ``start_from_trigger``).
    :param domain: Flyte domain (default: connection extra ``domain``; required with
        ``start_from_trigger``).
    :param flyte_conn_id: Airflow connection of type ``flyte``.
    :param deferrable: wait on the triggerer instead of a worker (poke interval = ``poke_interval``).
    :param start_from_trigger: start directly on the triggerer without a worker (Airflow >= 3.3; older
        versions and mapped sensors run the ordinary path); ``execution_name`` must then be a literal or
        a Jinja string, not an XComArg.
    """

    template_fields: Sequence[str] = ("execution_name", "project", "domain", "flyte_conn_id")
    operator_extra_links = (FlyteExecutionLink(),)
    ui_color = "#d9c9f2"
    # Class level None: a mapped sensor (whose __init__ never runs) would otherwise be started by Airflow
    # 3.3.2 with empty kwargs and fail every try; with None it runs the ordinary path.
    start_trigger_args: ClassVar[StartTriggerArgs | None] = None  # type: ignore[misc]
    start_from_trigger = False

    def __init__(
        self,
        *,
        execution_name: str | XComArg,
        project: str | None = None,
        domain: str | None = None,
        flyte_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.execution_name: Any = execution_name
        self.project = project
        self.domain = domain
        self.flyte_conn_id = flyte_conn_id
        self.deferrable = deferrable or start_from_trigger
        self.start_from_trigger = start_from_trigger
        self.console_url: str | None = None
        if start_from_trigger:
            self._prepare_start_from_trigger()

    def _prepare_start_from_trigger(self) -> None:
        """Build the trigger kwargs the scheduler uses; templated fields are rendered by the triggerer."""
        if not (self.project and self.domain):
            raise FlyteConfigError(
                f"FlyteSensor {self.task_id!r}: start_from_trigger needs explicit project and domain "
                "(no connection is read before the trigger starts)."
            )
        if hasattr(self.execution_name, "resolve"):
            raise FlyteConfigError(
                f"FlyteSensor {self.task_id!r}: with start_from_trigger, pass execution_name as a Jinja "
                "string, e.g. \"{{ ti.xcom_pull(task_ids='launch', map_indexes=-1) }}\", not an XComArg "
                "(without map_indexes the triggerer never answers the pull)."
            )
        from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger

        self.start_trigger_args = FlyteExecutionTrigger.start_trigger_args(  # type: ignore[misc]
            timeout=timedelta(seconds=float(self.timeout)),
            conn_id=self.flyte_conn_id,
            project=self.project,
            domain=self.domain,
            execution_name=self.execution_name,
            poll_interval=float(self.poke_interval),
            terminate_on_kill=False,
            task_id=self.task_id,
        )

    @cached_property
    def hook(self) -> FlyteHook:
        """Hook on the rendered connection, project and domain."""
        return FlyteHook(flyte_conn_id=self.flyte_conn_id, project=self.project, domain=self.domain)

    def _check_name(self) -> str:
        if not isinstance(self.execution_name, str) or not self.execution_name:
            raise FlyteConfigError(
                f"FlyteSensor {self.task_id!r}: execution_name must be a non-empty string, "
                f"got {self.execution_name!r}."
            )
        return self.execution_name

    def _announce(self, context: Context) -> None:
        if self.console_url is None:
            self.console_url = self.hook.console_url(self._check_name())
            context["ti"].xcom_push(key=XCOM_CONSOLE_URL_KEY, value=self.console_url)
            self.log.info("Waiting for Flyte execution %s: %s", self._check_name(), self.console_url)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One status read: done when terminal; a bad end raises (or skips with soft_fail)."""
        name = self._check_name()
        self._announce(context)
        state = self.hook.get_execution_state(name)
        if not state.phase.is_terminal:
            self.log.info("Flyte execution %s is %s", name, state.phase.name)
            return False
        try:
            raise_for_event(self.hook.event_for(state))
        except FlyteExecutionError as exc:
            if self.soft_fail:
                raise AirflowSkipException(f"soft_fail: {exc}") from exc
            raise
        self.log.info("Flyte execution %s succeeded: %s", name, self.console_url)
        return PokeReturnValue(is_done=True, xcom_value=name)

    def execute(self, context: Context) -> Any:
        """Deferrable: check once, then defer; otherwise the base sensor loop (poke/reschedule)."""
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger

        self.defer(
            trigger=FlyteExecutionTrigger.for_task_instance(
                context["ti"],
                self.hook,
                execution_name=self._check_name(),
                poll_interval=float(self.poke_interval),
                deadline=None,
                terminate_on_kill=False,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume from the trigger: the execution name on success, the typed error otherwise."""
        payload = dict(event or {})
        url = str(payload.get("console_url") or "")
        if url:
            self.console_url = url
            context["ti"].xcom_push(key=XCOM_CONSOLE_URL_KEY, value=url)
        raise_for_event(payload)  # soft_fail is applied by BaseSensorOperator.resume_execution
        self.log.info("Flyte execution %s succeeded: %s", payload.get("execution"), url)
        return payload.get("execution")
