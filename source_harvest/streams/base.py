"""HarvestStream: what every stream delivers.

Owns: the consumer loop (the stream's production from the hub, filtered to its own `since`; the
newest cursor value delivered; the ids listed and delivered, for deletion capture; the markers of
checkpoint.py turned into checkpoints: after every page the stream reads itself, or every
CHECKPOINT_REQUESTS pages once its state carries large id sets), the hooks of deletion capture
(deletes.py: the tracker, sweeps, the listings a sweep reads) and the flat columns added to records.
How the CDK reads a stream in checkpointed slices, and the stream's state, are in resumable.py;
Harvest's HTTP conventions in http.py.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Iterable, Iterator, Mapping

from airbyte_cdk.models import SyncMode

from ..catalog import StreamSpec
from .checkpoint import CHECKPOINT, CHECKPOINT_REQUESTS, REFRESHED, ListingPosition, PageEnd, ParentDone, Run, Tombstone
from .context import SyncContext, cursor_value
from .deletes import IDS_KEY, DeleteTracker
from .http import ParentGone
from .hub import oldest
from .resumable import ResumableStream

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


class HarvestStream(ResumableStream):
    """One row of `catalog.STREAMS` bound to one sync's context: what it delivers."""

    def __init__(self, spec: StreamSpec, context: SyncContext) -> None:
        self.flat = flat_columns(spec)
        super().__init__(spec, context)

    # --- what this stream yields ------------------------------------------------------------
    @abstractmethod
    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        """This stream's records as Harvest returns them for `since` (server-side filter only), with the
        markers of checkpoint.py between them. `run` is set when the stream reads for itself: it says
        where to start, and the production records there how far it has come."""

    def consume(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> Iterator[Any]:
        """Records this stream must deliver: its production from the hub, filtered to its own since,
        and a CHECKPOINT after every page it reads itself (every CHECKPOINT_REQUESTS pages once its
        state carries large id sets: each checkpoint carries them whole)."""
        run = self.start_run(sync_mode, stream_state)
        since = run.since
        tracker = self.prepare_deletes(sync_mode, stream_state)
        listing = tracker is not None and tracker.sweeping and not tracker.follows_parent
        # The backstop of a sweep: a row never delivered (a page shift hid it, shift.py) is delivered
        # whatever its updated_at, from the start date on.
        backstop = tracker is not None and tracker.sweeping
        start = self.context.start_date
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
                if record.__class__ is ParentDone:
                    if tracker is not None:
                        yield from (t.row for t in tracker.parent_read(record.parent_id, record.held))
                    # Its list is read as of the parent's updated_at: the cursor may move there even when
                    # the parent holds no rows (else a stream with none would visit every parent every sync).
                    if cursor and record.changed is not None and (newest is None or record.changed > newest):
                        newest = record.changed
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
            if record.get(REFRESHED):  # what it embeds changed: delivered whatever its updated_at
                del record[REFRESHED]
            elif cursor:
                value = cursor_value(record.get(cursor))
                if since is not None and value is not None and value < since:  # older than this stream needs
                    if not (backstop and value >= start):
                        continue  # (endpoint shared, or no server filter)
                    if not tracker.never_delivered(record):  # type: ignore[union-attr]
                        tracker.assume_delivered(record)  # type: ignore[union-attr]
                        continue
                if value is not None and (newest is None or value > newest):
                    newest = value
            if tracker is not None:
                tracker.delivered_record(record)
            yield record
        run.newest = newest
        run.listing = ListingPosition(None)  # every record is out
        if tracker is not None:
            yield from tracker.tombstones()  # after the records: they never move the cursor

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
                parent = self.context.streams.get(self.spec.parent) if self.spec.parent else None
                if parent is not None and parent.tracker is not None and stream_state.get(IDS_KEY):
                    # Sweep when the parent does: both read the parent's whole listing, which is then read once.
                    sweeping = parent.tracker.sweeping
            start = self.context.start_date
            tracker = DeleteTracker(self.spec, stream_state, sweeping, run.started_at, self.exists, run.sweep, start)
            if sweeping and not run.resumed:
                # A sweep delivers again every row updated since the last sweep's own since (never before
                # the start date): a version a read missed since then arrives now (the sweep lists them anyway).
                # From a first sync (since = the start date) nothing older needs delivering again: the next
                # sweep starts from where the next sync would (resumable.py, _completed).
                tracker.sweep_since = run.since if run.since and run.since > start else None
                previous = tracker.previous_sweep_since
                if previous and run.since and previous < run.since:
                    run.since = max(previous, start)
            self.tracker = tracker
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
        if self.sweeping:
            return oldest([self.tracker.floor, self.parent_since(since)])  # type: ignore[union-attr]
        return self.parent_since(since)

    def production_since(self, since: str | None) -> str | None:
        """What this stream's own listing asks Harvest for: during a deletion sweep, every row that can
        be in the warehouse (updated since the oldest start date it delivered from)."""
        return self.tracker.floor if self.sweeping and not self.tracker.follows_parent else since  # type: ignore[union-attr]
