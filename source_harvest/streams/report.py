"""Harvest reports: totals per subject and currency for a from/to window.

https://help.getharvest.com/api-v2/reports-api/reports/time-reports/
Windows are calendar-aligned (month, quarter or year; the first starts at the start date) and keep
their full calendar end even while open, so a row's key (subject, currency, from, to) never
changes: the open window's rows are replaced in place by a deduplicating destination. Harvest
answers 400 for a range over 365 days; a calendar year is at most 365 days from first to last day.
State is the `to` of the last complete window; each sync re-reads the windows that end within
`reports_lookback_days` of it, and any later ones, because edits to old entries change totals.
A checkpoint follows every window; a resumed read starts at the first window it had not finished.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from airbyte_cdk.models import SyncMode

from ..catalog import SNAPSHOT
from ..constants import REPORT_MAX_RANGE_DAYS
from .base import HarvestStream
from .checkpoint import CHECKPOINT, Run

MONTHS_PER_WINDOW = {"month": 1, "quarter": 3, "year": 12}
REPORT_DATE_FORMAT = "%Y%m%d"  # the docs' examples: from=20170101&to=20171231


def period_end(day: date, window: str) -> date:
    """Last day of the calendar month/quarter/year that holds `day`."""
    months = MONTHS_PER_WINDOW[window]
    first_month = ((day.month - 1) // months) * months + 1
    next_month = first_month + months
    next_start = date(day.year + (next_month - 1) // 12, (next_month - 1) % 12 + 1, 1)
    return next_start - timedelta(days=1)


def report_windows(start: date, last_day: date, window: str, cap: date | None = None) -> list[tuple[date, date]]:
    """Calendar windows from `start` through the window holding `last_day`; `cap` clips the last one."""
    windows: list[tuple[date, date]] = []
    day = start
    while day <= last_day:
        end = period_end(day, window)
        to = min(end, cap) if cap else end
        if (to - day).days > REPORT_MAX_RANGE_DAYS:
            raise ValueError(f"report window {day}..{to} exceeds {REPORT_MAX_RANGE_DAYS} days")
        windows.append((day, to))
        day = end + timedelta(days=1)
    return windows


def parse_day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


class ReportStream(HarvestStream):
    def today(self) -> date:
        return datetime.now(timezone.utc).date()

    @staticmethod
    def normalize_cursor(value: Any) -> str | None:
        day = parse_day(value)
        return day.isoformat() if day else None

    def windows_to_read(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> list[tuple[date, date]]:
        config = self.context.config
        cap = config.end.date() if config.end else None
        last_day = min(cap, self.today()) if cap else self.today()
        windows = report_windows(config.start.date(), last_day, config.reports_window, cap)
        saved = parse_day(self.saved_cursor(stream_state)) if sync_mode == SyncMode.incremental else None
        if saved is None:
            return windows
        cutoff = saved - timedelta(days=config.reports_lookback_days)
        return [(start, to) for start, to in windows if to >= cutoff]

    def consume(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> Iterator[Any]:
        if self.spec.report == SNAPSHOT:
            yield from (row for row in self.fetch(self.spec.path, {}) if row.__class__ is dict)
            return
        run = self.start_run(sync_mode, stream_state)
        newest = max(filter(None, (parse_day(self.saved_cursor(stream_state)), parse_day(run.newest))), default=None)
        resume_at = parse_day(run.window)
        today = self.today()
        for start, to in self.windows_to_read(sync_mode, stream_state):
            if resume_at is not None and start < resume_at:
                continue  # read before the sync was stopped
            params = {"from": start.strftime(REPORT_DATE_FORMAT), "to": to.strftime(REPORT_DATE_FORMAT)}
            for row in self.fetch(self.spec.path, params):
                if row.__class__ is dict:
                    row["from"], row["to"] = start.isoformat(), to.isoformat()
                    yield row
            if to < today and (newest is None or to > newest):
                newest = to  # complete windows only: the open one is read again next time
            run.newest = newest.isoformat() if newest else None
            run.window = (to + timedelta(days=1)).isoformat()
            yield CHECKPOINT

    def first_since(self, sync_mode: SyncMode, stream_state: Mapping[str, Any]) -> str | None:
        return None  # windows, not updated_since (windows_to_read)

    @staticmethod
    def cap_cursor(newest: str, started_at: str) -> str:
        return newest  # the `to` of a complete window: complete before the stream started

    def produce(self, since: str | None, run: Run | None = None) -> Iterator[Any]:
        raise NotImplementedError("reports are read window by window in consume()")
