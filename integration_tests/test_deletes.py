"""Tombstones end to end: records deleted in the sandbox reach the warehouse as deletes, and only those."""

from __future__ import annotations

from pathlib import Path

from integration_tests.conftest import Connector
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS
from source_harvest.streams.deletes import DELETED_AT

ENTITY_STREAMS = [s for s in STREAMS if not s.report and s.name != "company"]


def tombstones(run) -> set[tuple[str, int]]:
    return {(stream, r["id"]) for stream, rows in run.records.items() for r in rows if DELETED_AT in r}


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
                | {("invoice_messages", m) for m in messages} | {("invoice_payments", p) for p in payments})
    assert tombstones(second) == expected  # every delete, and no live record
    by_endpoint = sandbox.stats()["by_endpoint"]
    assert by_endpoint["GET /v2/invoices/{id}"] == 1  # the invoice is confirmed once for its four streams
    assert by_endpoint["GET /v2/contacts/{id}"] == 1 and by_endpoint["GET /v2/time_entries/{id}"] == 1
    for stream, rows in second.records.items():
        for row in rows:
            if DELETED_AT in row:
                assert row[STREAMS_BY_NAME_CURSOR[stream]] == row[DELETED_AT]

    third = connector.read(ENTITY_STREAMS, state=second.state())
    assert not tombstones(third)  # a delete is reported once


STREAMS_BY_NAME_CURSOR = {s.name: s.cursor for s in STREAMS}


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
