"""Tombstones end to end: records deleted in the sandbox reach the warehouse as deletes, and only those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integration_tests.conftest import ANCHOR, SCALE, TIME_SCALE, Connector
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS, STREAMS_BY_NAME
from source_harvest.streams.deletes import DELETED_AT
from source_harvest.streams.http import HarvestHttpStream

ENTITY_STREAMS = [s for s in STREAMS if not s.report and s.name != "company"]


def tombstones(run) -> set[tuple[str, Any]]:
    """(stream, key): the id, or the whole primary key of a row keyed otherwise (user_roles)."""
    def key(stream: str, row: dict[str, Any]) -> Any:
        columns = STREAMS_BY_NAME[stream].primary_key
        return row["id"] if columns == ("id",) else tuple(row[c] for c in columns)
    return {(stream, key(stream, r)) for stream, rows in run.records.items() for r in rows if DELETED_AT in r}


def test_a_sweep_tombstones_exactly_what_was_deleted_with_its_cascade(sandbox: Sandbox, tmp_path: Path) -> None:
    connector = Connector(tmp_path, sandbox.config("admin", deletes_sweep_hours=0))
    first = connector.read(ENTITY_STREAMS)
    assert first.exit_code == 0 and not tombstones(first)
    contact = sandbox.records("contacts")[0]
    entry = sandbox.records("time_entries")[5]
    invoice = next(i for i in sandbox.records("invoices")
                   if any(m["_parent_id"] == i["id"] for m in sandbox.records("invoice_messages"))
                   and any(p["_parent_id"] == i["id"] for p in sandbox.records("invoice_payments")))
    messages = {m["id"] for m in sandbox.records("invoice_messages") if m["_parent_id"] == invoice["id"]}
    payments = {p["id"] for p in sandbox.records("invoice_payments") if p["_parent_id"] == invoice["id"]}
    sandbox.delete("contacts", contact["id"])
    sandbox.delete("time_entries", entry["id"])
    sandbox.delete("invoices", invoice["id"])
    sandbox.reset_stats()

    second = connector.read(ENTITY_STREAMS, state=first.state())
    assert second.exit_code == 0, second.errors()
    expected = ({("contacts", contact["id"]), ("time_entries", entry["id"]), ("invoices", invoice["id"])}
                | {("invoice_line_items", item["id"]) for item in invoice["line_items"]}
                | {("invoice_messages", m) for m in messages} | {("invoice_payments", p) for p in payments}
                | ({("time_entry_external_reference", (entry["id"], entry["external_reference"]["id"]))}
                   if entry.get("external_reference") else set()))
    assert tombstones(second) == expected  # every delete, and no live record
    by_endpoint = sandbox.stats()["by_endpoint"]
    assert by_endpoint["GET /v2/invoices/{id}"] == 1  # the invoice is confirmed once for its four streams
    assert by_endpoint["GET /v2/contacts/{id}"] == 1 and by_endpoint["GET /v2/time_entries/{id}"] == 1
    for stream, rows in second.records.items():
        for row in rows:
            if DELETED_AT in row:
                assert row[STREAMS_BY_NAME[stream].cursor] == row[DELETED_AT]

    third = connector.read(ENTITY_STREAMS, state=second.state())
    assert not tombstones(third)  # a delete is reported once



def test_between_sweeps_a_changed_invoice_still_reports_rows_it_lost(sandbox: Sandbox, tmp_path: Path) -> None:
    connector = Connector(tmp_path, sandbox.config("admin"))  # default: sweep once a day
    first = connector.read(ENTITY_STREAMS)
    payment = sandbox.records("invoice_payments")[0]
    invoice = next(i for i in sandbox.records("invoices") if i["id"] == payment["_parent_id"])
    contact = sandbox.records("contacts")[0]
    sandbox.delete("invoice_payments", payment["id"])  # the invoice's due amount, hence updated_at, changes
    sandbox.delete("contacts", contact["id"])
    sandbox.reset_stats()
    second = connector.read(ENTITY_STREAMS, state=first.state())
    assert second.exit_code == 0, second.errors()
    assert ("invoice_payments", payment["id"]) in tombstones(second)
    assert ("contacts", contact["id"]) not in tombstones(second)  # no sweep yet: found at the next one
    assert "GET /v2/contacts/{id}" not in sandbox.stats()["by_endpoint"]
    assert invoice["id"] in {r["id"] for r in second.records["invoices"]}


def test_a_page_shift_during_a_sweep_never_tombstones_a_live_record(tmp_path: Path, monkeypatch) -> None:
    """Page-numbered listings shift when a record is deleted mid-listing: the row that moves onto an
    already-read page is caught by the live shift watch (page 1 is read again), so it is listed and needs no
    404 re-check; and no live record gets a false tombstone."""
    box = Sandbox(seed=7, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, page_size_cap=100).start()
    try:
        connector = Connector(tmp_path, box.config("admin", deletes_sweep_hours=0))
        streams = [s for s in STREAMS if s.name == "time_entries"]
        first = connector.read(streams)
        ordered = box.records("time_entries")  # Harvest's order: the listing's pages are slices of it
        victim = ordered[10]  # on page 1
        shifted = ordered[100]  # first row of page 2: moves onto page 1 once the victim is gone
        original = HarvestHttpStream._fetch_next_page
        done: list[bool] = []
        rechecked: list[str] = []

        def fetch_then_delete(self, stream_slice=None, stream_state=None, next_page_token=None):
            request, response = original(self, stream_slice, stream_state, next_page_token)
            path = request.path_url.split("?")[0]
            if path.startswith("/v2/time_entries/"):
                rechecked.append(path)
            elif path == "/v2/time_entries" and not done:
                done.append(True)
                box.delete("time_entries", victim["id"])  # after page 1 was read, before page 2
            return request, response

        monkeypatch.setattr(HarvestHttpStream, "_fetch_next_page", fetch_then_delete)
        box.reset_stats()
        second = connector.read(streams, state=first.state())
        monkeypatch.undo()
        assert second.exit_code == 0, second.errors()
        # The shift really happened and was caught live: page 1 was read again, so the row that moved was
        # listed (it is unchanged and already in the warehouse), and nothing needed a single-object re-check.
        assert rechecked == []
        assert any("moved while it was read" in line for line in second.logs())
        assert not tombstones(second)  # no false tombstone (the victim was listed before it went)
        assert ("time_entries", shifted["id"]) not in tombstones(second)
        third = connector.read(streams, state=second.state())
        assert tombstones(third) == {("time_entries", victim["id"])}  # the next sweep reports the real delete
    finally:
        box.stop()
