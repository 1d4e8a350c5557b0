"""Per-parent streams: one list per parent, parent id added, only changed parents when incremental."""

from __future__ import annotations

import requests_mock

from unit_tests.conftest import API, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists

OLD = "2023-06-01T00:00:00Z"
NEW = "2024-07-01T00:00:00Z"


def test_child_adds_parent_id_and_visits_each_parent(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [record(1), record(2)]))
        mock.get(API + "invoices/1/payments", json=harvest_page("invoice_payments", [record(10, payment_gateway={"id": None, "name": "Stripe"})]))
        output = run_read(config, ["invoice_payments"])
        visited = {r.path for r in get_requests(mock, "/payments")}
    assert visited == {"/v2/invoices/1/payments", "/v2/invoices/2/payments"}
    row = records_of(output, "invoice_payments")[0]
    assert (row["invoice_id"], row.get("payment_gateway_id"), row["payment_gateway_name"]) == (1, None, "Stripe")


def test_incremental_child_visits_only_parents_changed_since_its_cursor(config) -> None:
    state = {"invoice_messages": {"updated_at": "2024-06-01T00:00:00Z"}}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [record(1, NEW), record(2, "2024-05-31T23:00:00Z")]))
        run_read(config, ["invoice_messages"], state=state)
        parents = get_requests(mock, "/v2/invoices?")
        visited = {r.path for r in get_requests(mock, "/messages")}
        child = get_requests(mock, "/messages")[0]
    assert "updated_since=2024-05-31T23%3A55%3A00Z" in parents[0].url
    assert visited == {"/v2/invoices/1/messages"}
    assert "updated_since=2024-05-31T23%3A55%3A00Z" in child.url


def test_user_projects_visit_users_named_by_changed_user_assignments(config) -> None:
    state = {"user_projects": {"updated_at": "2024-06-01T00:00:00Z"}}
    assignments = [record(1, NEW, user={"id": 7}, project={"id": 1}), record(2, NEW, user={"id": 7}, project={"id": 2}),
                   record(3, NEW, user={"id": 8}, project={"id": 1})]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "user_assignments", json=harvest_page("user_assignments", assignments))
        mock.get(API + "users/7/project_assignments", json=harvest_page("project_assignments", [record(1, NEW, project={"id": 1}, client={"id": 9})]))
        output = run_read(config, ["user_projects"], state=state)
        visited = [r.path for r in get_requests(mock, "/project_assignments")]
        users_listed = get_requests(mock, "/v2/users?")
    assert sorted(visited) == ["/v2/users/7/project_assignments", "/v2/users/8/project_assignments"]  # each user once
    assert users_listed == []  # a user's own updated_at is no signal
    row = records_of(output, "user_projects")[0]
    assert (row["user_id"], row["project_id"], row["client_id"]) == (7, 1, 9)


def test_rates_visit_every_user_and_filter_client_side(config) -> None:
    state = {"cost_rates": {"updated_at": "2024-06-01T00:00:00Z"}}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "users", json=harvest_page("users", [record(1, OLD), record(2, OLD)]))
        mock.get(API + "users/2/cost_rates", json=harvest_page("cost_rates", [record(5, OLD), record(6, NEW)]))
        output = run_read(config, ["cost_rates"], state=state)
        users_query = get_requests(mock, "/v2/users?")[0]
        visited = {r.path for r in get_requests(mock, "/cost_rates")}
        rate_query = get_requests(mock, "/cost_rates")[0]
    assert "updated_since" not in users_query.qs  # every user, however old
    assert visited == {"/v2/users/1/cost_rates", "/v2/users/2/cost_rates"}
    assert "updated_since" not in rate_query.qs  # the endpoint has no such filter
    assert [(r["id"], r["user_id"]) for r in records_of(output, "cost_rates")] == [(6, 2)]


def test_parent_deleted_during_sync_is_skipped_with_a_warning(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "estimates", json=harvest_page("estimates", [record(1), record(2)]))
        mock.get(API + "estimates/1/messages", status_code=404, json={"message": "Not found"})
        mock.get(API + "estimates/2/messages", json=harvest_page("estimate_messages", [record(20)]))
        output = run_read(config, ["estimate_messages"])
    assert [r["estimate_id"] for r in records_of(output, "estimate_messages")] == [2]
    assert output.is_in_logs("estimates 1 was deleted during the sync")
    assert not output.errors
