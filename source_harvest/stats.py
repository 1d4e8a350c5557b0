"""What a sync did, per stream: records, requests, retries, 429s, seconds; progress with an ETA.

Progress lines are logged per stream at most every PROGRESS_INTERVAL_SECONDS and when it ends;
the ETA counts the requests still needed (pages left, or parents left to visit) at the budget's
rate, or at the pace observed so far when that is slower.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

PROGRESS_INTERVAL_SECONDS = 10.0
SUMMARY_MARKER = "SYNC_SUMMARY"
BUDGET_WAIT_COUNT_SECONDS = 0.001  # below this the limiter did not really hold the request


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@dataclass
class StreamStats:
    records: int = 0
    requests: int = 0
    attempts: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0
    total_entries: int | None = None  # from the first page's envelope
    total_pages: int | None = None
    pages: int = 0
    fetched: int = 0  # rows on the pages fetched, before any filtering
    without_list: int = 0  # per-parent: parents answered with the row's no_list_status (no rows)
    rereads: int = 0  # pages read again because rows moved across page boundaries (shift.py)
    parents_visited: int = 0
    parents_total: int | None = None
    state: dict[str, Any] | None = None
    started: float | None = field(default=None, repr=False)
    last_progress: float = field(default=0.0, repr=False)


class SyncStats:
    def __init__(self, logger: logging.Logger, seconds_per_request: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.seconds_per_request = seconds_per_request
        self.clock = clock
        self.streams: dict[str, StreamStats] = {}
        self.budget_waits = 0
        self.budget_wait_seconds = 0.0

    def budget_wait(self, request: Any, seconds: float) -> None:
        if seconds < BUDGET_WAIT_COUNT_SECONDS:
            return
        self.budget_waits += 1
        self.budget_wait_seconds += seconds

    def __getitem__(self, name: str) -> StreamStats:
        return self.streams.setdefault(name, StreamStats())

    def start(self, name: str) -> None:
        self[name].started = self.clock()

    def finish(self, name: str, state: dict[str, Any] | None) -> None:
        stats = self[name]
        if stats.started is not None:
            stats.seconds = self.clock() - stats.started
        # The delivered-id set can be long: the summary says how long, not what it holds.
        stats.state = {k: (f"<{len(v)} chars>" if k == "ids" else v) for k, v in state.items()} if state else state
        self.progress(name, final=True)

    def page(self, name: str, body: Any, rows: int) -> None:
        stats = self[name]
        stats.requests += 1
        stats.pages += 1
        stats.fetched += rows
        if isinstance(body, dict) and stats.pages == 1 and isinstance(body.get("total_entries"), int):
            stats.total_entries, stats.total_pages = body["total_entries"], body.get("total_pages")
        self.progress(name)

    def requests_left(self, stats: StreamStats) -> int:
        if stats.parents_total is not None:
            return max(stats.parents_total - stats.parents_visited, 0)
        if stats.total_pages is not None:
            return max(stats.total_pages - stats.pages, 0)
        return 0

    def progress(self, name: str, final: bool = False) -> None:
        stats = self[name]
        now = self.clock()
        if not final and now - stats.last_progress < PROGRESS_INTERVAL_SECONDS:
            return
        stats.last_progress = now
        parts = [f"{stats.records} records"]
        if stats.parents_total is not None:
            done = min(stats.parents_visited, stats.parents_total)
            percent = 100 * done // stats.parents_total if stats.parents_total else 100
            parts.insert(0, f"{done}/{stats.parents_total} parents visited ({percent}%)")
        elif stats.total_entries is not None and stats.total_pages:
            percent = 100 * min(stats.pages, stats.total_pages) // stats.total_pages
            parts[0] = f"{stats.fetched}/{stats.total_entries} rows fetched ({percent}%)"
            parts.append(f"{stats.records} records")
            parts.append(f"page {stats.pages}/{stats.total_pages}")
        left = 0 if final else self.requests_left(stats)
        elapsed = now - stats.started if stats.started is not None else 0.0
        pace = elapsed / stats.requests if stats.requests else 0.0
        eta = left * max(self.seconds_per_request, pace)
        parts.append(f"{stats.requests} requests")
        parts.append("done" if final else f"{left} requests to go, ETA {duration(eta)}")
        self.logger.info(f"progress {name}: " + ", ".join(parts))

    def summary(self) -> None:
        totals = StreamStats()
        rows = []
        for name, stats in self.streams.items():
            if stats.started is None and not stats.requests:
                continue
            for key in ("records", "requests", "retries", "throttled"):
                setattr(totals, key, getattr(totals, key) + getattr(stats, key))
            totals.seconds += stats.seconds
            rows.append({"stream": name, **{k: v for k, v in asdict(stats).items() if k not in ("started", "last_progress")}})
            self.logger.info(
                f"summary {name}: records={stats.records} requests={stats.requests} rereads={stats.rereads} retries={stats.retries} "
                f"429s={stats.throttled} seconds={stats.seconds:.1f} state={json.dumps(stats.state, sort_keys=True)}"
            )
        self.logger.info(
            f"summary TOTAL: records={totals.records} requests={totals.requests} retries={totals.retries} "
            f"429s={totals.throttled} budget_waits={self.budget_waits} ({self.budget_wait_seconds:.1f}s) seconds={totals.seconds:.1f}"
        )
        budget = {"waits": self.budget_waits, "wait_seconds": round(self.budget_wait_seconds, 3)}
        self.logger.info(f"{SUMMARY_MARKER} " + json.dumps({"streams": rows, "budget": budget}, default=str))
