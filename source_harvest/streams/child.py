"""Per-parent lists (/invoices/{id}/payments, /users/{id}/cost_rates, …): one list per parent.

In incremental mode only parents that can hold changed children are visited: parents whose own
`updated_at` is at or after the child's `since` (for user_projects the parent is /user_assignments,
which names the users whose assignments changed). Rows with `every_parent` have no such signal and
visit every parent. Parent records come from the hub, so the parent list is read once per sync.
A parent answered with the row's `no_list_status` (teammates of a user who is not a Manager: 422) has
no rows; the stream counts those parents and says how many once it is done.
A checkpoint follows every batch of parents that took CHECKPOINT_REQUESTS requests; it keeps the
parents done, so a resumed read lists the parents again and skips those.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..idset import IdSet, PairSet
from .base import HarvestStream, ParentGone, add_flat_columns
from .checkpoint import CHECKPOINT, CHECKPOINT_REQUESTS, REFRESHED, PageEnd, ParentDone, Run
from .context import cursor_value
from .deletes import PLACEHOLDER, DeleteTracker
from .http import ParentWithoutList
from .hub import oldest


class ChildStream(HarvestStream):
    def parent_since(self, since: str | None) -> str | None:
        return None if self.spec.every_parent else since

    def embedded_fields(self) -> frozenset[str]:
        """What holders_of_changed reads of the embedded stream's rows."""
        return frozenset({"updated_at", *PLACEHOLDER.findall(self.spec.holders or "")})

    def parent_fields(self) -> frozenset[str]:
        return frozenset({self.spec.parent_id_field, "updated_at"})

    def parent_never_delivered(self, parent_record: dict[str, Any]) -> bool:
        """During a sweep, a parent its own stream never delivered (a page shift hid it): its rows may
        never have been read either, so its list is read whatever its updated_at (the sweep's backstop).
        Known when the parent stream is selected with tombstones on."""
        parent = self.context.streams[self.spec.parent].tracker  # type: ignore[index]
        return self.sweeping and parent is not None and parent.never_delivered(parent_record)

    def consumers(self) -> list[HarvestStream]:
        """This production's consumers: this stream and its derived streams."""
        return [self, *(s for s in self.context.streams.values() if s.spec.parent == self.name and s.spec.embedded)]

    def changed_since(self) -> str | None:
        """Since when the consumers need changes: their own since (a sweep lists parents from further back).
        None on a first sync (since = the start date), which reads every parent with rows to deliver."""
        start = self.context.start_date
        sinces = [s.run.since for s in self.consumers() if s.run is not None and s.run.since is not None and s.run.since > start]
        return min(sinces) if sinces else None  # a consumer on its first sync reads every parent with rows anyway

    def consumer_trackers(self) -> list[DeleteTracker]:
        """The delete trackers of this production's consumers."""
        return [s.tracker for s in self.consumers() if s.tracker is not None]

    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        spec = self.spec
        parent = self.context.streams[spec.parent]  # type: ignore[index]
        trackers = self.consumer_trackers()
        # A sweep of a row with no other deletion signal re-reads every parent's list (sweep_reads_parents).
        every = spec.sweep_reads_parents and any(t.sweeping for t in trackers)
        parent_since = None if every else self.parent_since(since)
        # With tombstones on, a visited parent's whole list is read, so rows it no longer holds are seen.
        params = {"updated_since": since} if since and spec.server_filter and not trackers else {}
        # Parents whose lists are read: a parent listed twice (a page shifted, or a user named by several
        # assignments) is read once, and a resumed read skips them.
        done = run.parents if run is not None else IdSet()
        refresh = self.holders_of_changed(self.changed_since())
        counter = [0]  # requests since the last checkpoint
        fetch_since = self.parent_fetch_since(since) if not every else oldest([t.floor for t in trackers])
        for parent_record in self.context.hub.records(parent, fetch_since, self.name):
            if parent_record.__class__ is not dict:
                counter[0] += parent_record.__class__ is PageEnd  # a page of the parent's list
                continue
            if self.tracker is not None and self.tracker.sweeping:
                self.tracker.listed_record(parent_record.get(spec.parent_id_field))
            parent_id = parent_record.get(spec.parent_id_field)
            changed = cursor_value(parent_record.get("updated_at"))
            if parent_since is not None and parent_id not in refresh and changed is not None and changed < parent_since \
                    and not self.parent_never_delivered(parent_record):
                continue
            yield from self.visit(parent_id, params, done, counter, parent_id in refresh, changed)
        # Parents no listing named now: users with no assignment left, or deleted ones (their lists answer 404).
        leftover = IdSet()
        for tracker in trackers if every else ():
            stored = tracker.kept_stored()
            if isinstance(stored, PairSet):
                leftover |= stored.parents()
        for parent_id in sorted(set(refresh) | set(leftover)):
            yield from self.visit(parent_id, params, done, counter, parent_id in refresh)
        counters = self.context.stats[self.name]
        if counters.without_list:
            self.logger.info(f"{self.name}: Harvest answered {spec.no_list_status} for {counters.without_list} of {counters.parents_visited} "
                             f"{spec.parent} at {self.endpoint}, its documented answer for a parent that cannot hold "
                             "this list: they have no rows.")

    def visit(self, parent_id: Any, params: dict[str, Any], done: IdSet, counter: list[int], refreshed: bool,
              changed: str | None = None) -> Iterator[Any]:
        """One parent's whole list, then its ParentDone; a checkpoint after every batch of requests.
        `refreshed`: what it embeds changed, so its rows are delivered whatever their updated_at.
        `changed`: the parent's updated_at as listed (a change of its rows moves it)."""
        spec = self.spec
        if not isinstance(parent_id, int) or parent_id < 0 or parent_id in done:
            return
        counters = self.context.stats[self.name]
        counters.parents_visited += 1
        counters.parents_total = max(self.context.stats[spec.parent].total_entries or 0, counters.parents_visited)  # type: ignore[index]
        rows: list[Any] = []
        try:
            # A refreshed parent's rows are wanted whatever their updated_at: no server-side filter.
            for record in self.fetch(spec.path.format(parent_id=parent_id), {} if refreshed else params):
                if record.__class__ is not dict:
                    counter[0] += 1
                    continue
                record[spec.parent_key] = parent_id  # type: ignore[index]
                if refreshed:
                    record[REFRESHED] = True
                rows.append(record.get("id"))
                yield add_flat_columns(record, self.flat)
            yield ParentDone(parent_id, tuple(rows), changed)
        except ParentGone:
            counter[0] += 1
            counters.requests += 1  # a request, not a page of the list
            self.logger.warning(f"{self.name}: {spec.parent} {parent_id} was deleted during the sync (404); its rows go with it.")
            yield ParentDone(parent_id)
        except ParentWithoutList as answer:
            counter[0] += 1
            counters.requests += 1
            counters.without_list += 1
            self.logger.debug(f"{self.name}: {spec.parent} {parent_id} has no list at {self.endpoint} (Harvest answered {answer}).")
            yield ParentDone(parent_id)
        done.add(parent_id)
        if counter[0] >= CHECKPOINT_REQUESTS:
            counter[0] = 0
            yield CHECKPOINT

    def holders_of_changed(self, since: str | None) -> set[int]:
        """Parents whose records embed a row of `spec.embeds` changed since `since` (a project's task
        assignments, embedded in every user's assignment to it): one request per changed row's holder
        list. Nothing on a first sync."""
        spec = self.spec
        if not spec.embeds or not spec.holders or since is None:
            return set()
        source = self.context.streams[spec.embeds]
        column = PLACEHOLDER.findall(spec.holders)[0]
        changed: set[int] = set()
        for record in self.context.hub.records(source, since, self.name):
            if record.__class__ is dict and (cursor_value(record.get("updated_at")) or "") >= since and isinstance(record.get(column), int):
                changed.add(record[column])
        parent = self.context.streams[spec.parent]  # type: ignore[index]
        holders: set[int] = set()
        for key in sorted(changed):
            try:
                for record in parent.fetch(spec.holders.format(**{column: key}), {}):  # rows of the parent's kind
                    if record.__class__ is dict:
                        holder = add_flat_columns(record, parent.flat).get(spec.parent_id_field)
                        if isinstance(holder, int):
                            holders.add(holder)
            except ParentGone:
                continue  # the project went: its assignments' rows follow at the next sweep
        return holders
