"""HTTP status -> what the connector does, and the message the user reads.

401: the token or account is wrong (config_error, or one OAuth refresh first).
403: the token's Harvest role cannot read the stream; handled by the stream so it can name the role.
404 on a per-parent list: the parent vanished during the sync; the stream skips it with a warning.
422: fails, except the status a per-parent row documents as "this parent has no such list"
(`no_list_status`: /users/{id}/teammates of a non-Manager), which the stream reads as no rows.
429: wait Retry-After. 5xx, dropped connections, truncated or non-JSON bodies: retried with backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Optional, Union

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING

from .constants import MAX_RETRIES, RETRY_AFTER_DEFAULT_SECONDS
from .stats import StreamStats

# Where a parsed body is kept on the response, so that pages are decoded once.
PARSED_BODY_ATTRIBUTE = "_harvest_body"
RETRY_MAX_TIME = timedelta(minutes=30)
# "Retry-After: 0" still waits a moment (the CDK adds one second on top of any wait).
RETRY_AFTER_MINIMUM_SECONDS = 0.1


def _retry(message: str) -> ErrorResolution:
    return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, message)


def _fail(failure_type: FailureType, message: str) -> ErrorResolution:
    return ErrorResolution(ResponseAction.FAIL, failure_type, message)


def harvest_message(response: requests.Response) -> str:
    """Harvest's own words from an error body ({message} or {error, error_description}), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("message", "error", "error_description") if body.get(k)]
    return ": ".join(parts)[:300]


def error_mapping(stream_name: str, endpoint: str, account_id: str, oauth: bool,
                  no_list_status: int | None = None) -> dict[Union[int, type[Exception]], ErrorResolution]:
    where = f"{stream_name}: GET {endpoint}"
    unauthorized = (
        "Harvest answered 401 Unauthorized: the token is invalid, expired or revoked, or account_id "
        f"{account_id} is not an account this token can reach. Run `check` to see which accounts it reaches."
    )
    mapping: dict[Union[int, type[Exception]], ErrorResolution] = dict(DEFAULT_ERROR_MAPPING)
    mapping.update({
        400: _fail(FailureType.system_error, f"{where}: Harvest answered 400 Bad Request."),
        401: ErrorResolution(ResponseAction.REFRESH_TOKEN_THEN_RETRY, FailureType.config_error, unauthorized)
        if oauth else _fail(FailureType.config_error, unauthorized),
        403: ErrorResolution(ResponseAction.IGNORE, FailureType.config_error, "forbidden"),  # the stream raises, naming the role
        404: ErrorResolution(ResponseAction.IGNORE, FailureType.system_error, "not found"),  # the stream decides
        422: _fail(FailureType.system_error, f"{where}: Harvest answered 422 Unprocessable Entity."),
        429: ErrorResolution(ResponseAction.RATE_LIMITED, FailureType.transient_error,
                             f"{where}: Harvest answered 429 Too Many Requests; waiting for Retry-After."),
    })
    for status in (500, 502, 503, 504, 408):
        mapping[status] = _retry(f"{where}: Harvest answered {status}; retrying with backoff.")
    if no_list_status is not None:  # the stream reads it as a parent without this list
        mapping[no_list_status] = ErrorResolution(
            ResponseAction.IGNORE, FailureType.system_error,
            f"{where}: Harvest answered {no_list_status}, its documented answer for a parent without this list: no rows.")
    return mapping


class HarvestErrorHandler(HttpStatusErrorHandler):
    """The CDK's status handler, plus: a 2xx whose body is not JSON is a transient fault, not data."""

    def __init__(self, logger: logging.Logger, stream_name: str, endpoint: str, account_id: str, oauth: bool, stats: StreamStats,
                 no_list_status: int | None = None) -> None:
        mapping = error_mapping(stream_name, endpoint, account_id, oauth, no_list_status)
        super().__init__(logger, mapping, max_retries=MAX_RETRIES, max_time=RETRY_MAX_TIME)
        self._stream_name = f"{stream_name}: GET {endpoint}"
        self._stats = stats

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]] = None) -> ErrorResolution:
        resolution = self._interpret(response_or_exception)
        self._stats.attempts += 1
        if resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED):
            self._stats.retries += 1
            self._logger.info(f"retrying: {resolution.error_message}")
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429:
            self._stats.throttled += 1
        return resolution

    def _interpret(self, response_or_exception: Optional[Union[requests.Response, Exception]]) -> ErrorResolution:
        if isinstance(response_or_exception, Exception) and not isinstance(response_or_exception, requests.exceptions.InvalidSchema):
            if isinstance(response_or_exception, requests.RequestException):
                return _retry(f"{self._stream_name}: connection error ({type(response_or_exception).__name__}); retrying.")
        resolution = super().interpret_response(response_or_exception)
        if isinstance(response_or_exception, requests.Response) and resolution.response_action == ResponseAction.SUCCESS:
            try:
                setattr(response_or_exception, PARSED_BODY_ATTRIBUTE, orjson.loads(response_or_exception.content))
            except ValueError:
                return _retry(f"{self._stream_name}: Harvest sent a {response_or_exception.status_code} whose body is not JSON; retrying.")
        return resolution


class RetryAfterBackoff(BackoffStrategy):
    """Wait what Harvest's Retry-After says on 429; other retries use the CDK's exponential default."""

    def backoff_time(self, response_or_exception: Optional[Union[requests.Response, requests.RequestException]], attempt_count: int) -> Optional[float]:
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 429:
            return retry_after_seconds(response_or_exception)
        return None


def retry_after_seconds(response: requests.Response) -> float:
    value: Any = response.headers.get("Retry-After")
    try:
        return max(float(value), RETRY_AFTER_MINIMUM_SECONDS)
    except (TypeError, ValueError):
        return RETRY_AFTER_DEFAULT_SECONDS
