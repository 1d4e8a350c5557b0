"""End to end on the sandbox: a full sync delivers exactly Harvest's records; an incremental one, the changes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest

from integration_tests.conftest import Connector
from integration_tests.expectations import expected_keys, key_of, minimum_requests
from source_harvest.catalog import STREAMS, STREAMS_BY_NAME


@pytest.fixture
def full_sync(connector: Connector, sandbox):
    run = connector.read()
    return run


def test_full_sync_succeeds_with_every_stream_non_empty(full_sync) -> None:
    assert full_sync.exit_code == 0, full_sync.errors()
    assert not full_sync.errors()
    empty = [spec.name for spec in STREAMS if full_sync.count(spec.name) == 0]
    assert empty == []


@pytest.mark.parametrize("stream", [s.name for s in STREAMS if not s.report and s.name != "company"])
def test_full_sync_delivers_exactly_the_sandbox_records(full_sync, sandbox, stream: str) -> None:
    delivered = [key_of(stream, r) for r in full_sync.records[stream]]
    duplicates = [k for k, n in Counter(delivered).items() if n > 1]
    assert duplicates == []
    expected = expected_keys(sandbox, stream)
    assert set(delivered) == expected, (len(set(delivered) - expected), len(expected - set(delivered)))


@pytest.mark.parametrize("stream", [s.name for s in STREAMS if s.report])
def test_report_rows_have_unique_keys_and_windows(full_sync, stream: str) -> None:
    rows = full_sync.records[stream]
    keys = [key_of(stream, r) for r in rows]
    assert rows and len(keys) == len(set(keys))
    if STREAMS_BY_NAME[stream].report == "windowed":
        assert all(r["from"] <= r["to"] for r in rows)


def test_full_sync_request_count_is_the_minimum(full_sync, sandbox) -> None:
    stats = sandbox.stats()
    made = {k: v for k, v in stats["by_endpoint"].items() if "/reports/" not in k}
    assert made == minimum_requests(sandbox.records)
    assert stats["throttled"] == 0
    assert set(stats["methods"]) == {"GET"}  # read-only by construction


def test_second_sync_with_saved_state_brings_almost_nothing(connector: Connector, sandbox) -> None:
    first = connector.read()
    sandbox.reset_stats()
    second = connector.read(state=first.state())
    assert second.exit_code == 0
    for spec in STREAMS:
        if spec.report or not spec.cursor:
            continue
        saved = datetime.strptime(first.stream_state(spec.name)[spec.cursor], "%Y-%m-%dT%H:%M:%SZ")
        window_start = (saved - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Nothing changed in Harvest: only rows inside the lookback overlap come back.
        assert all(r[spec.cursor] >= window_start for r in second.records[spec.name]), spec.name
        assert second.count(spec.name) <= max(5, first.count(spec.name) // 20), spec.name
    per_parent = {k: v for k, v in sandbox.stats()["by_endpoint"].items() if "{id}" in k}
    users = len(sandbox.records("users"))
    # Rates and teammates (no change signal) still visit every user; other parents only inside the lookback overlap.
    assert per_parent.pop("GET /v2/users/{id}/billable_rates") == users
    assert per_parent.pop("GET /v2/users/{id}/cost_rates") == users
    assert per_parent.pop("GET /v2/users/{id}/teammates") == users  # full refresh: every user, every sync
    assert all(visits <= 5 for visits in per_parent.values()), per_parent
    assert sum(per_parent.values()) < len(sandbox.records("invoices")) // 4


def test_incremental_sync_after_edits_delivers_every_change_and_little_else(connector: Connector, sandbox) -> None:
    first = connector.read()
    invoice = sandbox.records("invoices")[0]
    client = sandbox.records("clients")[0]
    entry = sandbox.records("time_entries")[-1]  # an old entry, edited now
    assignment = sandbox.records("user_assignments")[0]
    sandbox.update("clients", client["id"], {"name": "Renamed Co"})
    sandbox.update("time_entries", entry["id"], {"notes": "edited"})
    payment = sandbox.create("invoice_payments", {"_parent_id": invoice["id"], "amount": 10.0, "notes": "late payment"})
    sandbox.update("user_assignments", assignment["id"], {"hourly_rate": 321.0})
    sandbox.reset_stats()

    second = connector.read(state=first.state())
    assert second.exit_code == 0, second.errors()
    changed = {
        "clients": {client["id"]}, "time_entries": {entry["id"]}, "invoice_payments": {payment["id"]},
        "invoices": {invoice["id"]},  # the payment moved the invoice
        "invoice_line_items": {i["id"] for i in invoice["line_items"]},
        "project_users": {assignment["id"]}, "user_projects": {assignment["id"]},
    }
    for stream, ids in changed.items():
        delivered = {r["id"] for r in second.records[stream]}
        assert ids <= delivered, stream
    assert {r["name"] for r in second.records["clients"] if r["id"] == client["id"]} == {"Renamed Co"}
    assert {r["notes"] for r in second.records["time_entries"] if r["id"] == entry["id"]} == {"edited"}
    for spec in STREAMS:  # anything else is inside the lookback overlap of the saved cursor
        if spec.report or not spec.cursor or spec.name in ("billable_rates", "cost_rates"):
            continue
        saved = datetime.strptime(first.stream_state(spec.name)[spec.cursor], "%Y-%m-%dT%H:%M:%SZ")
        window_start = (saved - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        others = [r for r in second.records[spec.name] if r.get("id") not in changed.get(spec.name, set())]
        assert all(r[spec.cursor] >= window_start for r in others), spec.name
    by_endpoint = sandbox.stats()["by_endpoint"]
    assert by_endpoint["GET /v2/invoices/{id}/payments"] <= 5 and by_endpoint["GET /v2/invoices/{id}/messages"] <= 5
    assert by_endpoint["GET /v2/users/{id}/project_assignments"] <= 5


def test_state_round_trips_and_is_small(connector: Connector) -> None:
    first = connector.read()
    states = first.state()
    assert {s["stream"]["stream_descriptor"]["name"] for s in states} >= {s.name for s in STREAMS if s.cursor}
    for state in states:
        name, value = state["stream"]["stream_descriptor"]["name"], state["stream"]["stream_state"]
        assert len(json.dumps({k: v for k, v in value.items() if k != "ids"})) < 200  # a cursor, no parent records
        if "ids" in value:  # delivered ids for tombstones: a few bytes each, whatever the records
            spec = STREAMS_BY_NAME[name]
            # (parent, id) pairs cost more; external reference ids (text) follow no order at all
            per_id = 2 if "{id}" in (spec.deletes or "") else 6 if spec.text_ids else 4
            assert len(value["ids"]) <= 64 + per_id * first.count(name), name
    again = connector.read(state=states)
    for state in again.state():
        name = state["stream"]["stream_descriptor"]["name"]
        if STREAMS_BY_NAME[name].cursor and not STREAMS_BY_NAME[name].report:
            assert state["stream"]["stream_state"] == first.stream_state(name)


def test_teammates_are_read_whole_each_sync_and_follow_reassignments(connector: Connector, sandbox) -> None:
    streams = [STREAMS_BY_NAME["users"], STREAMS_BY_NAME["user_teammates"]]
    first = connector.read(streams)
    assert first.exit_code == 0, first.errors()
    managers = {u["id"] for u in sandbox.records("users") if "manager" in u["access_roles"]}
    assert {r["user_id"] for r in first.records["user_teammates"]} <= managers
    assert len(managers) < len(sandbox.records("users"))  # some users answered 422: no rows, no error
    assert any("Harvest answered 422 for" in line and "/users/{id}/teammates" in line for line in first.logs("INFO"))
    manager_id, member_id, admin_id = (sandbox.user_ids[k] for k in ("manager", "member", "admin"))
    gone = next(r["id"] for r in first.records["user_teammates"] if r["user_id"] == manager_id)
    sandbox.update("teammates", manager_id, {"teammate_ids": [member_id, admin_id, gone]})
    sandbox.delete("users", gone)
    sandbox.update("users", member_id, {"first_name": "Renamed"})
    sandbox.reset_stats()

    second = connector.read(streams, state=first.state())
    assert second.exit_code == 0, second.errors()
    assert {key_of("user_teammates", r) for r in second.records["user_teammates"]} == expected_keys(sandbox, "user_teammates")
    assert sorted(r["id"] for r in second.records["user_teammates"] if r["user_id"] == manager_id) == sorted([member_id, admin_id])
    assert {r["first_name"] for r in second.records["user_teammates"] if r["id"] == member_id} == {"Renamed"}
    users = len(sandbox.records("users"))
    assert sandbox.stats()["by_endpoint"]["GET /v2/users/{id}/teammates"] == users
