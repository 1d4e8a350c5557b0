"""Reliability on the sandbox: faults, interrupted syncs, roles, wrong credentials, secrets, read-only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

import pytest

from integration_tests.conftest import ANCHOR, SCALE, TIME_SCALE, Connector, catalog_for, run_connector
from integration_tests.expectations import expected_keys, key_of
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS

ENTITY_STREAMS = [s for s in STREAMS if not s.report and s.name != "company"]
ROOT = Path(__file__).resolve().parent.parent


def test_five_percent_faults_still_deliver_exactly_every_record(tmp_path: Path) -> None:
    box = Sandbox(seed=11, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, fault_rate=0.05).start()
    try:
        run = Connector(tmp_path, box.config("admin")).read(ENTITY_STREAMS)
        stats = box.stats()
    finally:
        box.stop()
    assert run.exit_code == 0, run.errors()
    assert stats["faults"] >= 5  # faults really happened, of several kinds
    assert len({k for k in stats["by_status"] if k != "200"}) >= 2
    for spec in ENTITY_STREAMS:
        delivered = [key_of(spec.name, r) for r in run.records[spec.name]]
        assert len(delivered) == len(set(delivered)), spec.name
        assert set(delivered) == expected_keys(box, spec.name), spec.name
    assert any("retrying" in line for line in run.logs())


def test_a_sigkilled_sync_resumes_from_its_last_checkpoint_without_losing_rows(tmp_path: Path) -> None:
    """A real process killed with SIGKILL in the middle of time_entries: the STATE messages it had
    printed hold where each stream stood, and the next attempt goes on from there."""
    box = Sandbox(seed=7, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, page_size_cap=50).start()
    try:
        config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
        config.write_text(json.dumps(box.config("admin")))
        catalog.write_text(json.dumps(catalog_for(ENTITY_STREAMS)))
        process = subprocess.Popen([sys.executable, "-c", "from source_harvest.run import run; run()", "read", "--config", str(config),
                                    "--catalog", str(catalog)], stdout=subprocess.PIPE, cwd=ROOT)
        assert process.stdout is not None
        first: dict[str, list] = defaultdict(list)
        states: dict[str, dict] = {}
        for line in process.stdout:
            message = json.loads(line)
            if message["type"] == "RECORD":
                first[message["record"]["stream"]].append(message["record"]["data"])
            elif message["type"] == "STATE":
                states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
            if len(first["time_entries"]) >= 400:  # killed in the middle of the largest stream
                process.send_signal(signal.SIGKILL)
                break
        process.wait()
        assert process.returncode == -signal.SIGKILL
        checkpoint = states["time_entries"]["stream"]["stream_state"]
        assert "updated_at" not in checkpoint  # the cursor never moves before the stream is done
        assert checkpoint["resume"]["listing"]["next"]  # where the list stood
        box.reset_stats()
        resumed = Connector(tmp_path, box.config("admin")).read(ENTITY_STREAMS, state=list(states.values()))
        listed = box.stats()["by_endpoint"]["GET /v2/time_entries"]
        total_pages = -(-len(box.records("time_entries")) // 50)
    finally:
        box.stop()
    assert resumed.exit_code == 0, resumed.errors()
    for spec in ENTITY_STREAMS:
        delivered = {key_of(spec.name, r) for r in first[spec.name] + resumed.records[spec.name]}
        assert delivered == expected_keys(box, spec.name), spec.name  # duplicates allowed, losses not
    # time_entries went on from its place (one page back, to find it again); its derived streams, which
    # had not started, read the whole list once.
    done_pages = int(parse_qs(urlsplit(checkpoint["resume"]["listing"]["next"]).query)["page"][0]) - 1
    assert done_pages >= 1 and listed == (total_pages - done_pages + 1) + total_pages


@pytest.mark.parametrize("token,role", [("member", "Member"), ("manager", "Manager")])
def test_limited_roles_fail_forbidden_streams_loudly_and_sync_the_rest(sandbox: Sandbox, tmp_path: Path, token: str, role: str) -> None:
    connector = Connector(tmp_path, sandbox.config(token))
    check = connector.check()
    status = next(m["connectionStatus"] for m in check.messages if m["type"] == "CONNECTION_STATUS")
    assert status["status"] == "SUCCEEDED"
    assert any(f"{role} role, not Administrator" in line for line in check.logs())
    run = connector.read()
    assert run.exit_code != 0  # never green
    failed = [e["message"] for e in run.errors() if "403 Forbidden" in e["message"]]
    assert any(message.startswith("roles: Harvest answered 403 Forbidden for /roles; this stream needs an Administrator token")
               for message in failed)
    if token == "manager":  # Harvest documents /users/{id}/teammates for Administrators only, even a Manager's own
        assert any(message.startswith("user_teammates: Harvest answered 403 Forbidden for /users/{id}/teammates; this stream "
                                      "needs an Administrator token") for message in failed)
    assert any("user_teammates" in line for line in check.logs())  # check names it among the streams the role cannot read
    assert run.count("time_entries") > 0 and run.count("time_clients") > 0  # what the role may read still syncs
    user_id = sandbox.user_ids[token]
    assert {r["user_id"] for r in run.records["time_entries"]} <= ({user_id} if token == "member" else {r["user_id"] for r in run.records["time_entries"]})


def test_ignore_forbidden_streams_gives_a_partial_sync_with_warnings(sandbox: Sandbox, tmp_path: Path) -> None:
    run = Connector(tmp_path, sandbox.config("member", ignore_forbidden_streams=True)).read()
    assert run.exit_code == 0 and not run.errors()
    assert any("Skipped because ignore_forbidden_streams is on" in line for line in run.logs("WARN"))
    assert run.count("time_entries") > 0


def test_wrong_token_and_wrong_account_are_named_by_check(sandbox: Sandbox, tmp_path: Path) -> None:
    bad_token = sandbox.config("admin")
    bad_token["credentials"]["api_token"] = "not-a-token"
    status = next(m["connectionStatus"] for m in Connector(tmp_path, bad_token).check().messages if m["type"] == "CONNECTION_STATUS")
    assert status["status"] == "FAILED" and "invalid, expired or revoked" in status["message"]
    wrong_account = sandbox.config("admin", account_id="999")
    status = next(m["connectionStatus"] for m in Connector(tmp_path, wrong_account).check().messages if m["type"] == "CONNECTION_STATUS")
    assert status["status"] == "FAILED" and f"{sandbox.account_id} (" in status["message"] and "account_id 999" in status["message"]
    run = Connector(tmp_path, bad_token).read([STREAMS[0]])
    assert run.exit_code != 0 and run.errors()[0]["failure_type"] == "config_error"


def test_revoked_oauth_refresh_token_is_a_config_error_naming_it(sandbox: Sandbox, tmp_path: Path) -> None:
    config = sandbox.config("oauth")
    config["credentials"]["refresh_token"] = "revoked-refresh-token"
    run = Connector(tmp_path, config).read([STREAMS[0]])
    assert run.exit_code != 0
    error = run.errors()[0]
    assert error["failure_type"] == "config_error" and "refresh" in error["message"].lower()


def test_oauth_sync_works_and_only_the_token_refresh_is_not_a_get(sandbox: Sandbox, tmp_path: Path) -> None:
    run = Connector(tmp_path, sandbox.config("oauth")).read(ENTITY_STREAMS)
    assert run.exit_code == 0, run.errors()
    methods = sandbox.stats()["methods"]
    assert set(methods) == {"GET", "POST"} and methods["POST"] == 1
    assert sandbox.stats()["by_endpoint"]["POST /api/v2/oauth2/token"] == 1


def test_no_secret_appears_in_any_output_even_in_debug(sandbox: Sandbox, tmp_path: Path) -> None:
    secrets = [sandbox.admin_token, sandbox.client_secret, sandbox.refresh_token]
    outputs = []
    for config in (sandbox.config("admin"), sandbox.config("oauth")):
        connector = Connector(tmp_path, config)
        outputs.append(connector.check().output)
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(catalog_for(STREAMS[:3])))
        debug = run_connector(["read", "--config", connector.config_path, "--catalog", str(catalog), "--debug"])
        outputs.append(debug.output)
        debug_lines = [json.loads(line)["message"] for line in debug.output.splitlines() if line.startswith('{"type": "DEBUG"')]
        assert any(line.startswith("GET /v2/clients?per_page=2000") and "-> 200 in" in line for line in debug_lines)
        assert any("Bearer ****" in line for line in debug.output.splitlines())  # the CDK's own request log, masked
    broken = sandbox.config("admin")
    broken["credentials"]["api_token"] = sandbox.admin_token + "x"  # an error path that echoes the request
    outputs.append(Connector(tmp_path, broken).read([STREAMS[0]]).output)
    everything = "\n".join(outputs)
    assert "Harvest answered 401" in everything
    for secret in secrets:
        assert secret not in everything
    assert re.findall(r"Bearer (\S{4})", everything) and set(re.findall(r"Bearer (\S{4})", everything)) == {"****"}  # OAuth access tokens too


def test_sandbox_process_env_is_not_needed_for_proxies(sandbox: Sandbox, tmp_path: Path, monkeypatch) -> None:
    """Proxy settings are read once per sync; NO_PROXY for loopback keeps the sandbox reachable."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    run = Connector(tmp_path, sandbox.config("admin")).read([STREAMS[0]])
    assert run.exit_code == 0, run.errors()
    monkeypatch.delenv("NO_PROXY")
    assert os.environ.get("NO_PROXY") is None
    with patch("time.sleep"):  # the retries' backoff
        blocked = Connector(tmp_path, sandbox.config("admin")).read([STREAMS[0]])
    assert blocked.exit_code != 0  # the proxy from the environment is really used
