"""Pagination: per_page=2000, links.next followed verbatim on cursor and page endpoints."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests_mock

from source_harvest.streams.http import HarvestHttpStream
from unit_tests.conftest import API, final_state, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists


@pytest.mark.parametrize("next_query", ["cursor=eyJhZnRlciI6eyJpZCI6MX19&per_page=2000&ref=next_cursor", "page=2&per_page=2000"])
def test_list_follows_links_next_until_null(config, next_query: str) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        first = harvest_page("clients", [record(3), record(2)], next_url=f"{API}clients?{next_query}")
        mock.get(API + "clients", json={**first, "total_entries": 3})
        mock.get(f"{API}clients?{next_query}", json={**harvest_page("clients", [record(1)]), "total_entries": 3})
        output = run_read(config, ["clients"])
        sent = get_requests(mock, "/clients")
    assert [r["id"] for r in records_of(output, "clients")] == [3, 2, 1]
    assert len(sent) == 2
    assert all(r.qs["per_page"] == ["2000"] for r in sent)


def test_filters_are_reappended_when_links_next_drops_them(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "time_entries", json=harvest_page("time_entries", [record(2)], next_url=API + "time_entries?page=2"))
        mock.get(API + "time_entries?page=2", json=harvest_page("time_entries", [record(1)]))
        run_read(config, ["time_entries"])
        second = get_requests(mock, "/time_entries")[1]
    query = parse_qs(urlsplit(second.url).query)
    assert query["page"] == ["2"] and query["updated_since"] == ["2024-01-01T00:00:00Z"] and query["per_page"] == ["2000"]


def test_singleton_company_is_one_record(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "company", json={"base_uri": "https://acme.harvestapp.com", "name": "Acme", "clock": "12h"})
        output = run_read(config, ["company"])
    assert records_of(output, "company") == [{"base_uri": "https://acme.harvestapp.com", "name": "Acme", "clock": "12h"}]
    assert final_state(output, "company") in ({}, {"__ab_no_cursor_state_message": True})


@pytest.mark.parametrize("path", ["clients", "invoices/12/payments", "projects/7/task_assignments/9",
                                  "https://api.harvestapp.com/v2/clients?page=2&per_page=2000", "http://127.0.0.1:8080/v2/users?cursor=abc"])
def test_urls_are_joined_as_urljoin_joins_them(path: str) -> None:
    for base in ("https://api.harvestapp.com/v2/", "http://127.0.0.1:8080/api/v2/"):
        assert HarvestHttpStream._join_url(base, path) == urljoin(base, path)
