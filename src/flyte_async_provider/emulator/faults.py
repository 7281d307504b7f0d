"""Per-RPC call counters and fault injection (error rate, latency, outage), thread-safe.

Errors are drawn from a seeded RNG, so a run with the same seed and call sequence fails the same calls.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .errors import EmulatorError, InvalidArgument, error_for_code

INJECTABLE_CODES = frozenset(
    {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED", "UNAUTHENTICATED"}
)


@dataclass(frozen=True)
class FaultRule:
    """``rpc`` is a method name or ``*`` (all); a named rule wins over ``*``."""

    rpc: str = "*"
    error_rate: float = 0.0
    code: str = "UNAVAILABLE"
    latency_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """Counts every call received and decides which ones fail or wait."""

    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._clock = clock
        self._rules: dict[str, FaultRule] = {}
        self._outage_until: float | None = None
        self._calls: dict[str, int] = {}
        self._ok: dict[str, int] = {}

    # -- configuration ----------------------------------------------------------------------------
    def inject(
        self, rpc: str = "*", error_rate: float = 0.0, code: str = "UNAVAILABLE", latency_seconds: float = 0.0
    ) -> FaultRule:
        code = code.upper()
        if code not in INJECTABLE_CODES:
            raise InvalidArgument(f"cannot inject {code}; choose one of {sorted(INJECTABLE_CODES)}")
        if not 0.0 <= error_rate <= 1.0:
            raise InvalidArgument("error_rate must be within [0, 1]")
        if latency_seconds < 0:
            raise InvalidArgument("latency_seconds must be >= 0")
        rule = FaultRule(rpc, float(error_rate), code, float(latency_seconds))
        with self._lock:
            if error_rate == 0.0 and latency_seconds == 0.0:
                self._rules.pop(rpc, None)
            else:
                self._rules[rpc] = rule
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._outage_until = None

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules.values())

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    def start_outage(self, seconds: float | None = None) -> None:
        """Every call fails UNAVAILABLE for ``seconds`` (None: until ``end_outage``)."""
        with self._lock:
            self._outage_until = float("inf") if seconds is None else self._clock() + seconds

    def end_outage(self) -> None:
        with self._lock:
            self._outage_until = None

    def in_outage(self) -> bool:
        with self._lock:
            return self._outage_until is not None and self._clock() < self._outage_until

    # -- per call ---------------------------------------------------------------------------------
    def on_call(self, rpc: str) -> tuple[float, EmulatorError | None]:
        """Count the call; return (latency to add, error to answer with or None)."""
        with self._lock:
            self._calls[rpc] = self._calls.get(rpc, 0) + 1
            if self._outage_until is not None:
                if self._clock() < self._outage_until:
                    return 0.0, error_for_code("UNAVAILABLE", "emulated outage: Flyte Admin is unavailable")
                self._outage_until = None
            if not self._rules:
                return 0.0, None
            rule = self._rules.get(rpc) or self._rules.get("*")
            if rule is None:
                return 0.0, None
            if rule.error_rate > 0.0 and self._rng.random() < rule.error_rate:
                return rule.latency_seconds, error_for_code(
                    rule.code, f"emulated fault ({rule.code}) in {rpc}"
                )
            return rule.latency_seconds, None

    def on_success(self, rpc: str) -> None:
        with self._lock:
            self._ok[rpc] = self._ok.get(rpc, 0) + 1

    # -- counters ---------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Calls received per RPC, failed and injected ones included."""
        with self._lock:
            return dict(self._calls)

    def success_counters(self) -> dict[str, int]:
        """Calls answered OK per RPC."""
        with self._lock:
            return dict(self._ok)

    def reset_counters(self) -> None:
        with self._lock:
            self._calls.clear()
            self._ok.clear()
