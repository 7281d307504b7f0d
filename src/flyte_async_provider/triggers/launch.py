"""FlyteLaunchTrigger: a FlyteOperator task that starts, submits, watches and ends on the triggerer.

``FlyteOperator(start_from_trigger=True)`` (Airflow >= 3.3) is scheduled straight to DEFERRED with this
trigger: no worker runs to submit, and on success none runs to finish. ``run()`` names the execution
from the task try exactly as the worker path does, re-attaches to an earlier try's live execution the
same way, submits with :func:`flyte_async_provider.admin.launch.submit` (idempotent per name: a
triggerer restart or an HA double run finds its own execution), then watches and ends like
:class:`~flyte_async_provider.triggers.flyte.FlyteExecutionTrigger`. Failures resume on a worker so
retries, callbacks and the typed errors are those of every other mode.

Airflow renders this trigger's template fields on the triggerer before ``run()``: the operator's
templated arguments keep their names here so they are rendered the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import StartTriggerArgs, TriggerEvent

from flyte_async_provider.config import DEFAULT_POLL_INTERVAL
from flyte_async_provider.exceptions import FlyteAdminError, FlyteConfigError, FlyteProviderError
from flyte_async_provider.phases import ExecutionPhase, FlyteEventPayload
from flyte_async_provider.spec.options import LAUNCH_FIELDS, OPTION_FIELDS
from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger

# Terminate this long before Airflow's trigger timeout (which fails the task without telling us).
DEADLINE_MARGIN_SECONDS = 2.0
# An upstream XCom read through the triggerer's supervisor; past this the task goes to a worker.
XCOM_READ_TIMEOUT_SECONDS = 30.0
# How long on_kill waits for a CreateExecution in flight before terminating what it created.
SUBMIT_GRACE_SECONDS = 30.0


class FlyteLaunchTrigger(FlyteExecutionTrigger):
    """Submit this task try's Flyte execution (unless it exists), watch it, end the task.

    :param flyte_conn_id: Airflow connection of type ``flyte`` (templated like the operator's).
    :param launchplan_name: launch plan to execute (exactly one of the three entity names).
    :param task_name: task to execute.
    :param workflow_name: workflow to execute through its default launch plan.
    :param version: entity version; latest when omitted.
    :param inputs: inputs by name, converted by flytekit against the entity's interface (in a thread).
    :param execution_name: the operator's explicit name (``None``: derived from the task try).
    :param execution_timeout: seconds from the submit after which the execution is terminated.
    :param options: see :data:`~flyte_async_provider.spec.options.OPTION_FIELDS`, as the operator takes them.
    """

    def __init__(
        self,
        *,
        flyte_conn_id: str,
        project: str,
        domain: str,
        launchplan_name: str | None = None,
        task_name: str | None = None,
        workflow_name: str | None = None,
        version: str | None = None,
        inputs: dict[str, Any] | None = None,
        execution_name: str | None = None,
        execution_timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        terminate_on_kill: bool = True,
        end_from_trigger: bool = True,
        fetch_outputs: bool = False,
        push_return_value: bool = True,
        render_native: bool = False,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(OPTION_FIELDS))
        if unknown:
            raise FlyteConfigError(f"FlyteLaunchTrigger got unknown arguments {unknown}.")
        super().__init__(
            conn_id=flyte_conn_id,
            project=project,
            domain=domain,
            # Until run() names the execution, this holds the operator's explicit name (rendered by
            # the triggerer under the operator's field name), or "" to derive it from the task try.
            execution_name=execution_name or "",
            poll_interval=poll_interval,
            terminate_on_kill=terminate_on_kill,
            end_from_trigger=end_from_trigger,
            fetch_outputs=fetch_outputs,
            push_return_value=push_return_value,
        )
        self.flyte_conn_id = flyte_conn_id
        self.launchplan_name = launchplan_name
        self.task_name = task_name
        self.workflow_name = workflow_name
        self.version = version
        self.inputs = inputs if inputs is not None else {}
        self._explicit_name = execution_name
        # The DAG's render_template_as_native_obj: the triggerer's bare Jinja environment would
        # otherwise turn every templated input into a string where the worker renders native values.
        self.render_native = bool(render_native)
        self.render_template_as_native_obj = self.render_native
        self.execution_timeout = float(execution_timeout) if execution_timeout is not None else None
        for field in OPTION_FIELDS:
            setattr(self, field, options.get(field))
        self._submit_task: asyncio.Task[str] | None = None
        self._named = False  # execution_name holds the watched execution (not the operator's template)
        self._try_number: int | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Primitives only (the kwargs are stored as JSON in Airflow's database)."""
        kwargs: dict[str, Any] = {name: getattr(self, name) for name in LAUNCH_FIELDS}
        kwargs.update(
            execution_name=self._explicit_name,  # the attribute holds the watched name once running
            execution_timeout=self.execution_timeout,
            poll_interval=self.poll_interval,
            terminate_on_kill=self.terminate_on_kill,
            end_from_trigger=self.end_from_trigger,
            fetch_outputs=self.fetch_outputs,
            push_return_value=self.push_return_value,
            render_native=self.render_native,
        )
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render like Airflow, and keep the try number the execution name depends on."""
        ti = context.get("ti") if hasattr(context, "get") else None
        self._try_number = getattr(ti, "try_number", None)
        super().render_template_fields(context, jinja_env)

    # ------------------------------------------------------------------ run
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Submit (or find) this try's execution, then watch it and end exactly like the watch trigger."""
        self.conn_id = self.flyte_conn_id
        try:
            self._submit_task = asyncio.ensure_future(self._submit())
            self.execution_name = await asyncio.shield(self._submit_task)
            self._named = True
        except FlyteProviderError as exc:
            yield TriggerEvent(dict(self._submit_failed(exc)))
            return
        except asyncio.CancelledError:
            await self._on_cancel_before_watch()
            raise
        async for event in super().run():
            yield event

    async def _submit(self) -> str:
        from flyte_async_provider.admin.launch import LaunchTarget
        from flyte_async_provider.operators.naming import choose_execution, execution_names
        from flyte_async_provider.spec.options import ExecutionOptions

        hook = self.hook
        await hook.get_config()
        self.project, self.domain = hook.project, hook.domain
        if not (self.project and self.domain):
            raise FlyteConfigError(
                f"No Flyte project/domain: pass project= and domain= or set them as extras of connection "
                f"{self.conn_id!r}. Nothing was submitted."
            )
        ids = self._task_ids()
        self._try_number = self._try_number or self._ti_attr("try_number", None)
        if not (ids["dag_id"] and ids["task_id"] and ids["run_id"] and self._try_number):
            raise FlyteConfigError(
                "FlyteLaunchTrigger needs the task instance (and its try number) from a triggerer that "
                "started the task (start_from_trigger)."
            )
        names = execution_names(
            explicit=self.execution_name or None,
            dag_id=ids["dag_id"],
            task_id=ids["task_id"],
            run_id=ids["run_id"],
            map_index=ids["map_index"],
            clear_number=0,
            try_number=self._try_number,
        )
        phases: list[tuple[str, ExecutionPhase | None]] = []
        for earlier in names.earlier:
            phases.append((earlier, await self._phase_of(earlier)))
        # The triggerer's context always says clear_number 0 (Airflow 3.3.2 omits it), so an earlier
        # try's success is never adopted here: only a live execution is. try_number alone is unique.
        found = choose_execution(phases, same_clear=False)
        if found is not None:
            self.log.info("Re-attaching to Flyte execution %s of an earlier try.", found)
            return found
        options = ExecutionOptions(**{field: getattr(self, field) for field in OPTION_FIELDS})
        target = LaunchTarget(self.launchplan_name, self.task_name, self.workflow_name, self.version)
        created, label = await hook.submit(names.current, target, dict(self.inputs), options)
        url = await hook.console_url(names.current)
        verb = "Submitted" if created else "Found (already submitted by an earlier run of this trigger)"
        self.log.info("%s Flyte execution %s of %s: %s", verb, names.current, label, url)
        await self._announce(names.current, url)
        if self.execution_timeout is not None and self.deadline is None:
            self.deadline = await self._deadline_from_creation(names.current)
        return names.current

    async def _phase_of(self, name: str) -> ExecutionPhase | None:
        from flyte_async_provider.exceptions import FlyteNotFoundError

        try:
            return (await self.hook.get_execution(name)).phase
        except FlyteNotFoundError:
            return None

    async def _deadline_from_creation(self, name: str) -> float:
        """When to terminate: just before Airflow's own trigger timeout (task start + execution_timeout).

        The same after a restart: the task's start (or else the execution's creation) does not move.
        Airflow's check fails the task without telling the trigger, so ours must come first.
        """
        started = getattr(self.task_instance, "start_date", None)
        if started is not None and hasattr(started, "timestamp"):
            start = float(started.timestamp())
        else:
            start = await self.hook.created_at(name) or time.time()
        return start + float(self.execution_timeout or 0) - DEADLINE_MARGIN_SECONDS

    async def _announce(self, name: str, url: str) -> None:
        """Execution name and console URL to XCom, as the worker pushes them (the extra link reads it).

        The API server's user-mark listener reads the name too. Nothing more is pushed: each push
        costs ~30 ms of CPU across triggerer and API server (``benchmarks/ha_triggerers.py``: one more
        push per task, 1,000 tasks, +30 triggerer CPU-s and a 40 s slower finish).
        """
        from flyte_async_provider._compat import apush_xcom
        from flyte_async_provider.links.flyte import XCOM_CONSOLE_URL_KEY, XCOM_EXECUTION_NAME_KEY

        ids = self._task_ids()
        try:
            await apush_xcom(XCOM_EXECUTION_NAME_KEY, name, **ids)
            await apush_xcom(XCOM_CONSOLE_URL_KEY, url, **ids)
        except Exception as exc:
            self.log.warning("Could not push the execution name to XCom: %s", exc)

    def _submit_failed(self, exc: FlyteProviderError) -> FlyteEventPayload:
        """An ``error`` event: the worker's resume raises the typed error (nothing was submitted)."""
        self.log.error("Could not submit the Flyte execution: %s", exc)
        code = exc.code if isinstance(exc, FlyteAdminError) else "INVALID_ARGUMENT"
        return self._payload("error", message=str(exc), error_code=code)

    async def _end_task(self, payload: FlyteEventPayload) -> bool:
        """As the watch trigger's, unless a mapped task downstream needs the worker's TaskMap row.

        The operator could not check that at parse time (downstream tasks did not exist yet); the
        triggerer gives a start-from-trigger task its serialized operator.
        """
        from flyte_async_provider._compat import has_mapped_dependants, serialized_task_of

        task = serialized_task_of(self)
        try:
            mapped = task is not None and has_mapped_dependants(task)
        except Exception:
            mapped = True  # cannot tell: resuming on a worker is always right
        if mapped:
            self.log.info("A mapped task downstream reads this task's result: resuming on a worker.")
            return False
        return await super()._end_task(payload)

    # ------------------------------------------------------------------ cancellation
    async def _on_cancel_before_watch(self) -> None:
        """Cancelled during the submit: let it finish (bounded) so on_kill knows what to terminate."""
        task = self._submit_task
        if task is None:
            return
        try:
            self.execution_name = await asyncio.wait_for(asyncio.shield(task), SUBMIT_GRACE_SECONDS)
            self._named = True
        except (Exception, asyncio.CancelledError):
            return

    async def on_kill(self) -> None:
        """As the watch trigger's, after any CreateExecution still in flight has landed."""
        task = self._submit_task
        if task is not None and not task.done():
            try:
                self.execution_name = await asyncio.wait_for(asyncio.shield(task), SUBMIT_GRACE_SECONDS)
                self._named = True
            except (Exception, asyncio.CancelledError):
                return
        if self._named:
            await super().on_kill()


class FlyteMappedLaunchTrigger(FlyteLaunchTrigger):
    """FlyteLaunchTrigger for one map index of ``FlyteOperator.partial(start_from_trigger=True)``.

    The scheduler creates it without kwargs: Airflow 3.3 starts every map index with the operator
    class's static :data:`MAPPED_START_TRIGGER_ARGS`. ``run()`` first reads the unmapped upstream XCom
    the task may expand over, works out this index's kwargs from the serialized task the triggerer gives it
    (:mod:`.mapped`, in a thread: it imports the operator), then renders and runs exactly as
    FlyteLaunchTrigger, so a triggerer restart or an HA double run works them out again, identically.
    Where only a worker can resolve the arguments it yields ``run_on_worker``, and the worker runs the
    task's ordinary deferrable path.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._resolved = bool(kwargs)
        if kwargs:
            super().__init__(**kwargs)
        else:  # placeholders until run() knows this map index's kwargs
            super().__init__(flyte_conn_id="", project="", domain="")
        self._context: Any = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The scheduler's (empty) kwargs until resolved; the resolved ones after."""
        classpath, kwargs = super().serialize()
        return classpath, kwargs if self._resolved else {}

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Airflow renders before ``run()``; the fields to render are known only once resolved."""
        if self._resolved:
            super().render_template_fields(context, jinja_env)
        else:
            self._context = context

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Resolve this map index's kwargs (or send the task to a worker), then submit and watch."""
        if not self._resolved:
            from flyte_async_provider._compat import serialized_task_of
            from flyte_async_provider.triggers.mapped import RunOnWorker, map_index_launch_kwargs

            try:
                task = serialized_task_of(self)
                if task is None or self._context is None:
                    raise RunOnWorker("the triggerer gave no serialized task to expand")
                fetched = await self._upstream_values(task)
                kwargs = await asyncio.to_thread(map_index_launch_kwargs, task, self.task_instance, fetched)
            except RunOnWorker as exc:
                self.log.info("This map index starts on a worker instead: %s.", exc)
                yield TriggerEvent(dict(self._payload("run_on_worker", message=str(exc))))
                return
            except FlyteProviderError as exc:  # the arguments are invalid, as a worker would find
                yield TriggerEvent(dict(self._submit_failed(exc)))
                return
            self._become(kwargs)
            self.render_template_fields(self._context)
        async for event in super().run():
            yield event

    async def _upstream_values(self, task: Any) -> dict[str, Any]:
        """The upstream XComs this task expands over, read through the triggerer's supervisor."""
        from flyte_async_provider._compat import apull_xcom
        from flyte_async_provider.triggers.mapped import RunOnWorker, upstream_xcoms

        ids = self._task_ids()
        values = {}
        for name, ref in upstream_xcoms(task).items():
            if ref.mapped:
                # Airflow 3.3.2's triggerer supervisor never answers a read of all map indexes' XComs.
                raise RunOnWorker(f"it expands over mapped upstream task {ref.task_id!r}'s XComs")
            read = apull_xcom(key=ref.key, dag_id=ids["dag_id"], task_id=ref.task_id, run_id=ids["run_id"])
            try:
                value = await asyncio.wait_for(read, XCOM_READ_TIMEOUT_SECONDS)
            except Exception as exc:  # a timeout, or no supervisor to ask (dag.test())
                raise RunOnWorker(
                    f"could not read upstream task {ref.task_id!r}'s XCom here ({exc!r})"
                ) from exc
            if value is None:
                raise RunOnWorker(f"no XCom {ref.key!r} of upstream task {ref.task_id!r} to expand")
            values[name] = value
        return values

    def _become(self, kwargs: dict[str, Any]) -> None:
        """Take this map index's kwargs, keeping what the triggerer set on the instance."""
        from flyte_async_provider.operators.flyte import FlyteOperator

        runtime = {
            key: value
            for key, value in vars(self).items()
            if key in ("_task_instance", "trigger_id", "triggerer_job_id", "task_id", "template_ext")
        }
        FlyteLaunchTrigger.__init__(self, **kwargs)
        vars(self).update(runtime)
        self._resolved = True
        # What Airflow would render for an unmapped task: the operator's fields this trigger carries.
        self.template_fields = tuple(
            name for name in FlyteOperator.template_fields if name in kwargs and hasattr(self, name)
        )


# The operator's class-level start_trigger_args: what the scheduler starts a mapped task's map indexes
# with (only when ``.partial(start_from_trigger=True)``; unmapped tasks set their own).
MAPPED_START_TRIGGER_ARGS = StartTriggerArgs(
    trigger_cls=f"{FlyteMappedLaunchTrigger.__module__}.{FlyteMappedLaunchTrigger.__qualname__}",
    trigger_kwargs={},
    next_method="execute_complete",
    next_kwargs=None,
    timeout=None,
)
