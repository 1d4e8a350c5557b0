"""The request budget: slots counted from each answer, so late deliveries cannot bunch past Harvest's count."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit

from source_harvest.budget import WINDOW_MARGIN, AnsweredWindowPolicy, HarvestBudget, UrlPrefixMatcher


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(limit: int = 3, window: float = 10.0) -> tuple[AnsweredWindowPolicy, Clock]:
    clock = Clock()
    return AnsweredWindowPolicy(limit, window, [UrlPrefixMatcher()], clock=clock), clock


def wait_of(policy: AnsweredWindowPolicy) -> timedelta:
    with pytest.raises(CallRateLimitHit) as hit:
        policy.try_acquire("request", 1)
    return hit.value.time_to_wait


def test_a_full_window_waits_until_the_oldest_answer_is_a_window_old() -> None:
    budget, clock = policy()
    for answered_at in (0.5, 1.0, 1.5):
        budget.try_acquire("request", 1)
        clock.now = 1000.0 + answered_at
        budget.answered()
    clock.now = 1002.0
    assert wait_of(budget).total_seconds() == pytest.approx(0.5 + 10 * WINDOW_MARGIN - 2.0)
    clock.now = 1000.5 + 10 * WINDOW_MARGIN
    budget.try_acquire("request", 1)  # the first slot has expired


def test_a_slot_counts_from_the_answer_not_from_the_grant() -> None:
    budget, clock = policy(limit=1)
    budget.try_acquire("request", 1)  # granted at 1000, answered 5 s later (a slow or late delivery)
    clock.now = 1005.0
    budget.answered()
    clock.now = 1000.0 + 10 * WINDOW_MARGIN + 1  # a grant-counted window would have let this through
    assert wait_of(budget).total_seconds() == pytest.approx(4.0)


def test_an_unanswered_request_counts_from_its_threads_next_grant() -> None:
    budget, clock = policy(limit=2)
    budget.try_acquire("request", 1)  # no answer: the connection dropped
    clock.now = 1003.0
    budget.try_acquire("retry", 1)  # the failed request is counted from now
    clock.now = 1004.0
    budget.answered()
    assert wait_of(budget).total_seconds() == pytest.approx(1003.0 + 10 * WINDOW_MARGIN - 1004.0)


def test_another_threads_request_in_flight_is_rechecked_shortly() -> None:
    budget, clock = policy(limit=1)
    other = threading.Thread(target=budget.try_acquire, args=("request", 1))
    other.start()
    other.join()
    clock.now = 1100.0  # long past the window, but its answer has not arrived
    assert wait_of(budget).total_seconds() < 0.1


def test_the_budget_passes_answers_to_the_policy_that_granted_the_request() -> None:
    reports = AnsweredWindowPolicy(5, 10.0, [UrlPrefixMatcher("https://api.harvestapp.com/v2/reports/")], clock=Clock())
    general = AnsweredWindowPolicy(5, 10.0, [UrlPrefixMatcher()], clock=Clock())
    harvest = HarvestBudget([reports, general], log_threshold_seconds=1.0)
    request = requests.Request("GET", "https://api.harvestapp.com/v2/users").prepare()
    harvest.acquire_call(request)
    assert general._slots[0][1] is False and not reports._slots
    harvest.update_from_response(request, requests.Response())
    assert general._slots[0][1] is True
