"""Bad input through the real CLI: a sentence saying what to fix, a config_error, no traceback on stdout."""

from __future__ import annotations

import builtins
import errno
import json
import os
import sys
from pathlib import Path

import pytest
import requests_mock
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_harvest import inputs
from source_harvest.run import launch
from source_harvest.source import SourceHarvest
from source_harvest.state import read_state_file
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


# --- files the process cannot open ------------------------------------------------------------
STATE = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": "2024-05-01T10:00:00Z"}}}]
VERB_FILES = [("check", "config"), ("discover", "config"), ("read", "config"), ("read", "catalog"), ("read", "state")]
# The cause, and what the message must then tell the user to do.
CAUSES = {"permission": "`chmod a+r` the file", "directory": "it is a directory", "missing": "it does not exist"}


def unreadable(tmp_path: Path, cause: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A path the process cannot open, for the cause. Root opens mode-000 files, so as root (as tests run
    here) the permission case makes open() refuse that one path as the kernel would for another user."""
    if cause == "directory":
        return str(tmp_path)
    if cause == "missing":
        return str(tmp_path / "absent.json")
    path = tmp_path / "locked.json"
    path.write_text("{}")
    path.chmod(0)
    if os.getuid() == 0:
        def refusing_open(file: object, *args: object, **kwargs: object) -> object:
            if str(file) == str(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return builtins.open(file, *args, **kwargs)  # type: ignore[call-overload]
        monkeypatch.setattr(inputs, "open", refusing_open, raising=False)
    return str(path)


@pytest.mark.parametrize("cause", CAUSES)
@pytest.mark.parametrize("verb,kind", VERB_FILES, ids=[f"{verb}-{kind}" for verb, kind in VERB_FILES])
def test_an_unreadable_file_is_a_config_error_naming_it_the_uid_and_the_fix(tmp_path, capsys, monkeypatch, verb, kind, cause) -> None:
    files = {"config": write(tmp_path, "c.json", GOOD_CONFIG), "catalog": write(tmp_path, "cat.json", CATALOG),
             "state": write(tmp_path, "s.json", STATE)}
    (tmp_path / "bad").mkdir()
    files[kind] = unreadable(tmp_path / "bad", cause, monkeypatch)
    args = [verb, "--config", files["config"]] + (["--catalog", files["catalog"], "--state", files["state"]] if verb == "read" else [])
    with requests_mock.Mocker() as mock:
        code, out, raw = run_cli(capsys, args)
    assert mock.call_count == 0  # nothing is asked of Harvest
    (trace,) = [m["trace"]["error"] for m in out if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    assert trace["failure_type"] == "config_error"
    assert trace["message"].startswith(f"Cannot read the {kind} file {files[kind]}")
    assert f"uid {os.getuid()}" in trace["message"] and CAUSES[cause] in trace["message"]
    assert "Traceback" not in raw
    statuses = [m["connectionStatus"] for m in out if m["type"] == "CONNECTION_STATUS"]
    if verb == "check":  # as the CDK answers any config error in check: FAILED, exit 0
        assert code == 0 and statuses == [{"status": "FAILED", "message": trace["message"]}]
    else:
        assert code == 1 and statuses == []


@pytest.mark.parametrize("cause", ["directory", "missing"])
def test_the_sources_own_readers_give_the_same_message(tmp_path, monkeypatch, cause) -> None:
    path = unreadable(tmp_path, cause, monkeypatch)
    with pytest.raises(AirbyteTracedException) as raised:
        read_state_file(path)
    assert raised.value.failure_type == FailureType.config_error
    assert raised.value.message.startswith(f"Cannot read the state file {path}") and CAUSES[cause] in raised.value.message
    with pytest.raises(AirbyteTracedException, match=f"Cannot read the config file {path}.*uid {os.getuid()}"):
        SourceHarvest().validate_config(SourceHarvest.read_config(path))


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
