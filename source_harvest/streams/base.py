"""HarvestStream: what every stream delivers and remembers.

Owns: the consumer loop (records from the hub, filtered to the stream's own `since`), coercion to the
schema, the `updated_at` cursor (committed only when the stream finishes, because Harvest never sorts
by updated_at, and never past the time the stream started), checkpoints inside the stream (each one
ends a CDK slice, after which the CDK emits the `state` below; checkpoint.py says what they hold),
the state kept next to the cursor, and the hooks of deletion capture (deletes.py).
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
from ..constants import DATETIME_FORMAT
from ..state import cursor_from_state
from .checkpoint import CHECKPOINT, CHECKPOINT_REQUESTS, HEAVY_STATE_CHARS, RESUME_KEY, ListingPosition, PageEnd, Run, Tombstone
from .context import SyncContext, cursor_value
from .deletes import IDS_KEY, KEPT_KEYS, DeleteTracker
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
        self._committed: dict[str, Any] = {}  # the cursor and what is kept next to it, as last completed
        self._incoming: Run | None = None  # the resume point of the state this sync started from
        self._view: dict[str, Any] = {}  # what the `state` getter answers: rebuilt at each checkpoint
        self.run: Run | None = None  # this sync's own read, once started
        self._pending: Iterator[Any] | None = None
        self._finished = False
        self._heavy_state = False  # the last checkpoint carried large id sets: checkpoint less often
        super().__init__(spec, context)

    # --- what this stream yields ------------------------------------------------------------
    @abstractmethod
    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        """This stream's records as Harvest returns them for `since` (server-side filter only), with the
        markers of checkpoint.py between them. `run` is set when the stream reads for itself: it says
        where to start, and the production records there how far it has come."""

    def stream_slices(self, *, sync_mode: SyncMode, cursor_field: Optional[list[str]] = None,
                      stream_state: Optional[Mapping[str, Any]] = None) -> Iterable[Optional[Mapping[str, Any]]]:
        """One slice per checkpoint: the CDK emits the stream's state after each slice. The slices come
        lazily, while the one read (read_records) has not finished."""
        self.context.stats.start(self.name)
        self._pending = self.consume(sync_mode, stream_state or {})
        self._finished = False
        number = 0
        while not self._finished:
            number += 1
            # Not `{}`: the CDK peeks one slice further on an empty one, which would read on before the
            # first checkpoint's state is out.
            yield {"checkpoint": number}

    def read_records(self, sync_mode: SyncMode, cursor_field: Optional[list[str]] = None,
                     stream_slice: Optional[Mapping[str, Any]] = None,
                     stream_state: Optional[Mapping[str, Any]] = None) -> Iterable[Mapping[str, Any]]:
        if self._pending is None:  # read without slices (tests, read_only_records)
            if self._finished:
                return
            self.context.stats.start(self.name)
            self._pending = self.consume(sync_mode, stream_state or {})
        coerce = self.coercer
        counters = self.context.stats[self.name]
        try:
            for item in self._pending:
                if item is CHECKPOINT:
                    self._view = self._checkpoint()
                    return
                counters.records += 1
                yield coerce(item)
        except AirbyteTracedException as error:
            if self.context.config.ignore_forbidden_streams and "403 Forbidden" in (error.message or ""):
                self.logger.warning(f"{error.message} Skipped because ignore_forbidden_streams is on.")
                self._finish(None)
                return
            raise
        self._view = self._completed()
        self._finish(dict(self._view))

    def _finish(self, state: dict[str, Any] | None) -> None:
        self._finished = True
        self._pending = None
        self.context.stats.finish(self.name, state)

    @cached_property
    def coercer(self) -> Coercer:
        return Coercer(self.get_json_schema())

    def start_run(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> Run:
        """This sync's read of the stream: continued from the saved resume point, or new."""
        if self.run is None:
            incoming = self._incoming if self._incoming is not None else Run.from_state(stream_state, self.name)
            if incoming is not None:
                self.run = incoming
            else:
                self.run = Run(since=self.first_since(sync_mode, stream_state), started_at=self.context.started_at.strftime(DATETIME_FORMAT))
        return self.run

    def first_since(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> str | None:
        """The oldest updated_at a new read delivers: the start date, or the saved cursor less the lookback."""
        return self.context.since(self.spec, sync_mode, stream_state)

    def consume(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> Iterator[Any]:
        """Records this stream must deliver: its production from the hub, filtered to its own since,
        and a CHECKPOINT after every page it reads itself (every CHECKPOINT_REQUESTS pages once its
        state carries large id sets: each checkpoint carries them whole)."""
        run = self.start_run(sync_mode, stream_state)
        since = run.since
        tracker = self.prepare_deletes(sync_mode, stream_state)
        listing = tracker is not None and tracker.sweeping and not tracker.follows_parent
        cursor = self.spec.cursor
        newest = max(filter(None, (self.saved_cursor(stream_state), run.newest)), default=None)
        finished = run.resumed and run.listing is not None and run.listing.next is None  # only tombstones were left
        records: Iterable[Any] = () if finished else self.context.hub.records(self, self.production_since(since), self.name, run)
        pages = 0  # pages read since the last checkpoint
        for record in records:
            if record.__class__ is not dict:
                if record.__class__ is Tombstone:
                    yield record.row  # never moves the cursor
                    continue
                if record.__class__ is PageEnd:
                    run.listing = record.position
                    pages += 1
                    if self._heavy_state and pages < CHECKPOINT_REQUESTS:
                        continue
                pages = 0
                run.newest = newest
                yield CHECKPOINT
                continue
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
        run.newest = newest
        run.listing = ListingPosition(None)  # every record is out
        if tracker is not None:
            yield from tracker.tombstones()  # after the records: they never move the cursor

    # --- state ---------------------------------------------------------------------------------
    def _checkpoint(self) -> dict[str, Any]:
        """The state at a checkpoint: the committed cursor unchanged, plus where to resume."""
        view = dict(self._committed)
        assert self.run is not None
        if self.tracker is not None:
            kept, self.run.sweep = self.tracker.checkpoint()
            view.update(kept)
        view[RESUME_KEY] = self.run.to_state()
        self._heavy_state = sum(len(v) for v in (view.get(IDS_KEY), (self.run.sweep or {}).get("listed")) if v) > HEAVY_STATE_CHARS
        return view

    def _completed(self) -> dict[str, Any]:
        """The state once every record is out: the cursor moves to the newest delivered, but never past
        the time the stream started (a record updated after that may sit on a page already read)."""
        view = {k: v for k, v in self._committed.items() if k not in KEPT_KEYS}
        run = self.run
        cursor = self.spec.cursor
        if cursor and run is not None and run.newest:
            committed = self._committed.get(cursor)
            moved = self.cap_cursor(run.newest, run.started_at)
            view[cursor] = max(committed, moved) if committed else moved
        if self.tracker is not None:
            view.update(self.tracker.state())
        self._committed = view
        return dict(view)

    @staticmethod
    def cap_cursor(newest: str, started_at: str) -> str:
        return min(newest, started_at)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._view

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        value = value or {}
        cursor = self.saved_cursor(value)
        self._committed = {self.spec.cursor: cursor} if self.spec.cursor and cursor else {}
        if self.spec.deletes:
            self._committed.update({k: v for k, v in value.items() if k in KEPT_KEYS})
        self._incoming = Run.from_state(value, self.name)
        self._view = {**self._committed, **({RESUME_KEY: value[RESUME_KEY]} if self._incoming else {})}

    @property
    def reads_directly(self) -> bool:
        """A stream resuming a read of its own production reads it alone (no other stream shares
        a production that starts part-way)."""
        return self._incoming is not None

    # --- deletions ---------------------------------------------------------------------------
    def prepare_deletes(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> DeleteTracker | None:
        """The stream's delete tracker for this sync (incremental, `capture_deletes` on, a `deletes` row).
        A resumed sweep goes on as one; a resumed read that was not a sweep does not become one."""
        config = self.context.config
        if self.tracker is None and self.spec.deletes and config.capture_deletes and sync_mode == SyncMode.incremental:
            run = self.start_run(sync_mode, stream_state)
            if run.resumed:
                sweeping = run.sweep is not None
            else:
                sweeping = DeleteTracker.sweep_due(stream_state, self.context.started_at, config.deletes_sweep.total_seconds() / 3600)
            start = self.context.config.start.strftime(DATETIME_FORMAT)
            self.tracker = DeleteTracker(self.spec, stream_state, sweeping, run.started_at, self.exists, run.sweep, start)
        return self.tracker

    @property
    def sweeping(self) -> bool:
        return self.tracker is not None and self.tracker.sweeping

    def parent_since(self, since: str | None) -> str | None:
        """Which parents can hold rows changed since `since` (child streams without a change signal: all)."""
        return since

    def parent_fetch_since(self, since: str | None) -> str | None:
        """The parent listing this stream reads: during a deletion sweep, every parent that can hold a
        delivered row (deleted parents are then seen)."""
        return self.tracker.floor if self.sweeping else self.parent_since(since)  # type: ignore[union-attr]

    def production_since(self, since: str | None) -> str | None:
        """What this stream's own listing asks Harvest for: during a deletion sweep, every row that can
        be in the warehouse (updated since the oldest start date it delivered from)."""
        return self.tracker.floor if self.sweeping and not self.tracker.follows_parent else since  # type: ignore[union-attr]

    @staticmethod
    def normalize_cursor(value: Any) -> str | None:
        return cursor_value(value)

    def saved_cursor(self, stream_state: Mapping[str, Any] | None) -> str | None:
        if not self.spec.cursor:
            return None
        return cursor_from_state(stream_state, self.spec.cursor, self.normalize_cursor, self.name)
