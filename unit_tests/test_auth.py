"""Auth: the headers Harvest requires, and the OAuth refresh through Harvest ID."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests_mock
from requests.auth import AuthBase

from source_harvest.source import SourceHarvest
from source_harvest.streams.http import _authenticator_ignores_responses
from unit_tests.conftest import ACCOUNT, API, ID_API, TOKEN, harvest_page, record, records_of, run_read, serve_empty_lists


def oauth_config(config: dict) -> dict:
    config["credentials"] = {"auth_type": "Client", "client_id": "cid", "client_secret": "csecret", "refresh_token": "refresh-1"}
    return config


def test_every_request_carries_token_account_and_user_agent(config) -> None:
    config["user_agent"] = "acme-etl (data@acme.test)"
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        run_read(config, ["clients"])
        sent = mock.request_history[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Harvest-Account-Id"] == ACCOUNT
    assert sent.headers["User-Agent"] == "acme-etl (data@acme.test)"


def test_oauth_refreshes_once_and_uses_the_access_token(config) -> None:
    oauth_config(config)
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        token = mock.post(ID_API + "oauth2/token", json={"access_token": "access-1", "refresh_token": "refresh-1", "expires_in": 64799, "token_type": "bearer"})
        mock.get(API + "clients", json=harvest_page("clients", [record(1)]))
        output = run_read(config, ["clients", "tasks"])
        api_calls = [r for r in mock.request_history if r.url.startswith(API)]
    assert token.call_count == 1
    assert "grant_type=refresh_token" in token.last_request.text and "refresh_token=refresh-1" in token.last_request.text
    assert token.last_request.headers["User-Agent"].startswith("source-harvest")
    assert all(r.headers["Authorization"] == "Bearer access-1" and r.headers["Harvest-Account-Id"] == ACCOUNT for r in api_calls)
    assert len(records_of(output, "clients")) == 1


def test_revoked_refresh_token_is_a_config_error(config) -> None:
    oauth_config(config)
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.post(ID_API + "oauth2/token", status_code=400, json={"error": "invalid_grant", "error_description": "revoked"})
        output = run_read(config, ["clients"])
    assert output.errors
    assert output.errors[0].trace.error.failure_type.value == "config_error"
    assert "refresh-1" not in str(output.errors[0])


@pytest.mark.parametrize("returned,emitted", [("refresh-2", True), ("refresh-1", False)])
def test_only_a_rotated_refresh_token_is_emitted_as_a_control_message(config, capsys, returned: str, emitted: bool) -> None:
    oauth_config(config)
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.post(ID_API + "oauth2/token", json={"access_token": "access-2", "refresh_token": returned, "expires_in": 64799})
        run_read(config, ["clients"])
    printed = capsys.readouterr().out
    assert ('"type":"CONTROL"' in printed and returned in printed) is emitted


def test_only_an_authenticator_that_reads_responses_is_shown_them(config) -> None:
    """Streams skip the CDK's per-response authenticator hook, unless the authenticator implements it."""
    seen: list[int] = []

    class ResponseAware(AuthBase):
        def __call__(self, request):
            request.headers["Authorization"] = f"Bearer {TOKEN}"
            return request

        def update_from_response(self, request, response) -> None:
            seen.append(response.status_code)

    clients = {stream.name: stream for stream in SourceHarvest().streams(config)}["clients"]
    assert clients._http_client._update_authenticator_from_response is _authenticator_ignores_responses
    aware = type(clients)(clients.spec, replace(clients.context, authenticator=ResponseAware()))
    assert aware._http_client._update_authenticator_from_response is not _authenticator_ignores_responses
    with requests_mock.Mocker() as mock:
        mock.get(API + "clients", json=harvest_page("clients", [record(1)]))
        assert [row["id"] for row in aware.fetch("clients", {}) if isinstance(row, dict)] == [1]
    assert seen == [200]
