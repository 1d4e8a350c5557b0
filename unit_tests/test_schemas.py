"""Every stream's JSON schema: present, loadable by the CDK, and declaring the columns the connector adds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from jsonschema import Draft7Validator

import source_harvest
from source_harvest.catalog import STREAMS, StreamSpec

SCHEMAS_DIR = Path(next(iter(source_harvest.__path__))) / "schemas"

KEYS_BY_NAME: dict[str, tuple[str, ...]] = {spec.name: spec.primary_key for spec in STREAMS}


def load(name: str) -> dict[str, Any]:
    """The schema as the CDK hands it to Airbyte: shared `$ref`s inlined."""
    return ResourceSchemaLoader("source_harvest").get_schema(name)


def subschemas(schema: Any, where: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, schema) pair of an object or array schema, depth first."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for name, prop in schema.get("properties", {}).items():
        yield from subschemas(prop, f"{where}.{name}")
    if "items" in schema:
        yield from subschemas(schema["items"], f"{where}[]")


def columns_added_by(spec: StreamSpec) -> set[str]:
    """The columns the connector adds or renames, besides the Harvest fields."""
    columns = {*spec.primary_key, *(column for column, _ in spec.flat), *(column for column, _ in spec.parent_columns)}
    if spec.cursor:
        columns.add(spec.cursor)
    if spec.parent_key:
        columns.add(spec.parent_key)
    if spec.embedded and spec.element_id_as != "id":
        columns.add(spec.element_id_as)
    return columns


ALL_NAMES = sorted(KEYS_BY_NAME)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_schema_file_exists_and_loads_with_the_cdk(name: str) -> None:
    assert (SCHEMAS_DIR / f"{name}.json").is_file()
    schema = load(name)
    assert schema["type"] == ["null", "object"]
    assert "$ref" not in json.dumps(schema), "a shared $ref was not inlined by the CDK"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_schema_is_valid_draft7(name: str) -> None:
    Draft7Validator.check_schema(load(name))
    Draft7Validator.check_schema(json.loads((SCHEMAS_DIR / f"{name}.json").read_text()))


@pytest.mark.parametrize("spec", STREAMS, ids=lambda spec: spec.name)
def test_schema_declares_every_column_the_connector_adds(spec: StreamSpec) -> None:
    declared = set(load(spec.name)["properties"])
    assert columns_added_by(spec) <= declared, sorted(columns_added_by(spec) - declared)


@pytest.mark.parametrize("spec", [s for s in STREAMS if not s.report], ids=lambda spec: spec.name)
def test_entity_schema_declares_the_tombstone_column(spec: StreamSpec) -> None:
    column = load(spec.name)["properties"]["_ab_cdc_deleted_at"]
    assert column == {**column, "type": ["null", "string"], "format": "date-time"}


@pytest.mark.parametrize("name", ALL_NAMES)
def test_schema_keeps_undocumented_fields_at_every_object_level(name: str) -> None:
    for where, schema in subschemas(load(name)):
        assert schema.get("additionalProperties", True) is not False, where
        if "properties" in schema:
            assert schema.get("additionalProperties") is True, where


@pytest.mark.parametrize("name", ALL_NAMES)
def test_only_key_columns_are_non_null(name: str) -> None:
    schema = load(name)
    keys = KEYS_BY_NAME[name]
    for where, sub in subschemas(schema):
        if where == "$":
            continue
        is_key = where.count(".") == 1 and where[2:] in keys
        nullable = isinstance(sub.get("type"), list) and "null" in sub["type"]
        assert nullable != is_key, f"{where}: {sub.get('type')}"
    assert set(schema.get("required", ())) == set(keys)


def test_every_schema_file_belongs_to_a_stream() -> None:
    orphans = {path.stem for path in SCHEMAS_DIR.glob("*.json")} - set(KEYS_BY_NAME)
    assert not orphans, sorted(orphans)


def test_every_shared_schema_is_used() -> None:
    raw = "".join(path.read_text() for path in SCHEMAS_DIR.rglob("*.json"))
    for shared in (SCHEMAS_DIR / "shared").glob("*.json"):
        assert f'"$ref": "{shared.name}"' in raw, shared.name
