"""Send TerminateExecution from a synchronous process (the API server) without blocking its requests.

A user's mark must return at once even when Flyte Admin is slow or unreachable, so terminations run
on one daemon thread's event loop per process, several at a time, each bounded by the admin client's
deadline and retries plus :data:`TERMINATE_TIMEOUT_SECONDS` in all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

from flyte_async_provider.execution_ref import ExecutionRef

log = logging.getLogger(__name__)

TERMINATE_TIMEOUT_SECONDS = 60.0
MAX_CONCURRENT_TERMINATIONS = 16


class Terminator:
    """Terminate executions on a private loop thread, started on first use and kept for the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None

    def submit(self, ref: ExecutionRef, cause: str) -> concurrent.futures.Future[bool | None]:
        """Start terminating ``ref``; the future says True (terminated), False (had ended), None (failed)."""
        return asyncio.run_coroutine_threadsafe(self._terminate(ref, cause), self._ensure_loop())

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="flyte-user-mark-terminator", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop

    async def _terminate(self, ref: ExecutionRef, cause: str) -> bool | None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_CONCURRENT_TERMINATIONS)
        where = f"{ref.project}/{ref.domain}/{ref.name}"
        async with self._slots:
            try:
                terminated = await asyncio.wait_for(_send(ref, cause), TERMINATE_TIMEOUT_SECONDS)
            except Exception as exc:  # logged, never raised into Airflow's request
                log.warning("Could not terminate Flyte execution %s after a user mark: %s", where, exc)
                return None
        if terminated:
            log.info("Terminated Flyte execution %s: %s", where, cause)
        else:
            log.info("Flyte execution %s had already ended (or is being terminated).", where)
        return terminated


async def _send(ref: ExecutionRef, cause: str) -> bool:
    from flyte_async_provider.hooks.aio import FlyteAsyncHook
    from flyte_async_provider.hooks.flyte import FlyteHook

    # The sync lookup: it reads the metadata database in the API server (the async one is for tasks).
    sync = FlyteHook(ref.conn_id, ref.project or None, ref.domain or None)
    config = await asyncio.to_thread(lambda: sync.config)
    hook = FlyteAsyncHook(ref.conn_id, ref.project, ref.domain, config=config)
    return await hook.terminate_unless_ending(ref.name, cause)


TERMINATOR = Terminator()
