"""Date and time formats the Harvest API uses, and the sandbox's clock helpers.

Harvest datetimes are ISO 8601 UTC with a trailing ``Z`` and second precision; dates are
``YYYY-MM-DD``; ``started_time``/``ended_time`` follow the company clock ("8:00am" for 12h).
Generation works on integer epoch seconds for speed; these helpers turn them into strings.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
HOURS_PER_HALF_DAY = 12
EPOCH_DATE = date(1970, 1, 1)
EPOCH_ORDINAL = EPOCH_DATE.toordinal()

# Strict ISO 8601 as Harvest accepts it for updated_since: a "T" separator, optional fraction,
# "Z" or a numeric offset (a missing zone is read as UTC). A space separator is rejected (400).
_ISO_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DASHED_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

_day_prefix_cache: dict[int, str] = {}


def day_string(day_index: int) -> str:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01."""
    cached = _day_prefix_cache.get(day_index)
    if cached is None:
        cached = date.fromordinal(EPOCH_ORDINAL + day_index).isoformat()
        _day_prefix_cache[day_index] = cached
    return cached


def epoch_string(epoch_seconds: int) -> str:
    """Harvest datetime string (``2024-01-31T12:00:00Z``) of integer epoch seconds."""
    day_index, rest = divmod(epoch_seconds, SECONDS_PER_DAY)
    hours, rest = divmod(rest, SECONDS_PER_HOUR)
    minutes, seconds = divmod(rest, SECONDS_PER_MINUTE)
    return f"{day_string(day_index)}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def day_index_of(value: date) -> int:
    return value.toordinal() - EPOCH_ORDINAL


def date_of_day(day_index: int) -> date:
    return date.fromordinal(EPOCH_ORDINAL + day_index)


def clock_12h(epoch_seconds: int) -> str:
    """Company clock "12h" time of day, e.g. ``8:00am`` or ``5:30pm``."""
    seconds_of_day = epoch_seconds % SECONDS_PER_DAY
    hours, rest = divmod(seconds_of_day, SECONDS_PER_HOUR)
    minutes = rest // SECONDS_PER_MINUTE
    suffix = "am" if hours < HOURS_PER_HALF_DAY else "pm"
    display_hours = hours % HOURS_PER_HALF_DAY or HOURS_PER_HALF_DAY
    return f"{display_hours}:{minutes:02d}{suffix}"


def utc_now() -> datetime:
    """Real current time, UTC, second precision (what mutations stamp on records)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def now_string() -> str:
    return utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")


def datetime_string(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_datetime(text: str) -> datetime | None:
    """Parse a strict ISO 8601 datetime; ``None`` when it is not one (the API answers 400)."""
    match = _ISO_DATETIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    if fraction:
        value += timedelta(microseconds=round(float(fraction) * 1_000_000))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value -= sign * offset
    return value


def updated_since_bound(value: datetime) -> str:
    """Smallest second-precision datetime string >= value, for string comparison with updated_at."""
    whole = value.replace(microsecond=0)
    if value.microsecond:
        whole += timedelta(seconds=1)
    return datetime_string(whole)


def parse_date(text: str) -> date | None:
    """``YYYY-MM-DD`` only (entity ``from``/``to`` filters)."""
    match = _DASHED_DATE.match(text)
    return _date_from_match(match)


def parse_report_date(text: str) -> date | None:
    """Report ``from``/``to``: ``YYYYMMDD`` (the docs' examples) or ``YYYY-MM-DD``."""
    match = _COMPACT_DATE.match(text) or _DASHED_DATE.match(text)
    return _date_from_match(match)


def _date_from_match(match: re.Match[str] | None) -> date | None:
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def years_before(value: date, years: int) -> date:
    """Same calendar day ``years`` earlier (29 February falls back to the 28th)."""
    try:
        return value.replace(year=value.year - years)
    except ValueError:
        return value.replace(year=value.year - years, day=value.day - 1)
