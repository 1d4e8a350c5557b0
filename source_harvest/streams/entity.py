"""Top-level Harvest lists (/clients, /time_entries, …) and singletons (/company)."""

from __future__ import annotations

from typing import Any, Iterator

from .base import HarvestStream, add_flat_columns
from .checkpoint import Run


class ListStream(HarvestStream):
    """GET /<path>?per_page=2000[&updated_since=…], every page; flat seed columns added. A read that
    resumes starts where the saved listing position says (checkpoint.py)."""

    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        if self.spec.data_key == "":
            yield add_flat_columns(self.fetch_one(self.spec.path), self.flat)
            return
        params = {"updated_since": since} if since and self.spec.server_filter else {}
        flat = self.flat
        for record in self.fetch(self.spec.path, params, run.listing if run is not None and run.resumed else None):
            yield add_flat_columns(record, flat) if record.__class__ is dict else record
