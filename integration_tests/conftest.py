"""Integration fixtures: a sandbox Harvest on 127.0.0.1:<free port>, and the connector's real entrypoint."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from airbyte_cdk.logger import AirbyteLogFormatter

from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS, StreamSpec
from source_harvest.run import HarvestEntrypoint
from source_harvest.source import SourceHarvest

ANCHOR = "2026-06-30"
SCALE = 0.05
TIME_SCALE = 0.01  # Harvest's 15 s window becomes 0.15 s; reports' 15 min becomes 9 s


@dataclass
class Run:
    exit_code: int
    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    output: str = ""

    def state(self) -> list[dict[str, Any]]:
        """The last STATE message of each stream, as a --state file would hold them."""
        latest: dict[str, dict[str, Any]] = {}
        for message in self.messages:
            if message["type"] == "STATE":
                latest[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        return list(latest.values())

    def stream_state(self, name: str) -> dict[str, Any]:
        return next((s["stream"]["stream_state"] for s in self.state() if s["stream"]["stream_descriptor"]["name"] == name), {})

    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]

    def logs(self, level: str | None = None) -> list[str]:
        return [m["log"]["message"] for m in self.messages if m["type"] == "LOG" and (level is None or m["log"]["level"] == level)]

    def count(self, stream: str) -> int:
        return len(self.records.get(stream, []))


def run_connector(args: list[str], stop: Callable[[], bool] | None = None,
                  watch: Callable[[str], bool] | None = None) -> Run:
    """The connector's real entrypoint in-process, as `source-harvest <args>` runs it (exit code included).
    `stop`, asked after every message, cuts the run there as a kill would: the platform keeps only the
    messages it has received (exit code -9). `watch` is the same hook, given the message's line."""
    entrypoint = HarvestEntrypoint(SourceHarvest())
    lines: list[str] = []
    exit_code = 0
    # Log lines as the process prints them: the CDK's formatter (which masks secrets) on the root logger.
    log_buffer = io.StringIO()
    handler = logging.StreamHandler(log_buffer)
    handler.setLevel(logging.DEBUG if "--debug" in args else logging.INFO)
    handler.setFormatter(AirbyteLogFormatter())
    logging.getLogger("").addHandler(handler)
    try:
        printed = io.StringIO()  # what the CDK prints itself: CONTROL messages of a rotated refresh token
        with contextlib.redirect_stdout(printed):
            messages_out = entrypoint.run(entrypoint.parse_args(args))
            for message in messages_out:
                lines.append(message)
                if (stop is not None and stop()) or (watch is not None and watch(message)):
                    messages_out.close()
                    exit_code = -9
                    break
        lines.extend(printed.getvalue().splitlines())
    except SystemExit as exit_:
        exit_code = int(exit_.code or 0)
    except Exception as error:  # noqa: BLE001 - what the process does: the CDK's excepthook prints a trace, exit 1
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            sys.excepthook(type(error), error, error.__traceback__)
        lines.extend(captured.getvalue().splitlines())
        exit_code = 1
    finally:
        logging.getLogger("").removeHandler(handler)
    lines.extend(log_buffer.getvalue().splitlines())
    return run_of(exit_code, lines)


def run_of(exit_code: int, lines: list[str]) -> Run:
    """A Run from what a connector printed: its protocol messages, records by stream, and the output."""
    messages = [json.loads(line) for line in lines if line.startswith("{")]
    run = Run(exit_code, messages, output="\n".join(lines))
    for message in messages:
        if message["type"] == "RECORD":
            run.records[message["record"]["stream"]].append(message["record"]["data"])
    return run


def show(config: pytest.Config, tag: str, line: str) -> None:
    """A measured figure, shown on the terminal even without -s (build and install times are worth seeing)."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            terminal.write("\n")
            terminal.write_line(f"[{tag}] {line}")


def catalog_for(streams: Iterable[StreamSpec], incremental: bool = True) -> dict[str, Any]:
    configured = []
    for spec in streams:
        mode = "incremental" if incremental and spec.cursor else "full_refresh"
        configured.append({
            "stream": {"name": spec.name, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"] if spec.cursor else ["full_refresh"],
                       "source_defined_cursor": True, "default_cursor_field": [spec.cursor] if spec.cursor else [],
                       "source_defined_primary_key": [[k] for k in spec.primary_key]},
            "sync_mode": mode, "cursor_field": [spec.cursor] if spec.cursor else [],
            "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite",
            "primary_key": [[k] for k in spec.primary_key],
        })
    return {"streams": configured}


class Connector:
    """Writes config/catalog/state files the way a user would and runs the entrypoint on them."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.directory = directory
        self.config_path = self._write("config.json", config)

    def _write(self, name: str, content: Any) -> str:
        path = self.directory / name
        path.write_text(json.dumps(content))
        return str(path)

    def check(self) -> Run:
        return run_connector(["check", "--config", self.config_path])

    def discover(self) -> Run:
        return run_connector(["discover", "--config", self.config_path])

    def read(self, streams: Iterable[StreamSpec] = STREAMS, state: list[dict[str, Any]] | None = None, incremental: bool = True,
             stop: Callable[[], bool] | None = None, watch: Callable[[str], bool] | None = None) -> Run:
        args = ["read", "--config", self.config_path, "--catalog", self._write("catalog.json", catalog_for(streams, incremental))]
        if state is not None:
            args += ["--state", self._write("state.json", state)]
        return run_connector(args, stop, watch)


@pytest.fixture
def sandbox() -> Iterable[Sandbox]:
    box = Sandbox(seed=7, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE).start()
    yield box
    box.stop()


@pytest.fixture
def connector(sandbox: Sandbox, tmp_path: Path) -> Connector:
    return Connector(tmp_path, sandbox.config("admin"))
