"""Reports end to end: every row the sandbox computes for every window arrives, once."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import requests

from integration_tests.conftest import ANCHOR, SCALE, Connector
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS, WINDOWED
from source_harvest.streams.report import report_windows

REPORTS = [s for s in STREAMS if s.report]


def harvest_rows(sandbox: Sandbox, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}", "Harvest-Account-Id": sandbox.account_id, "User-Agent": "tests (t@example.com)"}
    rows, url = [], sandbox.url + path
    while url:
        response = requests.get(url, headers=headers, params=params if url.endswith(path) else None, timeout=30)
        response.raise_for_status()
        body = response.json()
        rows += body["results"]
        url = body["links"]["next"]
    return rows


def test_every_report_row_of_every_window_arrives_once(tmp_path) -> None:
    # No rate limits here: this test's own report calls would otherwise share the connector's budget.
    sandbox = Sandbox(seed=3, scale=SCALE, anchor=ANCHOR, rate_limits=False).start()
    try:
        check_reports(sandbox, tmp_path)
    finally:
        sandbox.stop()


def check_reports(sandbox: Sandbox, tmp_path) -> None:
    for reports_window in ("year", "quarter"):
        config = sandbox.config("admin", reports_window=reports_window)
        run = Connector(tmp_path, config).read(REPORTS)
        assert run.exit_code == 0, run.errors()
        start = datetime.strptime(config["replication_start_date"], "%Y-%m-%dT%H:%M:%SZ").date()
        windows = report_windows(start, datetime.now(timezone.utc).date(), reports_window)
        for spec in REPORTS:
            key = [k for k in spec.primary_key if k not in ("from", "to")]
            if spec.report == WINDOWED:
                expected = {(*(row[k] for k in key), lo.isoformat(), hi.isoformat())
                            for lo, hi in windows
                            for row in harvest_rows(sandbox, spec.path, {"from": fmt(lo), "to": fmt(hi)})}
            else:
                expected = {tuple(row[k] for k in key) for row in harvest_rows(sandbox, spec.path, {})}
            delivered = [tuple(row[k] for k in spec.primary_key) for row in run.records[spec.name]]
            assert len(delivered) == len(set(delivered)), spec.name  # no duplicate keys
            assert set(delivered) == expected, (reports_window, spec.name)
            assert expected, spec.name


def fmt(day: date) -> str:
    return day.strftime("%Y%m%d")
