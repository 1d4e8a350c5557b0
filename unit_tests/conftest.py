"""Shared fixtures: a config, Harvest-shaped pages, and a read helper over requests-mock."""

from __future__ import annotations

from typing import Any, Iterable
from unittest.mock import patch

import pytest
import requests_mock as requests_mock_module
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_harvest import SourceHarvest

API = "https://api.harvestapp.com/v2/"
ID_API = "https://id.getharvest.com/api/v2/"
TOKEN = "pat-secret-token-123456"
ACCOUNT = "4242"


@pytest.fixture
def config() -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "replication_start_date": "2024-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": TOKEN},
        "capture_deletes": False,  # tombstones have their own tests (test_deletes.py)
    }


@pytest.fixture(autouse=True)
def no_sleep() -> Iterable[None]:
    """Retries and budget waits return at once; tests never sleep for real."""
    with patch("time.sleep"):
        yield


def harvest_page(key: str, rows: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    return {key: rows, "per_page": 2000, "total_pages": 2 if next_url else 1, "total_entries": len(rows),
            "next_page": None, "previous_page": None, "page": 1,
            "links": {"first": "", "next": next_url, "previous": None, "last": ""}}


def record(record_id: int, updated_at: str = "2024-06-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    return {"id": record_id, "created_at": "2024-01-02T00:00:00Z", "updated_at": updated_at, **fields}


def serve_empty_lists(mock: requests_mock_module.Mocker) -> None:
    """Every list answers empty unless a test registers something more specific (registered later wins)."""
    def empty(request: Any, context: Any) -> dict[str, Any]:
        key = request.path.rstrip("/").split("/")[-1]
        key = {"messages": "invoice_messages" if "/invoices/" in request.path else "estimate_messages",
               "payments": "invoice_payments"}.get(key, key)
        if "/reports/" in request.path:
            key = "results"
        return harvest_page(key, [])
    mock.get(requests_mock_module.ANY, json=empty)


def run_read(config: dict[str, Any], streams: dict[str, SyncMode] | list[str], state: dict[str, dict[str, Any]] | None = None,
             expect_error: bool = False) -> EntrypointOutput:
    modes = streams if isinstance(streams, dict) else {name: SyncMode.incremental for name in streams}
    builder = CatalogBuilder()
    for name, mode in modes.items():
        builder = builder.with_stream(name, mode)
    state_builder = StateBuilder()
    for name, value in (state or {}).items():
        state_builder = state_builder.with_stream_state(name, value)
    return read(SourceHarvest(), config, builder.build(), state_builder.build(), expected_outcome=None if not expect_error else None)


def records_of(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    return [m.record.data for m in output.records if m.record.stream == stream]


def final_state(output: EntrypointOutput, stream: str) -> dict[str, Any]:
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages
              if m.state.stream.stream_descriptor.name == stream]
    return states[-1] if states else {}


def get_requests(mock: requests_mock_module.Mocker, path_part: str = "") -> list[Any]:
    return [r for r in mock.request_history if r.method == "GET" and path_part in r.url]
