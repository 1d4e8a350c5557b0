"""Top-level Harvest lists (/clients, /time_entries, …) and singletons (/company)."""

from __future__ import annotations

from typing import Any, Iterator

from .base import HarvestStream, add_flat_columns


class ListStream(HarvestStream):
    """GET /<path>?per_page=2000[&updated_since=…], every page; flat seed columns added."""

    def produce(self, since: str | None) -> Iterator[dict[str, Any]]:
        if self.spec.data_key == "":
            yield add_flat_columns(self.fetch_one(self.spec.path), self.flat)
            return
        params = {"updated_since": since} if since and self.spec.server_filter else {}
        for record in self.fetch(self.spec.path, params):
            yield add_flat_columns(record, self.flat)
