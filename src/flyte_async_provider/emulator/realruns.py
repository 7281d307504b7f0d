"""``RunningBackend``: the backend whose ``Outcome.run()`` executions follow real runs of their code.

Such an execution is created as usual (validation, inputs, the advance rule takes it to QUEUED), then
handed to a ``RunPool``. The pool reports back from its threads: RUNNING when the worker process
starts computing, then the terminal phase of the real run (SUCCEEDED with the computed outputs,
FAILED with flytekit's error code and message, TIMED_OUT past the time limit). TerminateExecution
(and ``complete``) kill the run's process. Whatever else an execution does (status reads, lists,
node executions, persistence) is the plain backend's: a real run only decides when and how it ends.
A run at a gate node gets its signal created here (as propeller's GetOrCreateSignal: id = execution id
+ the gate's name, type from the gate), and a SetSignal of it goes to the waiting run; the record
notes the gate for the node executions (nodes.py).
A run that had not ended when a persisted emulator stopped starts again when it is restored.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flyteidl.admin import execution_pb2, signal_pb2
from flyteidl.core import identifier_pb2, literals_pb2, types_pb2

from .backend import Backend
from .nodes import GateWait
from .records import ExecutionRecord
from .runs import ExecutionKey, RunPool, RunResult
from .scripting import ABORTING, QUEUED, RUNNING, UNDEFINED, Outcome
from .signals import SignalKey

RUN_PATH = (UNDEFINED, QUEUED, RUNNING)


class RunningBackend(Backend):
    """A Backend with a RunPool attached (``attach``); without one, runs fail as not runnable."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool: RunPool | None = None
        self._restarts: list[tuple[ExecutionKey, identifier_pb2.Identifier, bytes]] = []
        self.signals.on_set = self._signal_set

    def attach(self, pool: RunPool) -> None:
        """Use ``pool`` from now on; runs restored unfinished from a database start again in it."""
        pool.listener = self
        self.pool = pool
        restarts, self._restarts = self._restarts, []
        for key, workflow_id, inputs in restarts:
            pool.submit(key, workflow_id, inputs)

    def restore_execution(self, state: dict[str, Any]) -> None:
        """A persisted real run that had not ended runs again from the start (as a lost pod would)."""
        super().restore_execution(state)
        with self._lock:
            rec = self._executions[(state["project"], state["domain"])][state["name"]]
            if rec.outcome.kind == "run" and not rec.terminal and rec.phase != ABORTING:
                self._restarts.append(
                    ((rec.project, rec.domain, rec.name), rec.workflow_id, rec.inputs.SerializeToString())
                )

    # -- handing executions to the pool ---------------------------------------------------------------
    def create_execution(
        self, request: execution_pb2.ExecutionCreateRequest, principal: str = ""
    ) -> identifier_pb2.WorkflowExecutionIdentifier:
        ident = super().create_execution(request, principal)
        with self._lock:
            rec = self._find(ident)
            if rec.outcome.kind != "run":
                return ident
            workflow_id = identifier_pb2.Identifier()
            workflow_id.CopyFrom(rec.workflow_id)
            inputs = rec.inputs.SerializeToString()
        key = (ident.project, ident.domain, ident.name)
        if self.pool is None:
            self.run_finished(key, _not_runnable("this backend has no run pool (real runs are off)"))
        else:
            self.pool.submit(key, workflow_id, inputs)
        return ident

    def terminate(self, project: str, domain: str, name: str, cause: str, principal: str = "") -> None:
        super().terminate(project, domain, name, cause, principal)
        if self.pool is not None:
            self.pool.cancel((project, domain, name))

    def _complete(self, rec: ExecutionRecord, outcome: Outcome | None, now: float) -> None:
        """``complete`` of a real run: it ends as a success (its process is stopped)."""
        if (outcome or rec.outcome).kind == "run":
            outcome = Outcome.succeed()
        if rec.outcome.kind == "run" and self.pool is not None:
            self.pool.cancel((rec.project, rec.domain, rec.name))
        super()._complete(rec, outcome, now)

    # -- RunListener: what the pool reports --------------------------------------------------------
    def run_started(self, key: ExecutionKey) -> None:
        with self._lock:
            rec = self._live(key)
            if rec is None or rec.phase == RUNNING:
                return
            now = self._clock()
            rec.path, rec.idx, rec.anchor, rec.reads = RUN_PATH, len(RUN_PATH) - 1, now, 0
            self._enter(rec, RUNNING, now)

    def run_finished(self, key: ExecutionKey, result: RunResult) -> None:
        with self._lock:
            rec = self._live(key)
            if rec is None:
                return
            now = self._clock()
            if result.phase_kind == "succeed":
                rec.outcome = Outcome.succeed()
                super()._complete(rec, None, now)
                if result.outputs is not None:
                    rec.outputs = result.outputs
                    rec.cache_full = rec.cache_list = None
                    self._save(rec)
            elif result.phase_kind == "time_out":
                rec.outcome = Outcome.time_out()
                super()._complete(rec, None, now)
            else:
                rec.outcome = Outcome.fail(result.message, code=result.code, kind=result.error_kind)
                super()._complete(rec, None, now)

    def gate_reached(
        self, key: ExecutionKey, signal_id: str, literal_type: types_pb2.LiteralType
    ) -> literals_pb2.Literal | None:
        ident = identifier_pb2.SignalIdentifier(
            execution_id=identifier_pb2.WorkflowExecutionIdentifier(
                project=key[0], domain=key[1], name=key[2]
            ),
            signal_id=signal_id,
        )
        with self._lock:  # first: whoever sees the signal listed sees the gate node RUNNING too
            rec = self._live(key)
            if rec is not None:
                rec.gate = GateWait(signal_id, self._clock())
        signal = self.signals.get_or_create(signal_pb2.SignalGetOrCreateRequest(id=ident, type=literal_type))
        if signal.HasField("value") and signal.value.WhichOneof("value") is not None:
            return signal.value
        return None

    def gate_passed(self, key: ExecutionKey, signal_id: str) -> None:
        with self._lock:
            rec = self._live(key)
            if rec is not None and rec.gate is not None and rec.gate.signal_id == signal_id:
                rec.gate = replace(rec.gate, passed_at=self._clock())

    def _signal_set(self, key: SignalKey, value: literals_pb2.Literal) -> None:
        """A SetSignal: the run waiting for that signal (if any) continues with ``value``."""
        if self.pool is not None:
            self.pool.deliver(key[:3], key[3], value)

    def _live(self, key: ExecutionKey) -> ExecutionRecord | None:
        """Under the lock: the execution if a run may still change it (not terminal, not aborting)."""
        rec, _ = self._evaluated(
            identifier_pb2.WorkflowExecutionIdentifier(project=key[0], domain=key[1], name=key[2])
        )
        if rec.terminal or rec.phase == ABORTING or rec.outcome.kind != "run":
            return None
        return rec


def _not_runnable(reason: str) -> RunResult:
    return RunResult("fail", code="SYSTEM:NotRunnable", message=reason, error_kind="SYSTEM")
