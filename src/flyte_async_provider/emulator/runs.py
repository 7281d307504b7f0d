"""A bounded pool of worker processes that run executions' code for real (see runworker.py).

``max_workers`` slots, each a thread that owns at most one worker process at a time: it starts the
process ahead of the next run (so it imports flytekit while no run waits for it), hands it one run,
and waits on the process's pipe (closed when it exits) until the run's deadline. One process per run, so runs
never share imported user code or state, and ending a run is ending its process: a Terminate
(``cancel``), the time limit, or ``shutdown``. Nothing here runs on the gRPC server's event loop; the
slots' threads report to the backend through ``RunListener``, which takes the backend's lock.

A run that reaches a gate node (rungates.py) asks for its signal; the slot tells the backend
(``gate_reached``: it creates the signal, and answers its value if it already has one), and the value
goes back to the waiting worker exactly once, from whichever comes first: that answer or a later
SetSignal (``deliver``, called by the backend). The slot keeps waiting for the run's end meanwhile.

The slots start on the first ``submit``: an emulator that never runs code starts no process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from flyteidl.core import identifier_pb2, literals_pb2, types_pb2

from .blobstore import BlobStore
from .entities import EntityStore
from .errors import Unavailable
from .runplan import NotRunnable, RunPlan, plan_run

log = logging.getLogger(__name__)

ExecutionKey = tuple[str, str, str]
_STARTUP_SECONDS = 120.0  # a worker that cannot import flytekit within this is broken
_WORKER_MODULE = "flyte_async_provider.emulator.runworker"
_MAX_GATES = 10_000  # gate requests one run may make (a run is serial: one waits at a time)


@dataclass(frozen=True)
class RunResult:
    """How a real run ended: ``phase_kind`` is "succeed" (with ``outputs``), "fail" or "time_out"."""

    phase_kind: str
    outputs: literals_pb2.LiteralMap | None = None
    code: str = ""
    message: str = ""
    error_kind: str = "USER"


class RunListener(Protocol):
    """What the pool tells the backend (called from the pool's threads)."""

    def run_started(self, key: ExecutionKey) -> None: ...

    def run_finished(self, key: ExecutionKey, result: RunResult) -> None: ...

    def gate_reached(
        self, key: ExecutionKey, signal_id: str, literal_type: types_pb2.LiteralType
    ) -> literals_pb2.Literal | None:
        """The run waits for ``signal_id``: create it; its value if it has one already."""
        ...

    def gate_passed(self, key: ExecutionKey, signal_id: str) -> None: ...


@dataclass
class _Job:
    key: ExecutionKey
    plan: RunPlan
    inputs: bytes
    cancelled: bool = False
    process: subprocess.Popen[bytes] | None = None  # the worker process running it, once started
    workdir: str | None = None
    channel: _Channel | None = None  # the pipes to that process, once it runs
    waiting: str | None = None  # the signal id its gate waits for, until a value is sent


class RunPool:
    """Runs code for the backend; ``submit`` and ``cancel`` are thread-safe and never block on a run."""

    def __init__(
        self,
        entities: EntityStore,
        blobs: BlobStore,
        *,
        max_workers: int = 2,
        time_limit: float = 300.0,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        if time_limit <= 0:
            raise ValueError("time_limit must be > 0")
        self.entities, self.blobs = entities, blobs
        self.max_workers, self.time_limit = max_workers, time_limit
        self.aliases: dict[str, str] = dict(aliases or {})
        self.listener: RunListener | None = None
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._jobs: dict[ExecutionKey, _Job] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._root: str | None = None  # run directories and the workers' TMPDIR, made on first use
        self._processes: set[subprocess.Popen[bytes]] = set()
        self.started_processes = 0

    # -- API for the backend --------------------------------------------------------------------------
    def submit(self, key: ExecutionKey, workflow_id: identifier_pb2.Identifier, inputs: bytes) -> None:
        """Queue a run of ``workflow_id`` (reported as failed at once when it cannot run here)."""
        plan = plan_run(self.entities, self.blobs, workflow_id, self.aliases)
        if isinstance(plan, NotRunnable):
            self._finish(
                key, RunResult("fail", code="SYSTEM:NotRunnable", message=plan.reason, error_kind="SYSTEM")
            )
            return
        job = _Job(key, plan, inputs)
        with self._lock:
            if self._closed:
                raise Unavailable("the emulator is stopping: no new runs")
            self._jobs[key] = job
            if not self._threads:
                for i in range(self.max_workers):
                    thread = threading.Thread(target=self._slot, name=f"flyte-emulator-run-{i}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        self._queue.put(job)

    def cancel(self, key: ExecutionKey) -> bool:
        """Stop a queued or running run (its process is killed); True if there was one."""
        with self._lock:
            job = self._jobs.pop(key, None)
            if job is None:
                return False
            job.cancelled = True
            process = job.process
        if process is not None:
            process.kill()
        return True

    def deliver(self, key: ExecutionKey, signal_id: str, value: literals_pb2.Literal) -> bool:
        """Send a signal's value to the run waiting for it; False if no run of ``key`` waits for it."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.waiting != signal_id or job.channel is None:
                return False
            job.waiting = None
            channel = job.channel
        try:
            channel.send(("signal", value.SerializeToString()))
        except (OSError, ValueError):  # the worker just ended (its gate timed out, or it was killed)
            return False
        if self.listener is not None:
            self.listener.gate_passed(key, signal_id)
        return True

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (running or waiting for a run)."""
        with self._lock:
            return sorted(p.pid for p in self._processes if p.poll() is None)

    def active(self) -> int:
        """Runs queued or running."""
        with self._lock:
            return len(self._jobs)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Kill every run and worker process and join the slots' threads (idempotent)."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            threads = list(self._threads)
        for job in jobs:
            self.cancel(job.key)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def _workspace(self) -> str:
        """The pool's directory: one directory per run (removed after it) and the workers' TMPDIR,
        where flytekit writes output files (kept until shutdown, so their URIs stay readable)."""
        with self._lock:
            if self._closed:
                raise Unavailable("the run pool is shut down")  # never re-create it after shutdown
            if self._root is None:
                self._root = tempfile.mkdtemp(prefix="flyte-emulator-runs-")
                os.mkdir(os.path.join(self._root, "tmp"))
            return self._root

    # -- the slots --------------------------------------------------------------------------------------
    def _slot(self) -> None:
        worker: tuple[subprocess.Popen[bytes], _Channel] | None = None
        try:
            while True:
                if worker is None and not self._closed:
                    worker = self._start_worker()  # Unavailable once the pool shuts down: the slot ends
                job = self._queue.get()
                if job is None or self._closed:
                    return
                if job.cancelled:
                    continue
                if worker is None:
                    worker = self._start_worker()
                process, conn = worker
                worker = None
                self._run(job, process, conn)
        except Unavailable:
            return
        finally:
            if worker is not None:
                self._stop(*worker)

    def _start_worker(self) -> tuple[subprocess.Popen[bytes], _Channel]:
        """A fresh ``python -m …runworker`` with two pipes of its own (not multiprocessing's spawn,
        which re-imports the parent's ``__main__``: an unguarded script would run again)."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # what --register imports
        env["TMPDIR"] = os.path.join(self._workspace(), "tmp")  # flytekit's sandbox: outputs live here
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", _WORKER_MODULE, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        with self._lock:
            self.started_processes += 1
            self._processes.add(process)
        return process, _Channel(from_child_r, to_child_w)

    def _run(self, job: _Job, process: subprocess.Popen[bytes], conn: _Channel) -> None:
        with self._lock:
            if job.cancelled:
                self._stop(process, conn)
                return
            job.process = process
        try:
            result = self._drive(job, process, conn)
        finally:
            self._stop(process, conn)
            if job.workdir is not None:
                shutil.rmtree(job.workdir, ignore_errors=True)  # the unpacked code, not the outputs
            with self._lock:
                still_ours = self._jobs.get(job.key) is job
                if still_ours:
                    del self._jobs[job.key]
        if still_ours and not job.cancelled and result is not None:
            self._finish(job.key, result)

    def _drive(self, job: _Job, process: subprocess.Popen[bytes], conn: _Channel) -> RunResult | None:
        """Wait for the worker to be ready, give it the run, wait for the result or the deadline."""
        ready = self._receive(conn, process, time.monotonic() + _STARTUP_SECONDS)
        if ready is None or ready[0] != "ready":
            return None if job.cancelled else _crashed(process, "before the run started")
        try:
            workdir = tempfile.mkdtemp(prefix="run-", dir=self._workspace())
            job.workdir = workdir
            conn.send((job.plan, job.inputs, workdir))
        except OSError:
            return None if job.cancelled else _crashed(process, "before the run started")
        if self.listener is not None:
            self.listener.run_started(job.key)
        deadline = time.monotonic() + self.time_limit
        message = self._receive(conn, process, deadline)
        for _ in range(_MAX_GATES):
            if message is None or message[0] != "gate":
                break
            self._gate(job, conn, message[1], types_pb2.LiteralType.FromString(message[2]))
            message = self._receive(conn, process, deadline)
        else:
            return _crashed(process, f"after {_MAX_GATES} gates")
        if message is None:
            if job.cancelled:
                return None
            if time.monotonic() >= deadline:
                return RunResult(
                    "time_out", message=f"the run exceeded the emulator's time limit of {self.time_limit} s"
                )
            return _crashed(process, "during the run")
        if message[0] == "ok":
            return RunResult("succeed", outputs=literals_pb2.LiteralMap.FromString(message[1]))
        _, code, text, kind = message
        return RunResult("fail", code=code, message=text, error_kind=kind)

    def _gate(self, job: _Job, conn: _Channel, signal_id: str, literal_type: types_pb2.LiteralType) -> None:
        with self._lock:
            job.channel, job.waiting = conn, signal_id  # before the signal exists: no SetSignal is missed
        if self.listener is None:
            return
        value = self.listener.gate_reached(job.key, signal_id, literal_type)
        if value is not None:
            self.deliver(job.key, signal_id, value)

    @staticmethod
    def _receive(conn: _Channel, process: subprocess.Popen[bytes], deadline: float) -> tuple[Any, ...] | None:
        """The worker's next message, or None if it died (its pipe closed) or the deadline passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not wait([conn.reader], timeout=remaining):
            return None
        try:
            message: tuple[Any, ...] = conn.reader.recv()
        except (EOFError, OSError):
            return None
        return message

    def _stop(self, process: subprocess.Popen[bytes], conn: _Channel) -> None:
        _stop(process, conn)
        with self._lock:
            self._processes.discard(process)

    def _finish(self, key: ExecutionKey, result: RunResult) -> None:
        if self.listener is not None:
            try:
                self.listener.run_finished(key, result)
            except Exception:  # the execution may be gone (or terminal); never kill the slot
                log.exception("could not record the end of run %s", key)


class _Channel:
    """Both ends of the pipes to one worker, as multiprocessing Connections (pickled frames)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.reader = Connection(read_fd, writable=False)
        self.writer = Connection(write_fd, readable=False)
        self._lock = threading.Lock()  # a signal's value is sent from another thread (SetSignal)

    def send(self, message: Any) -> None:
        with self._lock:
            self.writer.send(message)

    def close(self) -> None:
        self.reader.close()
        with self._lock:
            self.writer.close()


def _crashed(process: subprocess.Popen[bytes], when: str) -> RunResult:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(1.0)
    return RunResult(
        "fail",
        code="SYSTEM:WorkerDied",
        message=f"the emulator's worker process ended {when} (exit code {process.returncode})",
        error_kind="SYSTEM",
    )


def _stop(process: subprocess.Popen[bytes], conn: _Channel) -> None:
    conn.close()
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5.0)
