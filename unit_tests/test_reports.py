"""Reports: calendar windows Harvest accepts, stable keys, state and lookback, their own budget."""

from __future__ import annotations

from datetime import date, timedelta
from unittest.mock import patch

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode

from source_harvest.budget import build_api_budget
from source_harvest.config import parse_config
from source_harvest.constants import REPORT_MAX_RANGE_DAYS
from source_harvest.streams.report import ReportStream, period_end, report_windows
from unit_tests.conftest import API, final_state, get_requests, harvest_page, records_of, run_read, serve_empty_lists

TODAY = date(2026, 11, 28)


@pytest.fixture(autouse=True)
def frozen_today():
    with patch.object(ReportStream, "today", return_value=TODAY):
        yield


@pytest.mark.parametrize("day,window,expected", [
    (date(2024, 2, 10), "month", date(2024, 2, 29)),   # leap February
    (date(2023, 2, 10), "month", date(2023, 2, 28)),
    (date(2024, 12, 31), "month", date(2024, 12, 31)),
    (date(2024, 11, 5), "quarter", date(2024, 12, 31)),
    (date(2024, 4, 1), "quarter", date(2024, 6, 30)),
    (date(2024, 7, 4), "year", date(2024, 12, 31)),
])
def test_period_end(day: date, window: str, expected: date) -> None:
    assert period_end(day, window) == expected


@pytest.mark.parametrize("window", ["month", "quarter", "year"])
@pytest.mark.parametrize("start", [date(2019, 3, 15), date(2020, 1, 1), date(2023, 12, 31), date(2024, 2, 29)])
def test_windows_tile_the_range_and_stay_within_harvests_limit(window: str, start: date) -> None:
    windows = report_windows(start, TODAY, window)
    assert windows[0][0] == start
    assert windows[-1][0] <= TODAY <= windows[-1][1]
    for (_, previous_to), (next_from, _) in zip(windows, windows[1:], strict=False):
        assert next_from == previous_to + timedelta(days=1)  # no gap, no overlap
    assert all(0 <= (to - start_).days <= REPORT_MAX_RANGE_DAYS for start_, to in windows)


def test_leap_year_window_is_365_days_apart_and_allowed() -> None:
    (start, to), = report_windows(date(2024, 1, 1), date(2024, 6, 1), "year")
    assert (to - start).days == 365 == REPORT_MAX_RANGE_DAYS


def test_end_date_caps_the_last_window() -> None:
    windows = report_windows(date(2024, 1, 1), date(2024, 5, 10), "quarter", cap=date(2024, 5, 10))
    assert windows == [(date(2024, 1, 1), date(2024, 3, 31)), (date(2024, 4, 1), date(2024, 5, 10))]


def serve_report(mock, path: str, rows_by_window: dict[str, list[dict]]) -> None:
    def answer(request, context):
        key = f"{request.qs['from'][0]}-{request.qs['to'][0]}"
        return harvest_page("results", rows_by_window.get(key, []))
    mock.get(API + path, json=answer)


def test_rows_carry_their_window_and_a_stable_key(config) -> None:
    config["replication_start_date"] = "2025-06-01T00:00:00Z"
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        serve_report(mock, "reports/time/clients", {
            "20250601-20251231": [{"client_id": 1, "currency": "USD", "total_hours": 3.5}, {"client_id": 1, "currency": "EUR", "total_hours": 1}],
            "20260101-20261231": [{"client_id": 1, "currency": "USD", "total_hours": 2}],
        })
        output = run_read(config, ["time_clients"])
        sent = [(r.qs["from"][0], r.qs["to"][0]) for r in get_requests(mock, "reports/time/clients")]
    rows = records_of(output, "time_clients")
    assert sent == [("20250601", "20251231"), ("20260101", "20261231")]  # the open year keeps its calendar end
    keys = [(r["client_id"], r["currency"], r["from"], r["to"]) for r in rows]
    assert keys == [(1, "USD", "2025-06-01", "2025-12-31"), (1, "EUR", "2025-06-01", "2025-12-31"), (1, "USD", "2026-01-01", "2026-12-31")]
    assert len(set(keys)) == len(keys)
    assert final_state(output, "time_clients") == {"to": "2025-12-31"}  # the last complete window


def test_incremental_rereads_open_window_and_those_within_lookback(config) -> None:
    config.update(replication_start_date="2026-01-01T00:00:00Z", reports_window="month", reports_lookback_days=40)
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        run_read(config, ["expenses_team"], state={"expenses_team": {"to": "2026-10-31"}})
        sent = [(r.qs["from"][0], r.qs["to"][0]) for r in get_requests(mock, "reports/expenses/team")]
    # cutoff = 2026-10-31 - 40 days = 2026-09-21: September ends after it, so it is read again.
    assert sent == [("20260901", "20260930"), ("20261001", "20261031"), ("20261101", "20261130")]


def test_project_budget_is_one_snapshot_without_dates(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "reports/project_budget", json=harvest_page("results", [{"project_id": 4, "budget": 10, "budget_remaining": -2}]))
        output = run_read(config, {"project_budget": SyncMode.full_refresh})
        sent = get_requests(mock, "project_budget")
    assert "from" not in sent[0].qs
    assert records_of(output, "project_budget") == [{"project_id": 4, "budget": 10, "budget_remaining": -2}]


def test_uninvoiced_403_names_the_role(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "reports/uninvoiced", status_code=403, json={"message": "forbidden"})
        output = run_read(config, ["uninvoiced"])
    assert output.errors and "needs an Administrator token" in output.errors[0].trace.error.message


def test_reports_have_their_own_budget_separate_from_the_general_one(config) -> None:
    budget = build_api_budget(parse_config(config))
    import requests
    report = requests.Request("GET", API + "reports/time/clients?from=20250101&to=20251231").prepare()
    general = requests.Request("GET", API + "clients").prepare()
    report_policy = budget.get_matching_policy(report)
    general_policy = budget.get_matching_policy(general)
    assert report_policy is not None and general_policy is not None and report_policy is not general_policy
    elsewhere = requests.Request("GET", "https://api.harvestapp.com/api/v2/users?page=2").prepare()  # a links.next on another base
    assert budget.get_matching_policy(elsewhere) is general_policy
