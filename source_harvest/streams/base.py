"""HarvestStream: what every stream delivers and remembers.

Owns: the consumer loop (records from the hub, filtered to the stream's own `since`), coercion to the
schema, the `updated_at` cursor (committed only when the stream finishes, because Harvest never sorts
by updated_at), the state kept next to it, and the hooks of deletion capture (deletes.py).
Harvest's HTTP conventions are in http.py.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping, MutableMapping, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..catalog import StreamSpec
from ..coerce import Coercer
from ..state import cursor_from_state
from .context import SyncContext, cursor_value
from .deletes import IDS_KEY, SWEPT_AT_KEY, DeleteTracker
from .http import HarvestHttpStream, ParentGone

__all__ = ["HarvestStream", "ParentGone", "add_flat_columns"]


def dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if value.__class__ is not dict:  # JSON objects are plain dicts; an ABC check costs 10x more
            return None
        value = value.get(key)
    return value


def flat_columns(spec: StreamSpec) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((column, tuple(dotted.split("."))) for column, dotted in spec.flat)


def add_flat_columns(record: dict[str, Any], columns: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, Any]:
    for column, path in columns:
        if len(path) == 2:  # the usual `client.id`, inlined: this runs for every record
            outer = record.get(path[0])
            record[column] = outer.get(path[1]) if outer.__class__ is dict else None
        else:
            record[column] = dig(record, path)
    return record


class HarvestStream(HarvestHttpStream):
    """One row of `catalog.STREAMS` bound to one sync's context: what it delivers and its state."""

    def __init__(self, spec: StreamSpec, context: SyncContext) -> None:
        self.flat = flat_columns(spec)
        self.tracker: DeleteTracker | None = None
        self._saved_extra: dict[str, Any] = {}  # state kept next to the cursor (ids, swept_at)
        self._cursor_value: str | None = None
        super().__init__(spec, context)

    # --- what this stream yields ------------------------------------------------------------
    @abstractmethod
    def produce(self, since: str | None) -> Iterator[dict[str, Any]]:
        """This stream's records as Harvest returns them for `since` (server-side filter only)."""

    def read_records(self, sync_mode: SyncMode, cursor_field: Optional[list[str]] = None,
                     stream_slice: Optional[Mapping[str, Any]] = None,
                     stream_state: Optional[Mapping[str, Any]] = None) -> Iterable[Mapping[str, Any]]:
        coerce = self.coercer
        stats = self.context.stats
        stats.start(self.name)
        counters = stats[self.name]
        try:
            for record in self.consume(sync_mode, stream_state or {}):
                counters.records += 1
                yield coerce(record)
        except AirbyteTracedException as error:
            if self.context.config.ignore_forbidden_streams and "403 Forbidden" in (error.message or ""):
                self.logger.warning(f"{error.message} Skipped because ignore_forbidden_streams is on.")
                stats.finish(self.name, None)
                return
            raise
        stats.finish(self.name, dict(self.state))

    @cached_property
    def coercer(self) -> Coercer:
        return Coercer(self.get_json_schema())

    def consume(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Records this stream must deliver: its production from the hub, filtered to its own since."""
        since = self.context.since(self.spec, sync_mode, stream_state)
        tracker = self.prepare_deletes(sync_mode, stream_state)
        listing = tracker is not None and tracker.sweeping and not tracker.follows_parent
        cursor = self.spec.cursor
        newest = self.saved_cursor(stream_state)
        for record in self.context.hub.records(self, self.production_since(since), self.name):
            if listing:
                tracker.listed_record(record.get("id"))  # type: ignore[union-attr]
            if cursor:
                value = cursor_value(record.get(cursor))
                if since is not None and value is not None and value < since:
                    continue  # older than this stream needs (endpoint shared, or no server filter)
                if value is not None and (newest is None or value > newest):
                    newest = value
            if tracker is not None:
                tracker.delivered_record(record)
            yield record
        if tracker is not None:
            yield from tracker.tombstones()  # after the records: they never move the cursor
            self._saved_extra = tracker.state()
        # Harvest never sorts by updated_at: the cursor moves only once every record is out.
        self._cursor_value = newest

    # --- deletions ---------------------------------------------------------------------------
    def prepare_deletes(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> DeleteTracker | None:
        """The stream's delete tracker for this sync (incremental, `capture_deletes` on, a `deletes` row)."""
        config = self.context.config
        if self.tracker is None and self.spec.deletes and config.capture_deletes and sync_mode == SyncMode.incremental:
            now = self.context.started_at
            sweeping = DeleteTracker.sweep_due(stream_state, now, config.deletes_sweep.total_seconds() / 3600)
            self.tracker = DeleteTracker(self.spec, stream_state, sweeping, now, self.exists)
        return self.tracker

    @property
    def sweeping(self) -> bool:
        return self.tracker is not None and self.tracker.sweeping

    def parent_since(self, since: str | None) -> str | None:
        """Which parents can hold rows changed since `since` (child streams without a change signal: all)."""
        return since

    def parent_fetch_since(self, since: str | None) -> str | None:
        """The parent listing this stream reads: in full during a deletion sweep (deleted parents are then seen)."""
        return None if self.sweeping else self.parent_since(since)

    def production_since(self, since: str | None) -> str | None:
        """What this stream's own listing asks Harvest for: everything during a deletion sweep."""
        return None if self.sweeping and not self.tracker.follows_parent else since  # type: ignore[union-attr]

    @staticmethod
    def normalize_cursor(value: Any) -> str | None:
        return cursor_value(value)

    def saved_cursor(self, stream_state: Mapping[str, Any] | None) -> str | None:
        if not self.spec.cursor:
            return None
        return cursor_from_state(stream_state, self.spec.cursor, self.normalize_cursor, self.name)

    @property
    def state(self) -> MutableMapping[str, Any]:
        cursor = {self.spec.cursor: self._cursor_value} if self.spec.cursor and self._cursor_value else {}
        return {**cursor, **self._saved_extra}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._cursor_value = self.saved_cursor(value)
        self._saved_extra = {k: v for k, v in (value or {}).items() if k in (IDS_KEY, SWEPT_AT_KEY)} if self.spec.deletes else {}
