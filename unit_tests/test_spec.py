"""spec.yaml's advanced_auth (Airbyte's declarative OAuth) against the connection specification and Harvest ID.

The platform side is `integration_tests/declarative_oauth.py`, which integration_tests/test_oauth.py
runs against the sandbox; here it runs against requests-mock, to pin what reaches Harvest.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests_mock as requests_mock_module
from airbyte_cdk.models import AuthFlowType, ConnectorSpecificationSerializer

from integration_tests.declarative_oauth import DeclarativeOAuth
from source_harvest import SourceHarvest
from source_harvest.config import parse_config
from source_harvest.constants import DEFAULT_ID_URL, DEFAULT_USER_AGENT

LOGGER = logging.getLogger("airbyte")
CLIENT = {"client_id": "app id/+1", "client_secret": "app-secret-42"}  # characters a URL must encode
REDIRECT_URI = "https://airbyte.example.com/auth_flow"
TOKEN_URL = DEFAULT_ID_URL + "oauth2/token"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return ConnectorSpecificationSerializer.dump(SourceHarvest().spec(LOGGER))


@pytest.fixture(scope="module")
def oauth(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["advanced_auth"]["oauth_config_specification"]


def oauth_option(spec: dict[str, Any]) -> dict[str, Any]:
    """The credentials option that advanced_auth's predicate selects."""
    advanced = spec["advanced_auth"]
    *parents, key = advanced["predicate_key"]
    node = spec["connectionSpecification"]
    for name in parents:
        node = node["properties"][name]
    matches = [option for option in node["oneOf"] if option["properties"][key].get("const") == advanced["predicate_value"]]
    assert len(matches) == 1, "the predicate must select exactly one option"
    return matches[0]


def output_paths(oauth: dict[str, Any]) -> list[list[str]]:
    specs = (oauth["complete_oauth_server_output_specification"], oauth["complete_oauth_output_specification"])
    return [item["path_in_connector_config"] for spec in specs for item in spec["properties"].values()]


def test_spec_declares_oauth2_for_the_client_credentials_only(spec: dict[str, Any]) -> None:
    parsed = SourceHarvest().spec(LOGGER).advanced_auth
    assert parsed is not None and parsed.auth_flow_type == AuthFlowType.oauth2_0
    assert spec["advanced_auth"]["predicate_key"] == ["credentials", "auth_type"]
    assert oauth_option(spec)["properties"]["auth_type"]["const"] == "Client"


def test_oauth_fills_exactly_the_fields_the_oauth_option_requires(spec: dict[str, Any], oauth: dict[str, Any]) -> None:
    option = oauth_option(spec)
    paths = output_paths(oauth)
    assert all(path[0] == "credentials" and len(path) == 2 and path[1] in option["properties"] for path in paths)
    assert {path[1] for path in paths} | {"auth_type"} == set(option["required"])
    credentials = {"auth_type": "Client"} | {path[1]: f"value of {path[1]}" for path in paths}
    assert parse_config({"account_id": "1", "credentials": credentials}).auth_type == "Client"  # what config.py reads


def test_outputs_are_extracted_from_where_the_output_specification_says(oauth: dict[str, Any]) -> None:
    outputs = oauth["complete_oauth_output_specification"]["properties"]
    assert oauth["oauth_connector_input_specification"]["extract_output"] == [".".join(item["path_in_oauth_response"]) for item in outputs.values()]
    assert list(outputs) == ["refresh_token"]  # the connector refreshes for itself; an access token would only expire


def test_the_server_side_client_credentials_are_the_ones_written_into_the_config(oauth: dict[str, Any]) -> None:
    server_input = oauth["complete_oauth_server_input_specification"]
    server_output = oauth["complete_oauth_server_output_specification"]
    assert set(server_input["properties"]) == set(server_output["properties"]) == set(server_input["required"]) == set(CLIENT)


def test_consent_url_is_harvest_ids_authorize_page_with_encoded_values(spec: dict[str, Any]) -> None:
    platform = DeclarativeOAuth(spec["advanced_auth"], CLIENT, REDIRECT_URI)
    state = platform.new_state()
    assert 16 <= len(state) <= 32
    url = urlsplit(platform.consent_url(state))
    assert (url.scheme, url.netloc, url.path) == ("https", "id.getharvest.com", "/oauth2/authorize")
    query = parse_qs(url.query, strict_parsing=True)
    assert query == {"client_id": [CLIENT["client_id"]], "response_type": ["code"], "redirect_uri": [REDIRECT_URI], "state": [state]}


def test_code_exchange_is_harvests_documented_token_request(spec: dict[str, Any]) -> None:
    platform = DeclarativeOAuth(spec["advanced_auth"], CLIENT, REDIRECT_URI)
    state = platform.new_state()
    answer = {"access_token": "at-1", "refresh_token": "rt-1", "token_type": "bearer", "expires_in": 64799}
    with requests_mock_module.Mocker() as mock:
        token = mock.post(TOKEN_URL, json=answer)
        outputs = platform.complete({"code": "code-1", "state": state, "scope": "all"}, state)
    assert outputs == {"refresh_token": "rt-1"}
    request = token.last_request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT  # named like every other request of the connector
    assert parse_qs(request.text, strict_parsing=True) == {
        "grant_type": ["authorization_code"],
        "code": ["code-1"],
        "client_id": [CLIENT["client_id"]],
        "client_secret": [CLIENT["client_secret"]],
        "redirect_uri": [REDIRECT_URI],
    }
    assert "client_secret" not in urlsplit(request.url).query  # in the body, never in a URL that gets logged


# Airbyte's spec conventions (docs.airbyte.com, connector specification reference and acceptance tests).

def values_of(node: Any, key: str) -> list[Any]:
    """Every value held under `key` anywhere in a JSON document (objects inside lists included)."""
    if isinstance(node, dict):
        return [value for name, child in node.items() for value in ([child] if name == key else []) + values_of(child, key)]
    if isinstance(node, list):
        return [value for child in node for value in values_of(child, key)]
    return []


def test_values_of_finds_nested_keys() -> None:
    document = {"a": {"additionalProperties": False, "b": [{"additionalProperties": True}, {"c": {"additionalProperties": 1}}]}}
    assert values_of(document, "additionalProperties") == [False, True, 1]


def test_oauth_is_the_first_credentials_option(spec: dict[str, Any]) -> None:
    """With advanced_auth, Airbyte's UI opens on the first option; it must be the one the OAuth flow fills."""
    first = spec["connectionSpecification"]["properties"]["credentials"]["oneOf"][0]
    assert first is oauth_option(spec)


def test_additional_properties_is_never_false_in_the_spec(spec: dict[str, Any]) -> None:
    """additionalProperties: false would make a config invalid once a field it holds leaves the spec."""
    assert all(value is True for value in values_of(spec, "additionalProperties"))


@pytest.mark.parametrize("options_reversed", [False, True], ids=["spec order", "reversed"])
def test_token_and_oauth_configs_parse_whatever_the_order_of_the_options(spec: dict[str, Any], options_reversed: bool) -> None:
    """A config names its option by auth_type; which option the spec lists first changes nothing for it."""
    options = spec["connectionSpecification"]["properties"]["credentials"]["oneOf"]
    for option in reversed(options) if options_reversed else options:
        auth_type = option["properties"]["auth_type"]["const"]
        credentials = {"auth_type": auth_type} | {key: f"value-of-{key}" for key in option["required"] if key != "auth_type"}
        config = {"account_id": "1", "credentials": credentials}
        jsonschema.validate(config, spec["connectionSpecification"])
        parsed = parse_config(config)
        assert parsed.auth_type == auth_type
        assert parsed.api_token == ("value-of-api_token" if auth_type == "Token" else "")
    assert [option["properties"]["auth_type"]["const"] for option in options] == ["Client", "Token"]


def test_a_config_saved_before_oauth_came_first_still_validates_and_parses(spec: dict[str, Any]) -> None:
    """A Token config as 0.1.0 wrote it, rate_limit included: the same object is valid and means the same."""
    saved = {"account_id": "123", "credentials": {"auth_type": "Token", "api_token": "pt-1"},
             "replication_start_date": "2024-01-01T00:00:00Z", "rate_limit": {"requests": 50, "period_seconds": 15}}
    jsonschema.validate(saved, spec["connectionSpecification"])
    parsed = parse_config(saved)
    assert (parsed.auth_type, parsed.api_token, parsed.rate_limit.requests) == ("Token", "pt-1", 50)
