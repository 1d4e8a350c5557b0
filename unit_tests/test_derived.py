"""Derived tables come from parent records with no request of their own."""

from __future__ import annotations

import requests_mock

from unit_tests.conftest import API, final_state, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists


def test_line_items_carry_invoice_id_and_cursor(config) -> None:
    invoice = record(1, "2024-03-03T00:00:00Z", line_items=[{"id": 11, "project": {"id": 5}, "quantity": 1.5}, {"id": 12, "project": None}])
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [invoice]))
        output = run_read(config, ["invoice_line_items"])
        requests_made = len(mock.request_history)
    rows = records_of(output, "invoice_line_items")
    assert [(r["id"], r["invoice_id"], r.get("project_id"), r["invoice_updated_at"]) for r in rows] == [
        (11, 1, 5, "2024-03-03T00:00:00Z"), (12, 1, None, "2024-03-03T00:00:00Z")]
    assert requests_made == 1
    assert final_state(output, "invoice_line_items") == {"invoice_updated_at": "2024-03-03T00:00:00Z"}


def test_user_roles_pair_each_user_id_with_its_role(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "roles", json=harvest_page("roles", [record(3, user_ids=[7, 8]), record(4, user_ids=[])]))
        output = run_read(config, ["user_roles"])
    assert [(r["role_id"], r["user_id"]) for r in records_of(output, "user_roles")] == [(3, 7), (3, 8)]


def test_external_references_pair_and_distinct(config) -> None:
    ref = {"id": "35", "group_id": "awme", "permalink": "https://github.com/x/y/issues/35", "service": "github.com"}
    entries = [record(1, external_reference=ref), record(2, external_reference=dict(ref)), record(3, external_reference=None)]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "time_entries", json=harvest_page("time_entries", entries))
        output = run_read(config, ["time_entries", "time_entry_external_reference", "external_reference"])
        time_entry_reads = len(get_requests(mock, "/time_entries"))
    pairs = records_of(output, "time_entry_external_reference")
    assert [(r["time_entry_id"], r["external_reference_id"]) for r in pairs] == [(1, "35"), (2, "35")]
    assert [r["id"] for r in records_of(output, "external_reference")] == ["35"]
    assert time_entry_reads == 1  # one endpoint read for three streams


def test_user_project_tasks_come_from_project_assignments(config) -> None:
    assignment = record(9, project={"id": 2}, client={"id": 1},
                        task_assignments=[{"id": 70, "task": {"id": 3}, "billable": True}])
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "user_assignments", json=harvest_page("user_assignments", [record(9, user={"id": 7}, project={"id": 2})]))
        mock.get(API + "users/7/project_assignments", json=harvest_page("project_assignments", [assignment]))
        output = run_read(config, ["user_projects", "user_project_tasks"])
        fanout = len(get_requests(mock, "/project_assignments"))
    rows = records_of(output, "user_project_tasks")
    assert [(r["user_id"], r["project_task_id"], r["project_id"], r["task_id"], r["project_assignment_id"]) for r in rows] == [(7, 70, 2, 3, 9)]
    assert fanout == 1  # the per-user fan-out is shared by both streams


def test_each_endpoint_is_read_once_for_all_streams_hanging_off_it(config) -> None:
    invoices = [record(i, line_items=[{"id": i * 10}]) for i in (1, 2)]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", invoices))
        streams = ["invoice_messages", "invoices", "invoice_line_items", "invoice_payments"]
        output = run_read(config, streams, state={"invoices": {"updated_at": "2024-05-01T00:00:00Z"}})
        list_reads = get_requests(mock, "/v2/invoices?")
    assert len(list_reads) == 1
    assert "updated_since=2024-01-01T00%3A00%3A00Z" in list_reads[0].url  # the oldest since any consumer needs
    assert len(records_of(output, "invoices")) == 2 and len(records_of(output, "invoice_line_items")) == 2
