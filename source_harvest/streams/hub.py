"""Each Harvest endpoint is read at most once per sync, however many selected streams hang off it.

A stream's *production* (its records as fetched from Harvest) can have several consumers: the
stream itself, derived streams (line items from invoices), and per-parent streams that need the
parent ids (payments of invoices). Before the read, the source tells the hub which consumers are
selected and the oldest `updated_at` each needs. A production with one consumer streams straight
through; one with several is fetched once, from the oldest `since` any of them needs, spooled to
a temporary file (memory stays flat however large the account), and replayed to the others, each
filtering to its own `since`. The spool keeps only the fields the consumers still to come read
(a derived stream reads the embedded array, the id and updated_at; a per-parent stream the id).
Checkpoint markers pass through to the consumer that fetches; a replay has none (it makes no
request). ParentDone markers (a parent's list read in full) are spooled and replayed: each consumer
tracks deletions with them. A stream that resumes part-way through its own read (checkpoint.py) reads alone: a
production that starts part-way is never shared.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import orjson

from .checkpoint import ParentDone

PARENT_DONE_KEY = "\u0000parent_done"  # a spooled ParentDone: no Harvest field starts with NUL

if TYPE_CHECKING:
    from .base import HarvestStream
    from .checkpoint import Run


def oldest(sinces: list[str | None]) -> str | None:
    """The since that covers all others: None (everything) beats any timestamp."""
    return None if any(s is None for s in sinces) else min(s for s in sinces if s is not None)


def covers(fetched: str | None, wanted: str | None) -> bool:
    return fetched is None or (wanted is not None and fetched <= wanted)


Fields = frozenset[str] | None  # None: the whole record


@dataclass(frozen=True)
class Consumer:
    name: str
    since: str | None
    fields: Fields


def union(fields: list[Fields]) -> Fields:
    if any(f is None for f in fields):
        return None
    return frozenset().union(*fields)  # type: ignore[arg-type]


@dataclass
class Spool:
    since: str | None
    path: str
    complete: bool = False
    replays_left: int = 0


@dataclass
class RecordHub:
    plan: dict[str, list[Consumer]] = field(default_factory=dict)
    spools: dict[str, Spool] = field(default_factory=dict)
    directory: str | None = None

    def expect(self, production: str, consumer: str, since: str | None, fields: Fields = None) -> None:
        """Register a consumer of `production` that needs records updated at or after `since`,
        and reads `fields` of them (None: all)."""
        self.plan.setdefault(production, []).append(Consumer(consumer, since, fields))

    def planned_since(self, production: str) -> str | None:
        return oldest([c.since for c in self.plan[production]])

    def is_planned(self, production: str) -> bool:
        return production in self.plan

    def records(self, stream: HarvestStream, since: str | None, consumer: str, run: Run | None = None) -> Iterator[Any]:
        """`stream`'s production for `consumer`: fetched, or replayed when another consumer fetched it.
        `run` is the consumer's own read, which the production starts from and reports progress to."""
        if run is not None and run.resumed:
            yield from stream.produce(since, run)
            return
        consumers = self.plan.get(stream.name, [])
        fetch_since = oldest([c.since for c in consumers]) if consumers else since
        if len(consumers) < 2 or not covers(fetch_since, since):
            yield from stream.produce(since, run)
            return
        spool = self.spools.get(stream.name)
        if spool is not None and spool.complete:
            yield from self._replay(stream.name, spool)
            return
        others = [c for c in consumers if c.name != consumer] or consumers[1:]
        yield from self._record(stream, fetch_since, len(consumers) - 1, union([c.fields for c in others]), run)

    def _record(self, stream: HarvestStream, since: str | None, replays: int, fields: Fields, run: Run | None) -> Iterator[Any]:
        handle, path = tempfile.mkstemp(prefix=f"{stream.name}-", suffix=".jsonl", dir=self.directory)
        old = self.spools.pop(stream.name, None)
        if old is not None:
            self._remove(old)
        spool = Spool(since=since, path=path, replays_left=replays)
        self.spools[stream.name] = spool
        with os.fdopen(handle, "wb") as sink:
            for record in stream.produce(since, run):
                if record.__class__ is dict:
                    kept = record if fields is None else {k: record[k] for k in fields if k in record}
                    sink.write(orjson.dumps(kept))
                    sink.write(b"\n")
                elif record.__class__ is ParentDone:
                    sink.write(orjson.dumps({PARENT_DONE_KEY: record.parent_id, "held": record.held, "changed": record.changed}))
                    sink.write(b"\n")
                yield record
        spool.complete = True

    def _replay(self, name: str, spool: Spool) -> Iterator[Any]:
        with open(spool.path, "rb") as source:
            for line in source:
                row = orjson.loads(line)
                yield ParentDone(row[PARENT_DONE_KEY], tuple(row["held"]), row["changed"]) if PARENT_DONE_KEY in row else row
        spool.replays_left -= 1
        if spool.replays_left <= 0:
            self._remove(self.spools.pop(name))

    @staticmethod
    def _remove(spool: Spool) -> None:
        try:
            os.unlink(spool.path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        for spool in self.spools.values():
            self._remove(spool)
        self.spools.clear()
