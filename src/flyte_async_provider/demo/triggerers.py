"""What each triggerer of a stack is doing: CPU, Flyte Admin calls, blocked-loop warnings, per window.

Read from outside the processes: CPU from ``/proc`` (every process of the triggerer's process group:
the supervisor and its trigger runner), Admin calls from the stack's per-triggerer
:class:`~flyte_async_provider.demo.rpc_meter.RpcMeter`, warnings from the component's own log. Two
kinds of warning count: Airflow's "Triggerer's async thread was blocked" (past 0.2 s, names no culprit)
and, with ``PYTHONASYNCIODEBUG=1`` in the triggerer, asyncio's "Executing <Task ...> took N seconds",
which names the coroutine that held the loop; those naming ``flyte_async_provider`` are ours.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flyte_async_provider.demo.stack import AirflowStack

BLOCKED = "async thread was blocked"
SLOW_CALLBACK = re.compile(r"Executing <.*?> took ([0-9.]+) seconds")
CORO_AT = re.compile(r"coro=<([\w.]+)\(\) running at (\S+):(\d+)>")
#: Airflow's ``[triggerer]`` blocked-loop warning threshold (0.2 s by default).
AIRFLOW_BLOCKED_SECONDS = 0.2
OURS = "flyte_async_provider"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (plus its reaped children's)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state ppid pgrp ... utime(12) stime(13) cutime(14) cstime(15).
        if int(fields[2]) == pgid:
            total += sum(int(v) for v in fields[11:15])
    return total / CLOCK_TICKS


@dataclass(frozen=True)
class LogCounts:
    """Warnings in one slice of a triggerer's log.

    ``slow_ours`` counts our coroutines that held the loop at least as long as Airflow's own warning
    threshold (what would make Airflow warn because of us); ``slow_ours_minor`` the shorter ones
    asyncio's debug mode reports (from 0.1 s).
    """

    blocked: int = 0
    slow_ours: int = 0
    slow_ours_minor: int = 0
    slow_other: int = 0
    slow_ours_lines: tuple[str, ...] = ()
    #: ``{"FlyteLaunchTrigger._submit launch.py:182": 1, ...}`` for the ``slow_ours`` ones: a code path of
    #: ours that blocks shows up once per trigger; a one-off (a process's first imports, a GC pause or
    #: the process descheduled during a burst, all measured as wall time) once.
    slow_ours_locations: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> LogCounts:
        ours: list[tuple[float, str]] = []
        other = 0
        for match in SLOW_CALLBACK.finditer(text):
            if OURS in match.group(0):
                ours.append((float(match.group(1)), match.group(0)))
            else:
                other += 1
        blocking = [line for took, line in ours if took >= AIRFLOW_BLOCKED_SECONDS]
        locations: Counter[str] = Counter()
        for line in blocking:
            where = CORO_AT.search(line)
            locations[f"{where.group(1)} {Path(where.group(2)).name}:{where.group(3)}" if where else "?"] += 1
        return cls(
            blocked=text.count(BLOCKED),
            slow_ours=len(blocking),
            slow_ours_minor=len(ours) - len(blocking),
            slow_other=other,
            slow_ours_lines=tuple(line[-400:] for line in blocking[:5]),
            slow_ours_locations=dict(locations),
        )


@dataclass(frozen=True)
class TriggererWindow:
    """One triggerer over one window of time."""

    name: str
    seconds: float
    cpu_seconds: float
    rpc_calls: int
    logs: LogCounts
    #: Whether the process was alive at both ends (a killed one's CPU is only up to its death).
    alive: bool

    @property
    def cpu_percent(self) -> float:
        """Of one core."""
        return 100.0 * self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def rpc_per_second(self) -> float:
        return self.rpc_calls / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Mark:
    at: float
    cpu: Mapping[str, float]
    rpc: Mapping[str, int]
    log_offsets: Mapping[str, int]
    pids: Mapping[str, int | None]


class TriggererWatch:
    """``mark()`` now, later ``since(mark)``: each triggerer's figures between the two."""

    def __init__(self, stack: AirflowStack) -> None:
        self.stack = stack

    def names(self) -> Sequence[str]:
        return self.stack.triggerer_names

    def mark(self) -> _Mark:
        cpu: dict[str, float] = {}
        offsets: dict[str, int] = {}
        pids: dict[str, int | None] = {}
        for name in self.names():
            proc = self.stack.processes.get(name)
            pid = proc.pid if proc is not None and proc.alive() else None
            pids[name] = pid
            cpu[name] = group_cpu_seconds(pid) if pid else 0.0
            path = self.stack.component_logs / f"{name}.log"
            offsets[name] = path.stat().st_size if path.exists() else 0
        return _Mark(time.monotonic(), cpu, self.stack.rpc_calls(), offsets, pids)

    def since(self, start: _Mark) -> dict[str, TriggererWindow]:
        end = self.mark()
        out: dict[str, TriggererWindow] = {}
        for name in self.names():
            same = start.pids.get(name) is not None and start.pids.get(name) == end.pids.get(name)
            cpu = end.cpu[name] - start.cpu.get(name, 0.0) if same else end.cpu[name]
            text = self._log_slice(name, start.log_offsets.get(name, 0))
            out[name] = TriggererWindow(
                name=name,
                seconds=end.at - start.at,
                cpu_seconds=max(0.0, cpu),
                rpc_calls=end.rpc.get(name, 0) - start.rpc.get(name, 0),
                logs=LogCounts.of(text),
                alive=same,
            )
        return out

    def _log_slice(self, name: str, offset: int) -> str:
        path = self.stack.component_logs / f"{name}.log"
        try:
            with path.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""
