"""Tests of the Harvest API v2 sandbox itself (integration_tests/sandbox)."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests

from integration_tests.sandbox import ALL_COLLECTION_NAMES, FAULT_KINDS, Sandbox
from integration_tests.sandbox.limits import MovingWindowLimiter, retry_after_seconds
from integration_tests.sandbox.mutations import MutationError

ANCHOR = "2026-06-30"
USER_AGENT = "source-harvest sandbox tests (dev@example.com)"
TIME_ENTRY_ID_MIN = 2**31
REPO_ROOT = Path(__file__).resolve().parents[1]
CLI_START_TIMEOUT_SECONDS = 30
RECENT_SECONDS = 120


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox(seed=1, scale=0.05, anchor=ANCHOR, rate_limits=False).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def capped() -> Iterator[Sandbox]:
    sandbox = Sandbox(seed=2, scale=0.02, anchor=ANCHOR, rate_limits=False, page_size_cap=3).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture()
def fresh() -> Iterator[Sandbox]:
    """A sandbox of its own, for tests that mutate data or inject faults."""
    sandbox = Sandbox(seed=5, scale=0.02, anchor=ANCHOR, rate_limits=False).start()
    yield sandbox
    sandbox.stop()


def headers(sandbox: Sandbox, token: str = "admin") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {getattr(sandbox, f'{token}_token')}",
        "Harvest-Account-Id": sandbox.account_id,
        "User-Agent": USER_AGENT,
    }


def get(sandbox: Sandbox, path: str, token: str = "admin", **params: Any) -> requests.Response:
    return requests.get(sandbox.url + path, headers=headers(sandbox, token), params=params, timeout=30)


def follow(sandbox: Sandbox, path: str, key: str, token: str = "admin", **params: Any) -> list[dict[str, Any]]:
    """All rows of a list endpoint, following links.next."""
    rows: list[dict[str, Any]] = []
    response = get(sandbox, path, token, **params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body[key])
        if body["links"]["next"] is None:
            return rows
        response = requests.get(body["links"]["next"], headers=headers(sandbox, token), timeout=30)


def recent(stamp: str) -> bool:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return abs((datetime.now(timezone.utc) - moment).total_seconds()) < RECENT_SECONDS


# --- generation -------------------------------------------------------------------------------------


def test_same_seed_generates_same_data() -> None:
    first = Sandbox(seed=7, scale=0.02, anchor=ANCHOR)
    second = Sandbox(seed=7, scale=0.02, anchor=ANCHOR)
    other = Sandbox(seed=8, scale=0.02, anchor=ANCHOR)
    for name in ALL_COLLECTION_NAMES:
        assert first.records(name) == second.records(name), name
    assert first.admin_token == second.admin_token
    assert first.records("time_entries") != other.records("time_entries")


def test_tiny_scale_still_fills_every_collection_with_realistic_odd_data() -> None:
    sandbox = Sandbox(seed=1, scale=0.01, anchor=ANCHOR)
    for name in ALL_COLLECTION_NAMES:
        assert sandbox.records(name), name
    entries = sandbox.records("time_entries")
    assert all(entry["id"] > TIME_ENTRY_ID_MIN for entry in entries)
    assert any(entry["external_reference"] is not None for entry in entries)
    assert all(isinstance(entry["external_reference"]["id"], str) for entry in entries if entry["external_reference"])
    running = [entry for entry in entries if entry["is_running"]]
    assert running and all(entry["ended_time"] is None and entry["timer_started_at"] for entry in running)
    assert {entry["client"]["currency"] for entry in entries} == {"USD", "EUR", "GBP"}
    assert all(expense["units"] == 1.0 or expense["expense_category"]["unit_price"] for expense in sandbox.records("expenses"))
    assert sandbox.records("company")[0]["clock"] == "12h"
    assert all(entry["started_time"].endswith(("am", "pm")) for entry in entries if entry["started_time"])
    for child in (
        "invoice_messages",
        "invoice_payments",
        "estimate_messages",
        "billable_rates",
        "cost_rates",
        "project_assignments",
        "teammates",
    ):
        assert all("_parent_id" in row for row in sandbox.records(child)), child


def test_timestamps_fall_in_the_two_years_before_the_anchor() -> None:
    sandbox = Sandbox(seed=1, scale=0.02, anchor=ANCHOR)
    for name in ("clients", "time_entries", "invoices", "invoice_payments", "users"):
        for row in sandbox.records(name):
            assert "2024-06-30" <= row["created_at"] <= row["updated_at"] < ANCHOR, (name, row["id"])
    for entry in sandbox.records("time_entries"):
        assert "2024-06-30" <= entry["spent_date"] < ANCHOR


# --- pagination -------------------------------------------------------------------------------------


def test_cursor_endpoint_pages_by_keyset_and_links_carry_filters(capped: Sandbox) -> None:
    expected = [row["id"] for row in capped.records("tasks") if row["is_active"]]
    first = get(capped, "tasks", per_page=2000, is_active="true").json()
    assert first["page"] == 1 and first["next_page"] == 2 and first["previous_page"] is None
    assert first["per_page"] == 3 and first["total_entries"] == len(expected)
    next_url = urlsplit(first["links"]["next"])
    query = parse_qs(next_url.query)
    assert next_url.netloc == urlsplit(capped.url).netloc
    assert query["ref"] == ["next_cursor"] and query["is_active"] == ["true"] and query["per_page"] == ["2000"]
    cursor = query["cursor"][0]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded == {"after": {"id": first["tasks"][-1]["id"]}}
    middle = requests.get(first["links"]["next"], headers=headers(capped), timeout=30).json()
    assert middle["page"] is None and middle["next_page"] is None and middle["previous_page"] is None
    assert [row["id"] for row in follow(capped, "tasks", "tasks", per_page=2000, is_active="true")] == expected


def test_page_endpoint_uses_page_numbers_and_keeps_filters(capped: Sandbox) -> None:
    user_id = capped.user_ids["member"]
    expected = [row["id"] for row in capped.records("time_entries") if row["user"]["id"] == user_id]
    body = get(capped, "time_entries", per_page=2000, user_id=user_id).json()
    assert body["page"] == 1 and body["next_page"] == 2 and body["total_pages"] == -(-len(expected) // 3)
    query = parse_qs(urlsplit(body["links"]["next"]).query)
    assert query["page"] == ["2"] and query["user_id"] == [str(user_id)] and "cursor" not in query
    assert [row["id"] for row in follow(capped, "time_entries", "time_entries", per_page=2000, user_id=user_id)] == expected
    beyond = get(capped, "time_entries", per_page=2000, user_id=user_id, page=999).json()
    assert beyond["time_entries"] == [] and beyond["links"]["next"] is None


def test_sort_orders_follow_harvest(sb: Sandbox) -> None:
    entries = get(sb, "time_entries").json()["time_entries"]
    assert [(row["spent_date"], row["id"]) for row in entries] == sorted(
        ((row["spent_date"], row["id"]) for row in entries), reverse=True
    )
    invoices = get(sb, "invoices", per_page=2000).json()["invoices"]
    assert [row["issue_date"] for row in invoices] == sorted((row["issue_date"] for row in invoices), reverse=True)
    clients = get(sb, "clients").json()["clients"]
    assert [row["created_at"] for row in clients] == sorted((row["created_at"] for row in clients), reverse=True)
    user_id = sb.user_ids["admin"]
    rates = get(sb, f"users/{user_id}/billable_rates").json()["billable_rates"]
    assert [row["start_date"] or "" for row in rates] == sorted(row["start_date"] or "" for row in rates)


def test_invoices_default_to_100_per_page_and_per_page_above_2000_is_422(sb: Sandbox) -> None:
    assert get(sb, "invoices").json()["per_page"] == 100
    assert get(sb, "time_entries").json()["per_page"] == 2000
    response = get(sb, "time_entries", per_page=2001)
    assert response.status_code == 422 and "message" in response.json()


# --- auth, roles --------------------------------------------------------------------------------------


def test_missing_user_agent_is_400(sb: Sandbox) -> None:
    split = urlsplit(sb.url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=10)
    connection.putrequest("GET", "/v2/users/me", skip_accept_encoding=True)
    connection.putheader("Authorization", f"Bearer {sb.admin_token}")
    connection.putheader("Harvest-Account-Id", sb.account_id)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 400 and "message" in json.loads(response.read())
    connection.close()


def test_bad_token_and_wrong_account_are_401(sb: Sandbox) -> None:
    bad = requests.get(sb.url + "users/me", headers=headers(sb) | {"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"
    wrong = requests.get(sb.url + "users/me", headers=headers(sb) | {"Harvest-Account-Id": "42"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_account"
    query_auth = requests.get(
        sb.url + "users/me",
        params={"access_token": sb.admin_token, "account_id": sb.account_id},
        headers={"User-Agent": USER_AGENT},
        timeout=10,
    )
    assert query_auth.status_code == 200


@pytest.mark.parametrize("token", ["member", "manager"])
def test_non_admins_get_403_on_roles(sb: Sandbox, token: str) -> None:
    response = get(sb, "roles", token)
    assert response.status_code == 403 and response.json()["message"].startswith("You do not have permission")


def test_member_sees_only_own_time_entries_and_me_endpoints(sb: Sandbox) -> None:
    member_id = sb.user_ids["member"]
    rows = follow(sb, "time_entries", "time_entries", "member")
    expected = [row["id"] for row in sb.records("time_entries") if row["user"]["id"] == member_id]
    assert rows and [row["id"] for row in rows] == expected
    assert get(sb, "users/me", "member").json()["id"] == member_id
    assert get(sb, "users/me/project_assignments", "member").status_code == 200
    assert get(sb, "users", "member").status_code == 403
    assert get(sb, f"users/{sb.user_ids['admin']}/project_assignments", "member").status_code == 403
    assert get(sb, f"users/{member_id}/project_assignments", "member").status_code == 200


def test_manager_sees_team_and_managed_projects_only(sb: Sandbox) -> None:
    users = get(sb, "users", "manager").json()["users"]
    assert 1 < len(users) < len(sb.records("users"))
    projects = get(sb, "projects", "manager").json()["projects"]
    assert projects and len(projects) < len(sb.records("projects"))
    assert get(sb, "invoices", "manager").status_code == 403
    assert get(sb, "company", "manager").status_code == 403


def test_teammates_are_admin_only_and_422_for_a_user_who_is_not_a_manager(sb: Sandbox) -> None:
    manager_id, member_id = sb.user_ids["manager"], sb.user_ids["member"]
    body = get(sb, f"users/{manager_id}/teammates").json()
    assert {"per_page", "total_pages", "total_entries", "next_page", "previous_page", "page", "links"} <= set(body)
    expected = [{k: v for k, v in row.items() if k != "_parent_id"} for row in sb.records("teammates") if row["_parent_id"] == manager_id]
    assert body["teammates"] == expected and len(expected) == 4
    assert all(set(row) == {"id", "first_name", "last_name", "email"} for row in body["teammates"])
    users = {row["id"]: row for row in sb.records("users")}
    assert all(row == {k: users[row["id"]][k] for k in ("id", "first_name", "last_name", "email")} for row in expected)
    not_a_manager = get(sb, f"users/{member_id}/teammates")
    assert not_a_manager.status_code == 422 and "Manager" in not_a_manager.json()["message"]
    assert get(sb, f"users/{manager_id}/teammates", "manager").status_code == 403  # even their own
    assert get(sb, f"users/{sb.user_ids['admin']}/teammates").status_code == 422  # "must belong to a user that is a Manager"
    assert get(sb, "users/1/teammates").status_code == 404
    managers = {row["id"] for row in sb.records("users") if "manager" in row["access_roles"]}
    assert {row["_parent_id"] for row in sb.records("teammates")} <= managers


def test_unknown_paths_and_parents_are_404(sb: Sandbox) -> None:
    assert get(sb, "nonsense").status_code == 404
    assert get(sb, "invoices/1/messages").status_code == 404
    assert get(sb, "users/1/cost_rates").status_code == 404


# --- filters --------------------------------------------------------------------------------------------


def test_updated_since_is_inclusive_and_malformed_values_are_400(sb: Sandbox) -> None:
    entries = sb.records("time_entries")
    bound = sorted(row["updated_at"] for row in entries)[len(entries) // 2]
    expected = [row["id"] for row in entries if row["updated_at"] >= bound]
    assert [row["id"] for row in follow(sb, "time_entries", "time_entries", updated_since=bound)] == expected
    offset = (datetime.strptime(bound, "%Y-%m-%dT%H:%M:%SZ") + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    assert get(sb, "time_entries", updated_since=offset).json()["total_entries"] == len(expected)
    for malformed in ("2024-01-01 00:00:00", "2010-01-01 00:00:00+00:00", "yesterday"):
        response = get(sb, "time_entries", updated_since=malformed)
        assert response.status_code == 400 and "message" in response.json()
    assert get(sb, "roles", updated_since="junk").status_code == 200  # /roles ignores updated_since


def test_from_to_filter_on_spent_date(sb: Sandbox) -> None:
    rows = follow(sb, "time_entries", "time_entries", **{"from": "2026-01-01", "to": "2026-01-31"})
    expected = [row["id"] for row in sb.records("time_entries") if "2026-01-01" <= row["spent_date"] <= "2026-01-31"]
    assert rows and [row["id"] for row in rows] == expected


# --- reports ------------------------------------------------------------------------------------------


def test_time_report_row_equals_sum_over_records(sb: Sandbox) -> None:
    params = {"from": "20250701", "to": "2026-06-29"}
    results = follow(sb, "reports/time/clients", "results", **params)
    row = results[0]
    entries = [
        entry
        for entry in sb.records("time_entries")
        if entry["client"]["id"] == row["client_id"] and "2025-07-01" <= entry["spent_date"] <= "2026-06-29"
    ]
    assert row["total_hours"] == pytest.approx(sum(entry["hours"] for entry in entries), abs=0.01)
    billable = [entry for entry in entries if entry["billable"]]
    assert row["billable_hours"] == pytest.approx(sum(entry["hours"] for entry in billable), abs=0.01)
    assert row["billable_amount"] == pytest.approx(sum(entry["hours"] * entry["billable_rate"] for entry in billable), abs=0.05)
    assert row["currency"] == entries[0]["client"]["currency"]
    assert all(result["total_hours"] != 0 for result in results)


def test_expense_report_and_member_scope(sb: Sandbox) -> None:
    params = {"from": "20250701", "to": "20260629"}
    rows = follow(sb, "reports/expenses/team", "results", "member", **params)
    assert {row["user_id"] for row in rows} <= {sb.user_ids["member"]}
    assert get(sb, "reports/uninvoiced", "member", **params).status_code == 403
    budget = follow(sb, "reports/project_budget", "results", "member")
    shown = {row["id"] for row in sb.records("projects") if row["show_budget_to_all"]}
    assert budget and {row["project_id"] for row in budget} <= shown


def test_report_range_over_a_year_is_400_and_missing_range_is_422(sb: Sandbox) -> None:
    too_long = get(sb, "reports/time/projects", **{"from": "20240101", "to": "20250101"})
    assert too_long.status_code == 400
    assert too_long.json() == {"message": "Invalid timeframe: must not exceed 1 year"}
    assert get(sb, "reports/time/projects", **{"from": "20240102", "to": "20250101"}).status_code == 200
    assert get(sb, "reports/time/projects", to="20250101").status_code == 422


# --- rate limits ----------------------------------------------------------------------------------------


def test_moving_window_refusals_take_no_slot() -> None:
    now = [0.0]
    limiter = MovingWindowLimiter(limit=2, window_seconds=10.0, clock=lambda: now[0])
    assert limiter.acquire("t") == 0.0
    now[0] = 4.0
    assert limiter.acquire("t") == 0.0
    now[0] = 5.0
    assert limiter.acquire("t") == pytest.approx(5.0)
    assert limiter.acquire("t") == pytest.approx(5.0)  # the refusal did not take a slot
    now[0] = 10.0
    assert limiter.acquire("t") == 0.0  # the first slot freed, moving window
    assert retry_after_seconds(0.2) == 1 and retry_after_seconds(4.1) == 5


def test_exceeding_the_limit_returns_429_with_retry_after() -> None:
    sandbox = Sandbox(seed=1, scale=0.01, anchor=ANCHOR, time_scale=0.01).start()
    try:
        session = requests.Session()
        statuses = []
        for _ in range(101):
            response = session.get(sandbox.url + "reports/project_budget", headers=headers(sandbox), timeout=10)
            statuses.append(response.status_code)
        assert statuses[:100] == [200] * 100
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1 and "message" in response.json()
        assert session.get(sandbox.url + "users/me", headers=headers(sandbox), timeout=10).status_code == 200
        assert sandbox.stats()["throttled"] == 1
        assert sandbox.config()["rate_limit"]["report_period_seconds"] == pytest.approx(9.0)
    finally:
        sandbox.stop()


# --- OAuth and accounts ---------------------------------------------------------------------------------


def post_token(sandbox: Sandbox, form: dict[str, str]) -> requests.Response:
    form = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret} | form
    return requests.post(sandbox.id_url + "oauth2/token", data=form, headers={"User-Agent": USER_AGENT}, timeout=10)


def token_request(sandbox: Sandbox, refresh_token: str) -> requests.Response:
    return post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def authorize(sandbox: Sandbox, **overrides: str) -> requests.Response:
    """The browser opening Harvest ID's consent page; the sandbox consents at once."""
    params = {"client_id": sandbox.client_id, "response_type": "code", "redirect_uri": sandbox.oauth_redirect_uri, "state": "Xy.9-_z"}
    return requests.get(sandbox.authorize_url, params=params | overrides, allow_redirects=False, timeout=10)


def callback_query(sandbox: Sandbox, response: requests.Response) -> dict[str, str]:
    """The query of the redirect to the OAuth app's redirect URL."""
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.split("?")[0] == sandbox.oauth_redirect_uri
    return dict(parse_qsl(urlsplit(location).query))


def exchange_code(sandbox: Sandbox, code: str, **overrides: str) -> requests.Response:
    return post_token(sandbox, {"grant_type": "authorization_code", "code": code, "redirect_uri": sandbox.oauth_redirect_uri} | overrides)


def test_oauth_refresh_gives_an_admin_token_and_accounts_lists_both_products(sb: Sandbox) -> None:
    response = token_request(sb, sb.refresh_token)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 64799 and body["refresh_token"] == sb.refresh_token
    oauth_headers = headers(sb) | {"Authorization": f"Bearer {body['access_token']}"}
    me = requests.get(sb.url + "users/me", headers=oauth_headers, timeout=10).json()
    assert me["id"] == sb.user_ids["admin"]
    accounts = requests.get(sb.id_url + "accounts", headers=oauth_headers, timeout=10).json()
    products = {account["product"]: account["id"] for account in accounts["accounts"]}
    assert products == {"harvest": int(sb.account_id), "forecast": int(sb.forecast_account_id)}
    assert token_request(sb, "bogus").json()["error"] == "invalid_grant"
    assert sb.config("oauth")["credentials"]["auth_type"] == "Client"


def test_oauth_tokens_expire_and_refresh_tokens_can_rotate() -> None:
    sandbox = Sandbox(seed=1, scale=0.01, anchor=ANCHOR, rotate_refresh_tokens=True, oauth_expires_in=60).start()
    try:
        original = sandbox.refresh_token
        body = token_request(sandbox, original).json()
        assert body["refresh_token"] != original and sandbox.refresh_token == body["refresh_token"]
        assert token_request(sandbox, original).status_code == 400
        oauth_headers = headers(sandbox) | {"Authorization": f"Bearer {body['access_token']}"}
        assert requests.get(sandbox.url + "users/me", headers=oauth_headers, timeout=10).status_code == 200
        real_clock = sandbox.tokens.clock
        sandbox.tokens.clock = lambda: real_clock() + 61
        expired = requests.get(sandbox.url + "users/me", headers=oauth_headers, timeout=10)
        assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
    finally:
        sandbox.stop()


def test_authorization_code_flow_gives_tokens_the_api_and_the_refresh_grant_accept(sb: Sandbox) -> None:
    query = callback_query(sb, authorize(sb))
    assert query["state"] == "Xy.9-_z" and query["scope"] == "all" and query["code"]
    first = exchange_code(sb, query["code"])
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    body = first.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 64799
    assert body["refresh_token"] and body["refresh_token"] != sb.refresh_token  # a new grant, a new refresh token
    oauth_headers = headers(sb) | {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(sb.url + "users/me", headers=oauth_headers, timeout=10).json()["id"] == sb.user_ids["admin"]
    assert token_request(sb, body["refresh_token"]).status_code == 200  # the refresh grant knows the new token
    reused = exchange_code(sb, query["code"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_authorize_shows_an_error_instead_of_redirecting_to_an_untrusted_uri(sb: Sandbox) -> None:
    for overrides in ({"client_id": "unknown-client"}, {"redirect_uri": "https://attacker.example/auth_flow"}):
        response = authorize(sb, **overrides)
        assert response.status_code == 400 and "Location" not in response.headers
        assert response.json()["error"] in ("invalid_client", "invalid_request")
    implicit = callback_query(sb, authorize(sb, response_type="token"))
    assert implicit == {"error": "unsupported_response_type", "state": "Xy.9-_z"}


def test_code_is_bound_to_its_redirect_uri_and_client_and_expires(sb: Sandbox) -> None:
    code = callback_query(sb, authorize(sb))["code"]
    wrong_secret = exchange_code(sb, code, client_secret="not-the-secret")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    assert "not-the-secret" not in wrong_secret.text
    assert exchange_code(sb, code).status_code == 200  # a request that failed client authentication used nothing
    code = callback_query(sb, authorize(sb))["code"]
    elsewhere = exchange_code(sb, code, redirect_uri="http://localhost:8000/other")
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_grant"
    assert exchange_code(sb, code).status_code == 400  # presented once, gone
    code = callback_query(sb, authorize(sb))["code"]
    real_clock = sb.tokens.clock
    sb.tokens.clock = lambda: real_clock() + 601
    try:
        assert exchange_code(sb, code).json()["error"] == "invalid_grant"
    finally:
        sb.tokens.clock = real_clock


# --- mutations ------------------------------------------------------------------------------------------


def test_payments_and_messages_update_their_invoice(fresh: Sandbox) -> None:
    invoice = next(row for row in fresh.records("invoices") if row["state"] == "open" and row["due_amount"] > 1)
    before = len(get(fresh, f"invoices/{invoice['id']}/payments").json()["invoice_payments"])
    payment = fresh.create("invoice_payments", {"_parent_id": invoice["id"], "amount": invoice["due_amount"]})
    assert payment["_parent_id"] == invoice["id"] and recent(payment["updated_at"])
    paid = get(fresh, f"invoices/{invoice['id']}").json()
    assert paid["state"] == "paid" and paid["due_amount"] == 0 and recent(paid["updated_at"])
    listed = get(fresh, f"invoices/{invoice['id']}/payments").json()["invoice_payments"]
    assert len(listed) == before + 1 and listed[0]["id"] == payment["id"]
    fresh.delete("invoice_payments", payment["id"])
    reopened = get(fresh, f"invoices/{invoice['id']}").json()
    assert reopened["state"] == "open" and reopened["due_amount"] == pytest.approx(invoice["due_amount"])
    draft = (
        next(row for row in fresh.records("estimates") if row["state"] == "draft")
        if any(row["state"] == "draft" for row in fresh.records("estimates"))
        else fresh.create("estimates", {})
    )
    fresh.create("estimate_messages", {"_parent_id": draft["id"], "event_type": "send"})
    sent = get(fresh, f"estimates/{draft['id']}").json()
    assert sent["state"] == "sent" and recent(sent["updated_at"]) and sent["sent_at"]


def test_user_assignment_update_changes_project_assignment_but_not_user(fresh: Sandbox) -> None:
    member_id = fresh.user_ids["member"]
    user_before = get(fresh, f"users/{member_id}").json()
    assignment = get(fresh, "users/me/project_assignments", "member").json()["project_assignments"][0]
    fresh.update("user_assignments", assignment["id"], {"hourly_rate": 321.0})
    changed = get(fresh, f"users/{member_id}/project_assignments").json()["project_assignments"]
    match = next(row for row in changed if row["id"] == assignment["id"])
    assert match["hourly_rate"] == 321.0 and recent(match["updated_at"])
    assert get(fresh, f"users/{member_id}").json()["updated_at"] == user_before["updated_at"]
    since = (datetime.now(timezone.utc) - timedelta(seconds=RECENT_SECONDS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [row["id"] for row in get(fresh, "user_assignments", updated_since=since).json()["user_assignments"]] == [
        assignment["id"]
    ]


def test_deletes_cascade_to_children(fresh: Sandbox) -> None:
    invoice_id = fresh.records("invoice_messages")[0]["_parent_id"]
    fresh.delete("invoices", invoice_id)
    assert get(fresh, f"invoices/{invoice_id}/messages").status_code == 404
    assert all(row["_parent_id"] != invoice_id for row in fresh.records("invoice_messages"))
    user_id = fresh.records("cost_rates")[0]["_parent_id"]
    fresh.delete("users", user_id)
    assert all(row["_parent_id"] != user_id for row in fresh.records("cost_rates") + fresh.records("billable_rates"))
    assert all(row["user"]["id"] != user_id for row in fresh.records("user_assignments"))


def test_teammates_are_replaced_as_a_whole_and_leave_with_a_deleted_user(fresh: Sandbox) -> None:
    manager_id, member_id, admin_id = (fresh.user_ids[k] for k in ("manager", "member", "admin"))
    changed = fresh.update("teammates", manager_id, {"teammate_ids": [member_id, admin_id]})
    assert {row["id"] for row in changed["teammates"]} == {member_id, admin_id} and changed["_parent_id"] == manager_id
    assert {row["id"] for row in get(fresh, f"users/{manager_id}/teammates").json()["teammates"]} == {member_id, admin_id}
    assert {row["id"] for row in get(fresh, "users", "manager").json()["users"]} == {manager_id, member_id, admin_id}
    fresh.delete("users", member_id)
    assert [row["id"] for row in get(fresh, f"users/{manager_id}/teammates").json()["teammates"]] == [admin_id]
    assert all(row["id"] != member_id for row in fresh.records("teammates"))
    fresh.update("teammates", manager_id, {"teammate_ids": []})
    emptied = get(fresh, f"users/{manager_id}/teammates").json()
    assert emptied["teammates"] == [] and emptied["total_entries"] == 0  # a Manager without teammates: 200, empty
    with pytest.raises(MutationError) as not_a_manager:
        fresh.update("teammates", admin_id, {"teammate_ids": [manager_id]})
    assert not_a_manager.value.status == 422
    with pytest.raises(MutationError) as unknown:
        fresh.update("teammates", manager_id, {"teammate_ids": [1]})
    assert unknown.value.status == 422
    for write in (lambda: fresh.create("teammates", {"_parent_id": manager_id}), lambda: fresh.delete("teammates", admin_id)):
        with pytest.raises(MutationError):
            write()


def test_created_time_entry_shows_up_first_and_in_reports(fresh: Sandbox) -> None:
    today = date.today().isoformat()
    entry = fresh.create("time_entries", {"user_id": fresh.user_ids["member"], "hours": 2.5, "spent_date": today})
    assert entry["id"] > TIME_ENTRY_ID_MIN and entry["user"]["id"] == fresh.user_ids["member"]
    assert get(fresh, "time_entries", "member").json()["time_entries"][0]["id"] == entry["id"]
    report = follow(fresh, "reports/time/team", "results", **{"from": today, "to": today})
    assert any(row["user_id"] == entry["user"]["id"] and row["total_hours"] >= 2.5 for row in report)


def test_control_api_over_http_is_not_counted(fresh: Sandbox) -> None:
    base = fresh.url.replace("/v2/", "/_sandbox/")
    fresh.reset_stats()
    info = requests.get(base + "info", timeout=10).json()
    assert info["account_id"] == fresh.account_id and info["url"] == fresh.url
    created = requests.post(base + "records/clients", json={"name": "Control Co", "currency": "EUR"}, timeout=10)
    assert created.status_code == 201
    client_id = created.json()["id"]
    patched = requests.patch(base + f"records/clients/{client_id}", json={"is_active": False}, timeout=10).json()
    assert patched["is_active"] is False
    assert any(row["id"] == client_id for row in requests.get(base + "records/clients", timeout=10).json())
    assert requests.delete(base + f"records/clients/{client_id}", timeout=10).status_code == 204
    assert requests.get(base + "records/nope", timeout=10).status_code == 404
    get(fresh, "clients")
    stats = requests.get(base + "stats", timeout=10).json()
    assert stats["total"] == 1 and stats["by_endpoint"] == {"GET /v2/clients": 1}
    assert requests.post(base + "stats/reset", timeout=10).json()["total"] == 0


# --- faults ---------------------------------------------------------------------------------------------


def raw_get(sandbox: Sandbox, path: str) -> tuple[int, str, bytes]:
    split = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers(sandbox))
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_fault_injection_produces_each_kind(fresh: Sandbox, kind: str) -> None:
    fresh.set_faults(1.0, [kind])
    fresh.reset_stats()
    if kind == "drop":
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            raw_get(fresh, "/v2/clients")
    elif kind == "truncate":
        with pytest.raises(http.client.IncompleteRead):
            raw_get(fresh, "/v2/clients")
    else:
        status, content_type, body = raw_get(fresh, "/v2/clients")
        assert status == (200 if kind == "html200" else int(kind))
        assert content_type.startswith("text/html") and body.lstrip().startswith(b"<!DOCTYPE html>")
    assert fresh.stats()["faults"] == 1
    fresh.set_faults(0.0)
    assert raw_get(fresh, "/v2/clients")[0] == 200


# --- CLI ------------------------------------------------------------------------------------------------


def test_cli_prints_one_json_line_writes_config_and_exits_on_sigterm(tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integration_tests.sandbox",
            "--port",
            "0",
            "--scale",
            "0.01",
            "--anchor",
            ANCHOR,
            "--config-out",
            str(config_path),
            "--config-token",
            "member",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + CLI_START_TIMEOUT_SECONDS
        line = process.stdout.readline()
        assert time.monotonic() < deadline
        info = json.loads(line)
        assert {"url", "id_url", "account_id", "admin_token", "client_id", "client_secret", "refresh_token"} <= set(info)
        config = json.loads(config_path.read_text())
        assert config["api_url"] == info["url"] and config["credentials"]["api_token"] == info["member_token"]
        response = requests.get(
            info["url"] + "users/me",
            headers={
                "Authorization": f"Bearer {info['admin_token']}",
                "Harvest-Account-Id": info["account_id"],
                "User-Agent": USER_AGENT,
            },
            timeout=10,
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_store_indexes_stay_consistent_after_mutations(fresh: Sandbox) -> None:
    table = fresh.store["time_entries"]
    ids = [row["id"] for row in table.ordered.rows[:6]]
    for record_id in ids[:3]:
        fresh.update("time_entries", record_id, {"notes": "edited", "spent_date": "2025-01-15"})
    fresh.create("time_entries", {"hours": 1.25})
    fresh.delete("time_entries", ids[4])
    assert table.stamps == [row["updated_at"] for row in table.ordered.rows]
    assert table.ordered.keys == sorted(table.ordered.keys)
    assert sorted(table.updated_index) == sorted((row["updated_at"], row["id"]) for row in table.by_id.values())
    assert len(table.ordered.rows) == len(table.by_id) == sum(len(group.rows) for group in table.groups.values())
    listed = follow(fresh, "time_entries", "time_entries")
    assert [row["id"] for row in listed] == [row["id"] for row in fresh.records("time_entries")]
