"""The one API budget every stream shares: Harvest limits requests per token, not per endpoint.

General API: 100 requests / 15 s; reports (`/reports/*`): 100 requests / 15 min (harvest-api.md §4.1).
Our call-rate policy, in the CDK's APIBudget, blocks before a request would exceed the budget, so
the connector never provokes a 429 itself; a 429 caused by another client of the same token is still honoured
through Retry-After (see errors.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Any, Callable, Optional

from airbyte_cdk.sources.streams.call_rate import (
    APIBudget,
    BaseCallRatePolicy,
    CallRateLimitHit,
    RequestMatcher,
)

from .config import HarvestConfig

# Harvest counts a request when it arrives, which is some time after the client sent it: on a busy
# machine, tens of milliseconds after the budget granted it. A window counted from the grant lets a
# late request and an early one 100 requests later land inside one of Harvest's windows: a 429. So
# each request's slot is counted from when its answer arrived (Harvest has counted it by then), plus
# 2% for clock rates and rounding on Harvest's side.
WINDOW_MARGIN = 1.02
# How long to wait before asking again when the oldest slot is still waiting for its answer
# (another thread's request).
IN_FLIGHT_RECHECK_SECONDS = 0.01


class AnsweredWindowPolicy(BaseCallRatePolicy):
    """At most `limit` requests in any `window_seconds`, each request counted from when its answer
    arrived. A request that got no answer (a dropped connection, a timeout) is counted from the next
    grant its thread asks for, when it has certainly failed."""

    def __init__(self, limit: int, window_seconds: float, matchers: list[RequestMatcher],
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(matchers)
        self.limit = limit
        self.window_seconds = window_seconds * WINDOW_MARGIN
        self.clock = clock
        self._slots: deque[list[Any]] = deque()  # [time, answered], in grant order
        self._waiting: dict[int, list[list[Any]]] = {}  # thread -> its slots still waiting for an answer
        self._lock = threading.Lock()

    def try_acquire(self, request: Any, weight: int) -> None:
        thread = threading.get_ident()
        with self._lock:
            now = self.clock()
            self._answer(thread, now)  # this thread's previous request, if unanswered, failed by now
            horizon = now - self.window_seconds
            while self._slots and self._slots[0][1] and self._slots[0][0] <= horizon:
                self._slots.popleft()
            if len(self._slots) + weight > self.limit:
                oldest_time, answered = self._slots[0]
                wait = oldest_time + self.window_seconds - now if answered else IN_FLIGHT_RECHECK_SECONDS
                raise CallRateLimitHit(error="Harvest's request budget is spent", item=request, weight=weight, rate=str(self),
                                       time_to_wait=timedelta(seconds=max(wait, 0.001)))
            slots = [[now, False] for _ in range(weight)]
            self._slots.extend(slots)
            self._waiting[thread] = slots

    def answered(self) -> None:
        """The calling thread's request got its answer now."""
        with self._lock:
            self._answer(threading.get_ident(), self.clock())

    def _answer(self, thread: int, now: float) -> None:
        for slot in self._waiting.pop(thread, ()):
            slot[0], slot[1] = now, True

    def update(self, available_calls: Optional[int], call_reset_ts: Optional[Any]) -> None:
        """Harvest sends no rate-limit headers; nothing to learn from answers but their time."""

    def __str__(self) -> str:
        return f"{self.limit} requests per {self.window_seconds:g}s"


# A wait shorter than this share of the window is pacing, not worth a log line.
WAIT_LOG_SHARE = 0.05
WAIT_LOG_SECONDS_MAX = 1.0


class UrlPrefixMatcher(RequestMatcher):
    """Matches requests whose URL starts with `prefix`; None matches every request. (The CDK's
    HttpRequestMatcher parses every URL and runs regexes: ~2% of a full sync's CPU.)"""

    def __init__(self, prefix: Optional[str] = None) -> None:
        self.prefix = prefix

    def __call__(self, request: Any) -> bool:
        return self.prefix is None or str(getattr(request, "url", "") or "").startswith(self.prefix)


class HarvestBudget(APIBudget):
    """The CDK's budget, telling the user when it makes the sync wait, and for how long."""

    def __init__(self, policies: list[AnsweredWindowPolicy], log_threshold_seconds: float,
                 on_wait: Optional[Callable[[Any, float], None]] = None) -> None:
        super().__init__(policies=policies)
        self.log_threshold_seconds = log_threshold_seconds
        self.on_wait = on_wait
        self.logger = logging.getLogger("airbyte")

    def update_from_response(self, request: Any, response: Any) -> None:
        policy = self.get_matching_policy(request)
        if isinstance(policy, AnsweredWindowPolicy):
            policy.answered()

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        # What APIBudget.acquire_call does, less its debug line, which formats every policy on every request.
        policy = self.get_matching_policy(request)
        if policy is None:
            return
        started = time.monotonic()
        self._do_acquire(request=request, policy=policy, block=block, timeout=timeout)
        waited = time.monotonic() - started
        if waited >= self.log_threshold_seconds:
            path = getattr(request, "path_url", "").split("?")[0]
            self.logger.info(f"request budget: waited {waited:.1f}s before GET {path} to stay under Harvest's rate limit")
        if self.on_wait is not None and waited > 0:
            self.on_wait(request, waited)


def build_api_budget(config: HarvestConfig, on_wait: Optional[Callable[[Any, float], None]] = None) -> HarvestBudget:
    limit = config.rate_limit
    reports = AnsweredWindowPolicy(limit.report_requests, limit.report_period_seconds, [UrlPrefixMatcher(config.api_url + "reports/")])
    # Harvest counts every request of the token, whatever its URL.
    general = AnsweredWindowPolicy(limit.requests, limit.period_seconds, [UrlPrefixMatcher()])
    # The first matching policy wins: reports before the general one.
    threshold = min(WAIT_LOG_SECONDS_MAX, limit.period_seconds * WAIT_LOG_SHARE)
    return HarvestBudget([reports, general], threshold, on_wait)
