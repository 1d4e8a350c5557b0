"""The stream table: names, keys and parents as the seed and the README promise."""

from __future__ import annotations

import pytest

from source_harvest.catalog import STREAMS, STREAMS_BY_NAME
from source_harvest.source import SourceHarvest, stream_class
from source_harvest.streams.child import ChildStream
from source_harvest.streams.derived import DerivedStream
from source_harvest.streams.entity import ListStream
from source_harvest.streams.report import ReportStream

# The seed's 24 tables with their primary keys (../shared/seed-tables.md), plus Airbyte's extras.
SEED_KEYS = {
    "clients": ("id",), "contacts": ("id",), "estimate_item_categories": ("id",), "estimate_line_items": ("id",),
    "estimate_messages": ("id",), "estimates": ("id",), "expense_categories": ("id",), "expenses": ("id",),
    "invoice_item_categories": ("id",), "invoice_line_items": ("id",), "invoice_messages": ("id",),
    "invoice_payments": ("id",), "invoices": ("id",), "project_tasks": ("id",), "project_users": ("id",),
    "projects": ("id",), "roles": ("id",), "tasks": ("id",), "time_entries": ("id",),
    "time_entry_external_reference": ("time_entry_id", "external_reference_id"),
    "user_project_tasks": ("user_id", "project_task_id"), "user_projects": ("id",), "user_roles": ("user_id", "role_id"),
    "users": ("id",),
}
EXTRA = {"company", "billable_rates", "cost_rates", "external_reference"}
ADDED = {"user_teammates"}  # Harvest endpoints neither the seed nor Airbyte's connector reads (issue 19)
REPORTS = {"time_clients", "time_projects", "time_tasks", "time_team", "expenses_clients", "expenses_projects",
           "expenses_categories", "expenses_team", "uninvoiced", "project_budget"}


def test_catalog_has_the_seed_tables_airbytes_extras_and_the_added_streams() -> None:
    assert set(STREAMS_BY_NAME) == set(SEED_KEYS) | EXTRA | ADDED | REPORTS
    assert len(STREAMS) == len(STREAMS_BY_NAME) == 39


@pytest.mark.parametrize("name,key", sorted(SEED_KEYS.items()))
def test_seed_primary_keys_are_kept(name: str, key: tuple[str, ...]) -> None:
    assert STREAMS_BY_NAME[name].primary_key == key


@pytest.mark.parametrize("spec", [s for s in STREAMS if s.parent], ids=lambda s: s.name)
def test_parents_exist_and_come_first(spec) -> None:
    names = [s.name for s in STREAMS]
    assert spec.parent in STREAMS_BY_NAME
    assert names.index(spec.parent) < names.index(spec.name)


@pytest.mark.parametrize("spec", [s for s in STREAMS if s.no_list_status], ids=lambda s: s.name)
def test_only_per_parent_lists_read_a_status_as_a_parent_without_the_list(spec) -> None:
    assert stream_class(spec) is ChildStream and 400 <= spec.no_list_status < 500  # type: ignore[operator]
    assert spec.no_list_status not in (401, 403, 404, 429)  # those keep their own handling


@pytest.mark.parametrize("spec", STREAMS, ids=lambda s: s.name)
def test_row_picks_its_class(spec) -> None:
    expected = ReportStream if spec.report else DerivedStream if spec.embedded else ChildStream if spec.parent else ListStream
    assert stream_class(spec) is expected
    if spec.parent and not spec.embedded:
        assert "{parent_id}" in spec.path and spec.parent_key


def test_discover_lists_every_stream_with_keys_and_cursors(config) -> None:
    catalog = SourceHarvest().discover(None, config)  # type: ignore[arg-type]
    by_name = {s.name: s for s in catalog.streams}
    assert set(by_name) == set(STREAMS_BY_NAME)
    for spec in STREAMS:
        stream = by_name[spec.name]
        assert stream.source_defined_primary_key == [[k] for k in spec.primary_key]
        if spec.cursor:
            assert stream.default_cursor_field == [spec.cursor]
            assert "incremental" in [m.value for m in stream.supported_sync_modes]
        else:
            assert [m.value for m in stream.supported_sync_modes] == ["full_refresh"]
