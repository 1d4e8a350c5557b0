"""Rows taken from an array (or object) on the parent's records: no request of their own.

A derived record is the element plus the parent's id and the parent's `updated_at` under
explicit names (`invoice_id`, `invoice_updated_at`), so it is incremental when its parent is.
When it reads the parent's list itself, it checkpoints after each of its pages, like the parent.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..idset import KeySet
from .base import HarvestStream, add_flat_columns
from .checkpoint import REFRESHED, ParentDone, Run


class DerivedStream(HarvestStream):
    def parent_fields(self) -> frozenset[str]:
        """What this stream reads of each parent record (so a shared spool keeps no more)."""
        spec = self.spec
        return frozenset({spec.embedded, "id", "updated_at", REFRESHED, *(field for _, field in spec.parent_columns)})  # type: ignore[arg-type]

    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        spec = self.spec
        parent = self.context.streams[spec.parent]  # type: ignore[index]
        seen = KeySet()
        # Rows that follow their parent are tracked per parent here; others (external references) as a list.
        tracker = self.tracker if self.tracker is not None and self.tracker.follows_parent else None
        # A parent that is itself a per-parent list (user_projects) comes in groups, one per grandparent
        # (a user): the group's rows are known at its ParentDone, and the tracker keeps them by grandparent.
        grouped = bool(parent.spec.parent)
        held: list[Any] = []
        for parent_record in self.context.hub.records(parent, self.parent_fetch_since(since), self.name, run):
            if parent_record.__class__ is ParentDone:
                if tracker is not None:  # parent_read marks it listed in a sweep
                    yield from tracker.parent_read(parent_record.parent_id, held)
                held = []
                continue
            if parent_record.__class__ is not dict:
                yield parent_record  # a checkpoint marker: where the parent's list stands
                continue
            elements = parent_record.get(spec.embedded)  # type: ignore[arg-type]
            if isinstance(elements, dict):
                elements = [elements]
            ids = [e.get("id") if isinstance(e, dict) else e for e in elements or ()]
            if grouped:
                held.extend(ids)
            elif tracker is not None:  # a parent record carries all of its rows
                yield from tracker.parent_read(parent_record.get("id"), ids)
            for element in elements or ():
                row = self._row(element, parent_record)
                if spec.distinct:
                    key = row.get(spec.element_id_as)
                    if key in seen:
                        continue
                    seen.add(key)
                yield row

    def _row(self, element: Any, parent_record: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec
        if isinstance(element, dict):
            row = dict(element)
            if spec.element_id_as != "id":
                row[spec.element_id_as] = row.pop("id", None)
        else:
            row = {spec.element_id_as: element}
        if spec.parent_key:
            row[spec.parent_key] = parent_record.get("id")
        for column, field in spec.parent_columns:
            row[column] = parent_record.get(field)
        row[spec.cursor] = parent_record.get("updated_at")  # type: ignore[index]
        if parent_record.get(REFRESHED):
            row[REFRESHED] = True
        return add_flat_columns(row, self.flat)
