"""The connector's configuration, parsed and checked once, with an actionable message per mistake."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .constants import (
    DATETIME_FORMAT,
    DEFAULT_API_URL,
    DEFAULT_ID_URL,
    DEFAULT_LOOKBACK_MINUTES,
    DEFAULT_START_DAYS_AGO,
    DEFAULT_USER_AGENT,
    RATE_LIMIT_PERIOD_SECONDS,
    RATE_LIMIT_REQUESTS,
    REPORT_RATE_LIMIT_PERIOD_SECONDS,
    REPORT_RATE_LIMIT_REQUESTS,
)

REPORT_WINDOWS = ("month", "quarter", "year")
DEFAULT_REPORTS_WINDOW = "year"
DEFAULT_REPORTS_LOOKBACK_DAYS = 30
DEFAULT_DELETES_SWEEP_HOURS = 24


# What an HTTP header value may hold here: printable ASCII. A CR or LF would end the header and
# start another (header injection); other control or non-ASCII characters are paste mistakes.
HEADER_VALUE = re.compile(r"[ -~]*")


def config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


def is_header_safe(value: str) -> bool:
    return HEADER_VALUE.fullmatch(value) is not None


def _header_value(value: str, name: str) -> str:
    """A config value sent as it is in an HTTP header. The message never quotes it: it may be a secret."""
    if not is_header_safe(value):
        raise config_error(f"`{name}` holds a line break, a control character or a non-ASCII character, which cannot go "
                           "in an HTTP header. Enter it again as printable ASCII (copy it without the line break).")
    return value


@dataclass(frozen=True)
class RateLimit:
    requests: int = RATE_LIMIT_REQUESTS
    period_seconds: float = RATE_LIMIT_PERIOD_SECONDS
    report_requests: int = REPORT_RATE_LIMIT_REQUESTS
    report_period_seconds: float = REPORT_RATE_LIMIT_PERIOD_SECONDS


@dataclass(frozen=True)
class HarvestConfig:
    account_id: str
    auth_type: str
    api_token: str = ""
    start: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    end: datetime | None = None
    lookback: timedelta = timedelta(minutes=DEFAULT_LOOKBACK_MINUTES)
    api_url: str = DEFAULT_API_URL
    id_url: str = DEFAULT_ID_URL
    user_agent: str = DEFAULT_USER_AGENT
    rate_limit: RateLimit = RateLimit()
    reports_window: str = DEFAULT_REPORTS_WINDOW
    reports_lookback_days: int = DEFAULT_REPORTS_LOOKBACK_DAYS
    ignore_forbidden_streams: bool = False
    capture_deletes: bool = True
    deletes_sweep: timedelta = timedelta(hours=DEFAULT_DELETES_SWEEP_HOURS)


def parse_datetime(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise config_error(f"`{name}` must be a string like 2024-01-01T00:00:00Z, got {type(value).__name__}.")
    try:
        return datetime.strptime(value, DATETIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise config_error(f"`{name}` must look like 2024-01-01T00:00:00Z (UTC, no fractions), got '{value}'.") from None


def _url(value: Any, name: str, default: str) -> str:
    url = default if value in (None, "") else value
    if not isinstance(url, str):
        raise config_error(f"`{name}` must be a URL string.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise config_error(f"`{name}` must be an http(s) URL such as {default}, got '{url}'.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise config_error(f"`{name}` may use http:// only for a loopback host (a local sandbox); use https:// for '{parts.hostname}'.")
    return url if url.endswith("/") else url + "/"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _number(section: Mapping[str, Any], key: str, default: float, minimum: float, name: str) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise config_error(f"`{name}.{key}` must be a number of at least {minimum}, got {value!r}.")
    return value


def parse_config(raw: Mapping[str, Any], now: datetime | None = None) -> HarvestConfig:
    """Turn the user's JSON config into a HarvestConfig, or raise a config_error saying what to fix."""
    if not isinstance(raw, Mapping):
        raise config_error("The config must be a JSON object.")
    now = now or datetime.now(timezone.utc)
    account_id = raw.get("account_id")
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        account_id = str(account_id)
    if not isinstance(account_id, str) or not (account_id.strip().isascii() and account_id.strip().isdigit()):
        raise config_error("`account_id` is required: the digits of your Harvest account id (https://id.getharvest.com/developers).")

    credentials = raw.get("credentials")
    if not isinstance(credentials, Mapping):
        raise config_error("`credentials` is required: {\"auth_type\": \"Token\", \"api_token\": …} or {\"auth_type\": \"Client\", \"client_id\", \"client_secret\", \"refresh_token\"}.")
    auth_type = credentials.get("auth_type") or ("Token" if "api_token" in credentials else None)
    api_token = ""
    if auth_type == "Token":
        api_token = credentials.get("api_token")
        if not isinstance(api_token, str) or not api_token.strip():
            raise config_error("`credentials.api_token` is empty: paste a personal access token from https://id.getharvest.com/developers.")
        api_token = _header_value(api_token.strip(), "credentials.api_token")
    elif auth_type == "Client":
        for key in ("client_id", "client_secret", "refresh_token"):
            value = credentials.get(key)
            if not isinstance(value, str) or not value.strip():
                raise config_error(f"`credentials.{key}` is empty: OAuth needs client_id, client_secret and refresh_token.")
        # client_id, client_secret and refresh_token travel form-encoded in a body; a saved access token is a header.
        access_token = credentials.get("access_token")
        if isinstance(access_token, str):
            _header_value(access_token, "credentials.access_token")  # the CDK sends it as given
    else:
        raise config_error(f"`credentials.auth_type` must be \"Token\" or \"Client\", got {auth_type!r}.")

    start_raw = raw.get("replication_start_date")
    start = parse_datetime(start_raw, "replication_start_date") if start_raw else (now - timedelta(days=DEFAULT_START_DAYS_AGO)).replace(microsecond=0)
    end = parse_datetime(raw["replication_end_date"], "replication_end_date") if raw.get("replication_end_date") else None
    if start > now:
        raise config_error(f"`replication_start_date` {start.strftime(DATETIME_FORMAT)} is in the future.")
    if end is not None and end < start:
        raise config_error("`replication_end_date` is before `replication_start_date`.")

    lookback = raw.get("lookback_window_minutes", DEFAULT_LOOKBACK_MINUTES)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 0:
        raise config_error(f"`lookback_window_minutes` must be a whole number of minutes >= 0, got {lookback!r}.")

    limit_raw = raw.get("rate_limit") or {}
    if not isinstance(limit_raw, Mapping):
        raise config_error("`rate_limit` must be an object like {\"requests\": 100, \"period_seconds\": 15}.")
    rate_limit = RateLimit(
        requests=int(_number(limit_raw, "requests", RATE_LIMIT_REQUESTS, 1, "rate_limit")),
        period_seconds=float(_number(limit_raw, "period_seconds", RATE_LIMIT_PERIOD_SECONDS, 0.001, "rate_limit")),
        report_requests=int(_number(limit_raw, "report_requests", REPORT_RATE_LIMIT_REQUESTS, 1, "rate_limit")),
        report_period_seconds=float(_number(limit_raw, "report_period_seconds", REPORT_RATE_LIMIT_PERIOD_SECONDS, 0.001, "rate_limit")),
    )

    reports_window = raw.get("reports_window", DEFAULT_REPORTS_WINDOW)
    if reports_window not in REPORT_WINDOWS:
        raise config_error(f"`reports_window` must be one of {', '.join(REPORT_WINDOWS)}, got {reports_window!r}.")
    reports_lookback_days = raw.get("reports_lookback_days", DEFAULT_REPORTS_LOOKBACK_DAYS)
    if isinstance(reports_lookback_days, bool) or not isinstance(reports_lookback_days, int) or reports_lookback_days < 0:
        raise config_error(f"`reports_lookback_days` must be a whole number >= 0, got {reports_lookback_days!r}.")
    sweep_hours = raw.get("deletes_sweep_hours", DEFAULT_DELETES_SWEEP_HOURS)
    if isinstance(sweep_hours, bool) or not isinstance(sweep_hours, int) or sweep_hours < 0:
        raise config_error(f"`deletes_sweep_hours` must be a whole number of hours >= 0 (0: every sync), got {sweep_hours!r}.")
    user_agent = raw.get("user_agent") or DEFAULT_USER_AGENT
    if not isinstance(user_agent, str):
        raise config_error("`user_agent` must be a string naming the application and a contact.")
    user_agent = _header_value(user_agent.strip(), "user_agent") or DEFAULT_USER_AGENT

    return HarvestConfig(
        account_id=account_id.strip(),
        auth_type=auth_type,
        api_token=api_token,
        start=start,
        end=end,
        lookback=timedelta(minutes=lookback),
        api_url=_url(raw.get("api_url"), "api_url", DEFAULT_API_URL),
        id_url=_url(raw.get("id_url"), "id_url", DEFAULT_ID_URL),
        user_agent=user_agent,
        rate_limit=rate_limit,
        reports_window=reports_window,
        reports_lookback_days=reports_lookback_days,
        ignore_forbidden_streams=bool(raw.get("ignore_forbidden_streams", False)),
        capture_deletes=bool(raw.get("capture_deletes", True)),
        deletes_sweep=timedelta(hours=sweep_hours),
    )
