"""The record hub: one fetch per production, replayed to the other consumers with only what they read."""

from __future__ import annotations

from typing import Any, Iterator

import orjson

from source_harvest.streams.hub import RecordHub, oldest


class FakeProduction:
    name = "invoices"

    def __init__(self) -> None:
        self.fetches: list[str | None] = []

    def produce(self, since: str | None, run: Any = None) -> Iterator[dict[str, Any]]:
        self.fetches.append(since)
        for i in range(3):
            yield {"id": i, "updated_at": f"2024-0{i + 1}-01T00:00:00Z", "line_items": [{"id": i * 10}], "notes": "x" * 100}


def test_oldest_since_wins_and_none_means_everything() -> None:
    assert oldest(["2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"]) == "2024-01-01T00:00:00Z"
    assert oldest(["2024-02-01T00:00:00Z", None]) is None


def test_production_is_fetched_once_and_spooled_with_only_the_fields_others_read(tmp_path) -> None:
    hub = RecordHub(directory=str(tmp_path))
    production = FakeProduction()
    hub.expect("invoices", "invoices", "2024-02-01T00:00:00Z")
    hub.expect("invoices", "invoice_line_items", "2024-01-01T00:00:00Z", frozenset({"id", "updated_at", "line_items"}))
    first = list(hub.records(production, "2024-02-01T00:00:00Z", "invoices"))
    spooled = [orjson.loads(line) for line in next(tmp_path.iterdir()).read_bytes().splitlines()]
    second = list(hub.records(production, "2024-01-01T00:00:00Z", "invoice_line_items"))
    assert production.fetches == ["2024-01-01T00:00:00Z"]  # once, from the oldest since
    assert [r["notes"] for r in first] == ["x" * 100] * 3  # the fetching consumer gets whole records
    assert all(set(r) == {"id", "updated_at", "line_items"} for r in spooled)
    assert second == spooled
    assert list(tmp_path.iterdir()) == []  # the spool is gone once the last consumer has read it


def test_single_consumer_streams_straight_through_without_a_spool(tmp_path) -> None:
    hub = RecordHub(directory=str(tmp_path))
    production = FakeProduction()
    hub.expect("invoices", "invoices", None)
    assert len(list(hub.records(production, None, "invoices"))) == 3
    assert list(tmp_path.iterdir()) == []
