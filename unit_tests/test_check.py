"""check: proves token + account, names the fix when either is wrong, reports the token's role."""

from __future__ import annotations

import logging

import pytest
import requests_mock
from airbyte_cdk.models import Status

from source_harvest import SourceHarvest
from unit_tests.conftest import ACCOUNT, API, ID_API

LOGGER = logging.getLogger("airbyte")
ACCOUNTS = {"user": {"id": 1}, "accounts": [{"id": 99, "name": "Other Co", "product": "harvest"},
                                            {"id": 5, "name": "Forecast", "product": "forecast"}]}


def check(config):
    return SourceHarvest().check(LOGGER, config)


def test_check_succeeds_for_an_administrator(config) -> None:
    with requests_mock.Mocker() as mock:
        mock.get(API + "users/me", json={"id": 1, "access_roles": ["administrator"]})
        assert check(config).status == Status.SUCCEEDED


def test_check_warns_which_streams_a_member_cannot_read(config, caplog) -> None:
    with requests_mock.Mocker() as mock, caplog.at_level(logging.WARNING):
        mock.get(API + "users/me", json={"id": 1, "access_roles": ["member"]})
        assert check(config).status == Status.SUCCEEDED
    assert "Member role" in caplog.text and "invoices" in caplog.text and "time_entries," not in caplog.text


def test_check_says_token_invalid_on_401(config) -> None:
    with requests_mock.Mocker() as mock:
        mock.get(API + "users/me", status_code=401, json={"error": "invalid_token"})
        mock.get(ID_API + "accounts", status_code=401, json={"error": "invalid_token"})
        status = check(config)
    assert status.status == Status.FAILED and "invalid, expired or revoked" in status.message


def test_check_lists_reachable_accounts_when_the_account_is_wrong(config) -> None:
    with requests_mock.Mocker() as mock:
        mock.get(API + "users/me", status_code=401, json={"error": "invalid_account"})
        mock.get(ID_API + "accounts", json=ACCOUNTS)
        status = check(config)
    assert status.status == Status.FAILED
    assert f"account_id {ACCOUNT} is not" in status.message and "99 (Other Co)" in status.message
    assert "Forecast" not in status.message


@pytest.mark.parametrize("change,fragment", [
    ({"account_id": "abc"}, "account_id"),
    ({"credentials": {"auth_type": "Token", "api_token": " "}}, "api_token"),
    ({"credentials": {"auth_type": "Basic"}}, "auth_type"),
    ({"replication_start_date": "2024-01-01 00:00:00"}, "replication_start_date"),
    ({"replication_end_date": "2023-01-01T00:00:00Z"}, "before"),
    ({"api_url": "http://harvest.example.com/v2/"}, "loopback"),
])
def test_bad_config_fails_check_with_what_to_fix(config, change, fragment) -> None:
    config.update(change)
    status = check(config)
    assert status.status == Status.FAILED and fragment in status.message


def test_check_says_api_url_looks_wrong_on_404(config) -> None:
    with requests_mock.Mocker() as mock:
        mock.get(API + "users/me", status_code=404, text="<html>not found</html>")
        mock.get(ID_API + "accounts", json={"accounts": [{"id": int(ACCOUNT), "name": "Mine", "product": "harvest"}]})
        status = check(config)
    assert status.status == Status.FAILED and "api_url looks wrong" in status.message
