"""Errors: never a silent empty stream; retry what is transient; say what to do about the rest."""

from __future__ import annotations

import requests
import requests_mock
from airbyte_cdk.models import FailureType

from unit_tests.conftest import API, TOKEN, get_requests, harvest_page, record, records_of, run_read, serve_empty_lists


def trace_errors(output) -> list:
    return [m.trace.error for m in output.errors]


def test_401_fails_the_sync_as_config_error(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", status_code=401, json={"error": "invalid_token"})
        output = run_read(config, ["clients"])
    errors = trace_errors(output)
    assert errors and errors[0].failure_type == FailureType.config_error
    assert "token is invalid, expired or revoked" in errors[0].message
    assert not records_of(output, "clients")


def test_403_fails_that_stream_naming_the_role_while_others_run(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "roles", status_code=403, json={"message": "You do not have permission"})
        mock.get(API + "time_entries", json=harvest_page("time_entries", [record(1)]))
        output = run_read(config, ["roles", "time_entries"])
    assert len(records_of(output, "time_entries")) == 1
    errors = trace_errors(output)
    stream_errors = [e for e in errors if "roles" in e.message and "403" in e.message]
    assert stream_errors and "needs an Administrator token" in stream_errors[0].message
    assert stream_errors[0].failure_type == FailureType.config_error
    assert "did not sync successfully: roles" in errors[-1].message  # the sync ends failed
    assert output.get_stream_statuses("roles")[-1].name == "INCOMPLETE"


def test_ignore_forbidden_streams_turns_403_into_a_warning(config) -> None:
    config["ignore_forbidden_streams"] = True
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "roles", status_code=403, json={"message": "nope"})
        output = run_read(config, ["roles", "clients"])
    assert not output.errors
    assert output.is_in_logs("Skipped because ignore_forbidden_streams is on")


def test_404_on_a_top_level_list_fails_instead_of_empty(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", status_code=404, json={"message": "Not found"})
        output = run_read(config, ["clients"])
    assert output.errors


def test_429_waits_retry_after_then_succeeds(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", [{"status_code": 429, "headers": {"Retry-After": "7"}, "json": {}},
                                   {"json": harvest_page("clients", [record(1)])}])
        output = run_read(config, ["clients"])
    assert len(records_of(output, "clients")) == 1 and not output.errors


def test_5xx_connection_errors_and_non_json_bodies_are_retried(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", [{"status_code": 502, "text": "<html>bad gateway</html>"},
                                   {"exc": requests.exceptions.ConnectionError},
                                   {"status_code": 200, "text": "<html>maintenance</html>"},
                                   {"json": harvest_page("clients", [record(1)])}])
        output = run_read(config, ["clients"])
        attempts = len(get_requests(mock, "/clients"))
    assert attempts == 4
    assert len(records_of(output, "clients")) == 1 and not output.errors


def test_endless_5xx_ends_the_stream_with_a_transient_error(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", status_code=503, text="unavailable")
        output = run_read(config, ["clients"])
    errors = trace_errors(output)
    assert errors and errors[0].failure_type == FailureType.transient_error
    assert "clients: GET /clients: Harvest answered 503" in errors[0].message


def test_the_token_never_appears_in_output(config) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", status_code=401, json={"error": "invalid_token"})
        output = run_read(config, ["clients"])
    everything = "\n".join(str(message) for message in output.get_message_iterator()) + str(output.stderr)
    assert "401" in everything
    assert TOKEN not in everything
