"""A page-number list whose rows move while it is read (streams/shift.py).

A fake Harvest serves /time_entries three rows a page, ordered as Harvest orders them, and answers
each request from the rows as they are at that moment: deleting a row on page 1 after page 1 was
served moves the first row of page 2 onto page 1.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import requests_mock as requests_mock_module
from airbyte_cdk.models import SyncMode

from unit_tests.conftest import API, record, records_of, run_read, serve_empty_lists

PER_PAGE = 3


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class LiveList:
    """/time_entries served page by page from a list that changes between requests."""

    def __init__(self, ids: list[int]) -> None:
        self.rows = [record(i, spent_date="2024-06-01") for i in ids]
        self.requested: list[int] = []
        self.after_page: dict[int, Callable[[LiveList], None]] = {}  # page -> change made once it is served

    def delete(self, record_id: int) -> None:
        self.rows = [r for r in self.rows if r["id"] != record_id]

    def create(self, record_id: int, at: int) -> None:
        self.rows.insert(at, record(record_id, spent_date="2024-06-02"))

    def edit_to_end(self, record_id: int) -> None:
        """An edit of the row's date that moves it to the end of the list, stamped now."""
        row = next(r for r in self.rows if r["id"] == record_id)
        self.delete(record_id)
        self.rows.append({**row, "spent_date": "2024-05-01", "updated_at": now()})

    def serve(self, request: Any, context: Any) -> dict[str, Any]:
        page = int(parse_qs(urlsplit(request.url).query).get("page", ["1"])[0])
        self.requested.append(page)
        start = (page - 1) * PER_PAGE
        rows = self.rows[start:start + PER_PAGE]
        total = len(self.rows)
        has_next = start + PER_PAGE < total
        body = {"time_entries": rows, "per_page": PER_PAGE, "total_pages": -(-total // PER_PAGE), "total_entries": total,
                "page": page, "next_page": page + 1 if has_next else None, "previous_page": page - 1 if page > 1 else None,
                "links": {"next": f"{API}time_entries?page={page + 1}&per_page={PER_PAGE}" if has_next else None}}
        context.headers["Date"] = formatdate(usegmt=True)  # Harvest's clock, as every answer carries it
        change = self.after_page.pop(page, None)
        if change is not None:
            change(self)
        return body


def read_ids(config: dict[str, Any], live: LiveList, mode: SyncMode = SyncMode.incremental) -> list[int]:
    with requests_mock_module.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(f"{API}time_entries", json=live.serve)
        output = run_read(config, {"time_entries": mode})
    assert not output.errors, output.errors
    return [r["id"] for r in records_of(output, "time_entries") if "_ab_cdc_deleted_at" not in r]


def test_a_row_deleted_on_an_earlier_page_mid_read_does_not_hide_the_row_that_crossed_the_boundary(config: dict[str, Any]) -> None:
    live = LiveList(list(range(1, 10)))  # pages [1 2 3] [4 5 6] [7 8 9]
    live.after_page[1] = lambda account: account.delete(2)  # 4 moves up onto page 1, already read
    ids = read_ids(config, live)
    assert set(ids) == set(range(1, 10))  # 2 was read before it went
    assert 4 in ids
    assert live.requested == [1, 2, 1, 3]  # page 1 read again once, right after page 2 showed the new count


def test_the_shift_is_also_caught_in_a_full_refresh_snapshot(config: dict[str, Any]) -> None:
    live = LiveList(list(range(1, 10)))
    live.after_page[1] = lambda account: account.delete(1)
    ids = read_ids(config, live, SyncMode.full_refresh)
    assert set(ids) >= {2, 3, 4, 5, 6, 7, 8, 9}


def test_a_shift_larger_than_a_page_reads_back_until_it_meets_the_previous_page(config: dict[str, Any]) -> None:
    live = LiveList(list(range(1, 13)))  # pages [1 2 3] [4 5 6] [7 8 9] [10 11 12]
    # After page 2: 1, 2, 3 and 4 go; 5 and 6 (page 2's) now sit on page 1, 7 8 9 on pages 1 and 2.
    live.after_page[2] = lambda account: [account.delete(i) for i in (1, 2, 3, 4)]
    ids = read_ids(config, live)
    assert set(ids) == set(range(1, 13))
    assert live.requested == [1, 2, 3, 2, 1]  # page 3 showed the count fall; back to page 1, which holds 5


def test_a_row_edited_mid_read_that_moves_to_a_later_page_does_not_hide_the_row_that_moved_up(config: dict[str, Any]) -> None:
    live = LiveList(list(range(1, 10)))  # pages [1 2 3] [4 5 6] [7 8 9]
    live.after_page[1] = lambda account: account.edit_to_end(2)  # [1 3 4] [5 6 7] [8 9 2]: 4 moved onto page 1
    ids = read_ids(config, live)
    assert set(ids) == set(range(1, 10))  # the count never changed: 2, read again on page 3, gave it away
    assert live.requested == [1, 2, 3, 2, 1]


def test_nothing_is_read_again_when_nothing_moved(config: dict[str, Any]) -> None:
    live = LiveList(list(range(1, 10)))
    ids = read_ids(config, live)
    assert sorted(ids) == list(range(1, 10))
    assert live.requested == [1, 2, 3]


def test_rows_moving_down_are_not_read_again(config: dict[str, Any]) -> None:
    live = LiveList(list(range(1, 10)))
    live.after_page[1] = lambda account: account.create(100, at=0)  # 3 moves down onto page 2
    ids = read_ids(config, live)
    assert set(ids) == set(range(1, 10))
    assert live.requested == [1, 2, 3, 4]  # page 2 starts with 3, a row of page 1: nothing crossed upwards


def test_without_detection_the_row_is_lost(config: dict[str, Any], monkeypatch: Any) -> None:
    """The same account with the watch switched off: the test above would fail without it."""
    from source_harvest.streams.shift import ShiftWatch

    monkeypatch.setattr(ShiftWatch, "after_page", lambda self, number, total, rows, served_at: None)
    live = LiveList(list(range(1, 10)))
    live.after_page[1] = lambda account: account.delete(2)
    assert 4 not in read_ids(config, live)
