"""Airbyte's "Authenticate your Harvest account" button, end to end, against the sandbox's Harvest ID.

The platform's side (`declarative_oauth.py`) knows nothing of Harvest: it takes the `advanced_auth`
block of what the connector's `spec` prints, runs the consent and the code exchange it describes,
and builds the config that `check` and `read` then run with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from integration_tests.conftest import Connector, run_connector
from integration_tests.declarative_oauth import DeclarativeOAuth, OAuthFlowError
from integration_tests.expectations import expected_keys, key_of
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS_BY_NAME

HARVEST_ID = "https://id.getharvest.com"
STREAMS_READ = ("clients", "users")
TOKEN_ENDPOINT = "POST /api/v2/oauth2/token"


def connector_spec() -> dict[str, Any]:
    run = run_connector(["spec"])
    assert run.exit_code == 0, run.output
    return next(message["spec"] for message in run.messages if message["type"] == "SPEC")


def route_to(sandbox: Sandbox) -> Callable[[str], str]:
    """Harvest ID's URLs, answered by the sandbox instead (same paths)."""

    def route(url: str) -> str:
        assert url.startswith(HARVEST_ID + "/"), url  # the spec sends the user and the secret nowhere else
        return sandbox.base_url + url[len(HARVEST_ID) :]

    return route


@pytest.fixture
def platform(sandbox: Sandbox) -> DeclarativeOAuth:
    server_params = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}  # the admin's OAuth app
    return DeclarativeOAuth(connector_spec()["advanced_auth"], server_params, sandbox.oauth_redirect_uri, route_to(sandbox))


def consent(platform: DeclarativeOAuth, sandbox: Sandbox, state: str) -> dict[str, str]:
    """The user's browser: opens the consent URL and lands on Airbyte's redirect URI; that URI's query."""
    url = platform.consent_url(state)
    assert sandbox.client_secret not in url
    response = requests.get(platform.route(url), allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert location._replace(query="").geturl() == sandbox.oauth_redirect_uri
    return dict(parse_qsl(location.query))


def test_authenticate_button_fills_a_config_that_checks_and_reads(platform: DeclarativeOAuth, sandbox: Sandbox, tmp_path: Path) -> None:
    state = platform.new_state()
    query = consent(platform, sandbox, state)
    assert query["state"] == state
    outputs = platform.complete(query, state)
    assert outputs["refresh_token"] != sandbox.refresh_token  # this authorization's own grant
    base = {key: value for key, value in sandbox.config("oauth").items() if key != "credentials"}  # the user's other fields
    config = platform.configure(base, outputs)
    assert config["credentials"] == {
        "auth_type": "Client",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "refresh_token": outputs["refresh_token"],
    }
    connector = Connector(tmp_path, config)
    status = next(m["connectionStatus"] for m in connector.check().messages if m["type"] == "CONNECTION_STATUS")
    assert status["status"] == "SUCCEEDED", status
    run = connector.read([STREAMS_BY_NAME[name] for name in STREAMS_READ])
    assert run.exit_code == 0, run.errors()
    for name in STREAMS_READ:
        assert {key_of(name, record) for record in run.records[name]} == expected_keys(sandbox, name), name
    assert sandbox.stats()["by_endpoint"][TOKEN_ENDPOINT] == 3  # the exchange, then a refresh by check and by read


def test_callback_with_another_state_is_refused_before_any_token_request(platform: DeclarativeOAuth, sandbox: Sandbox) -> None:
    query = consent(platform, sandbox, platform.new_state())
    with pytest.raises(OAuthFlowError, match="state is not the one this flow sent"):
        platform.complete(query, platform.new_state())
    assert TOKEN_ENDPOINT not in sandbox.stats()["by_endpoint"]


def test_a_code_works_once(platform: DeclarativeOAuth, sandbox: Sandbox) -> None:
    state = platform.new_state()
    query = consent(platform, sandbox, state)
    platform.complete(query, state)
    with pytest.raises(OAuthFlowError, match="HTTP 400.*invalid_grant") as refused:
        platform.complete(query, state)
    assert sandbox.client_secret not in str(refused.value)
