"""The shared, batched status poller: one task per (connection, project, domain, loop).

10,000 triggers each calling GetExecution every 5 s cost ~2,000 RPC/s and ~40 % of a core. Here
every watcher of a process registers with one poller, which reads the phases of all *due* watchers
with ``ListExecutions(filters="value_in(execution_name,a;b;...)")`` in chunks, so a status read costs
a few microseconds instead of a whole RPC. Watchers keep their own interval (they are scheduled by due
time in a heap and only the due ones are batched), and wait on a plain future the poller resolves:
no task per watcher, nothing awaited per poll.

Lists add ``state=ACTIVE`` (archived executions vanish) and cut error messages to 100 bytes, so names
a list did not return are read with GetExecution, and a terminal record carrying an error is re-read
in full before it is reported.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from flyte_async_provider.admin._loops import LoopLocal
from flyte_async_provider.admin.client import AsyncAdminClient, RetryPolicy, get_admin_client
from flyte_async_provider.admin.models import ExecutionStatus
from flyte_async_provider.config import FlyteConnectionConfig
from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteAuthError,
    FlyteConfigError,
    FlyteNotFoundError,
)
from flyte_async_provider.phases import TERMINAL_PHASES
from flyte_async_provider.tls_mismatch import FlyteTlsMismatchError

log = logging.getLogger(__name__)

# Errors no later read can fix: every watch of this poller ends with them at once.
_FATAL = (FlyteAuthError, FlyteTlsMismatchError)
DEFAULT_BATCH_SIZE = 200  # ~13 KB of filter at most (names are <= 63 chars)
DEFAULT_PARALLEL_BATCHES = 4
# Watchers due within this window ride along in the current batch instead of waking the poller again.
COALESCE_SECONDS = 0.2
# A new watcher waits this long before its first read, so a burst of subscriptions shares one batch.
FIRST_READ_DELAY = 0.05
# At most this many watchers are woken per event-loop iteration when statuses change.
DELIVERY_SLICE = 8
# Isolated transient errors are absorbed by these quick retries; only a persistent failure is an outage.
POLL_RETRY = RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=1.0)
# Names Flyte accepts (^[a-z][a-z\-0-9]*$, <= 63); anything else is read alone, never put in a filter.
_BATCHABLE = re.compile(r"[a-z][a-z0-9-]{0,62}")
_NO_LIST_CODES = frozenset({"INVALID_ARGUMENT", "UNIMPLEMENTED"})
_NAME_ERRORS = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "PERMISSION_DENIED"})

Item = ExecutionStatus | BaseException


class _Watcher:
    """One ``watch()`` call: its schedule and the statuses not consumed yet."""

    __slots__ = (
        "active",
        "due",
        "grace_deadline",
        "interval",
        "items",
        "last_phase",
        "name",
        "seq",
        "waiter",
    )

    def __init__(self, name: str, interval: float, grace_deadline: float, due: float) -> None:
        self.name = name
        self.interval = interval
        self.grace_deadline = grace_deadline
        self.due = due
        self.seq = 0
        self.last_phase = -1
        self.items: list[Item] = []
        self.waiter: asyncio.Future[None] | None = None
        self.active = True

    def push(self, item: Item) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next(self) -> Item:
        if not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.pop(0)


def _copy_error(error: FlyteAdminError, message: str | None = None) -> FlyteAdminError:
    """A fresh exception per watcher (one instance raised in many tasks would share a traceback)."""
    copy = type(error)(message or str(error), code=error.code, rpc=error.rpc)
    return copy


class StatusPoller:
    """Watches executions of one project/domain for every caller of the process; see module doc."""

    def __init__(
        self,
        client: AsyncAdminClient,
        project: str,
        domain: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        parallel_batches: int = DEFAULT_PARALLEL_BATCHES,
        outage_backoff: tuple[float, float] = (1.0, 10.0),
        always_fetch_terminal: bool = False,
    ) -> None:
        self.client = client
        self.project = project
        self.domain = domain
        self.batch_size = batch_size
        self.parallel_batches = parallel_batches
        self.outage_backoff = outage_backoff
        self.always_fetch_terminal = always_fetch_terminal
        self._watchers: dict[str, list[_Watcher]] = {}
        self._count = 0
        self._heap: list[tuple[float, int, _Watcher]] = []
        self._stale = 0
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._wake_at = float("inf")
        self._batching = True
        self._outage_since: float | None = None
        self._failed_polls = 0
        self.list_calls = 0
        self.get_calls = 0

    # ------------------------------------------------------------------ public
    async def watch(
        self,
        name: str,
        poll_interval: float = 5.0,
        not_found_grace: float = 60.0,
        first_read_delay: float = FIRST_READ_DELAY,
    ) -> AsyncGenerator[ExecutionStatus, None]:
        """Yield the execution's status on every phase change; the last one is terminal.

        The first read happens ``first_read_delay`` seconds after subscribing (batched with any
        watcher due by then); later reads every ``poll_interval``.

        Raises FlyteNotFoundError once the execution was missing for ``not_found_grace`` seconds since
        this watch started, FlyteAuthError when the credentials are rejected. Transient errors and
        outages never end the watch (the poller logs them once per outage and backs off).
        """
        if poll_interval <= 0:
            raise FlyteConfigError(f"poll_interval must be positive, got {poll_interval!r}")
        watcher = self._subscribe(
            name, float(poll_interval), float(not_found_grace), max(FIRST_READ_DELAY, first_read_delay)
        )
        try:
            while True:
                item = await watcher.next()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.phase.is_terminal:
                    return
        finally:
            self._unsubscribe(watcher)

    def stats(self) -> dict[str, int]:
        """Sizes of the internal maps and call counts (tests check nothing leaks)."""
        return {
            "watchers": self._count,
            "names": len(self._watchers),
            "heap": len(self._heap),
            "running": int(self._task is not None and not self._task.done()),
            "list_calls": self.list_calls,
            "get_calls": self.get_calls,
        }

    def close(self) -> None:
        """Stop the task; any remaining watcher gets a CANCELLED FlyteAdminError."""
        error = FlyteAdminError("The status poller was closed.", code="CANCELLED", rpc="poll")
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                self._fail(watcher, error)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, name: str, interval: float, grace: float, first_read: float) -> _Watcher:
        loop = asyncio.get_running_loop()
        now = loop.time()
        watcher = _Watcher(name, interval, now + grace, now + first_read)
        self._watchers.setdefault(name, []).append(watcher)
        self._count += 1
        self._schedule(watcher)
        if self._task is None or self._task.done():
            self._task = loop.create_task(
                self._run(), name=f"flyte-status-poller {self.project}/{self.domain}"
            )
        elif watcher.due < self._wake_at and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return watcher

    def _unsubscribe(self, watcher: _Watcher) -> None:
        if not watcher.active:
            return
        watcher.active = False
        self._stale += 1
        self._count -= 1
        peers = self._watchers.get(watcher.name)
        if peers is not None:
            peers.remove(watcher)
            if not peers:
                del self._watchers[watcher.name]
        if self._count == 0:
            self._heap.clear()
            self._stale = 0
            task = self._task
            if task is not None and task is not asyncio.current_task():
                task.cancel()  # nothing left to watch: stop now, even mid-RPC
                self._task = None
        elif self._stale > 64 and self._stale * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if self._live(entry)]
            heapq.heapify(self._heap)
            self._stale = 0

    def _schedule(self, watcher: _Watcher) -> None:
        watcher.seq = next(self._seq)
        heapq.heappush(self._heap, (watcher.due, watcher.seq, watcher))

    @staticmethod
    def _live(entry: tuple[float, int, _Watcher]) -> bool:
        watcher = entry[2]
        return watcher.active and watcher.seq == entry[1]

    def _pop_due(self, now: float, most: int) -> list[_Watcher]:
        """Up to ``most`` due watchers; those due very soon ride along (a tenth of their interval)."""
        due: list[_Watcher] = []
        heap = self._heap
        while heap and len(due) < most:
            when, _, watcher = heap[0]
            live = self._live(heap[0])
            if live and when > now + min(COALESCE_SECONDS, watcher.interval / 10):
                break
            heapq.heappop(heap)
            if live:
                due.append(watcher)
            else:
                self._stale = max(0, self._stale - 1)
        return due

    # ------------------------------------------------------------------ the task
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # At most this many watchers per cycle keeps every synchronous step of a cycle short.
        per_cycle = self.batch_size * self.parallel_batches
        try:
            while self._count:
                due: list[_Watcher] = []
                try:
                    due = self._pop_due(loop.time(), per_cycle)
                    if not due:
                        await self._sleep_until(self._heap[0][0] if self._heap else loop.time() + 3600.0)
                        continue
                    await self._poll(due, loop.time())
                except Exception as exc:  # a bug must not leave watchers waiting forever
                    log.exception("Flyte status poller for %s/%s failed", self.project, self.domain)
                    error = FlyteAdminError(f"Status poller failed: {exc!r}", code="INTERNAL", rpc="poll")
                    for watcher in due:
                        self._fail(watcher, error)
                    await asyncio.sleep(1.0)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _sleep_until(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        handle = loop.call_at(when, _resolve, wake)
        self._wake, self._wake_at = wake, when
        try:
            await wake
        finally:
            handle.cancel()
            if self._wake is wake:  # a cancelled predecessor task must not clear its successor's
                self._wake, self._wake_at = None, float("inf")

    async def _poll(self, due: list[_Watcher], started: float) -> None:
        """Read the status of every due watcher's execution, deliver changes, reschedule."""
        names = list(dict.fromkeys(w.name for w in due))
        fetched = await self._fetch(names)
        if fetched is None:
            return  # the credentials were rejected: every watcher has failed
        records, errors = fetched
        self._account(errors.values(), len(names))
        now = asyncio.get_running_loop().time()
        await self._deliver_all(records)
        for name, error in errors.items():
            self._on_error(name, error, now)
        self._reschedule(due, errors, started, now)

    async def _fetch(self, names: list[str]) -> tuple[dict[str, Any], dict[str, FlyteAdminError]] | None:
        """Records and errors by name: batched lists, then single reads; None once auth failed."""
        records: dict[str, Any] = {}
        errors: dict[str, FlyteAdminError] = {}
        batchable = [n for n in names if self._batching and _BATCHABLE.fullmatch(n)]
        singles = [n for n in names if not (self._batching and _BATCHABLE.fullmatch(n))]
        chunks = [batchable[i : i + self.batch_size] for i in range(0, len(batchable), self.batch_size)]
        for first in range(0, len(chunks), self.parallel_batches):
            group = chunks[first : first + self.parallel_batches]
            outcomes = await asyncio.gather(*(self._list(c) for c in group))
            for chunk, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, _FATAL):
                    self._fail_all(outcome)
                    return None
                if isinstance(outcome, dict):
                    records.update(outcome)
                    singles.extend(n for n in chunk if n not in outcome)
                elif outcome.code in _NO_LIST_CODES:
                    self._disable_batching(outcome)
                    singles.extend(chunk)
                else:
                    errors.update(dict.fromkeys(chunk, outcome))
        singles.extend(self._take_truncated(records))
        if not singles:
            return records, errors
        for name, outcome in zip(
            singles, await asyncio.gather(*(self._get(n) for n in singles)), strict=True
        ):
            if isinstance(outcome, _FATAL):
                self._fail_all(outcome)
                return None
            if isinstance(outcome, FlyteAdminError):
                errors[name] = outcome
            else:
                records[name] = outcome
        return records, errors

    def _take_truncated(self, records: dict[str, Any]) -> list[str]:
        """Remove (and name) the listed terminal records to re-read in full: lists cut error messages."""
        names = [
            name
            for name, record in records.items()
            if record.closure.phase in TERMINAL_PHASES
            and (self.always_fetch_terminal or record.closure.HasField("error"))
        ]
        for name in names:
            del records[name]
        return names

    async def _deliver_all(self, records: dict[str, Any]) -> None:
        """Deliver every record, yielding to the loop after each slice of woken watchers.

        Each delivery readies a trigger task; running a slice of them before waking more means 1,000
        executions ending together never stall the triggerer in one step.
        """
        woken = 0
        for name, record in records.items():
            woken += self._deliver(name, record)
            if woken >= DELIVERY_SLICE:
                woken = 0
                await asyncio.sleep(0)

    def _reschedule(
        self, due: list[_Watcher], errors: dict[str, FlyteAdminError], started: float, now: float
    ) -> None:
        """Next read: one interval on, sooner at the end of a NOT_FOUND grace, backed off in an outage."""
        backoff = self._backoff()
        for watcher in due:
            if not watcher.active:
                continue
            failure = errors.get(watcher.name)
            if failure is None:
                watcher.due = started + watcher.interval
            elif failure.code == "NOT_FOUND":
                watcher.due = min(started + watcher.interval, max(now, watcher.grace_deadline))
            else:
                watcher.due = now + backoff
            self._schedule(watcher)

    async def _list(self, chunk: list[str]) -> dict[str, Any] | FlyteAdminError:
        self.list_calls += 1
        try:
            page = await self.client.list_executions_proto(
                self.project,
                self.domain,
                filters=f"value_in(execution_name,{';'.join(chunk)})",
                limit=len(chunk),
                retry=POLL_RETRY,
            )
        except FlyteAdminError as exc:
            return exc
        return {record.id.name: record for record in page.executions}

    async def _get(self, name: str) -> Any:
        self.get_calls += 1
        try:
            return await self.client.get_execution_proto(self.project, self.domain, name, retry=POLL_RETRY)
        except FlyteAdminError as exc:
            return exc

    # ------------------------------------------------------------------ outcomes
    def _deliver(self, name: str, record: Any) -> int:
        """Push the status to watchers that have not seen this phase; return how many were woken."""
        phase = int(record.closure.phase)
        status: ExecutionStatus | None = None
        woken = 0
        for watcher in list(self._watchers.get(name, ())):
            if watcher.last_phase == phase:
                continue
            if status is None:
                status = ExecutionStatus.from_proto(record)
            watcher.last_phase = phase
            watcher.push(status)
            woken += 1
            if phase in TERMINAL_PHASES:
                self._unsubscribe(watcher)  # done: stop polling it; watch() returns after the yield
        return woken

    def _on_error(self, name: str, error: FlyteAdminError, now: float) -> None:
        if error.code == "NOT_FOUND":
            for watcher in list(self._watchers.get(name, ())):
                if now >= watcher.grace_deadline:
                    message = (
                        f"Flyte execution {self.project}/{self.domain}/{name} not found at "
                        f"{self.client.config.endpoint} (still missing after the grace period): {error}"
                    )
                    self._fail(watcher, FlyteNotFoundError(message, code=error.code, rpc=error.rpc))
        elif error.code in _NAME_ERRORS:
            for watcher in list(self._watchers.get(name, ())):
                self._fail(watcher, error)

    def _fail(self, watcher: _Watcher, error: FlyteAdminError) -> None:
        if watcher.active:
            watcher.push(_copy_error(error))
            self._unsubscribe(watcher)

    def _fail_all(self, error: FlyteAdminError) -> None:
        log.error(
            "Flyte Admin %s cannot serve connection %r as configured; failing %d watches in %s/%s: %s",
            self.client.config.endpoint,
            self.client.config.conn_id,
            self._count,
            self.project,
            self.domain,
            error,
        )
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                self._fail(watcher, error)

    def _disable_batching(self, error: FlyteAdminError) -> None:
        if self._batching:
            self._batching = False
            log.warning(
                "Flyte Admin %s cannot list executions by name (%s); reading %s/%s one execution at a time.",
                self.client.config.endpoint,
                error,
                self.project,
                self.domain,
            )

    # ------------------------------------------------------------------ outages
    def _account(self, errors: Iterable[FlyteAdminError], polled: int) -> None:
        """One WARNING when reads start failing, one INFO when they work again; nothing per poll."""
        transient = [e for e in errors if e.code not in _NAME_ERRORS and e.code != "NOT_FOUND"]
        loop_time = asyncio.get_running_loop().time()
        if transient:
            self._failed_polls += 1
            if self._outage_since is None:
                self._outage_since = loop_time
                low, high = self.outage_backoff
                log.warning(
                    "Flyte Admin %s is failing status reads for %s/%s (%s); %d watches keep waiting, "
                    "retrying in ~%g s, backing off to %g s between tries.",
                    self.client.config.endpoint,
                    self.project,
                    self.domain,
                    transient[0],
                    self._count,
                    low,
                    high,
                )
        elif self._outage_since is not None:
            log.info(
                "Flyte Admin %s answers status reads for %s/%s again after %.1f s (%d failed polls).",
                self.client.config.endpoint,
                self.project,
                self.domain,
                loop_time - self._outage_since,
                self._failed_polls,
            )
            self._outage_since = None
            self._failed_polls = 0

    def _backoff(self) -> float:
        low, high = self.outage_backoff
        if not self._failed_polls:
            return low
        ceiling = min(high, low * 2 ** (self._failed_polls - 1))
        return random.uniform(ceiling / 2, ceiling)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_pollers: LoopLocal[tuple[str, str, str], StatusPoller] = LoopLocal()


def get_status_poller(config: FlyteConnectionConfig, project: str, domain: str) -> StatusPoller:
    """The poller shared by every watcher of (connection, project, domain) on the running loop."""
    return _pollers.get_or_create(
        (config.channel_key, project, domain),
        lambda: StatusPoller(get_admin_client(config), project, domain),
    )
