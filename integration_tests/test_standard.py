"""Airbyte's standard tests (spec, check, discover, basic and full-refresh read) against the sandbox.

The CDK's suite reads acceptance-test-config.yml, the file Airbyte's acceptance tests (CAT) read, and
runs one scenario per config it names; its configs point at the sandbox account of
standard_account.py on the fixed port of integration_tests/config.json, which the fixture below
serves for the module. The yaml also holds what only CAT reads (expected records, the incremental
and future-state tests, connector attributes and documentation): the CDK would reject the basic_read
key `expect_records`, so it gets the file without it (CAT_ONLY_KEYS), and test_acceptance.py checks
all of those. The image tests of the suite (marker image_tests) are deselected in pytest.ini:
test_docker_image.py tests the image.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import pytest
from airbyte_cdk.test.models.scenario import SCENARIO_SECTIONS, entry_key_problems
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from boltons.typeutils import classproperty

from integration_tests.sandbox import Sandbox
from integration_tests.standard_account import acceptance_test_config, load, running_sandbox
from source_harvest import SourceHarvest
from source_harvest.catalog import STREAMS

# Keys of a section's entries that CAT reads and the CDK's suite rejects (it fails collection on a key
# it does not read), with where the check they configure runs instead.
CAT_ONLY_KEYS = {
    "basic_read": {"expect_records": "test_acceptance.py compares a basic read with expected_records.jsonl"},
}

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


def config_for_the_cdk() -> dict[str, Any]:
    """acceptance-test-config.yml without the CAT_ONLY_KEYS."""
    config = copy.deepcopy(acceptance_test_config())
    for section, keys in CAT_ONLY_KEYS.items():
        for entry in config["acceptance_tests"][section]["tests"]:
            for key in keys:
                entry.pop(key, None)
    return config


@pytest.fixture(scope="module", autouse=True)
def sandbox() -> Iterable[Sandbox]:
    try:
        with running_sandbox() as box:
            yield box
    except RuntimeError as error:
        pytest.fail(str(error))


# The CDK only warns about some catalog problems (valid schemas, cursors and primary keys in them, scalar
# keys) that CAT's discovery tests fail on: here they fail too.
@pytest.mark.filterwarnings("error::airbyte_cdk.test.standard_tests.DiscoveredCatalogWarning")
class TestStandard(SourceTestSuiteBase):
    connector = SourceHarvest

    @classproperty
    def acceptance_test_config(cls) -> Any:  # noqa: N805 - a class property, as in the CDK
        return config_for_the_cdk()

    @pytest.fixture(autouse=True)
    def _refuse_cdk_image_tests(self, request: pytest.FixtureRequest) -> None:
        # Reached only when a command-line -m replaced pytest.ini's "not image_tests".
        if request.node.get_closest_marker("image_tests"):
            pytest.skip("the CDK's image tests need GitHub and Docker Hub; test_docker_image.py tests the image")


def named_configs(config: dict[str, Any]) -> dict[str, set[str]]:
    """config_path -> the sections of the yaml that name it."""
    named: dict[str, set[str]] = {}
    for section, tests in config["acceptance_tests"].items():
        for entry in tests.get("tests") or ():
            named.setdefault(entry["config_path"], set()).add(section)
    return named


def test_the_cdk_suite_runs_a_scenario_for_every_config_the_yaml_names() -> None:
    """Every config of every section, incremental and connector_* included (which the CDK does not
    collect), is one of the suite's scenarios, and runs the commands of the sections it collects."""
    scenarios = {str(scenario.config_path): scenario for scenario in TestStandard.get_scenarios()}
    named = named_configs(acceptance_test_config())
    assert set(named) == set(scenarios)
    for path, sections in named.items():
        collected = sections & set(SCENARIO_SECTIONS)
        assert set(scenarios[path].sections) == collected, path
    assert scenarios["integration_tests/config.json"].runs("check", "discover", "read")
    # basic_read without a catalog and full_refresh with one: the CDK reads every discovered stream.
    assert scenarios["integration_tests/config.json"].configured_catalog_path is None


def test_the_cdk_gets_the_yaml_less_the_cat_only_keys_which_it_would_reject() -> None:
    original, given = acceptance_test_config(), config_for_the_cdk()
    for section, keys in CAT_ONLY_KEYS.items():
        entries = original["acceptance_tests"][section]["tests"]
        for key in keys:
            assert any(key in entry for entry in entries), f"no {section} entry sets {key}: drop it from CAT_ONLY_KEYS"
        for entry in entries:
            assert entry_key_problems(entry, (section,)), "the CDK accepts this entry as it is: CAT_ONLY_KEYS is not needed"
            for key in keys:
                entry.pop(key, None)
            assert entry_key_problems(entry, (section,)) == []
    assert given == original


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


def test_config_paths_are_files_of_the_repository() -> None:
    root = Path(__file__).resolve().parent.parent
    assert all((root / path).is_file() for path in named_configs(acceptance_test_config()))
