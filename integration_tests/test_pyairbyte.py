"""PyAirbyte runs the connector (local_executable) and loads every stream into DuckDB, row for row.

PyAirbyte lives in .venv-pyairbyte/ (its pins conflict with the connector's venv). This test builds
that venv the way `make pyairbyte-venv` does when it is missing or its requirement changed (about
800 MB; a minute or three), and is skipped only when pip cannot reach the package index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

import pytest

from integration_tests.conftest import ANCHOR, catalog_for, run_connector, show
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-pyairbyte"
STAMP = VENV / ".installed"  # a copy of the requirements it was built from, as the Makefile writes it
REQUIREMENTS = ROOT / "integration_tests" / "pyairbyte-requirements.txt"
DRIVER = ROOT / "integration_tests" / "pyairbyte_driver.py"
INSTALL_TIMEOUT_SECONDS = 1800
DRIVER_TIMEOUT_SECONDS = 600
# What pip prints when it cannot reach the index (urllib3/requests connection failures).
NETWORK_ERRORS = (
    "NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
    "Name or service not known", "Network is unreachable", "ConnectTimeoutError", "ReadTimeoutError",
    "Connection refused", "Max retries exceeded",
)


def say(config: pytest.Config, line: str) -> None:
    show(config, "pyairbyte", line)


@pytest.fixture(scope="module")
def pyairbyte_python(request: pytest.FixtureRequest) -> Path:
    python = VENV / "bin" / "python"
    if STAMP.is_file() and python.is_file() and STAMP.read_text() == REQUIREMENTS.read_text():
        return python
    started = time.monotonic()
    # The connector's interpreter (3.11) is within PyAirbyte's Python < 3.13.
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    pip = subprocess.run(
        # At least one retry: pip reports a connection failure only in its "Retrying ..." warnings.
        [str(python), "-m", "pip", "install", "--progress-bar", "off", "--retries", "3", "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False,
    )
    output = pip.stdout + pip.stderr
    if pip.returncode != 0:
        network = next((line for line in output.splitlines() if any(error in line for error in NETWORK_ERRORS)), None)
        if network:
            pytest.skip(f"PyPI is unreachable, so PyAirbyte cannot be installed into {VENV}: {network.strip()[:300]}")
        pytest.fail(f"pip install -r {REQUIREMENTS.name} into {VENV} failed (exit {pip.returncode}):\n{output[-3000:]}")
    STAMP.write_text(REQUIREMENTS.read_text())
    say(request.config, f"installed {REQUIREMENTS.read_text().split()[-1]} into {VENV.name}/ in {time.monotonic() - started:.0f} s")
    return python


@pytest.fixture(scope="module")
def sandbox() -> Iterable[Sandbox]:
    box = Sandbox(seed=13, scale=0.02, anchor=ANCHOR, time_scale=0.01).start()
    yield box
    box.stop()


def test_pyairbyte_loads_the_rows_the_connector_reads(pyairbyte_python: Path, sandbox: Sandbox, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    executable = Path(sys.executable).with_name("source-harvest")
    assert executable.is_file(), f"{executable} is missing: the connector must be installed in this venv (make venv)"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sandbox.config("admin")))
    out = tmp_path / "counts.json"
    env = {
        **os.environ,
        "AIRBYTE_OFFLINE_MODE": "1",  # no fetch of Airbyte's connector registry
        "DO_NOT_TRACK": "1",
        "AIRBYTE_PROJECT_DIR": str(tmp_path),
        "AIRBYTE_CACHE_ROOT": str(tmp_path / "cache"),
        "AIRBYTE_LOGGING_ROOT": str(tmp_path / "logs"),
    }
    started = time.monotonic()
    driver = subprocess.run(
        [str(pyairbyte_python), str(DRIVER), "--config", str(config), "--executable", str(executable), "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_SECONDS, check=False,
    )
    assert driver.returncode == 0, f"the PyAirbyte driver failed:\n{driver.stdout[-3000:]}\n{driver.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert Path(result["cache"]).is_relative_to(tmp_path)
    say(request.config, f"read {result['processed_records']} records of {len(result['rows'])} streams into DuckDB "
                        f"in {time.monotonic() - started:.1f} s")

    # The connector's own full read of the same account, as `source-harvest read` runs it.
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_for(STREAMS)))
    own = run_connector(["read", "--config", str(config), "--catalog", str(catalog)])
    assert own.exit_code == 0, own.errors()
    expected = {spec.name: own.count(spec.name) for spec in STREAMS}
    assert all(expected.values()), expected
    assert result["rows"] == expected
