"""FlyteOperator: launch a Flyte launch plan, task or workflow and (by default) wait for it.

Drop-in successor of ``flyte_provider.operators.flyte.FlyteOperator`` (airflow-provider-flyte 0.0.5):
same parameter names and meanings, plus waiting (deferrable or in the worker), outputs, and crash-safe
retries. The launch path runs in the worker through :class:`FlyteHook` (flytekit); waiting happens on
the triggerer through :class:`FlyteExecutionTrigger`, or in the worker with the same outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from flyte_async_provider._compat import AirflowTaskTimeout, ResumableJobMixin, conf
from flyte_async_provider.config import DEFAULT_CONN_ID, DEFAULT_POLL_INTERVAL
from flyte_async_provider.events import deadline_event
from flyte_async_provider.exceptions import FlyteConfigError, FlyteProviderError, FlyteTransientError
from flyte_async_provider.hooks.flyte import FlyteHook, validate_execution_name
from flyte_async_provider.links.flyte import XCOM_CONSOLE_URL_KEY, XCOM_EXECUTION_NAME_KEY, FlyteExecutionLink
from flyte_async_provider.operators.naming import TryNames, choose_execution, execution_names
from flyte_async_provider.outcome import raise_for_event
from flyte_async_provider.phases import ExecutionPhase
from flyte_async_provider.spec.options import LAUNCH_FIELDS, TARGET_FIELDS, ExecutionOptions
from flyte_async_provider.triggers.launch import MAPPED_START_TRIGGER_ARGS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flyte_async_provider.admin.models import ExecutionStatus

_UNSET: Any = object()


def _is_dynamic(value: Any) -> bool:
    """True for values only known after templating / XCom resolution (skip parse-time checks)."""
    return hasattr(value, "resolve") or (isinstance(value, str) and "{{" in value)


class FlyteOperator(ResumableJobMixin, BaseOperator):
    """Launch a Flyte execution and, unless told otherwise, wait for it to end.

    Exactly one of ``launchplan_name``, ``task_name`` or ``workflow_name``.

    :param flyte_conn_id: Airflow connection of type ``flyte``.
    :param project: Flyte project (default: connection extra ``project``).
    :param domain: Flyte domain (default: connection extra ``domain``).
    :param launchplan_name: launch plan to execute.
    :param task_name: task to execute.
    :param workflow_name: workflow to execute (through its default launch plan).
    :param version: entity version; latest when omitted.
    :param inputs: inputs by name, as Python values; converted by flytekit against the interface.
    :param execution_name: Flyte execution name (default: derived from the task try, idempotent).
        Retries append ``-r<try>`` because Flyte never reuses a name.
    :param raw_output_data_config: prefix for offloaded data, e.g. ``s3://bucket/raw``.
    :param kubernetes_service_account: service account the execution runs as.
    :param oauth2_client: ``{"client_id": ..., "client_secret": <Flyte secret reference>}``.
    :param labels: Kubernetes labels for the execution.
    :param annotations: Kubernetes annotations for the execution.
    :param secrets: Flyte secret requests, e.g. ``[{"group": "g", "key": "k"}]``.
    :param notifications: ``[{"phases": [...], "email"|"slack"|"pager_duty": {"recipients_email": [...]}}]``.
    :param disable_notifications: turn off the launch plan's notifications for this execution.
    :param max_parallelism: maximum parallel nodes in the execution.
    :param overwrite_cache: recompute cached tasks and overwrite their cache.
    :param envs: environment variables for the execution's tasks.
    :param tags: tags for the execution.
    :param interruptible: override the entity's interruptible flag.
    :param cluster_pool: cluster pool to place the execution on.
    :param wait_for_completion: wait for the execution to end; False = the old fire-and-forget.
    :param deferrable: wait on the triggerer instead of holding a worker slot.
    :param poll_interval: seconds between status reads while waiting.
    :param fetch_outputs: return the execution's outputs (plain values) instead of its name.
    :param terminate_on_kill: terminate the execution when the task is killed or times out.
    :param finish_on_triggerer: deferrable only: when the execution succeeds, the trigger pushes the
        result and ends the task, so it never goes back to a worker. Applied only where that changes
        nothing the user gets (no success callback, outlets, listeners, multiple_outputs, mapped
        dependants or overridden resume methods); failures always resume on a worker.
    """

    template_fields: Sequence[str] = (
        *TARGET_FIELDS,
        "labels",
        "annotations",
        "raw_output_data_config",
        "kubernetes_service_account",
        "envs",
        "tags",
        "cluster_pool",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "inputs": "json",
        "labels": "json",
        "annotations": "json",
        "envs": "json",
    }
    operator_extra_links = (FlyteExecutionLink(),)
    external_id_key = XCOM_EXECUTION_NAME_KEY
    ui_color = "#e4d7f7"

    def __init__(
        self,
        *,
        flyte_conn_id: str = DEFAULT_CONN_ID,
        project: str | None = None,
        domain: str | None = None,
        launchplan_name: str | None = None,
        task_name: str | None = None,
        workflow_name: str | None = None,
        version: str | None = None,
        inputs: dict[str, Any] | None = None,
        execution_name: str | None = None,
        raw_output_data_config: str | None = None,
        kubernetes_service_account: str | None = None,
        oauth2_client: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        secrets: list[dict[str, Any]] | None = None,
        notifications: list[dict[str, Any]] | None = None,
        disable_notifications: bool | None = None,
        max_parallelism: int | None = None,
        overwrite_cache: bool | None = None,
        envs: dict[str, str] | None = None,
        tags: list[str] | None = None,
        interruptible: bool | None = None,
        cluster_pool: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        fetch_outputs: bool = False,
        terminate_on_kill: bool = True,
        finish_on_triggerer: bool = True,
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flyte_conn_id = flyte_conn_id
        self.project = project
        self.domain = domain
        self.launchplan_name = launchplan_name
        self.task_name = task_name
        self.workflow_name = workflow_name
        self.version = version
        self.inputs = inputs if inputs is not None else {}
        self.execution_name = execution_name
        self.raw_output_data_config = raw_output_data_config
        self.kubernetes_service_account = kubernetes_service_account
        self.oauth2_client = oauth2_client
        self.labels = labels if labels is not None else {}
        self.annotations = annotations if annotations is not None else {}
        self.secrets = secrets
        self.notifications = notifications
        self.disable_notifications = disable_notifications
        self.max_parallelism = max_parallelism
        self.overwrite_cache = overwrite_cache
        self.envs = envs if envs is not None else {}
        self.tags = tags if tags is not None else []
        self.interruptible = interruptible
        self.cluster_pool = cluster_pool
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable or start_from_trigger
        self.poll_interval = poll_interval
        self.fetch_outputs = fetch_outputs
        self.terminate_on_kill = terminate_on_kill
        # Not Airflow's ``end_from_trigger`` attribute: the DagBag rejects tasks carrying that name when
        # a listener plugin is loaded, whereas this one falls back to a worker resume by itself.
        self.finish_on_triggerer = finish_on_triggerer
        # Set while running: the execution this task try owns (for on_kill, links and XCom).
        self.flyte_execution_name: str | None = None
        self.console_url: str | None = None
        self._result: Any = _UNSET
        self._label = ""
        self._check_static()
        if start_from_trigger:
            self._prepare_start_from_trigger()

    # ------------------------------------------------------------------ zero-worker mode
    # Class level, because Airflow reads them for a mapped task, whose __init__ never runs before the
    # scheduler: ``.partial(start_from_trigger=True)`` starts every map index on
    # FlyteMappedLaunchTrigger, which resolves that index's own arguments on the triggerer. Off unless
    # asked for (an unmapped task sets its own pair in _prepare_start_from_trigger).
    start_from_trigger = False
    start_trigger_args = MAPPED_START_TRIGGER_ARGS

    def _prepare_start_from_trigger(self) -> None:
        """Build the trigger kwargs the scheduler starts the task with (rendered later, on the triggerer)."""
        from flyte_async_provider.triggers.launch import FlyteLaunchTrigger

        reason = self.start_from_trigger_off_reason()
        if reason:
            self.log.warning(
                "FlyteOperator %r: start_from_trigger is off (%s); it submits from a worker and defers.",
                self.task_id,
                reason,
            )
            return
        # No timeout: Airflow folds execution_timeout in; the trigger terminates before that.
        self.start_trigger_args = FlyteLaunchTrigger.start_trigger_args(
            timeout=None, **self.launch_trigger_kwargs()
        )
        self.start_from_trigger = True

    def start_from_trigger_off_reason(self) -> str | None:
        """Why this task cannot start on the triggerer (None: it can)."""
        from flyte_async_provider._compat import STARTS_FROM_TRIGGER

        templated = {name: getattr(self, name) for name in self.template_fields}
        if not STARTS_FROM_TRIGGER:
            return "Airflow < 3.3 does not start tasks on the triggerer"
        if not self.wait_for_completion:
            return "wait_for_completion=False has nothing to wait for on the triggerer"
        if any(_nested_any(v, _is_xcomarg) for v in templated.values()):
            return "an argument is an XComArg (use a Jinja xcom_pull with map_indexes=-1 instead)"
        return None

    def launch_trigger_kwargs(
        self, *, resume_reasons: Sequence[str] = (), render_native: bool | None = None
    ) -> dict[str, Any]:
        """FlyteLaunchTrigger's kwargs for this task (templated values still unrendered).

        ``resume_reasons``: more reasons to resume on a worker, known only to the caller (a mapped
        task's serialized callbacks and outlets); ``render_native``: the DAG's
        ``render_template_as_native_obj`` where this operator has no DAG.
        """
        if render_native is None:
            render_native = bool(self.dag.render_template_as_native_obj) if self.has_dag() else False  # type: ignore[no-untyped-call]
        kwargs: dict[str, Any] = {name: getattr(self, name) for name in LAUNCH_FIELDS}
        kwargs.update(
            execution_timeout=self.execution_timeout.total_seconds() if self.execution_timeout else None,
            poll_interval=float(self.poll_interval),
            terminate_on_kill=self.terminate_on_kill,
            end_from_trigger=not (self.worker_resume_reasons() or resume_reasons),
            fetch_outputs=self.fetch_outputs,
            push_return_value=bool(self.do_xcom_push),
            render_native=render_native,
        )
        return kwargs

    # ------------------------------------------------------------------ validation
    def _check_static(self) -> None:
        """Checks possible at DAG parse time (values not templated); repeated after rendering."""
        entities = [n for n in ("launchplan_name", "task_name", "workflow_name") if getattr(self, n)]
        if len(entities) != 1:
            raise FlyteConfigError(
                f"FlyteOperator {self.task_id!r}: give exactly one of launchplan_name, task_name or "
                f"workflow_name (got {', '.join(entities) or 'none'})."
            )
        if self.fetch_outputs and not self.wait_for_completion:
            raise FlyteConfigError(
                f"FlyteOperator {self.task_id!r}: fetch_outputs=True needs wait_for_completion=True."
            )
        if (
            isinstance(self.poll_interval, bool)
            or not isinstance(self.poll_interval, (int, float))
            or (self.poll_interval <= 0)
        ):
            raise FlyteConfigError(f"FlyteOperator {self.task_id!r}: poll_interval must be > 0 seconds.")
        if self.execution_name is not None and not _is_dynamic(self.execution_name):
            validate_execution_name(self.execution_name)
        static = {
            name: getattr(self, name)
            for name in (
                "oauth2_client",
                "secrets",
                "notifications",
                "disable_notifications",
                "max_parallelism",
            )
        }
        static.update(
            {
                name: getattr(self, name)
                for name in ("labels", "annotations", "envs", "tags")
                if not _nested_any(getattr(self, name), _is_dynamic)
            }
        )
        if not any(_is_dynamic(v) for v in static.values()):
            ExecutionOptions(**static).validate()

    def _check_rendered(self) -> None:
        """After templating: every argument has its final value."""
        self._check_static()
        for name in ("launchplan_name", "task_name", "workflow_name", "version", "project", "domain"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise FlyteConfigError(
                    f"FlyteOperator {self.task_id!r}: {name} must be a string, got {value!r}."
                )
        if not isinstance(self.inputs, Mapping):
            raise FlyteConfigError(
                f"FlyteOperator {self.task_id!r}: inputs must be a dict keyed by input name, "
                f"got {self.inputs!r}."
            )
        self.options.validate()

    @property
    def options(self) -> ExecutionOptions:
        """The execution options from this operator's arguments."""
        return ExecutionOptions(
            raw_output_data_config=self.raw_output_data_config,
            kubernetes_service_account=self.kubernetes_service_account,
            oauth2_client=self.oauth2_client,
            labels=self.labels or None,
            annotations=self.annotations or None,
            secrets=self.secrets,
            notifications=self.notifications,
            disable_notifications=self.disable_notifications,
            max_parallelism=self.max_parallelism,
            overwrite_cache=self.overwrite_cache,
            envs=self.envs or None,
            tags=self.tags or None,
            interruptible=self.interruptible,
            cluster_pool=self.cluster_pool,
        )

    @cached_property
    def hook(self) -> FlyteHook:
        """Hook on the rendered connection, project and domain."""
        return FlyteHook(flyte_conn_id=self.flyte_conn_id, project=self.project, domain=self.domain)

    # ------------------------------------------------------------------ execute
    def execute(self, context: Context) -> Any:
        """Launch (or re-attach to an earlier try's execution), then wait as configured."""
        self._remember_task(context)
        self._check_rendered()
        _ = (self.hook.project, self.hook.domain)  # fail fast on a missing project/domain
        return self.execute_resumable(context)

    def _remember_task(self, context: Context) -> None:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        mapped = f"[{map_index}]" if map_index is not None and map_index >= 0 else ""
        self._label = f"{ti.dag_id}.{ti.task_id}{mapped} run {ti.run_id}"

    def _try_names(self, context: Context, try_number: int | None = None) -> TryNames:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return execution_names(
            explicit=self.execution_name,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=-1 if map_index is None else map_index,
            clear_number=_clear_number(context),
            try_number=try_number or int(getattr(ti, "try_number", 1) or 1),
        )

    def _name_for_try(self, context: Context, try_number: int) -> str:
        return self._try_names(context, try_number).current

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Launch this try's execution, unless an earlier try's is still running or succeeded unrecorded.

        Returns the id kept in ``task_state_store``: the execution name plus the DAG run's
        ``clear_number``, so a retry can tell "my worker died" from "a user cleared me to run again".
        """
        name = self._launch_or_find(context)
        return {"execution": name, "clear_number": _clear_number(context)}

    def _launch_or_find(self, context: Context) -> str:
        """This try's execution name: an earlier try's live or unrecorded-success one, else a new launch.

        The most recent earlier try that left an execution decides: still live, re-attach; succeeded
        (the worker died before Airflow recorded it), return its result; failed or aborted, launch
        anew. This is what a retry does without ``task_state_store`` (Airflow < 3.3, ``durable=False``),
        and it also covers a worker that died between CreateExecution and storing the name.
        """
        names = self._try_names(context)
        probed = ((n, s.phase if (s := self.hook.find_execution(n)) else None) for n in names.earlier)
        found = choose_execution(probed, same_clear=names.same_clear)
        if found is not None:
            self.log.info("Flyte execution %s of an earlier try is live or succeeded: adopting it.", found)
            return found
        name = names.current
        self.flyte_execution_name = name  # on_kill during the launch can still terminate it
        return self.hook.launch(
            name,
            launchplan_name=self.launchplan_name,
            task_name=self.task_name,
            workflow_name=self.workflow_name,
            version=self.version,
            inputs=dict(self.inputs),
            options=self.options,
        )

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """Phase name of a stored execution (``NOT_FOUND`` if Flyte no longer knows it).

        An execution stored before the DAG run was cleared counts as neither live nor succeeded: a
        clear asks for a new run, not for the old result.
        """
        name, cleared = _execution_of(external_id)
        if cleared is not None and cleared != _clear_number(context):
            self.log.info("Stored Flyte execution %s predates a clear of this task; launching anew.", name)
            return "CLEARED_SINCE"
        state = self.hook.find_execution(name)
        return state.phase.name if state is not None else "NOT_FOUND"

    def is_job_active(self, status: str) -> bool:
        """Live executions are re-attached to on retry."""
        phase = ExecutionPhase.named(status)
        return phase is not None and phase.is_attachable

    def is_job_succeeded(self, status: str) -> bool:
        """A retry after a success that was not recorded returns the result without relaunching."""
        return status == ExecutionPhase.SUCCEEDED.name

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        """Wait as configured (defer, worker polling, or not at all); return the task's result."""
        name, _ = _execution_of(external_id)
        self._announce(context, name)
        if self.wait_for_completion:
            if self.deferrable:
                self._defer_or_finish(name, context)
            else:
                self._wait_in_worker(name)
        else:
            self.log.info("wait_for_completion=False: not waiting for Flyte execution %s.", name)
        return self.get_job_result(name, context)

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        """The execution name, or its outputs as plain values with fetch_outputs=True."""
        if self._result is not _UNSET:
            return self._result
        name, _ = _execution_of(external_id)
        self._announce(context, name)
        self._result = self.hook.get_outputs(name) if self.fetch_outputs else name
        return self._result

    def _announce(self, context: Context, name: str) -> None:
        """Push execution name and console URL to XCom (the extra link reads the URL)."""
        if self.console_url and self.flyte_execution_name == name:
            return
        self.flyte_execution_name = name
        self.console_url = self.hook.console_url(name)
        ti = context["ti"]
        ti.xcom_push(key=XCOM_EXECUTION_NAME_KEY, value=name)
        ti.xcom_push(key=XCOM_CONSOLE_URL_KEY, value=self.console_url)
        self.log.info("Flyte execution %s: %s", name, self.console_url)

    # ------------------------------------------------------------------ waiting
    def _deadline(self) -> float | None:
        if self.execution_timeout is None:
            return None
        return time.time() + self.execution_timeout.total_seconds()

    def _defer_or_finish(self, name: str, context: Context) -> None:
        """Check once: finish now if already over, else hand the watch to the triggerer."""
        from flyte_async_provider.triggers.flyte import FlyteExecutionTrigger

        state = self.hook.get_execution_state(name)
        if state.phase.is_terminal:
            self.log.info("Flyte execution %s already ended %s; not deferring.", name, state.phase.name)
            raise_for_event(self.hook.event_for(state))
            return
        blockers = self.worker_resume_reasons()
        if blockers:
            self.log.info("The task resumes on a worker after Flyte ends, because: %s.", "; ".join(blockers))
        self.defer(
            trigger=FlyteExecutionTrigger.for_task_instance(
                context["ti"],
                self.hook,
                execution_name=name,
                poll_interval=float(self.poll_interval),
                deadline=self._deadline(),
                terminate_on_kill=self.terminate_on_kill,
                end_from_trigger=not blockers,
                fetch_outputs=self.fetch_outputs,
                push_return_value=bool(self.do_xcom_push),
            ),
            method_name="execute_complete",
        )

    def _has_mapped_dependants(self) -> bool:
        """A mapped task downstream may expand over our result: that needs the worker's TaskMap row."""
        if not self.has_dag():  # type: ignore[no-untyped-call]
            return False
        return any(True for _ in self.iter_mapped_dependants())

    def worker_resume_reasons(self) -> list[str]:
        """Why a success must still resume on a worker (empty: the trigger may end the task).

        Ending from the triggerer skips everything Airflow does on a worker after ``execute_complete``
        (measured on 3.3.2 and 3.1.8, docs/trigger.md): success callbacks, listeners, asset events of
        outlets, the TaskMap row mapped dependants need, ``multiple_outputs`` and ``post_execute``.
        """
        from flyte_async_provider._compat import has_task_success_listeners

        checks = {
            "finish_on_triggerer=False": not self.finish_on_triggerer,
            "on_success_callback is set (Airflow runs it only on a worker)": bool(self.on_success_callback),
            "outlets are set (asset events are only recorded by a worker)": bool(self.outlets),
            "multiple_outputs=True": bool(getattr(self, "multiple_outputs", False)),
            "a downstream task is mapped over this task's output": self._has_mapped_dependants(),
            "post_execute is customised": bool(getattr(self, "_post_execute_hook", None))
            or type(self).post_execute is not BaseOperator.post_execute,
            "the resume methods are overridden": type(self).execute_complete
            is not FlyteOperator.execute_complete
            or type(self).get_job_result is not FlyteOperator.get_job_result,
            "overwrite_rtif_after_execution=True": bool(
                getattr(self, "overwrite_rtif_after_execution", False)
            ),
            "a listener plugin implements on_task_instance_success": has_task_success_listeners(),
        }
        return [reason for reason, blocked in checks.items() if blocked]

    def _wait_in_worker(self, name: str) -> None:
        """Poll from the worker with the trigger's semantics: same outcomes, same errors."""
        deadline = self._deadline()
        last: ExecutionPhase | None = None
        try:
            while True:
                try:
                    state: ExecutionStatus | None = self.hook.get_execution_state(name)
                except FlyteTransientError as exc:
                    self.log.warning("Flyte Admin unavailable while watching %s (will retry): %s", name, exc)
                    state = None
                if state is not None:
                    if state.phase is not last:
                        self.log.info("Flyte execution %s is %s", name, state.phase.name)
                        last = state.phase
                    if state.phase.is_terminal:
                        raise_for_event(self.hook.event_for(state))
                        return
                remaining = None if deadline is None else deadline - time.time()
                if remaining is not None and remaining <= 0:
                    self._on_deadline(name)
                    return
                time.sleep(self.poll_interval if remaining is None else min(self.poll_interval, remaining))
        except AirflowTaskTimeout:
            self._on_deadline(name)

    def _on_deadline(self, name: str) -> None:
        """execution_timeout passed: terminate and raise the deadline error.

        The real end wins, as in the trigger: an execution that had already ended by itself raises
        (or, on success, returns) as that end.
        """
        cause = (
            f"Airflow task {self._task_label()} exceeded its execution_timeout "
            f"({self.execution_timeout}); terminated by airflow-provider-flyte-async."
        )
        hook = self.hook
        terminated = hook.terminate(name, cause) if self.terminate_on_kill else False
        state = hook.find_execution(name)
        url = hook.console_url(name)
        raise_for_event(
            deadline_event(hook.project, hook.domain, name, cause, url, terminated=terminated, state=state)
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | str | None = None) -> Any:
        """Resume after the trigger (fresh operator instance): return the result or raise the typed error.

        ``dag.test()`` resumes even a task the trigger ended, with ``event="success"`` (Airflow 3.1-3.3):
        the execution name is then read back from XCom.
        """
        self._remember_task(context)
        if event == "success":
            ti = context["ti"]
            event = {
                "status": "success",
                "execution": ti.xcom_pull(
                    task_ids=ti.task_id, key=XCOM_EXECUTION_NAME_KEY, map_indexes=ti.map_index
                ),
                "console_url": ti.xcom_pull(
                    task_ids=ti.task_id, key=XCOM_CONSOLE_URL_KEY, map_indexes=ti.map_index
                ),
            }
        payload = dict(event) if isinstance(event, Mapping) else {}
        if payload.get("status") == "run_on_worker":  # a mapped start_from_trigger task (triggers/mapped.py)
            self.log.info("Not started on the triggerer (%s): submitting from here.", payload["message"])
            return self.execute(context)
        name = str(payload.get("execution") or "")
        self.flyte_execution_name = name or None
        self.console_url = str(payload.get("console_url") or "") or None
        raise_for_event(payload)
        self.log.info("Flyte execution %s succeeded: %s", name, self.console_url)
        return self.get_job_result(name, context)

    # ------------------------------------------------------------------ kill
    def _task_label(self) -> str:
        """``dag.task[map_index] run <run_id>`` of the running try, for termination causes."""
        return self._label or f"{self.task_id} (no DAG run)"

    def on_kill(self) -> None:
        """Terminate the execution this try owns (worker side; the trigger covers deferred tasks)."""
        name = self.flyte_execution_name
        if not (self.terminate_on_kill and name):
            return
        cause = f"Airflow task {self._task_label()} was killed; terminated by airflow-provider-flyte-async."
        try:
            self.hook.terminate(name, cause)
        except FlyteProviderError:
            self.log.exception("Could not terminate Flyte execution %s", name)


def _clear_number(context: Context) -> int:
    """How often the DAG run was cleared (0 if unknown): tells re-runs apart from retries."""
    value = getattr(context.get("dag_run"), "clear_number", 0)
    return int(value) if isinstance(value, int) else 0


def _execution_of(external_id: Any) -> tuple[str, int | None]:
    """``(name, clear_number)`` of a stored id (a bare name from older versions has no clear_number)."""
    if isinstance(external_id, Mapping):
        cleared = external_id.get("clear_number")
        return str(external_id.get("execution", "")), cleared if isinstance(cleared, int) else None
    return str(external_id), None


def _is_xcomarg(value: Any) -> bool:
    return hasattr(value, "resolve")


def _nested_any(value: Any, test: Callable[[Any], bool]) -> bool:
    """``test`` holds for ``value`` or anything nested in its dicts and lists."""
    if test(value):
        return True
    if isinstance(value, Mapping):
        return any(_nested_any(v, test) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_nested_any(v, test) for v in value)
    return False
