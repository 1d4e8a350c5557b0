"""Bad input through the real CLI: a sentence saying what to fix, a config_error, no traceback on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import requests_mock

from source_harvest.run import launch
from unit_tests.conftest import API, TOKEN, harvest_page, record, serve_empty_lists

CATALOG = {"streams": [{"stream": {"name": "clients", "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                        "sync_mode": "incremental", "destination_sync_mode": "append"}]}


def write(tmp_path: Path, name: str, content: object) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def messages(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def run_cli(capsys, args: list[str]) -> tuple[int, list[dict], str]:
    code = 0
    try:
        launch(args)
    except SystemExit as exit_:
        code = exit_.code or 0
    except Exception as error:  # noqa: BLE001 - what the process does: the CDK's excepthook prints a trace, exit 1
        sys.excepthook(type(error), error, error.__traceback__)
        code = 1
    out = capsys.readouterr().out
    return code, messages(out), out


BAD_CONFIGS = [
    ("not json", "is not valid JSON"),
    ([1, 2], "must hold a JSON object"),
    ({"credentials": {"auth_type": "Token", "api_token": "x"}}, "`account_id` is required"),
    ({"account_id": 42.5, "credentials": {"auth_type": "Token", "api_token": "x"}}, "`account_id` is required"),
    ({"account_id": "1", "credentials": {"auth_type": "Token", "api_token": ""}}, "api_token` is empty"),
    ({"account_id": "1", "credentials": {"auth_type": "Cookie"}}, "auth_type` must be"),
    ({"account_id": "1", "credentials": {"auth_type": "Client", "client_id": "a", "client_secret": "b"}}, "refresh_token` is empty"),
    ({"account_id": "1", "credentials": {"auth_type": "Token", "api_token": "x"}, "replication_start_date": "yesterday"}, "must look like"),
    ({"account_id": "1", "credentials": {"auth_type": "Token", "api_token": "x"}, "replication_start_date": "2024-02-01T00:00:00Z",
      "replication_end_date": "2024-01-01T00:00:00Z"}, "before"),
    ({"account_id": "1", "credentials": {"auth_type": "Token", "api_token": "x"}, "lookback_window_minutes": "5"}, "lookback_window_minutes"),
    ({"account_id": "1", "credentials": {"auth_type": "Token", "api_token": "x"}, "rate_limit": {"requests": 0}}, "rate_limit.requests"),
    ({"account_id": "1", "credentials": {"auth_type": "Token", "api_token": "x"}, "ignore_forbidden_streams": "yes"}, "ignore_forbidden_streams"),
]


@pytest.mark.parametrize("config,fragment", BAD_CONFIGS)
def test_check_answers_failed_with_what_to_fix(tmp_path, capsys, config, fragment) -> None:
    code, out, raw = run_cli(capsys, ["check", "--config", write(tmp_path, "config.json", config)])
    status = [m for m in out if m["type"] == "CONNECTION_STATUS"]
    assert code == 0 and status and status[0]["connectionStatus"]["status"] == "FAILED"
    assert fragment in status[0]["connectionStatus"]["message"]
    assert "Traceback" not in "".join(json.dumps(m.get("log", "")) for m in out)


@pytest.mark.parametrize("config,fragment", BAD_CONFIGS)
def test_read_exits_non_zero_with_a_config_error_trace(tmp_path, capsys, config, fragment) -> None:
    code, out, _ = run_cli(capsys, ["read", "--config", write(tmp_path, "config.json", config), "--catalog", write(tmp_path, "catalog.json", CATALOG)])
    traces = [m["trace"]["error"] for m in out if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert code != 0 and traces
    assert traces[0]["failure_type"] == "config_error" and fragment in traces[0]["message"]


GOOD_CONFIG = {"account_id": "4242", "replication_start_date": "2024-01-01T00:00:00Z", "credentials": {"auth_type": "Token", "api_token": TOKEN},
               "capture_deletes": False}


@pytest.mark.parametrize("state,fragment", [
    ("garbage{", "is not valid JSON"),
    ('"just a string"', "must be a JSON list"),
    ([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": 12}}}], "not a timestamp"),
    ([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": "last tuesday"}}}], "not a timestamp"),
    ([{"type": "WEIRD"}], "Unrecognised state message"),
])
def test_bad_state_is_a_clear_config_error(tmp_path, capsys, state, fragment) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        code, out, _ = run_cli(capsys, ["read", "--config", write(tmp_path, "c.json", GOOD_CONFIG), "--catalog",
                                        write(tmp_path, "cat.json", CATALOG), "--state", write(tmp_path, "s.json", state)])
    traces = [m["trace"]["error"] for m in out if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert code != 0 and traces and fragment in traces[0]["message"]
    assert traces[0]["failure_type"] == "config_error"


@pytest.mark.parametrize("state", [
    [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": "2024-05-01T10:00:00Z"}}}],
    {"clients": {"updated_at": "2024-05-01T10:00:00Z"}},  # legacy object
    [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"},  # Airbyte's low-code per-partition shape
                                    "stream_state": {"states": [{"partition": {"id": 1}, "cursor": {"updated_at": "2024-06-01T00:00:00Z"}},
                                                                {"partition": {"id": 2}, "cursor": {"updated_at": "2024-05-01T10:00:00Z"}}]}}}],
    [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"state": {"updated_at": "2024-05-01T10:00:00+00:00"}}}}],
])
def test_understood_state_layouts_are_migrated(tmp_path, capsys, state) -> None:
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        mock.get(API + "clients", json=harvest_page("clients", [record(1, "2024-07-01T00:00:00Z")]))
        code, out, _ = run_cli(capsys, ["read", "--config", write(tmp_path, "c.json", GOOD_CONFIG), "--catalog",
                                        write(tmp_path, "cat.json", CATALOG), "--state", write(tmp_path, "s.json", state)])
        sent = [r.url for r in mock.request_history if "/clients" in r.url]
    assert code == 0
    assert "updated_since=2024-05-01T09%3A55%3A00Z" in sent[0]
    states = [m["state"]["stream"]["stream_state"] for m in out if m["type"] == "STATE"]
    assert states[-1] == {"updated_at": "2024-07-01T00:00:00Z"}


def test_airbyte_stream_names_carry_their_state_over(tmp_path, capsys) -> None:
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "task_assignments"}, "stream_state": {"updated_at": "2024-05-01T10:00:00Z"}}}]
    catalog = {"streams": [{"stream": {"name": "project_tasks", "json_schema": {}, "supported_sync_modes": ["incremental"]},
                            "sync_mode": "incremental", "destination_sync_mode": "append"}]}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        code, _, _ = run_cli(capsys, ["read", "--config", write(tmp_path, "c.json", GOOD_CONFIG), "--catalog",
                                      write(tmp_path, "cat.json", catalog), "--state", write(tmp_path, "s.json", state)])
        sent = [r.url for r in mock.request_history if "/task_assignments" in r.url]
    assert code == 0 and "updated_since=2024-05-01T09%3A55%3A00Z" in sent[0]


SECRET = "s3cret-value-0042"
OAUTH = {"auth_type": "Client", "client_id": "cid", "client_secret": "csecret", "refresh_token": "refresh-1"}


@pytest.mark.parametrize("change,field", [
    ({"credentials": {"auth_type": "Token", "api_token": f"{SECRET}\r\nX-Injected: yes"}}, "credentials.api_token"),
    ({"credentials": {"auth_type": "Token", "api_token": f"{SECRET}\x00"}}, "credentials.api_token"),
    ({"credentials": {**OAUTH, "access_token": f"{SECRET}\nX-Injected: yes", "token_expiry_date": "2099-01-01T00:00:00Z"}},
     "credentials.access_token"),
    ({"credentials": {**OAUTH, "access_token": f"{SECRET}\n"}}, "credentials.access_token"),  # sent as given: no trimming
    ({"user_agent": f"acme-etl {SECRET}\r\nX-Injected: yes"}, "user_agent"),
    ({"user_agent": f"acme-etl {SECRET} — data team"}, "user_agent"),  # not ASCII: http.client could not send it
])
def test_header_values_with_line_breaks_are_config_errors_that_never_echo_them(tmp_path, capsys, change, field: str) -> None:
    config = {**GOOD_CONFIG, **change}
    config_path = write(tmp_path, "c.json", config)
    with requests_mock.Mocker() as mock:  # nothing may be sent: any request would answer 599
        mock.get(requests_mock.ANY, status_code=599)
        check_code, check_out, check_raw = run_cli(capsys, ["check", "--config", config_path])
        read_code, read_out, read_raw = run_cli(capsys, ["read", "--config", config_path, "--catalog", write(tmp_path, "cat.json", CATALOG)])
        assert mock.request_history == []
    status = next(m["connectionStatus"] for m in check_out if m["type"] == "CONNECTION_STATUS")
    assert check_code == 0 and status["status"] == "FAILED" and f"`{field}` holds a line break" in status["message"]
    traces = [m["trace"]["error"] for m in read_out if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert read_code != 0 and traces[0]["failure_type"] == "config_error" and f"`{field}`" in traces[0]["message"]
    assert SECRET not in check_raw + read_raw


def test_surrounding_whitespace_of_a_pasted_token_is_still_trimmed(tmp_path, capsys) -> None:
    config = {**GOOD_CONFIG, "credentials": {"auth_type": "Token", "api_token": f" {TOKEN}\r\n"}, "user_agent": " acme-etl (data@acme.test)\n"}
    with requests_mock.Mocker() as mock:
        serve_empty_lists(mock)
        code, _, _ = run_cli(capsys, ["read", "--config", write(tmp_path, "c.json", config), "--catalog", write(tmp_path, "cat.json", CATALOG)])
        sent = mock.request_history[0]
    assert code == 0
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}" and sent.headers["User-Agent"] == "acme-etl (data@acme.test)"
