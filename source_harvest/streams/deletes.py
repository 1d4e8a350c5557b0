"""Tombstones for records deleted in Harvest, which has no deletion feed.

A stream with a `deletes` row keeps in its state the ids it has delivered (compact, see idset.py),
the time of its last sweep, and the oldest start date it has delivered from. Every
`deletes_sweep_hours` an incremental sync lists the endpoint from that start date (the rows that can
be in the warehouse) instead of only what changed; an id it delivered that is no longer listed is confirmed
with a single-object GET (a page can shift under a paginated listing) and, on 404 only, gets a
tombstone: its primary key, its cursor and `_ab_cdc_deleted_at` set to the detection time.

A template with a query (`time_entries?external_reference_id={id}`) confirms with a list instead: an
empty one means the row is gone (an external reference no time entry names any more).

Rows that hang off invoices and estimates (line items, messages, payments) follow their parent:
when a parent is confirmed deleted, its rows are tombstoned; when a parent is read in full (its
record, or its whole child list), rows it no longer holds are tombstoned right after its rows.
Tombstones never move the stream's cursor.

At a checkpoint (checkpoint.py) the ids delivered so far are merged into `ids` (they are in the
warehouse once the STATE message is committed) and the tombstoned ones removed; a sweep in progress
also keeps the ids its listing has shown alive so far (`resume.sweep`), so a resumed sweep neither
re-checks them nor takes them for deleted.

Every set here grows with the account, so each is compact (idset.py): ids in an IdSet, (parent id,
row id) pairs in a PairSet, never one Python object per record.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Union
from urllib.parse import quote

import numpy as np

from ..config import config_error
from ..constants import DATETIME_FORMAT
from ..idset import ID_LIMIT, IdSet, PairSet
from .checkpoint import CHECKPOINT, CHECKPOINT_REQUESTS, Checkpoint, Tombstone
from .context import cursor_value

if TYPE_CHECKING:
    from ..catalog import StreamSpec

DELETED_AT = "_ab_cdc_deleted_at"
IDS_KEY = "ids"
SWEPT_AT_KEY = "swept_at"
# The oldest start date the stream has delivered from: every delivered row was updated at or after it
# (updated_at only grows), so a sweep lists from there, not the whole history.
DELIVERED_SINCE_KEY = "delivered_since"
TEXTS_KEY = "texts"  # hashed text ids -> the text (TextIds)
# The since the last sweep delivered from: the next sweep delivers again every row updated since then,
# the backstop for a version a read missed (a page shift the count could not see) since that sweep.
SWEPT_SINCE_KEY = "swept_since"
KEPT_KEYS = (IDS_KEY, SWEPT_AT_KEY, DELIVERED_SINCE_KEY, TEXTS_KEY, SWEPT_SINCE_KEY)
TEXT_KEY_BASE = 2**63
PLACEHOLDER = re.compile(r"{(\w+)}")
Rows = Union[IdSet, PairSet]  # ids; (parent id, id) pairs when a field is kept next to each id


class IntIds:
    """Row ids as Harvest sends them: integers."""

    @staticmethod
    def key(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < ID_LIMIT else None

    @staticmethod
    def value(key: int) -> Any:
        return key

    def encode(self, kept: Rows) -> dict[str, Any]:
        return {}


class TextIds:
    """Row ids Harvest sends as strings (external references: "4012", or a service's own id such as a
    Trello card's hex id). A decimal one is kept as its number; any other as a 63-bit hash above
    TEXT_KEY_BASE, with the text itself in state under `texts`, so a tombstone can carry it."""

    def __init__(self, texts: Mapping[str, Any] | None = None) -> None:
        self.texts: dict[int, str] = {int(k): v for k, v in (texts or {}).items()}

    def key(self, value: Any) -> int | None:
        if not isinstance(value, str) or not value:
            return None
        if value.isascii() and value.isdigit() and (value == "0" or value[0] != "0") and int(value) < TEXT_KEY_BASE:
            return int(value)
        key = TEXT_KEY_BASE + int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big") % TEXT_KEY_BASE
        self.texts[key] = value
        return key

    def value(self, key: int) -> Any:
        return self.texts[key] if key >= TEXT_KEY_BASE else str(key)

    def encode(self, kept: Rows) -> dict[str, Any]:
        """The texts of the hashed ids still kept."""
        if not self.texts:
            return {}
        children = kept.columns()[1] if isinstance(kept, PairSet) else np.frombuffer(kept.to_array(), dtype=np.uint64)
        wanted = {int(k) for k in children[children >= np.uint64(TEXT_KEY_BASE)]}
        return {TEXTS_KEY: {str(k): v for k, v in self.texts.items() if k in wanted}} if wanted else {}


def add(rows: Rows, parent: int, record_id: int) -> None:
    if isinstance(rows, PairSet):
        rows.add(parent, record_id)
    else:
        rows.add(record_id)


class DeleteTracker:
    def __init__(self, spec: StreamSpec, state: Mapping[str, Any], sweeping: bool, now: str,
                 exists: Callable[[str], bool], sweep: Mapping[str, Any] | None = None, start: str | None = None) -> None:
        assert spec.deletes is not None
        self.spec = spec
        self.template = spec.deletes
        fields = [name for name in PLACEHOLDER.findall(self.template) if name != "id"]
        self.pair_field = fields[0] if fields else None  # kept next to each id (project_id, invoice_id)
        # The key column that is not the parent's: `id`, or a derived row's element id (`user_id` of user_roles).
        self.id_column = next((k for k in spec.primary_key if k != self.pair_field), "id")
        self.follows_parent = "{id}" not in self.template
        self.sweeping = sweeping
        self.now = now  # the detection time: when the sync (its first attempt) started
        self.stamp = now  # a tombstone's cursor: the detection time, or the newest cursor delivered since, if later
        self.exists = exists
        rows: type[IdSet] | type[PairSet] = PairSet if self.pair_field else IdSet
        texts = state.get(TEXTS_KEY)
        if texts is not None and not (isinstance(texts, Mapping) and all(k.isdigit() and isinstance(v, str) for k, v in texts.items())):
            raise config_error(f"The saved state of {spec.name} has a `{TEXTS_KEY}` value this connector did not write. "
                               f"Remove `{TEXTS_KEY}` and `{IDS_KEY}` from that stream's state.")
        self.ids: IntIds | TextIds = TextIds(texts) if spec.text_ids else IntIds()
        try:
            self.stored: Rows = rows.decode(state.get(IDS_KEY))
        except ValueError:
            raise config_error(f"The saved state of {spec.name} has an `ids` value this connector did not write. "
                               "Remove `ids` from that stream's state (deletions are then tracked from this sync on).") from None
        # No `ids` in the state: a release or a connector that kept none, or a state written by hand (such
        # as the far-future state of Airbyte's acceptance tests); the first sweep builds the baseline.
        self.has_baseline = state.get(IDS_KEY) is not None
        self.previous_sweep = state.get(SWEPT_AT_KEY)
        self.previous_sweep_since = state.get(SWEPT_SINCE_KEY) if isinstance(state.get(SWEPT_SINCE_KEY), str) else None
        self.sweep_since: str | None = (sweep or {}).get("since")  # this sweep's own since (set by the stream)
        self.floor = self.delivered_since(state, start)
        self.delivered: Rows = rows()
        try:
            self.listed = IdSet.decode((sweep or {}).get("listed"))  # ids (or parent ids) a full listing showed alive
        except ValueError:
            raise config_error(f"The saved state of {spec.name} has a `resume.sweep` this connector did not write. "
                               "Remove `resume` from that stream's state.") from None
        self.parents_read = IdSet()  # parents read in full (their rows' tombstones are out)
        self.tombstoned: Rows = rows()

    def delivered_since(self, state: Mapping[str, Any], start: str | None) -> str | None:
        """The oldest start date the stream has delivered from: the saved one or this sync's start,
        whichever is older (the default start date moves with time). Ids saved by a release that did not
        keep it may be older than any start: those sweeps list the whole history (None)."""
        saved = state.get(DELIVERED_SINCE_KEY)
        if saved is None and self.stored:
            return None
        if saved is not None and not isinstance(saved, str):
            raise config_error(f"The saved state of {self.spec.name} has a `{DELIVERED_SINCE_KEY}` this connector did not write. "
                               f"Remove `{DELIVERED_SINCE_KEY}` from that stream's state.")
        return min(filter(None, (saved, start)), default=None)

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
    def row_key(self, record: Mapping[str, Any]) -> tuple[int, int] | None:
        """(parent id or 0, row id) as the sets keep them; None for a row without a usable id."""
        record_id = self.ids.key(record.get(self.id_column))
        if record_id is None:
            return None
        parent = record.get(self.pair_field) if self.pair_field else 0
        return (parent if isinstance(parent, int) and parent >= 0 else 0), record_id

    def delivered_record(self, record: Mapping[str, Any]) -> None:
        key = self.row_key(record)
        if key is not None:
            add(self.delivered, *key)
        stamp = cursor_value(record.get(self.spec.cursor))  # type: ignore[arg-type]
        if stamp is not None and stamp > self.stamp:
            self.stamp = stamp

    def assume_delivered(self, record: Mapping[str, Any]) -> None:
        """A sweep without saved ids (tombstones switched on later, or a stream newly tracked): a listed row
        older than the cursor is taken as delivered by the earlier syncs, so the baseline is whole and the
        next sweep does not take every unchanged row for one never delivered."""
        if self.sweeping and not self.has_baseline:
            key = self.row_key(record)
            if key is not None:
                add(self.delivered, *key)

    def never_delivered(self, record: Mapping[str, Any]) -> bool:
        """A row no saved state of this stream names: a sweep delivers it whatever its updated_at. Only a
        state that holds delivered ids (a baseline) can tell: without one, nothing is known to be missing."""
        key = self.row_key(record)
        if key is None or not self.has_baseline:
            return False
        return (key not in self.stored) if isinstance(self.stored, PairSet) else (key[1] not in self.stored)

    def listed_record(self, record_id: Any) -> None:
        """An id (a parent id for rows that follow a parent) seen alive in a full listing."""
        key = IntIds.key(record_id) if self.follows_parent else self.ids.key(record_id)
        if key is not None:
            self.listed.add(key)

    def parent_read(self, parent_id: Any, row_ids: Iterable[Any]) -> Iterator[Tombstone]:
        """A parent read in full: these are all the rows it holds now; rows it held before and no longer
        holds get their tombstones now."""
        if not self.follows_parent or not isinstance(parent_id, int) or parent_id < 0 or parent_id in self.parents_read:
            return  # rows that do not follow a parent (external references) are confirmed one by one
        self.parents_read.add(parent_id)
        if self.sweeping:
            self.listed.add(parent_id)  # read in full: the sweep's end need not ask about it again
        if not isinstance(self.stored, PairSet):
            return
        before = self.stored.children_of(parent_id)
        if not before:
            return  # nothing of it in the warehouse: nothing to tombstone (the usual case, and cheap)
        held = IdSet(key for key in map(self.ids.key, row_ids) if key is not None)
        for record_id in before - held:
            yield Tombstone(self._tombstone(parent_id, record_id))

    # --- the end of the stream ---------------------------------------------------------------
    def tombstones(self) -> Iterator[dict[str, Any] | Checkpoint]:
        """At the end of a sweep: what the listing did not show is confirmed one GET at a time (a page
        can shift under a paginated listing), with a checkpoint every CHECKPOINT_REQUESTS checks.
        An id found alive joins `listed`, so a resumed sweep does not ask again."""
        if not self.sweeping:
            return
        alive = self.listed
        kept = self.kept_stored()
        checks = 0
        if isinstance(kept, PairSet) and self.follows_parent:
            for parent in kept.parents() - alive:
                if self.exists(self.template.format(**{self.pair_field: parent})):  # type: ignore[arg-type]
                    alive.add(parent)
                else:
                    for record_id in kept.children_of(parent):
                        yield self._tombstone(parent, record_id)
                checks += 1
                if checks % CHECKPOINT_REQUESTS == 0:
                    yield CHECKPOINT
            return
        unlisted = kept.without_children(alive) if isinstance(kept, PairSet) else ((0, i) for i in kept - alive)
        for parent, record_id in unlisted:
            value = self.ids.value(record_id)
            path = self.template.format(id=quote(value, safe="") if isinstance(value, str) else value,
                                        **({self.pair_field: parent} if self.pair_field else {}))
            if self.exists(path):  # still there: a page shifted during the listing
                alive.add(record_id)
            else:
                yield self._tombstone(parent, record_id)
            checks += 1
            if checks % CHECKPOINT_REQUESTS == 0:
                yield CHECKPOINT

    def _tombstone(self, parent: int, record_id: int) -> dict[str, Any]:
        add(self.tombstoned, parent, record_id)
        # Never older than a version delivered this sync (updated while it ran), or the destination would keep it.
        row: dict[str, Any] = {self.id_column: self.ids.value(record_id), self.spec.cursor: self.stamp, DELETED_AT: self.stamp}  # type: ignore[dict-item]
        if self.pair_field:
            row[self.pair_field] = parent
        return row

    def kept_stored(self) -> Rows:
        """The saved rows less those tombstoned so far."""
        return self.stored - self.tombstoned  # type: ignore[operator]

    def kept(self) -> Rows:
        """The rows the warehouse holds now: saved ones less the tombstoned, plus those delivered."""
        return self.kept_stored() | self.delivered  # type: ignore[operator]

    def _kept_state(self) -> dict[str, Any]:
        """`ids` as they stand (delivered rows in, tombstoned rows out), their texts, and the floor."""
        rows = self.kept()
        return {IDS_KEY: rows.encode(), **self.ids.encode(rows), **({DELIVERED_SINCE_KEY: self.floor} if self.floor else {})}

    def checkpoint(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """What state keeps at a checkpoint, and a sweep's progress."""
        return self._kept_state(), ({"listed": self.listed.encode(), **({"since": self.sweep_since} if self.sweep_since else {})}
                                    if self.sweeping else None)

    def state(self) -> dict[str, Any]:
        swept = self.now if self.sweeping else self.previous_sweep
        swept_since = self.sweep_since if self.sweeping else self.previous_sweep_since
        return {**self._kept_state(), **({SWEPT_AT_KEY: swept} if swept else {}), **({SWEPT_SINCE_KEY: swept_since} if swept_since else {})}
