"""The one API budget every stream shares: Harvest limits requests per token, not per endpoint.

General API: 100 requests / 15 s; reports (`/reports/*`): 100 requests / 15 min (harvest-api.md §4.1).
The CDK's call-rate policies block before a request would exceed the budget, so the connector
never provokes a 429 itself; a 429 caused by another client of the same token is still honoured
through Retry-After (see errors.py).
"""

from __future__ import annotations

from datetime import timedelta

from airbyte_cdk.sources.streams.call_rate import (
    APIBudget,
    HttpRequestMatcher,
    MovingWindowCallRatePolicy,
    Rate,
)

from .config import HarvestConfig

# The client measures a window from when it sends; the server from when it receives. A small
# margin on the window keeps request bursts that straddle a boundary under Harvest's count.
WINDOW_MARGIN = 1.02


def build_api_budget(config: HarvestConfig) -> APIBudget:
    limit = config.rate_limit
    reports = MovingWindowCallRatePolicy(
        rates=[Rate(limit.report_requests, timedelta(seconds=limit.report_period_seconds * WINDOW_MARGIN))],
        matchers=[HttpRequestMatcher(url=config.api_url + "reports/")],
    )
    general = MovingWindowCallRatePolicy(
        rates=[Rate(limit.requests, timedelta(seconds=limit.period_seconds * WINDOW_MARGIN))],
        matchers=[HttpRequestMatcher(url=config.api_url)],
    )
    # The first matching policy wins: reports before the general one.
    return APIBudget(policies=[reports, general])
