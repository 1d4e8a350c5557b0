"""The one API budget every stream shares: Harvest limits requests per token, not per endpoint.

General API: 100 requests / 15 s; reports (`/reports/*`): 100 requests / 15 min (harvest-api.md §4.1).
The CDK's call-rate policies block before a request would exceed the budget, so the connector
never provokes a 429 itself; a 429 caused by another client of the same token is still honoured
through Retry-After (see errors.py).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any, Callable, Optional

from airbyte_cdk.sources.streams.call_rate import (
    APIBudget,
    MovingWindowCallRatePolicy,
    Rate,
    RequestMatcher,
)

from .config import HarvestConfig

# The client measures a window from when it sends; the server from when it receives, and delivery
# times vary. A margin on the window (2%, and at least the jitter of a request's delivery) keeps
# bursts that straddle a window boundary under Harvest's count.
WINDOW_MARGIN = 1.02
WINDOW_MARGIN_SECONDS = 0.05


def window(seconds: float) -> timedelta:
    return timedelta(seconds=seconds * WINDOW_MARGIN + WINDOW_MARGIN_SECONDS)


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

    def __init__(self, policies: list[MovingWindowCallRatePolicy], log_threshold_seconds: float,
                 on_wait: Optional[Callable[[Any, float], None]] = None) -> None:
        super().__init__(policies=policies)
        self.log_threshold_seconds = log_threshold_seconds
        self.on_wait = on_wait
        self.logger = logging.getLogger("airbyte")

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
    reports = MovingWindowCallRatePolicy(
        rates=[Rate(limit.report_requests, window(limit.report_period_seconds))],
        matchers=[UrlPrefixMatcher(config.api_url + "reports/")],
    )
    general = MovingWindowCallRatePolicy(
        rates=[Rate(limit.requests, window(limit.period_seconds))],
        matchers=[UrlPrefixMatcher()],  # Harvest counts every request of the token, whatever its URL
    )
    # The first matching policy wins: reports before the general one.
    threshold = min(WAIT_LOG_SECONDS_MAX, limit.period_seconds * WAIT_LOG_SHARE)
    return HarvestBudget([reports, general], threshold, on_wait)
