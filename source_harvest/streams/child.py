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

from ..idset import IdSet
from .base import HarvestStream, ParentGone, add_flat_columns
from .checkpoint import CHECKPOINT, CHECKPOINT_REQUESTS, PageEnd, Run
from .context import cursor_value
from .http import ParentWithoutList


class ChildStream(HarvestStream):
    def parent_since(self, since: str | None) -> str | None:
        return None if self.spec.every_parent else since

    def parent_fields(self) -> frozenset[str]:
        return frozenset({self.spec.parent_id_field, "updated_at"})

    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        spec = self.spec
        parent = self.context.streams[spec.parent]  # type: ignore[index]
        parent_since = self.parent_since(since)
        tracker = self.tracker
        # With tombstones on, a visited parent's whole list is read, so rows it no longer holds are seen.
        params = {"updated_since": since} if since and spec.server_filter and tracker is None else {}
        # Parents whose lists are read: a parent listed twice (a page shifted, or a user named by several
        # assignments) is read once, and a resumed read skips them.
        done = run.parents if run is not None else IdSet()
        counters = self.context.stats[self.name]
        requests = 0
        without_list = 0
        for parent_record in self.context.hub.records(parent, self.parent_fetch_since(since), self.name):
            if parent_record.__class__ is not dict:
                requests += parent_record.__class__ is PageEnd  # a page of the parent's list
                continue
            if tracker is not None and tracker.sweeping:
                tracker.listed_record(parent_record.get(spec.parent_id_field))
            if parent_since is not None:
                changed = cursor_value(parent_record.get("updated_at"))
                if changed is not None and changed < parent_since:
                    continue
            parent_id = parent_record.get(spec.parent_id_field)
            if not isinstance(parent_id, int) or parent_id < 0 or parent_id in done:
                continue
            counters.parents_visited += 1
            counters.parents_total = max(self.context.stats[spec.parent].total_entries or 0, counters.parents_visited)  # type: ignore[index]
            rows: list[Any] = []
            try:
                for record in self.fetch(spec.path.format(parent_id=parent_id), params):
                    if record.__class__ is not dict:
                        requests += 1
                        continue
                    record[spec.parent_key] = parent_id  # type: ignore[index]
                    rows.append(record.get("id"))
                    yield add_flat_columns(record, self.flat)
                if tracker is not None:
                    yield from tracker.parent_read(parent_id, rows)
            except ParentGone:
                requests += 1
                counters.requests += 1  # a request, not a page of the list
                self.logger.warning(f"{self.name}: {spec.parent} {parent_id} was deleted during the sync (404); its rows are skipped.")
            except ParentWithoutList as answer:
                requests += 1
                counters.requests += 1
                without_list += 1
                self.logger.debug(f"{self.name}: {spec.parent} {parent_id} has no list at {self.endpoint} (Harvest answered {answer}).")
            done.add(parent_id)
            if requests >= CHECKPOINT_REQUESTS:
                requests = 0
                yield CHECKPOINT
        if without_list:
            self.logger.info(f"{self.name}: Harvest answered {spec.no_list_status} for {without_list} of {counters.parents_visited} "
                             f"{spec.parent} at {self.endpoint}, its documented answer for a parent that cannot hold "
                             "this list: they have no rows.")
