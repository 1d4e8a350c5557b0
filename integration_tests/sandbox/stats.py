"""Request accounting of the API surface (/v2 and /api/v2); the control API is never counted."""

from __future__ import annotations

import re
import threading
from typing import Any

_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


def endpoint_template(method: str, path: str) -> str:
    """``GET /v2/invoices/123/messages`` -> ``GET /v2/invoices/{id}/messages``."""
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_endpoint: dict[str, int] = {}
            self.by_status: dict[str, int] = {}
            self.methods: dict[str, int] = {}
            self.throttled = 0
            self.faults = 0
            self.per_page_max_seen = 0

    def record(self, method: str, path: str, status: str, *, fault: bool = False, per_page: int | None = None) -> None:
        template = endpoint_template(method, path)
        with self._lock:
            self.total += 1
            self.by_endpoint[template] = self.by_endpoint.get(template, 0) + 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.methods[method] = self.methods.get(method, 0) + 1
            if status == "429":
                self.throttled += 1
            if fault:
                self.faults += 1
            if per_page is not None and per_page > self.per_page_max_seen:
                self.per_page_max_seen = per_page

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_endpoint": dict(sorted(self.by_endpoint.items())),
                "by_status": dict(sorted(self.by_status.items())),
                "throttled": self.throttled,
                "faults": self.faults,
                "methods": dict(sorted(self.methods.items())),
                "per_page_max_seen": self.per_page_max_seen,
            }
