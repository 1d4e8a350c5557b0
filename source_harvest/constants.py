"""Numbers Harvest imposes, each with its source (see ../shared/harvest-api.md)."""

# Pagination page size: default = max = 2000 since 2023 (help.getharvest.com pagination page);
# /invoices still defaults to 100, so it is always sent explicitly. Above 2000 Harvest answers 422.
PAGE_SIZE = 2000

# General API limit: 100 requests per 15 seconds per token; reports: 100 per 15 minutes.
RATE_LIMIT_REQUESTS = 100
RATE_LIMIT_PERIOD_SECONDS = 15.0
REPORT_RATE_LIMIT_REQUESTS = 100
REPORT_RATE_LIMIT_PERIOD_SECONDS = 900.0

# Without Retry-After on a 429, wait one general window.
RETRY_AFTER_DEFAULT_SECONDS = 15.0
# Transient failures (5xx, dropped connections, bad bodies) are retried this many times.
MAX_RETRIES = 6

# 422 Unprocessable Entity: among others, Harvest's documented answer to /users/{id}/teammates for a
# user who is not a Manager (help.getharvest.com/api-v2/users-api/users/teammates/).
HTTP_UNPROCESSABLE_ENTITY = 422

# Harvest answers 400 for a report range over a year, counted as (to - from) > 365 days.
REPORT_MAX_RANGE_DAYS = 365

DEFAULT_API_URL = "https://api.harvestapp.com/v2/"
DEFAULT_ID_URL = "https://id.getharvest.com/api/v2/"
DEFAULT_USER_AGENT = "source-harvest (https://github.com/source-harvest/source-harvest)"
DEFAULT_LOOKBACK_MINUTES = 5
# Stitch's rule: without a start date, replicate the last year.
DEFAULT_START_DAYS_AGO = 365
# Harvest's updated_since format; a space-separated value gets 400 (Airbyte PR #35296).
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Per request: how long to wait for a connection, and for the answer (a stalled request is retried).
CONNECT_TIMEOUT_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 120
