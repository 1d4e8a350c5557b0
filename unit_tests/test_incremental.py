"""Incremental: updated_since = state - lookback, strict format; state = max updated_at at the end."""

from __future__ import annotations

import requests_mock
from airbyte_cdk.models import SyncMode

from unit_tests.conftest import API, final_state, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists


def test_first_sync_starts_at_replication_start_date(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1, "2024-03-01T10:00:00Z"), record(2, "2024-05-01T10:00:00Z")]))
        output = run_read(config, ["clients"])
        sent = get_requests(mock, "/clients")[0]
    assert sent.qs["updated_since"] == ["2024-01-01t00:00:00z"]  # requests-mock lower-cases qs
    assert "updated_since=2024-01-01T00%3A00%3A00Z" in sent.url
    assert final_state(output, "clients") == {"updated_at": "2024-05-01T10:00:00Z"}


def test_next_sync_asks_from_state_minus_lookback(config) -> None:
    config["lookback_window_minutes"] = 10
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        output = run_read(config, ["clients"], state={"clients": {"updated_at": "2024-05-01T10:00:00Z"}})
        sent = get_requests(mock, "/clients")[0]
    assert "updated_since=2024-05-01T09%3A50%3A00Z" in sent.url
    assert final_state(output, "clients") == {"updated_at": "2024-05-01T10:00:00Z"}  # no records: state kept


def test_state_is_the_max_over_unsorted_records_not_the_last(config) -> None:
    rows = [record(3, "2024-04-01T00:00:00Z"), record(2, "2024-09-09T09:09:09Z"), record(1, "2024-02-01T00:00:00Z")]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "tasks", json=harvest_page("tasks", rows))
        output = run_read(config, ["tasks"])
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages if m.state.stream.stream_descriptor.name == "tasks"]
    # A checkpoint after the page keeps where to resume but does not move the cursor; it moves when the stream ends.
    assert "updated_at" not in states[0] and states[0]["resume"]["newest"] == "2024-09-09T09:09:09Z"
    assert final_state(output, "tasks") == {"updated_at": "2024-09-09T09:09:09Z"}


def test_roles_have_no_updated_since_and_are_filtered_client_side(config) -> None:
    rows = [record(1, "2024-01-05T00:00:00Z"), record(2, "2024-08-01T00:00:00Z")]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "roles", json=harvest_page("roles", rows))
        output = run_read(config, ["roles"], state={"roles": {"updated_at": "2024-06-01T00:00:00Z"}})
        sent = get_requests(mock, "/roles")[0]
    assert "updated_since" not in sent.qs
    assert [r["id"] for r in records_of(output, "roles")] == [2]


def test_full_refresh_ignores_state_but_keeps_start_date(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1)]))
        run_read(config, {"clients": SyncMode.full_refresh}, state={"clients": {"updated_at": "2024-05-01T10:00:00Z"}})
        sent = get_requests(mock, "/clients")[0]
    assert "updated_since=2024-01-01T00%3A00%3A00Z" in sent.url


def test_state_older_than_start_date_uses_start_date(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        run_read(config, ["clients"], state={"clients": {"updated_at": "2020-05-01T10:00:00Z"}})
        sent = get_requests(mock, "/clients")[0]
    assert "updated_since=2024-01-01T00%3A00%3A00Z" in sent.url


def test_flat_seed_columns_are_added_next_to_nested_objects(config) -> None:
    entry = record(7, client={"id": 1, "name": "A"}, project={"id": 2}, task={"id": 3}, user={"id": 4},
                   user_assignment={"id": 5}, task_assignment={"id": 6}, invoice=None,
                   external_reference={"id": "35", "group_id": "awme"})
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "time_entries", json=harvest_page("time_entries", [entry]))
        output = run_read(config, ["time_entries"])
    row = records_of(output, "time_entries")[0]
    assert row["client"] == {"id": 1, "name": "A"}
    assert (row["client_id"], row["project_id"], row["task_id"], row["user_id"]) == (1, 2, 3, 4)
    assert (row["user_assignment_id"], row["task_assignment_id"], row.get("invoice_id"), row["external_reference_id"]) == (5, 6, None, "35")
