"""Operator experience on the sandbox: progress lines with an ETA, the end-of-sync summary."""

from __future__ import annotations

import json
import re

from integration_tests.conftest import Connector
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS, STREAMS_BY_NAME
from source_harvest.stats import SUMMARY_MARKER


def test_progress_and_summary_lines_carry_the_real_numbers(sandbox: Sandbox, connector: Connector) -> None:
    run = connector.read()
    assert run.exit_code == 0, run.errors()
    logs = run.logs("INFO")
    entries = len(sandbox.records("time_entries"))
    invoices = len(sandbox.records("invoices"))
    assert f"progress time_entries: {entries}/{entries} rows fetched (100%), {entries} records, page 1/1, 1 requests, done" in logs
    assert f"progress invoice_payments: {invoices}/{invoices} parents visited (100%), {run.count('invoice_payments')} records, {invoices} requests, done" in logs
    summary_line = next(line for line in logs if line.startswith("summary time_entries:"))
    assert f"records={entries} requests=1 rereads=0 retries=0 429s=0" in summary_line
    state = dict(run.stream_state("time_entries"))
    state["ids"] = f"<{len(state['ids'])} chars>"  # the id set's length, not its content
    assert f"state={json.dumps(state, sort_keys=True)}" in summary_line
    total = next(line for line in logs if line.startswith("summary TOTAL:"))
    records_total = sum(len(v) for v in run.records.values())
    assert f"records={records_total} " in total
    requests_total = int(re.search(r"requests=(\d+)", total).group(1))
    assert requests_total == sandbox.stats()["total"]  # every request the sandbox saw is accounted for
    data = json.loads(next(line for line in logs if line.startswith(SUMMARY_MARKER))[len(SUMMARY_MARKER) + 1:])
    by_stream = {row["stream"]: row for row in data["streams"]}
    assert {s.name for s in STREAMS} <= set(by_stream)
    assert all(by_stream[name]["records"] == run.count(name) for name in STREAMS_BY_NAME)


def test_budget_waits_are_logged_with_their_length(sandbox: Sandbox, tmp_path) -> None:
    config = sandbox.config("admin", rate_limit={"requests": 10, "period_seconds": 0.5, "report_requests": 100, "report_period_seconds": 9})
    run = Connector(tmp_path, config).read([STREAMS_BY_NAME["invoice_payments"]])
    assert run.exit_code == 0
    waits = [line for line in run.logs("INFO") if line.startswith("request budget: waited ")]
    assert waits and all(re.match(r"request budget: waited \d+\.\ds before GET /v2/", line) for line in waits)
    assert sandbox.stats()["throttled"] == 0
    midway = [line for line in run.logs("INFO") if line.startswith("progress invoice_payments:") and "ETA" in line]
    assert midway and all(re.search(r"\d+ requests to go, ETA \d+", line) for line in midway)
