"""metadata.yaml agrees with what is built and run: image name and tag, base image, version, hosts."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from airbyte_cdk.models.connector_metadata import MetadataFile

from source_harvest.constants import DEFAULT_API_URL, DEFAULT_ID_URL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]


def dockerfile_base_image() -> str:
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "Dockerfile has no `ARG BASE_IMAGE=<default>` line"
    return match.group(1)


def dockerfile_label(name: str) -> str:
    match = re.search(rf'{re.escape(name)}="([^"]*)"', (ROOT / "Dockerfile").read_text())
    assert match, f"Dockerfile has no LABEL {name}"
    return match.group(1)


def setup_version() -> str:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "version":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py passes no version= to setup()")


def build_script_image_tag() -> str:
    match = re.search(r'^IMAGE_TAG="\$\{IMAGE_TAG:-([^}]+)\}"', (ROOT / "docker" / "build-image.sh").read_text(), re.MULTILINE)
    assert match, "docker/build-image.sh has no IMAGE_TAG default"
    return match.group(1)


def test_the_cdk_reads_the_metadata_as_a_python_connector() -> None:
    parsed = MetadataFile.from_file(ROOT / "metadata.yaml").data
    assert parsed.language.value == "python"
    assert parsed.connectorBuildOptions is not None and parsed.connectorBuildOptions.baseImage


def test_image_tag_is_the_package_version(metadata: dict[str, Any]) -> None:
    assert metadata["dockerImageTag"] == setup_version() == dockerfile_label("io.airbyte.version")


def test_repository_is_the_image_that_make_image_builds(metadata: dict[str, Any]) -> None:
    repository, _, tag = build_script_image_tag().partition(":")
    assert (repository, tag) == (metadata["dockerRepository"], "dev")


def test_base_image_is_the_dockerfile_default_pinned_by_digest(metadata: dict[str, Any]) -> None:
    base = metadata["connectorBuildOptions"]["baseImage"]
    assert base == dockerfile_base_image()
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", base)


@pytest.mark.parametrize("url", [DEFAULT_API_URL, DEFAULT_ID_URL])
def test_allowed_hosts_cover_the_default_urls(metadata: dict[str, Any], url: str) -> None:
    assert urlsplit(url).hostname in metadata["allowedHosts"]["hosts"]


def test_definition_id_is_a_uuid_and_required_fields_are_set(metadata: dict[str, Any]) -> None:
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", metadata["definitionId"])
    assert (metadata["connectorType"], metadata["connectorSubtype"]) == ("source", "api")
    assert {"language:python", "cdk:python"} <= set(metadata["tags"])
