"""Harvest's rate limits (moving windows per token) and the sandbox's injected faults.

Rate limits (harvest-api.md §4.1): 100 requests per 15 s in general and 100 per 15 min on
``/v2/reports/*``; both windows are multiplied by the sandbox's ``time_scale``. A refused request
(429) does not take a slot. Faults are drawn from their own seeded ``random.Random`` so that a run
with the same seed and request order sees the same faults.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

GENERAL_LIMIT_REQUESTS = 100
GENERAL_WINDOW_SECONDS = 15.0
REPORTS_LIMIT_REQUESTS = 100
REPORTS_WINDOW_SECONDS = 900.0
OAUTH_LIMIT_REQUESTS = 100  # id.getharvest.com limits are undocumented; the sandbox mirrors the general one
OAUTH_WINDOW_SECONDS = 15.0
MIN_RETRY_AFTER_SECONDS = 1

FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "drop", "truncate", "html200")
FAULT_SEED_SALT = 0x5EED_FA17


class MovingWindowLimiter:
    """At most ``limit`` admitted requests per key within any ``window_seconds``."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self._admitted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Admit and return 0.0, or refuse and return the seconds until a slot frees."""
        with self._lock:
            now = self.clock()
            admitted = self._admitted.setdefault(key, deque())
            horizon = now - self.window_seconds
            while admitted and admitted[0] <= horizon:
                admitted.popleft()
            if len(admitted) < self.limit:
                admitted.append(now)
                return 0.0
            return max(admitted[0] + self.window_seconds - now, 0.0)

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()


def retry_after_seconds(wait_seconds: float) -> int:
    """``Retry-After`` value: whole seconds, rounded up, never below one."""
    return max(MIN_RETRY_AFTER_SECONDS, math.ceil(wait_seconds))


class RateLimits:
    """The three independent budgets: general API, reports API, Harvest ID (OAuth, accounts)."""

    def __init__(self, time_scale: float, enabled: bool) -> None:
        self.enabled = enabled
        self.general = MovingWindowLimiter(GENERAL_LIMIT_REQUESTS, GENERAL_WINDOW_SECONDS * time_scale)
        self.reports = MovingWindowLimiter(REPORTS_LIMIT_REQUESTS, REPORTS_WINDOW_SECONDS * time_scale)
        self.identity = MovingWindowLimiter(OAUTH_LIMIT_REQUESTS, OAUTH_WINDOW_SECONDS * time_scale)

    def acquire(self, limiter: MovingWindowLimiter, key: str) -> float:
        if not self.enabled:
            return 0.0
        return limiter.acquire(key)


class FaultInjector:
    """Draws, per request, whether to fail it and how."""

    def __init__(self, seed: int, rate: float, kinds: Sequence[str] | None = None) -> None:
        self._rng = random.Random(seed ^ FAULT_SEED_SALT)
        self._lock = threading.Lock()
        self.rate = 0.0
        self.kinds: tuple[str, ...] = FAULT_KINDS
        self.configure(rate, kinds)

    def configure(self, rate: float, kinds: Sequence[str] | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {rate}")
        chosen = tuple(kinds) if kinds else FAULT_KINDS
        unknown = [kind for kind in chosen if kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        with self._lock:
            self.rate = rate
            self.kinds = chosen

    def draw(self) -> str | None:
        with self._lock:
            if self.rate <= 0.0:
                return None
            if self._rng.random() >= self.rate:
                return None
            return self.kinds[int(self._rng.random() * len(self.kinds))]
