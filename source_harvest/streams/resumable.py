"""ResumableStream: how the CDK reads a stream in checkpointed slices, and what the stream's `state` is.

Owns: one CDK slice per checkpoint (the CDK emits the `state` after each slice; checkpoint.py says
what a checkpoint holds), the one read behind those slices (`consume`, in base.py) with its records
coerced to the schema, this sync's `Run` (continued from the saved resume point, or new), and the
state: the `updated_at` cursor, committed only when the stream finishes (Harvest never sorts by
updated_at) and never past the time the stream started, the resume point added at each checkpoint,
and what deletion capture keeps next to the cursor (the delete tracker's sets, deletes.py).
What a stream delivers is in base.py; Harvest's HTTP conventions in http.py.
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
from .checkpoint import CHECKPOINT, HEAVY_STATE_CHARS, RESUME_KEY, Run
from .context import SyncContext, cursor_value
from .deletes import IDS_KEY, KEPT_KEYS, SWEPT_SINCE_KEY, DeleteTracker
from .http import HarvestHttpStream


class ResumableStream(HarvestHttpStream):
    """A stream read by the CDK one checkpoint at a time: its slices, its records and its state."""

    def __init__(self, spec: StreamSpec, context: SyncContext) -> None:
        self.tracker: DeleteTracker | None = None  # set by prepare_deletes (base.py); its sets are kept in state
        self._committed: dict[str, Any] = {}  # the cursor and what is kept next to it, as last completed
        self._incoming: Run | None = None  # the resume point of the state this sync started from
        self._view: dict[str, Any] = {}  # what the `state` getter answers: rebuilt at each checkpoint
        self.run: Run | None = None  # this sync's own read, once started
        self._pending: Iterator[Any] | None = None
        self._finished = False
        self._heavy_state = False  # the last checkpoint carried large id sets: checkpoint less often
        super().__init__(spec, context)

    @abstractmethod
    def consume(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> Iterator[Any]:
        """The records this stream delivers in this sync, with a CHECKPOINT wherever state may be emitted."""

    # --- how the CDK reads it ------------------------------------------------------------------
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
            if self.tracker.sweeping and SWEPT_SINCE_KEY not in view:  # a first sync's sweep
                view[SWEPT_SINCE_KEY] = self.context.since(self.spec, SyncMode.incremental, view)
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

    @staticmethod
    def normalize_cursor(value: Any) -> str | None:
        return cursor_value(value)

    def saved_cursor(self, stream_state: Mapping[str, Any] | None) -> str | None:
        if not self.spec.cursor:
            return None
        return cursor_from_state(stream_state, self.spec.cursor, self.normalize_cursor, self.name)
