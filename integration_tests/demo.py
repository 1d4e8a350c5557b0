"""`make demo`: check, discover, a full read and an incremental read, with a per-stream summary.

Without --config it starts the bundled sandbox Harvest (scale 1: ~20,000 time entries, 800 invoices,
Harvest's rate limits compressed 100x) and edits a few records between the two reads, so the
incremental read has changes to deliver. With --config secrets/config.json it syncs real Harvest.
Everything the connector prints is kept under .demo/ (config, catalog, state, raw output).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from integration_tests.sandbox.client import control as sandbox_control

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
SANDBOX_SCALE = "1"
SANDBOX_TIME_SCALE = "0.05"
SUMMARY_MARKER = "SYNC_SUMMARY "


def connector(*args: str, output: str) -> tuple[int, list[dict[str, Any]], float]:
    started = time.monotonic()
    with open(WORK / output, "w") as sink:
        code = subprocess.call([str(ROOT / ".venv" / "bin" / "source-harvest"), *args], stdout=sink, cwd=ROOT)
    seconds = time.monotonic() - started
    messages = [json.loads(line) for line in (WORK / output).read_text().splitlines() if line.startswith("{")]
    return code, messages, seconds


def errors(messages: list[dict[str, Any]]) -> list[str]:
    return [m["trace"]["error"]["message"] for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]


def start_sandbox() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    config_path = WORK / "config.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "integration_tests.sandbox", "--port", "0", "--seed", "1", "--scale", SANDBOX_SCALE,
         "--time-scale", SANDBOX_TIME_SCALE, "--config-out", str(config_path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    print(f"sandbox Harvest at {info['url']} (account {info['account_id']}, scale {SANDBOX_SCALE}, limits compressed {1 / float(SANDBOX_TIME_SCALE):.0f}x)")
    return process, info


def control(info: dict[str, Any], method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return sandbox_control(info["url"].split("/v2/")[0], method, path, body)


def edit_sandbox(info: dict[str, Any]) -> None:
    invoice = control(info, "GET", "records/invoices")[0]
    client = control(info, "GET", "records/clients")[0]
    entry = control(info, "GET", "records/time_entries")[-1]
    control(info, "PATCH", f"records/clients/{client['id']}", {"name": client["name"] + " (renamed)"})
    control(info, "PATCH", f"records/time_entries/{entry['id']}", {"notes": "edited after the first sync"})
    control(info, "POST", "records/invoice_payments", {"_parent_id": invoice["id"], "amount": 25.0, "notes": "demo payment"})
    print("edited the sandbox: renamed a client, edited an old time entry, recorded a payment on an invoice")


def catalog_from(messages: list[dict[str, Any]]) -> dict[str, Any]:
    catalog = next(m["catalog"] for m in messages if m["type"] == "CATALOG")
    streams = []
    for stream in catalog["streams"]:
        incremental = "incremental" in stream["supported_sync_modes"]
        streams.append({"stream": stream, "sync_mode": "incremental" if incremental else "full_refresh",
                        "cursor_field": stream.get("default_cursor_field", []),
                        "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                        "primary_key": stream.get("source_defined_primary_key", [])})
    return {"streams": streams}


def summary(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in messages:
        if message["type"] == "LOG" and message["log"]["message"].startswith(SUMMARY_MARKER):
            return json.loads(message["log"]["message"][len(SUMMARY_MARKER):])
    return {"streams": []}


def print_table(title: str, messages: list[dict[str, Any]], seconds: float) -> None:
    data = summary(messages)
    rows = data["streams"]
    print(f"\n{title}")
    print(f"  {'stream':32} {'records':>9} {'requests':>9} {'retries':>8} {'429s':>5} {'seconds':>8}")
    for row in rows:
        print(f"  {row['stream']:32} {row['records']:>9} {row['requests']:>9} {row['retries']:>8} {row['throttled']:>5} {row['seconds']:>8.2f}")
    totals = {key: sum(row[key] for row in rows) for key in ("records", "requests", "retries", "throttled")}
    print(f"  {'TOTAL':32} {totals['records']:>9} {totals['requests']:>9} {totals['retries']:>8} {totals['throttled']:>5} {seconds:>8.2f}")
    budget = data.get("budget", {})
    print(f"  the request budget held the sync {budget.get('waits', 0)} times ({budget.get('wait_seconds', 0):.1f}s in all)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", help="a real Harvest config; without it the bundled sandbox is used")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    sandbox = None
    info: dict[str, Any] | None = None
    try:
        if args.config:
            config_path = str(Path(args.config).resolve())
            print(f"syncing real Harvest with {args.config}")
        else:
            sandbox, info = start_sandbox()
            config_path = str(WORK / "config.json")

        code, messages, seconds = connector("check", "--config", config_path, output="check.jsonl")
        status = next((m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"), {"status": "NONE"})
        print(f"\ncheck: {status['status']} {status.get('message') or ''} ({seconds:.1f}s)")
        if status["status"] != "SUCCEEDED":
            return 1

        code, messages, seconds = connector("discover", "--config", config_path, output="discover.jsonl")
        catalog = catalog_from(messages)
        (WORK / "catalog.json").write_text(json.dumps(catalog, indent=1))
        print(f"discover: {len(catalog['streams'])} streams ({seconds:.1f}s)")

        code, messages, seconds = connector("read", "--config", config_path, "--catalog", str(WORK / "catalog.json"), output="full.jsonl")
        print_table(f"full read: exit {code}", messages, seconds)
        if code != 0:
            print("errors:", *errors(messages), sep="\n  ")
            return code
        states = {}
        for message in messages:
            if message["type"] == "STATE":
                states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        (WORK / "state.json").write_text(json.dumps(list(states.values()), indent=1))

        if info is not None:
            edit_sandbox(info)
        code, messages, seconds = connector("read", "--config", config_path, "--catalog", str(WORK / "catalog.json"),
                                            "--state", str(WORK / "state.json"), output="incremental.jsonl")
        print_table(f"incremental read: exit {code}", messages, seconds)
        if code != 0:
            print("errors:", *errors(messages), sep="\n  ")
        print(f"\noutput, config, catalog and state are in {WORK.relative_to(ROOT)}/")
        return code
    finally:
        if sandbox is not None:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
