"""Airbyte's standard tests (spec, check, discover, basic and full-refresh read) against the sandbox.

acceptance-test-config.yml lists the configs; they point at the sandbox on the fixed port of
integration_tests/config.json (the one place it is written), which the fixture below serves for the
module. The image tests of the suite (marker image_tests) are deselected in pytest.ini:
test_docker_image.py tests the image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from integration_tests.sandbox import Sandbox
from source_harvest import SourceHarvest
from source_harvest.catalog import STREAMS

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

HERE = Path(__file__).resolve().parent
# The sandbox account whose ids and tokens the config files hold; change them together.
SEED = 7
SCALE = 0.02
ANCHOR = "2026-06-30"
TIME_SCALE = 0.01  # Harvest's 15 s rate window becomes 0.15 s, as the configs' rate_limit says


def load(name: str) -> dict[str, Any]:
    return json.loads((HERE / name).read_text())


def configured_port() -> int:
    port = urlsplit(load("config.json")["api_url"]).port
    assert port, "integration_tests/config.json must name an explicit sandbox port in api_url"
    return port


@pytest.fixture(scope="module", autouse=True)
def sandbox() -> Iterable[Sandbox]:
    port = configured_port()
    box = Sandbox(seed=SEED, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, port=port)
    try:
        box.start()
    except OSError as error:
        pytest.fail(f"the standard tests need 127.0.0.1:{port} (the port of integration_tests/config.json), which is taken: {error}")
    yield box
    box.stop()


class TestStandard(SourceTestSuiteBase):
    connector = SourceHarvest

    @pytest.fixture(autouse=True)
    def _refuse_cdk_image_tests(self, request: pytest.FixtureRequest) -> None:
        # Reached only when a command-line -m replaced pytest.ini's "not image_tests".
        if request.node.get_closest_marker("image_tests"):
            pytest.skip("the CDK's image tests need GitHub and Docker Hub; test_docker_image.py tests the image")


def test_the_configs_hold_the_sandbox_account(sandbox: Sandbox) -> None:
    """The committed configs match the account the fixture serves (tokens and ids follow SEED)."""
    assert load("config.json") == sandbox.config("admin")
    invalid = load("invalid_config.json")
    assert invalid == {**sandbox.config("admin"), "credentials": invalid["credentials"]}
    assert invalid["credentials"]["api_token"] != sandbox.admin_token
    spec_config = load("spec_config.json")
    assert spec_config["credentials"] == sandbox.config("oauth")["credentials"]
    assert (spec_config["api_url"], spec_config["id_url"]) == (sandbox.url, sandbox.id_url)


def test_the_configured_catalog_reads_every_stream() -> None:
    names = [entry["stream"]["name"] for entry in load("configured_catalog.json")["streams"]]
    assert names == [spec.name for spec in STREAMS]
