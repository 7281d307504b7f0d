"""FlyteExecutionTrigger: watch one Flyte execution from the Airflow triggerer.

Runs on the triggerer's single event loop next to thousands of other triggers, so it only awaits:
every call to Flyte goes through :class:`~flyte_async_provider.hooks.aio.FlyteAsyncHook` (async
connection lookup, the process-wide batched poller), and nothing heavy is imported at module level.
``run()`` only watches (it may be restarted, or run twice under HA) and yields exactly one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.triggers.base import BaseTrigger, StartTriggerArgs, TaskSuccessEvent, TriggerEvent

from flyte_async_provider._compat import trigger_on_kill_is_called
from flyte_async_provider.admin._loops import LoopLocal
from flyte_async_provider.config import DEFAULT_POLL_INTERVAL
from flyte_async_provider.events import deadline_event, ended_event, event_payload
from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteAuthError,
    FlyteConfigError,
    FlyteNotFoundError,
)
from flyte_async_provider.hooks.aio import FlyteAsyncHook
from flyte_async_provider.phases import EventStatus, ExecutionPhase, FlyteEventPayload

if TYPE_CHECKING:
    from flyte_async_provider.admin import ExecutionStatus
    from flyte_async_provider.hooks.flyte import FlyteHook

# Termination work outlives the trigger's own task: Airflow 3.3 re-sends the user-action cancel on every
# triggerer state sync, which would cancel an on_kill() mid-RPC. Strong refs keep the tasks alive.
_kill_tasks: set[asyncio.Task[None]] = set()
# First status read this long after the watch starts (at most one poll interval): soon enough that a
# user sees the phase at once, late enough that triggers started together share one batched read.
FIRST_READ_DELAY_SECONDS = 0.5
# Airflow 3.3.2 fails a task whose trigger fires before the scheduler has processed the deferral
# (apache/airflow#67287): an event is held until this long after run() started.
FIRE_NOT_BEFORE_SECONDS = 5.0
# Set on event loops whose triggerer supervisor has been asked one task-state question (see
# _prime_supervisor).
_primed_loops: LoopLocal[str, bool] = LoopLocal()
_T = TypeVar("_T", bound="FlyteExecutionTrigger")


class FlyteExecutionTrigger(BaseTrigger):
    """Wait for a Flyte execution to end and resume the task with one :class:`FlyteEventPayload`.

    :param conn_id: Airflow connection of type ``flyte`` (only the id is stored: no secrets in kwargs).
    :param project: Flyte project of the execution.
    :param domain: Flyte domain of the execution.
    :param execution_name: the execution's name.
    :param poll_interval: seconds between status reads of this execution.
    :param deadline: absolute epoch seconds after which the execution is terminated and a ``deadline``
        event is emitted (Airflow does not enforce ``execution_timeout`` while a task is deferred).
    :param terminate_on_kill: terminate the execution when a user kills the deferred task.
    :param not_found_grace: seconds an execution may be reported missing before the watch gives up.
    :param dag_id: names the task in termination causes when the triggerer gives no task instance.
    :param end_from_trigger: on success, push the task's return value from here and end the task
        (``TaskSuccessEvent``) instead of resuming it on a worker. The operator sets it only where
        skipping the worker changes nothing for the user (see docs/trigger.md).
    :param fetch_outputs: with ``end_from_trigger``, the return value is the execution's outputs, decoded
        here when they are plain values (otherwise the task resumes on a worker, which uses flytekit).
    :param push_return_value: with ``end_from_trigger``, push ``return_value`` (the task's
        ``do_xcom_push``).
    """

    def __init__(
        self,
        conn_id: str,
        project: str,
        domain: str,
        execution_name: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deadline: float | None = None,
        terminate_on_kill: bool = True,
        not_found_grace: float = 60.0,
        dag_id: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        map_index: int = -1,
        end_from_trigger: bool = False,
        fetch_outputs: bool = False,
        push_return_value: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poll_interval <= 0:
            raise FlyteConfigError(f"poll_interval must be positive, got {poll_interval!r}.")
        self.conn_id = conn_id
        self.project = project
        self.domain = domain
        self.execution_name = execution_name
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.terminate_on_kill = bool(terminate_on_kill)
        self.not_found_grace = float(not_found_grace)
        self.dag_id = dag_id
        # BaseTrigger owns ``task_id`` (set from the task instance), so ours has its own name.
        self.flyte_task_id = task_id
        self.run_id = run_id
        self.map_index = int(map_index)
        self.end_from_trigger = bool(end_from_trigger)
        self.fetch_outputs = bool(fetch_outputs)
        self.push_return_value = bool(push_return_value)
        self._hook: FlyteAsyncHook | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def for_task_instance(cls: type[_T], ti: Any, hook: FlyteHook, **kwargs: Any) -> _T:
        """The trigger a task instance defers to: the hook's connection, project and domain, the
        task's identity, and ``kwargs``."""
        map_index = getattr(ti, "map_index", -1)
        return cls(
            conn_id=hook.flyte_conn_id,
            project=hook.project,
            domain=hook.domain,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=-1 if map_index is None else int(map_index),
            **kwargs,
        )

    @classmethod
    def start_trigger_args(cls, *, timeout: timedelta | None, **kwargs: Any) -> StartTriggerArgs:
        """``StartTriggerArgs`` that start a task on this trigger (``start_from_trigger``).

        ``kwargs`` are checked by building the trigger once, and stored as given: the scheduler builds
        the trigger from them after the triggerer rendered the templated ones.
        """
        classpath, _ = cls(**kwargs).serialize()
        return StartTriggerArgs(
            trigger_cls=classpath,
            trigger_kwargs=kwargs,
            next_method="execute_complete",
            next_kwargs=None,
            timeout=timeout,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Primitives only: these kwargs are stored as JSON in Airflow's database."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "project": self.project,
                "domain": self.domain,
                "execution_name": self.execution_name,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "terminate_on_kill": self.terminate_on_kill,
                "not_found_grace": self.not_found_grace,
                "dag_id": self.dag_id,
                "task_id": self.flyte_task_id,
                "run_id": self.run_id,
                "map_index": self.map_index,
                "end_from_trigger": self.end_from_trigger,
                "fetch_outputs": self.fetch_outputs,
                "push_return_value": self.push_return_value,
            },
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FlyteExecutionTrigger) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.conn_id, self.project, self.domain, self.execution_name))

    @property
    def hook(self) -> FlyteAsyncHook:
        """The trigger's one gateway to Flyte, made on first use (after the triggerer rendered fields)."""
        if self._hook is None:
            self._hook = FlyteAsyncHook(self.conn_id, self.project, self.domain)
        return self._hook

    # ------------------------------------------------------------------ identity of the Airflow task
    def _ti_attr(self, name: str, fallback: Any) -> Any:
        ti = self.task_instance
        value = getattr(ti, name, None) if ti is not None else None
        return fallback if value is None else value

    def _task_ids(self) -> dict[str, Any]:
        """``dag_id``, ``task_id``, ``run_id``, ``map_index`` of the task (None where unknown)."""
        return {
            "dag_id": self._ti_attr("dag_id", self.dag_id),
            "task_id": self._ti_attr("task_id", self.flyte_task_id),
            "run_id": self._ti_attr("run_id", self.run_id),
            "map_index": int(self._ti_attr("map_index", self.map_index)),
        }

    def _task_label(self) -> str:
        from flyte_async_provider.execution_ref import task_label

        return task_label(**self._task_ids())

    # ------------------------------------------------------------------ run
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch until terminal, deadline or a non-recoverable error; yield exactly one event."""
        started = time.monotonic()
        try:
            payload = await self._watch()
            hold = min(self.poll_interval, FIRE_NOT_BEFORE_SECONDS)  # tests poll fast and need no hold
            await asyncio.sleep(max(0.0, started + hold - time.monotonic()))
        except asyncio.CancelledError:
            if self.deadline is not None and time.time() >= self.deadline:
                # Airflow's own timeout check (start_from_trigger folds execution_timeout into the
                # trigger timeout) cancels without on_kill: the execution must still end.
                await self._shielded(self._terminate_for_deadline())
                raise
            if not trigger_on_kill_is_called():
                # Before 3.3 a cancel may be a user kill or a triggerer shutdown: act only on a known
                # non-deferred state (Google providers' safe_to_cancel pattern).
                await self._shielded_kill(unknown_means_stopped=False)
            raise
        if payload["status"] == "success" and self.end_from_trigger and await self._end_task(payload):
            yield TaskSuccessEvent()
            return
        yield TriggerEvent(dict(payload))

    async def _end_task(self, payload: FlyteEventPayload) -> bool:
        """Push what a resumed worker would have pushed; False (resume on a worker) if we cannot."""
        ids = self._task_ids()
        if not (ids["dag_id"] and ids["task_id"] and ids["run_id"] and self.hook.loaded_config):
            return False
        value: Any = payload["execution"]
        if self.fetch_outputs:
            from flyte_async_provider.admin.outputs import NotPlainOutputs

            try:
                value = await self.hook.get_plain_outputs(self.execution_name)
            except NotPlainOutputs as exc:
                self.log.info("Outputs need flytekit (%s): the task resumes on a worker to fetch them.", exc)
                return False
            except FlyteAdminError as exc:
                self.log.warning("Could not read the outputs here (%s): the task resumes on a worker.", exc)
                return False
        if self.push_return_value:
            from flyte_async_provider._compat import apush_xcom

            try:
                await apush_xcom("return_value", value, **ids)
            except Exception as exc:  # no supervisor to push through (e.g. dag.test()): the worker will
                self.log.info("Cannot push XCom from the trigger (%s): the task resumes on a worker.", exc)
                return False
        self.log.info(
            "Flyte execution %s succeeded; the task ends here, without resuming on a worker: %s",
            self.execution_name,
            payload.get("console_url", ""),
        )
        return True

    def _prime_supervisor(self) -> None:
        """Ask one task-state question early, once per triggerer loop.

        The triggerer's supervisor builds its execution-API client on the first such request (5-8 s
        measured on 2 cores); paying that at start keeps a later user kill's check within ~2 s.
        """
        if not (trigger_on_kill_is_called() and self.terminate_on_kill):
            return
        if _primed_loops.get("primed"):
            return
        _primed_loops.set("primed", True)
        task = asyncio.get_running_loop().create_task(
            self._task_still_deferred(), name="flyte-trigger-prime-supervisor"
        )
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _watch(self) -> FlyteEventPayload:
        try:
            url = await self.hook.console_url(self.execution_name)
        except Exception as exc:  # connection missing or malformed: nothing to watch with
            return self._payload("error", message=f"Cannot use connection {self.conn_id!r}: {exc}")
        # The console URL is logged where the execution is first named and at the end, not per line:
        # Airflow's log viewer does not wrap, and a ~200-character URL hid each line's point.
        self.log.info(
            "Watching Flyte execution %s (status every %g s)", self._execution_ref(), self.poll_interval
        )
        remaining = None if self.deadline is None else self.deadline - time.time()
        try:
            if remaining is not None and remaining <= 0:
                raise asyncio.TimeoutError
            status = await asyncio.wait_for(self._follow(url), remaining)
        except asyncio.TimeoutError:
            return await self._on_deadline(url)
        except FlyteNotFoundError as exc:
            return self._payload(
                "error",
                url,
                message=(
                    f"Flyte execution {self._execution_ref()} was not found for "
                    f"{self.not_found_grace:.0f} s: check project, domain and name "
                    f"(or whether it was archived). {exc}"
                ),
                error_code=exc.code,
            )
        except FlyteAuthError as exc:
            return self._payload(
                "error",
                url,
                message=f"Flyte Admin rejected the credentials of connection {self.conn_id!r}: {exc}",
                error_code=exc.code,
            )
        except FlyteAdminError as exc:
            return self._payload("error", url, message=str(exc), error_code=exc.code)
        return ended_event(status, url)

    async def _follow(self, url: str) -> ExecutionStatus:
        watch = self.hook.watch(
            self.execution_name,
            poll_interval=self.poll_interval,
            not_found_grace=self.not_found_grace,
            first_read_delay=min(self.poll_interval, FIRST_READ_DELAY_SECONDS),
        )
        last: ExecutionPhase | None = None
        async with contextlib.aclosing(watch) as statuses:
            async for status in statuses:
                if last is None:
                    # After the first read, not before: the supervisor answers one request at a time,
                    # and its first costs seconds (it builds its API client); the connection lookup
                    # and first read must not wait behind it.
                    self._prime_supervisor()
                if status.phase is not last:
                    self.log.info("Flyte execution %s is %s", self.execution_name, status.phase.name)
                    last = status.phase
                if status.phase.is_terminal:
                    return status
        raise FlyteAdminError(
            f"Status watch of {self._execution_ref()} ended without a terminal phase.", code="INTERNAL"
        )

    async def _on_deadline(self, url: str) -> FlyteEventPayload:
        """Terminate the execution because the task's execution_timeout passed; the real end wins."""
        cause = (
            f"Airflow {self._task_label()} exceeded its execution_timeout "
            f"(deadline {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.deadline or 0))}); "
            "terminated by airflow-provider-flyte-async."
        )
        self.log.warning("Deadline passed: terminating Flyte execution %s: %s", self._execution_ref(), url)
        ref = (self.project, self.domain, self.execution_name)
        try:
            terminated = await self.hook.terminate(self.execution_name, cause)
            status = await self.hook.get_execution(self.execution_name)
        except FlyteAdminError as exc:
            return deadline_event(*ref, cause, url, terminated=False, failure=exc)
        return deadline_event(*ref, cause, url, terminated=terminated, state=status)

    # ------------------------------------------------------------------ cancellation
    async def on_kill(self) -> None:
        """A user marked the deferred task failed/success or cleared it: terminate the execution.

        Airflow may send the same user-action cancel to a trigger that was merely reassigned after a
        triggerer lost its heartbeat (apache/airflow PR #73454), so terminate only if the task is
        really no longer deferred.
        """
        await self._shielded_kill(unknown_means_stopped=True)

    async def _shielded_kill(self, *, unknown_means_stopped: bool) -> None:
        """Run the kill check + terminate in its own task, so a repeated cancel cannot abort it."""
        await self._shielded(self._terminate_if_user_killed(unknown_means_stopped=unknown_means_stopped))

    @staticmethod
    async def _shielded(work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        _kill_tasks.add(task)
        task.add_done_callback(_kill_tasks.discard)
        await asyncio.shield(task)

    async def _terminate_for_deadline(self) -> None:
        if not self.terminate_on_kill or self.hook.loaded_config is None:
            return
        cause = (
            f"Airflow {self._task_label()} exceeded its execution_timeout; "
            "terminated by airflow-provider-flyte-async."
        )
        try:
            await self.hook.terminate(self.execution_name, cause)
        except Exception:
            self.log.exception("Could not terminate Flyte execution %s", self._execution_ref())

    async def _terminate_if_user_killed(self, *, unknown_means_stopped: bool) -> None:
        if not self.terminate_on_kill:
            return
        deferred = await self._task_still_deferred()
        if deferred is None and not unknown_means_stopped:
            return
        if deferred:
            self.log.info(
                "Trigger for %s cancelled but the task is still deferred (reassigned trigger): "
                "leaving Flyte execution %s running.",
                self._task_label(),
                self._execution_ref(),
            )
            return
        cause = f"Airflow user stopped {self._task_label()}; terminated by airflow-provider-flyte-async."
        try:
            terminated = await self.hook.terminate_unless_ending(self.execution_name, cause)
        except Exception:
            self.log.exception("Could not terminate Flyte execution %s", self._execution_ref())
            return
        if terminated:
            self.log.info("Terminated Flyte execution %s: %s", self._execution_ref(), cause)

    async def _task_still_deferred(self) -> bool | None:
        """Ask the triggerer's supervisor whether the task is still deferred; None if unknown."""
        ids = self._task_ids()
        dag_id, task_id, run_id, map_index = ids["dag_id"], ids["task_id"], ids["run_id"], ids["map_index"]
        if not (dag_id and task_id and run_id):
            return None
        try:
            from flyte_async_provider._compat import atask_is_deferred

            return await atask_is_deferred(dag_id, task_id, run_id, map_index)
        except Exception:
            self.log.warning("Could not read the state of %s.", self._task_label())
            return None

    # ------------------------------------------------------------------ payloads
    def _execution_ref(self) -> str:
        return f"{self.project}/{self.domain}/{self.execution_name}"

    def _payload(self, status: EventStatus, url: str = "", **fields: Any) -> FlyteEventPayload:
        return event_payload(status, self.project, self.domain, self.execution_name, url, **fields)
