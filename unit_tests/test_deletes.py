"""Tombstones: deleted records reach the warehouse, and a live record is never tombstoned."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests_mock

from source_harvest.idset import PREFIX, IdSet, PairSet
from source_harvest.streams.deletes import DELETED_AT
from unit_tests.conftest import API, final_state, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists


@pytest.fixture
def deletes_config(config):
    config["capture_deletes"] = True
    return config


START = "2024-01-01T00:00:00Z"  # the config's replication_start_date


def clients_state(ids: str, swept_at: str, updated_at: str = "2024-06-01T00:00:00Z") -> dict:
    return {"clients": {"updated_at": updated_at, "ids": ids, "swept_at": swept_at}}


def first_sync(config, rows: list[dict], endpoint: str = "clients", stream: str = "clients") -> dict:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + endpoint, json=harvest_page(endpoint, rows))
        output = run_read(config, [stream])
        sent = get_requests(mock, f"/{endpoint}")[0]
    # No baseline yet: the first sync is a sweep, but only of what can reach the warehouse (since the start date).
    assert sent.qs["updated_since"] == [START.lower()]
    return final_state(output, stream)


def test_first_sync_lists_from_the_start_date_and_keeps_a_compact_id_set(deletes_config) -> None:
    state = first_sync(deletes_config, [record(1), record(2), record(3, "2023-01-01T00:00:00Z")])
    assert set(state) == {"updated_at", "ids", "swept_at", "swept_since", "delivered_since"} and state["ids"].startswith(PREFIX)
    assert state["delivered_since"] == START
    assert list(IdSet.decode(state["ids"])) == [1, 2]  # id 3 predates the start date: never delivered, never tracked


def test_between_sweeps_only_changes_are_asked_and_no_tombstone_is_made(deletes_config) -> None:
    state = first_sync(deletes_config, [record(1), record(2)])
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(4, "2024-07-01T00:00:00Z")]))
        output = run_read(deletes_config, ["clients"], state={"clients": state})
        sent = get_requests(mock, "/clients")[0]
    assert "updated_since" in sent.qs
    assert [r["id"] for r in records_of(output, "clients")] == [4]
    assert list(IdSet.decode(final_state(output, "clients")["ids"])) == [1, 2, 4]


def test_sweep_tombstones_a_vanished_id_after_a_404_and_keeps_the_cursor(deletes_config) -> None:
    state = first_sync(deletes_config, [record(1), record(2), record(3)])
    state["swept_at"] = "2024-01-01T00:00:00Z"  # a day and more ago: the next sync sweeps
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1), record(3)]))
        mock.get(API + "clients/2", status_code=404, json={"message": "Not found"})
        output = run_read(deletes_config, ["clients"], state={"clients": state})
        listed = get_requests(mock, "/clients?")[0]
    assert listed.qs["updated_since"] == [START.lower()]  # every row that can be in the warehouse, not the whole history
    tombstones = [r for r in records_of(output, "clients") if DELETED_AT in r]
    assert [r["id"] for r in tombstones] == [2]
    assert tombstones[0]["updated_at"] == tombstones[0][DELETED_AT] > "2026-01-01T00:00:00Z"  # the detection time
    after = final_state(output, "clients")
    assert after["updated_at"] == "2024-06-01T00:00:00Z"  # a tombstone never moves the cursor
    assert list(IdSet.decode(after["ids"])) == [1, 3]


def test_an_id_missing_from_a_shifted_page_but_still_alive_is_never_tombstoned(deletes_config) -> None:
    state = first_sync(deletes_config, [record(1), record(2)])
    deletes_config["deletes_sweep_hours"] = 0  # every sync sweeps
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1)]))
        recheck = mock.get(API + "clients/2", json=record(2))
        output = run_read(deletes_config, ["clients"], state={"clients": state})
    assert recheck.call_count == 1
    assert not [r for r in records_of(output, "clients") if DELETED_AT in r]
    assert list(IdSet.decode(final_state(output, "clients")["ids"])) == [1, 2]


def test_task_assignments_are_rechecked_under_their_project(deletes_config) -> None:
    rows = [record(7, project={"id": 70}, task={"id": 1}), record(8, project={"id": 80}, task={"id": 1})]
    state = first_sync(deletes_config, rows, endpoint="task_assignments", stream="project_tasks")
    deletes_config["deletes_sweep_hours"] = 0
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "task_assignments", json=harvest_page("task_assignments", rows[:1]))
        recheck = mock.get(API + "projects/80/task_assignments/8", status_code=404, json={})
        output = run_read(deletes_config, ["project_tasks"], state={"project_tasks": state})
    assert recheck.call_count == 1
    assert [(r["id"], r["project_id"]) for r in records_of(output, "project_tasks") if DELETED_AT in r] == [(8, 80)]


def test_a_deleted_invoice_takes_its_line_items_messages_and_payments_along(deletes_config) -> None:
    invoices = [record(1, line_items=[{"id": 11}, {"id": 12}]), record(2, line_items=[{"id": 21}])]
    streams = ["invoices", "invoice_line_items", "invoice_messages", "invoice_payments"]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", invoices))
        mock.get(API + "invoices/2/messages", json=harvest_page("invoice_messages", [record(200)]))
        mock.get(API + "invoices/2/payments", json=harvest_page("invoice_payments", [record(300)]))
        first = run_read(deletes_config, streams)
    state = {name: final_state(first, name) for name in streams}
    deletes_config["deletes_sweep_hours"] = 0
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", invoices[:1]))
        recheck = mock.get(API + "invoices/2", status_code=404, json={})
        output = run_read(deletes_config, streams, state=state)
        listings = get_requests(mock, "/v2/invoices?")
    assert recheck.call_count == 1  # confirmed once for all four streams
    assert len(listings) == 1
    tombstoned = {(stream, r["id"]) for stream in streams for r in records_of(output, stream) if DELETED_AT in r}
    assert tombstoned == {("invoices", 2), ("invoice_line_items", 21), ("invoice_messages", 200), ("invoice_payments", 300)}
    line_item = next(r for r in records_of(output, "invoice_line_items") if DELETED_AT in r)
    assert line_item["invoice_id"] == 2 and line_item["invoice_updated_at"] == line_item[DELETED_AT]


def test_rows_removed_from_a_changed_invoice_are_tombstoned(deletes_config) -> None:
    before = record(1, "2024-06-01T00:00:00Z", line_items=[{"id": 11}, {"id": 12}])
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [before]))
        mock.get(API + "invoices/1/payments", json=harvest_page("invoice_payments", [record(300), record(301)]))
        first = run_read(deletes_config, ["invoice_line_items", "invoice_payments"])
    state = {name: final_state(first, name) for name in ("invoice_line_items", "invoice_payments")}
    after = record(1, "2024-08-01T00:00:00Z", line_items=[{"id": 11}])
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "invoices", json=harvest_page("invoices", [after]))
        payments = mock.get(API + "invoices/1/payments", json=harvest_page("invoice_payments", [record(300)]))
        output = run_read(deletes_config, ["invoice_line_items", "invoice_payments"], state=state)
    assert "updated_since" not in payments.last_request.qs  # the whole list of a visited invoice
    assert [r["id"] for r in records_of(output, "invoice_line_items") if DELETED_AT in r] == [12]
    assert [r["id"] for r in records_of(output, "invoice_payments") if DELETED_AT in r] == [301]


def test_full_refresh_makes_no_tombstones_and_keeps_no_ids(deletes_config) -> None:
    from airbyte_cdk.models import SyncMode
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1)]))
        output = run_read(deletes_config, {"clients": SyncMode.full_refresh})
    assert "ids" not in final_state(output, "clients")


def test_foreign_ids_in_state_are_a_clear_config_error(deletes_config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        output = run_read(deletes_config, ["clients"], state=clients_state("nonsense", "2024-01-01T00:00:00Z"))
    assert output.errors and "ids" in output.errors[0].trace.error.message


def test_sweeps_keep_listing_from_the_oldest_start_date_delivered_from(deletes_config) -> None:
    """Without replication_start_date the start moves with time; rows delivered from an older start may
    still be in the warehouse, so the sweep lists from the oldest."""
    state = first_sync(deletes_config, [record(1), record(2)])
    deletes_config.update(replication_start_date="2024-03-01T00:00:00Z", deletes_sweep_hours=0)
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1), record(2)]))
        output = run_read(deletes_config, ["clients"], state={"clients": state})
        listed = get_requests(mock, "/clients?")[0]
    assert listed.qs["updated_since"] == [START.lower()]
    assert final_state(output, "clients")["delivered_since"] == START


def test_ids_saved_without_their_start_date_are_swept_over_the_whole_history(deletes_config) -> None:
    state = first_sync(deletes_config, [record(1), record(2)])
    del state["delivered_since"]  # written by an earlier release
    deletes_config["deletes_sweep_hours"] = 0
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1), record(2)]))
        run_read(deletes_config, ["clients"], state={"clients": state})
        listed = get_requests(mock, "/clients?")[0]
    assert "updated_since" not in listed.qs


def test_a_first_sync_with_a_recent_start_date_asks_only_for_rows_updated_since(deletes_config) -> None:
    deletes_config["replication_start_date"] = "2024-12-01T00:00:00Z"
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "time_entries", json=harvest_page("time_entries", []))
        run_read(deletes_config, ["time_entries"])
        listed = get_requests(mock, "/time_entries")
    assert [r.qs["updated_since"] for r in listed] == [["2024-12-01t00:00:00z"]]


def test_ids_saved_by_an_earlier_release_are_migrated_and_swept(deletes_config) -> None:
    z1_ids = "z1:eNpjY2BgYGJiAgAAPQAN"  # {1, 2, 3} as release 0.1.0 wrote them
    assert list(IdSet.decode(z1_ids)) == [1, 2, 3]
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1), record(3)]))
        mock.get(API + "clients/2", status_code=404, json={"message": "Not found"})
        output = run_read(deletes_config, ["clients"], state=clients_state(z1_ids, "2024-01-01T00:00:00Z"))
    assert [r["id"] for r in records_of(output, "clients") if DELETED_AT in r] == [2]
    after = final_state(output, "clients")["ids"]
    assert after.startswith(PREFIX) and list(IdSet.decode(after)) == [1, 3]


def test_ids_past_32_bits_are_tracked_and_tombstoned_exactly(deletes_config) -> None:
    big = [2**32 - 1, 2**32, 2**32 + 1, 2**40 + 7, 2**53 + 1]
    state = first_sync(deletes_config, [record(i) for i in big])
    assert list(IdSet.decode(state["ids"])) == big
    deletes_config["deletes_sweep_hours"] = 0
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(i) for i in big if i != 2**32]))
        gone = mock.get(API + f"clients/{2**32}", status_code=404, json={"message": "Not found"})
        output = run_read(deletes_config, ["clients"], state={"clients": state})
    assert gone.call_count == 1
    assert [r["id"] for r in records_of(output, "clients") if DELETED_AT in r] == [2**32]
    assert list(IdSet.decode(final_state(output, "clients")["ids"])) == [i for i in big if i != 2**32]


def test_damaged_ids_in_state_are_a_clear_config_error(deletes_config) -> None:
    damaged = IdSet([1, 2, 3]).encode()[:-8] + "AAAAAAAA"
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        output = run_read(deletes_config, ["clients"], state=clients_state(damaged, "2024-01-01T00:00:00Z"))
    assert output.errors and "`ids` value this connector did not write" in output.errors[0].trace.error.message
    assert output.errors[0].trace.error.failure_type.value == "config_error"


def test_existence_answers_are_kept_per_endpoint_and_id() -> None:
    from source_harvest.streams.context import Existence
    existence = Existence()
    existence.record("invoices/13", False)
    existence.record("estimates/13", True)
    existence.record("projects/80/task_assignments/8", False)
    existence.record("clients/awme", True)
    assert existence.answer("invoices/13") is False and existence.answer("estimates/13") is True
    assert existence.answer("invoices/14") is None and existence.answer("contacts/13") is None
    assert existence.answer("projects/80/task_assignments/8") is False
    assert existence.answer("projects/81/task_assignments/8") is None
    assert existence.answer("clients/awme") is True


def sweep_of(config, state: dict, rows: list[dict]) -> list[int]:
    """The ids a sweep delivers (no tombstones) when /clients lists `rows`."""
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", rows))
        output = run_read(config, ["clients"], state={"clients": state})
    return sorted(r["id"] for r in records_of(output, "clients") if DELETED_AT not in r)


def test_a_sweep_delivers_a_listed_row_never_delivered_whatever_its_updated_at(deletes_config) -> None:
    """The backstop for a row a page shift hid: a sweep delivers it although it is older than the cursor."""
    state = {"updated_at": "2024-06-01T00:00:00Z", "ids": IdSet([1, 2]).encode(), "swept_at": START, "delivered_since": START}
    old = "2024-03-01T00:00:00Z"
    rows = [record(1, old), record(2, old), record(5, old), record(6, "2023-06-01T00:00:00Z")]
    assert sweep_of(deletes_config, state, rows) == [5]  # 6 predates the start date: never delivered


def test_a_sweep_without_a_baseline_delivers_nothing_older_than_the_cursor(deletes_config) -> None:
    """A state with a cursor and no delivered ids (from a release or a connector that kept none, or
    Airbyte's acceptance tests' far-future state) says nothing of what was delivered: its first sweep
    builds the baseline and has no backstop to apply, so it delivers only what the cursor lets through."""
    old, new = "2024-03-01T00:00:00Z", "2024-06-02T00:00:00Z"
    rows = [record(1, old), record(2, old), record(3, new)]
    assert sweep_of(deletes_config, {"updated_at": "2024-06-01T00:00:00Z"}, rows) == [3]
    assert sweep_of(deletes_config, {"updated_at": "2999-12-31T23:59:59Z"}, rows) == []


def test_a_sweep_delivers_again_every_row_updated_since_the_last_sweeps_since(deletes_config) -> None:
    """The backstop for a version a read missed: the next sweep delivers again from the last sweep's since."""
    state = {"updated_at": "2024-06-01T00:00:00Z", "ids": IdSet([1, 2, 3]).encode(), "swept_at": START,
             "swept_since": "2024-05-01T00:00:00Z", "delivered_since": START}
    rows = [record(1, "2024-05-15T00:00:00Z"), record(2, "2024-04-01T00:00:00Z"), record(3, "2024-06-02T00:00:00Z")]
    assert sweep_of(deletes_config, state, rows) == [1, 3]
    without = {k: v for k, v in state.items() if k != "swept_since"}  # a state saved before: from the cursor less the lookback
    assert sweep_of(deletes_config, without, rows) == [3]


def test_a_tombstone_is_never_older_than_a_version_delivered_in_the_same_sync(deletes_config) -> None:
    """A row updated while the sync ran (after it started) and then deleted: its tombstone must win the
    destination's greatest-cursor rule, so it carries at least the newest cursor delivered."""
    state = {"updated_at": "2024-06-01T00:00:00Z", "ids": IdSet([1, 2]).encode(), "swept_at": START, "delivered_since": START}
    later = "2099-01-01T00:00:00Z"  # stands for an updated_at after the sync started
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1, later)]))
        mock.get(API + "clients/2", status_code=404, json={"message": "Not found"})
        output = run_read(deletes_config, ["clients"], state={"clients": state})
    tombstone = next(r for r in records_of(output, "clients") if DELETED_AT in r)
    assert tombstone["id"] == 2 and tombstone["updated_at"] == tombstone[DELETED_AT] == later


def test_the_sweep_after_a_first_sync_delivers_again_only_what_changed_since_it(deletes_config) -> None:
    """A first sync delivers from the start date: the next sweep must not deliver the whole history again,
    nor read every invoice's messages."""
    deletes_config["deletes_sweep_hours"] = 0
    old = "2024-03-01T00:00:00Z"
    invoices = [record(i, old) for i in range(1, 20)] + [record(20, "2024-06-01T00:00:00Z")]
    state, counts = None, []
    for _ in range(2):
        with requests_mock.Mocker() as mock:
            serve_empty_lists(mock)
            mock.get(API + "invoices", json=harvest_page("invoices", invoices))
            output = run_read(deletes_config, ["invoices", "invoice_messages"], state=state)
            counts.append((len(get_requests(mock, "/messages")), len([r for r in records_of(output, "invoices") if DELETED_AT not in r])))
        state = {s: final_state(output, s) for s in ("invoices", "invoice_messages")}
    assert counts == [(20, 20), (1, 1)]  # the second sync: the invoice updated at the cursor (lookback), nothing else


def test_a_state_without_ids_builds_a_whole_baseline_so_the_next_sweep_does_not_flood(deletes_config) -> None:
    """Tombstones switched on after syncs without them: unchanged rows are taken as delivered."""
    deletes_config["deletes_sweep_hours"] = 0
    rows = [record(i, "2024-03-01T00:00:00Z") for i in range(1, 11)] + [record(11, "2024-06-02T00:00:00Z")]
    first, state = sweep_of(deletes_config, {"updated_at": "2024-06-01T00:00:00Z"}, rows), None
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", rows))
        state = final_state(run_read(deletes_config, ["clients"], state={"clients": {"updated_at": "2024-06-01T00:00:00Z"}}), "clients")
    assert first == [11] and list(IdSet.decode(state["ids"])) == list(range(1, 12))
    assert sweep_of(deletes_config, state, rows) == [11]


def test_an_external_reference_whose_id_equals_a_time_entry_id_is_still_confirmed(deletes_config) -> None:
    deletes_config["deletes_sweep_hours"] = 0
    state = {"time_entry_updated_at": "2024-06-01T00:00:00Z", "ids": IdSet([500, 7]).encode(), "swept_at": START, "delivered_since": START}
    entries = [record(7, external_reference={"id": "500", "permalink": "x"})]  # time entry 7; reference "7" is named nowhere
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "time_entries", json=harvest_page("time_entries", entries))
        mock.get(API + "time_entries?external_reference_id=7", json=harvest_page("time_entries", []))
        output = run_read(deletes_config, ["external_reference"], state={"external_reference": state})
    assert [r["id"] for r in records_of(output, "external_reference") if DELETED_AT in r] == ["7"]


def test_a_derived_stream_sweeps_when_its_parent_does(deletes_config) -> None:
    """Out of phase, a derived stream's sweep would list the whole parent endpoint a second time a day."""
    recent = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = {"updated_at": "2024-06-01T00:00:00Z", "ids": IdSet([1]).encode(), "swept_at": recent, "delivered_since": START}
    references = {"time_entry_updated_at": "2024-06-01T00:00:00Z", "ids": PairSet([(1, 5)]).encode(), "swept_at": START,
                  "delivered_since": START}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "time_entries", json=harvest_page("time_entries", [record(1, external_reference={"id": "5"})]))
        run_read(deletes_config, ["time_entries", "time_entry_external_reference"],
                 state={"time_entries": entries, "time_entry_external_reference": references})
        listed = get_requests(mock, "/time_entries?")
    assert [r.qs["updated_since"] for r in listed] == [["2024-05-31t23:55:00z"]]  # neither sweeps: one list, since the cursor
