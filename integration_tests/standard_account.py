"""The sandbox account that acceptance-test-config.yml's configs describe, and reads of it as Airbyte's
acceptance tests make them.

Every config the yaml names (integration_tests/config.json, spec_config.json, invalid_config.json)
holds this account's ids and tokens, which follow SEED, and the fixed port of config.json's api_url.
The in-process suites (test_standard.py, test_acceptance.py), the expected-records generator
(expected_records.py) and Airbyte's own CAT (docs/development.md: "Airbyte's acceptance tests") run
against the same account, started with:

    python -m integration_tests.sandbox --port 18931 --seed 7 --scale 0.02 --anchor 2026-06-30 --time-scale 0.01
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import yaml

from integration_tests import conftest
from integration_tests.conftest import Run, run_connector
from integration_tests.sandbox import Sandbox

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ACCEPTANCE_TEST_CONFIG = ROOT / "acceptance-test-config.yml"
# The account the config files hold; change them together (test_standard.py checks they agree).
SEED = 7
SCALE = 0.02
ANCHOR = "2026-06-30"  # generated data ends here, so every read of the account returns the same rows
TIME_SCALE = 0.01  # Harvest's 15 s rate window becomes 0.15 s, as the configs' rate_limit says


def load(name: str) -> Any:
    """A JSON file of integration_tests/ (or a path relative to the repository root)."""
    path = ROOT / name if "/" in name else HERE / name
    return json.loads(path.read_text(encoding="utf-8"))


def acceptance_test_config() -> dict[str, Any]:
    return yaml.safe_load(ACCEPTANCE_TEST_CONFIG.read_text(encoding="utf-8"))


def configured_port() -> int:
    port = urlsplit(load("config.json")["api_url"]).port
    assert port, "integration_tests/config.json must name an explicit sandbox port in api_url"
    return port


def new_sandbox() -> Sandbox:
    """The account, not started."""
    return Sandbox(seed=SEED, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, port=configured_port())


@contextlib.contextmanager
def running_sandbox() -> Iterator[Sandbox]:
    """The account served on the configs' port for the duration of the block."""
    box = new_sandbox()
    try:
        box.start()
    except OSError as error:
        raise RuntimeError(f"the acceptance configs need 127.0.0.1:{box.port} (the port of integration_tests/config.json), "
                           f"which is taken: {error}") from error
    try:
        yield box
    finally:
        box.stop()


class Connector(conftest.Connector):
    """The connector's real entrypoint (as the image runs it), on the discovered catalog as CAT builds it."""

    def discovered_streams(self) -> list[dict[str, Any]]:
        run = run_connector(["discover", "--config", self.config_path])
        catalogs = [message["catalog"] for message in run.messages if message["type"] == "CATALOG"]
        assert run.exit_code == 0 and len(catalogs) == 1, run.errors()
        return catalogs[0]["streams"]

    def read_catalog(self, catalog: dict[str, Any], state: list[dict[str, Any]] | None = None) -> Run:
        args = ["read", "--config", self.config_path, "--catalog", self._write("catalog.json", catalog)]
        if state is not None:
            args += ["--state", self._write("state.json", state)]
        return run_connector(args)


def configured_catalog(streams: list[dict[str, Any]], incremental: bool) -> dict[str, Any]:
    """Every given discovered stream, in incremental mode where it offers it (else full refresh), as CAT
    configures a catalog built from the discovered one."""
    configured = []
    for stream in streams:
        mode = "incremental" if incremental and "incremental" in stream["supported_sync_modes"] else "full_refresh"
        configured.append({
            "stream": stream,
            "sync_mode": mode,
            "cursor_field": stream.get("default_cursor_field", []) if mode == "incremental" else [],
            "destination_sync_mode": "append" if mode == "incremental" else "overwrite",
        })
    return {"streams": configured}
