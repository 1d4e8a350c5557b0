"""The input files of acceptance-test-config.yml that follow from the catalog and the sandbox account.

- expected_records.jsonl (basic_read `expect_records`): the first EXPECTED_RECORDS_PER_STREAM records
  of every discovered stream, in the order a full-refresh read of the account returns them.
- incremental_catalog.json (incremental `configured_catalog_path`): every stream that offers
  incremental sync, in incremental mode on its cursor.
- abnormal_state.json (incremental `future_state`): a state for each of those streams whose cursor
  is far in the future, so that a read with it must return no record.

Nothing here is written by hand: after a change of streams, schemas or sandbox data, regenerate with

    python -m integration_tests.expected_records          # writes the three files
    python -m integration_tests.expected_records --check  # exit 1 when a committed file is stale

test_acceptance.py fails while a committed file differs from what this module makes. The account's
data ends at its anchor date (standard_account.ANCHOR), so the same read returns the same records on
any later day: report windows reach today, but the windows after the anchor hold no rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from integration_tests.conftest import Run
from integration_tests.standard_account import HERE, Connector, configured_catalog, load, running_sandbox
from source_harvest.catalog import STREAMS, StreamSpec

EXPECTED_RECORDS = HERE / "expected_records.jsonl"
INCREMENTAL_CATALOG = HERE / "incremental_catalog.json"
ABNORMAL_STATE = HERE / "abnormal_state.json"
# Enough rows to cover every record shape of a stream, few enough to keep the file reviewable.
EXPECTED_RECORDS_PER_STREAM = 10
# CAT reads `emitted_at` but compares only `data`; a constant keeps the file byte-stable (the anchor, in ms).
EMITTED_AT_MS = 1782777600000
# Far past any data: datetime cursors and the date cursor (`to`) of the report streams.
FUTURE_DATETIME = "2999-12-31T23:59:59Z"
FUTURE_DATE = "2999-12-31"


def incremental_streams() -> list[StreamSpec]:
    return [spec for spec in STREAMS if spec.cursor]


def incremental_catalog() -> dict[str, Any]:
    """The configured catalog of CAT's incremental tests: its streams keep the discovered definition
    (CAT takes the names from this file and the schemas from `discover`)."""
    return {"streams": [{
        "stream": {"name": spec.name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"],
                   "source_defined_cursor": True, "default_cursor_field": [spec.cursor]},
        "sync_mode": "incremental",
        "cursor_field": [spec.cursor],
        "destination_sync_mode": "append",
    } for spec in incremental_streams()]}


def abnormal_state() -> list[dict[str, Any]]:
    """Per-stream STATE messages, as the platform passes them back, with far-future cursors."""
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": spec.name},
                                          "stream_state": {spec.cursor: FUTURE_DATE if spec.report else FUTURE_DATETIME}}}
            for spec in incremental_streams()]


def expected_records(streams: Iterable[dict[str, Any]], run: Run) -> list[dict[str, Any]]:
    """The first records of each discovered stream of a full-refresh read, as CAT's expected_records lines."""
    return [{"stream": stream["name"], "data": data, "emitted_at": EMITTED_AT_MS}
            for stream in streams for data in run.records.get(stream["name"], [])[:EXPECTED_RECORDS_PER_STREAM]]


def basic_read(connector: Connector) -> tuple[list[dict[str, Any]], Run]:
    """What CAT's basic read does: discover, then read every discovered stream in full-refresh mode."""
    streams = connector.discovered_streams()
    run = connector.read_catalog(configured_catalog(streams, incremental=False))
    assert run.exit_code == 0 and not run.errors(), run.errors()
    return streams, run


def render_json(content: Any) -> str:
    return json.dumps(content, indent=2) + "\n"


def render_jsonl(lines: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)


def files_from(streams: list[dict[str, Any]], run: Run) -> dict[Path, str]:
    """Each file's content as it must be committed, given a basic read of the account."""
    return {
        EXPECTED_RECORDS: render_jsonl(expected_records(streams, run)),
        INCREMENTAL_CATALOG: render_json(incremental_catalog()),
        ABNORMAL_STATE: render_json(abnormal_state()),
    }


def generated_files() -> dict[Path, str]:
    """files_from a basic read of the account, served on the configs' port (which must be free)."""
    with running_sandbox(), tempfile.TemporaryDirectory() as directory:
        return files_from(*basic_read(Connector(Path(directory), load("config.json"))))


def stale_files(files: dict[Path, str]) -> list[str]:
    return [path.name for path, content in files.items() if not path.exists() or path.read_text(encoding="utf-8") != content]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.expected_records", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a committed file differs")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # the connector's own log lines would bury the one line this prints
    files = generated_files()
    stale = stale_files(files)
    if args.check:
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for path, content in files.items():
        path.write_text(content, encoding="utf-8")
    lines = files[EXPECTED_RECORDS].count("\n")
    print(f"wrote {EXPECTED_RECORDS.name} ({lines} records), {INCREMENTAL_CATALOG.name}, {ABNORMAL_STATE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
