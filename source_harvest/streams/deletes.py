"""Tombstones for records deleted in Harvest, which has no deletion feed.

A stream with a `deletes` row keeps in its state the ids it has delivered and the time of its last
sweep. Every `deletes_sweep_hours` an incremental sync lists the whole endpoint instead of only
what changed; an id it delivered that is no longer listed is confirmed with a single-object GET (a
page can shift under a paginated listing) and, on 404 only, gets a tombstone: its primary key, its
cursor and `_ab_cdc_deleted_at` set to the detection time.

Rows that hang off invoices and estimates (line items, messages, payments) follow their parent:
when a parent is confirmed deleted, its rows are tombstoned; when a parent is read in full (its
record, or its whole child list), rows it no longer holds are tombstoned. Tombstones never move
the stream's cursor.

Every set here grows with the account, so each is compact (idset.py): ids in an IdSet, (parent id,
row id) pairs in a PairSet, never one Python object per record.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Union

from ..config import config_error
from ..constants import DATETIME_FORMAT
from ..idset import IdSet, PairSet

if TYPE_CHECKING:
    from ..catalog import StreamSpec

DELETED_AT = "_ab_cdc_deleted_at"
IDS_KEY = "ids"
SWEPT_AT_KEY = "swept_at"
PLACEHOLDER = re.compile(r"{(\w+)}")
Rows = Union[IdSet, PairSet]  # ids; (parent id, id) pairs when a field is kept next to each id


def add(rows: Rows, parent: int, record_id: int) -> None:
    if isinstance(rows, PairSet):
        rows.add(parent, record_id)
    else:
        rows.add(record_id)


class DeleteTracker:
    def __init__(self, spec: StreamSpec, state: Mapping[str, Any], sweeping: bool, now: datetime,
                 exists: Callable[[str], bool]) -> None:
        assert spec.deletes is not None
        self.spec = spec
        self.template = spec.deletes
        fields = [name for name in PLACEHOLDER.findall(self.template) if name != "id"]
        self.pair_field = fields[0] if fields else None  # kept next to each id (project_id, invoice_id)
        self.follows_parent = "{id}" not in self.template
        self.sweeping = sweeping
        self.now = now.strftime(DATETIME_FORMAT)
        self.exists = exists
        rows: type[IdSet] | type[PairSet] = PairSet if self.pair_field else IdSet
        try:
            self.stored: Rows = rows.decode(state.get(IDS_KEY))
        except ValueError:
            raise config_error(f"The saved state of {spec.name} has an `ids` value this connector did not write. "
                               "Remove `ids` from that stream's state (deletions are then tracked from this sync on).") from None
        self.previous_sweep = state.get(SWEPT_AT_KEY)
        self.delivered: Rows = rows()
        self.listed = IdSet()  # ids (or parent ids) a full listing showed alive
        self.parents_read = IdSet()  # parents read in full ...
        self.held = PairSet()  # ... and (parent id, row id) for every row they hold now that state knows of
        self.stored_parents = self.stored.parents() if isinstance(self.stored, PairSet) else IdSet()
        self.tombstoned: Rows = rows()

    @staticmethod
    def sweep_due(state: Mapping[str, Any], now: datetime, every_hours: float) -> bool:
        swept_at = state.get(SWEPT_AT_KEY)
        if not swept_at or not state.get(IDS_KEY):
            return True  # no baseline yet: the first sweep builds it
        try:
            last = datetime.strptime(swept_at, DATETIME_FORMAT).replace(tzinfo=now.tzinfo)
        except (TypeError, ValueError):
            return True
        return (now - last).total_seconds() >= every_hours * 3600

    # --- what the stream reports while it reads ------------------------------------------------
    def delivered_record(self, record: Mapping[str, Any]) -> None:
        record_id = record.get("id")
        if not isinstance(record_id, int) or record_id < 0:
            return
        parent = record.get(self.pair_field) if self.pair_field else 0
        add(self.delivered, parent if isinstance(parent, int) and parent >= 0 else 0, record_id)

    def listed_record(self, record_id: Any) -> None:
        """An id (a parent id for rows that follow a parent) seen alive in a full listing."""
        if isinstance(record_id, int) and record_id >= 0:
            self.listed.add(record_id)

    def parent_read(self, parent_id: Any, row_ids: Iterable[Any]) -> None:
        """A parent read in full: these are all the rows it holds now."""
        if isinstance(parent_id, int) and parent_id >= 0:
            self.parents_read.add(parent_id)
            if parent_id in self.stored_parents:  # rows of other parents cannot be missing from state
                for row_id in row_ids:
                    if isinstance(row_id, int) and row_id >= 0:
                        self.held.add(parent_id, row_id)

    # --- the end of the stream ---------------------------------------------------------------
    def tombstones(self) -> Iterator[dict[str, Any]]:
        stored = self.stored
        if isinstance(stored, PairSet) and self.follows_parent:
            for parent, record_id in stored.with_parents(self.parents_read) - self.held:
                yield self._tombstone(parent, record_id)  # removed from a parent read in full
            if self.sweeping:
                for parent in stored.parents() - self.listed - self.parents_read:
                    if not self.exists(self.template.format(**{self.pair_field: parent})):  # type: ignore[arg-type]
                        for record_id in stored.children_of(parent):
                            yield self._tombstone(parent, record_id)
        elif self.sweeping:
            unlisted = stored.without_children(self.listed) if isinstance(stored, PairSet) else ((0, i) for i in stored - self.listed)
            for parent, record_id in unlisted:
                path = self.template.format(id=record_id, **({self.pair_field: parent} if self.pair_field else {}))
                if not self.exists(path):  # still there: a page shifted during the listing
                    yield self._tombstone(parent, record_id)

    def _tombstone(self, parent: int, record_id: int) -> dict[str, Any]:
        add(self.tombstoned, parent, record_id)
        row: dict[str, Any] = {"id": record_id, self.spec.cursor: self.now, DELETED_AT: self.now}  # type: ignore[dict-item]
        if self.pair_field:
            row[self.pair_field] = parent
        return row

    def state(self) -> dict[str, Any]:
        kept = (self.stored - self.tombstoned) | self.delivered  # type: ignore[operator]
        swept = self.now if self.sweeping else self.previous_sweep
        return {IDS_KEY: kept.encode(), **({SWEPT_AT_KEY: swept} if swept else {})}
