"""Rows that move across page boundaries while a page-number list is read.

Harvest orders page endpoints (`page=N`: /time_entries, /expenses, /invoices, /estimates, …) by
date, not by id. When a row on a page already read is deleted, every later row moves up one place,
and the row that crossed the page boundary would never be read. Every page carries
`total_entries`; when it differs from the previous page's, rows moved. The rows that may have
crossed sit, in the list as it is now, after the last surviving row of the previous page and
before the page just read. If the page just read holds a row of the previous page, nothing
crossed (rows moved down, which only repeats rows). Otherwise the pages before it are read again,
going back one page at a time, until one holds a row of the previous page (or page 1 is read):
every row in between is then delivered. Repeats are harmless: destinations dedupe on the primary key.

What the count cannot show: a deletion and a creation between two page reads leave
`total_entries` unchanged. The deletion sweep (deletes.py) delivers any listed row that was never
delivered, whatever its `updated_at`, so such a row arrives at the next sweep at the latest.
Nothing extra is requested when nothing moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def page_number(url: str) -> int | None:
    """The `page` a page-endpoint URL asks for (1 when it names none); None on a cursor (keyset) URL."""
    query = dict(parse_qsl(urlsplit(url).query))
    if "cursor" in query:
        return None
    text = query.get("page", "1")
    return int(text) if text.isdigit() and int(text) >= 1 else None


def page_url(url: str, number: int) -> str:
    """`url` asking for page `number` instead (the other parameters kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    return urlunsplit(parts._replace(query=urlencode([("page", str(number)), *query])))


def row_ids(rows: list[Any]) -> set[int]:
    return {row["id"] for row in rows if row.__class__ is dict and isinstance(row.get("id"), int)}


@dataclass
class ShiftWatch:
    """One page-number list being read: the previous page's number, its rows' ids and the count
    Harvest gave with it."""

    number: int | None = None
    ids: set[int] = field(default_factory=set)
    total: int | None = None
    anchor: set[int] = field(default_factory=set)  # the previous page's ids, while pages are read again

    def page_to_reread(self, number: int | None, total: Any, ids: set[int]) -> int | None:
        """After a page: the page to read again first when rows may have crossed into pages already
        read (None: nothing to re-read). Then remembers this page as the previous one."""
        previous_number, previous_ids, previous_total = self.number, self.ids, self.total
        self.number, self.ids = number, ids
        self.total = total if isinstance(total, int) else None
        if number is None or previous_number is None or previous_total is None or self.total is None:
            return None
        if self.total == previous_total or number != previous_number + 1 or not previous_ids:
            return None
        if previous_ids & ids:
            return None  # rows moved down: the rows after the previous page's last one are on this page
        self.anchor = previous_ids
        return previous_number

    def found_anchor(self, rows: list[Any]) -> bool:
        """A page read again holds a row of the previous page: every row that may have crossed is read."""
        return bool(self.anchor & row_ids(rows))
