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

A row edited while the list is read can move too (its date changed): from a page already read to a
later one, every row between moves up one place. Such a row is read twice, and its `updated_at` is
after the list's first page was served (Harvest's Date header): the pages from where it was first
read up to this one are read again.

What these signals cannot show: a deletion and a creation between two page reads leave
`total_entries` unchanged. The deletion sweep (deletes.py) delivers any listed row that was never
delivered, whatever its `updated_at`, so such a row arrives at the next sweep at the latest.
Nothing extra is requested when nothing moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from ..idset import IdSet
from .context import cursor_value


def served_at(response: Any) -> str | None:
    """Harvest's clock when it served `response` (its Date header), as cursors are compared."""
    text = response.headers.get("Date") if response is not None else None
    try:
        moment = parsedate_to_datetime(text) if text else None
    except (TypeError, ValueError):
        return None
    return cursor_value(moment.isoformat()) if moment is not None and moment.tzinfo is not None else None


def row_ids(rows: list[Any]) -> set[int]:
    return {row["id"] for row in rows if row.__class__ is dict and isinstance(row.get("id"), int)}


@dataclass(frozen=True)
class Reread:
    """Pages to read again: from `first` back to `down_to` at least, and on back until a page holds a
    row of `anchor` (when set) or page 1 is read."""

    first: int
    down_to: int
    anchor: frozenset[int] = frozenset()
    reason: str = ""


@dataclass
class ShiftWatch:
    """One page-number list being read: the previous page's number, its rows' ids and the count Harvest
    gave with it; the ids seen so far, by page; and when the list's first page was served."""

    number: int | None = None
    ids: set[int] = field(default_factory=set)
    total: int | None = None
    started: str | None = None  # Harvest's clock when the first page was served (its Date header)
    pages: list[tuple[int, IdSet]] = field(default_factory=list)
    seen: IdSet = field(default_factory=IdSet)

    def after_page(self, number: int | None, total: Any, rows: list[Any], served_at: str | None) -> Reread | None:
        """After a page: the pages to read again when rows may have crossed into pages already read
        (None: nothing to read again). Then remembers this page as the previous one."""
        ids = row_ids(rows)
        previous_number, previous_ids, previous_total = self.number, self.ids, self.total
        self.number, self.ids = number, ids
        self.total = total if isinstance(total, int) else None
        if self.started is None:
            self.started = served_at
        moved_from = self._moved_from(rows)
        if number is not None:
            self.pages.append((number, IdSet(ids)))
            self.seen |= self.pages[-1][1]
        if number is None or previous_number is None or number != previous_number + 1:
            return None
        plan: Reread | None = None
        if previous_total is not None and self.total is not None and self.total != previous_total \
                and previous_ids and not previous_ids & ids:
            # The count changed and this page holds no row of the previous one: rows may have crossed up.
            plan = Reread(previous_number, previous_number, frozenset(previous_ids), f"total_entries {previous_total} -> {self.total}")
        if moved_from is not None and moved_from < number:
            down_to = min(moved_from, plan.down_to if plan else moved_from)
            plan = Reread(previous_number, down_to, plan.anchor if plan else frozenset(),
                          (plan.reason + "; " if plan else "") + f"a row edited during the read moved here from page {moved_from}")
        return plan

    def _moved_from(self, rows: list[Any]) -> int | None:
        """The earliest page a row of this page was read on before, when it was edited since the list's
        first page: it moved from a page already read to a later one, and every row between moved up one."""
        if self.started is None or not self.seen:
            return None
        earliest: int | None = None
        for row in rows:
            if row.__class__ is not dict or not isinstance(row.get("id"), int) or row["id"] not in self.seen:
                continue
            changed = cursor_value(row.get("updated_at"))
            if changed is None or changed < self.started:
                continue  # a row only pushed down by a creation: nothing crossed up
            for number, ids in reversed(self.pages):
                if row["id"] in ids:
                    earliest = number if earliest is None else min(earliest, number)
                    break
        return earliest
