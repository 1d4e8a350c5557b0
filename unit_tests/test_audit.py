"""`make audit`'s verdict on pip-audit's outcome: findings fail, an unreachable or silent service skips, saying why."""

from __future__ import annotations

from pathlib import Path

from tools.audit import pip_audit_command, verdict

AUDITED = {"name": "requests", "version": "2.33.1", "vulns": []}
NOT_ON_SERVICE = {"name": "airbyte-cdk", "skip_reason": "Dependency not found on PyPI and could not be audited: airbyte-cdk (7.39.1)"}
# pip-audit's last stderr line when it cannot reach OSV (it does not catch requests' exception).
UNREACHABLE = ("Traceback (most recent call last):\n  ...\nrequests.exceptions.ConnectionError: HTTPSConnectionPool("
               "host='api.osv.dev', port=443): Max retries exceeded with url: /v1/query (Caused by NameResolutionError(...))\n")


def test_a_finding_fails_the_audit_and_names_the_fix() -> None:
    vulnerable = {"name": "urllib3", "version": "2.2.1", "vulns": [
        {"id": "GHSA-34jh-p97f-mpxf", "fix_versions": ["2.2.2"], "aliases": ["CVE-2024-37891"]}]}
    exit_code, lines = verdict(1, {"dependencies": [AUDITED, vulnerable], "fixes": []}, "", "pypi")
    assert exit_code == 1
    assert lines[:2] == ["1 of 2 audited packages have known vulnerabilities:",
                         "  urllib3 2.2.1: GHSA-34jh-p97f-mpxf (CVE-2024-37891); fixed in 2.2.2"]


def test_a_clean_audit_passes() -> None:
    assert verdict(0, {"dependencies": [AUDITED], "fixes": []}, "", "pypi") == (
        0, ["no known vulnerabilities in the 1 audited packages (service pypi)"])


def test_a_service_that_knows_none_of_the_packages_is_a_skip_not_a_pass() -> None:
    exit_code, (line,) = verdict(0, {"dependencies": [NOT_ON_SERVICE, {**NOT_ON_SERVICE, "name": "orjson"}], "fixes": []}, "", "pypi")
    assert exit_code == 0
    assert line.startswith("audit skipped: the pypi vulnerability service gave no data for any of the 2 locked packages")
    assert "no known vulnerabilities" not in line


def test_packages_the_service_has_no_data_for_are_named() -> None:
    exit_code, lines = verdict(0, {"dependencies": [AUDITED, NOT_ON_SERVICE], "fixes": []}, "", "pypi")
    assert exit_code == 0
    assert lines[1] == "not audited (1; the service had no data): airbyte-cdk"


def test_an_unreachable_service_skips_with_the_reason() -> None:
    exit_code, (line,) = verdict(1, None, UNREACHABLE, "osv")
    assert exit_code == 0
    assert line.startswith("audit skipped: the osv vulnerability service is unreachable (requests.exceptions.ConnectionError:")


def test_any_other_pip_audit_failure_fails() -> None:
    assert verdict(2, None, "usage: pip-audit ...\npip-audit: error: unrecognized arguments: --bogus\n", "pypi") == (
        2, ["pip-audit failed (exit 2): pip-audit: error: unrecognized arguments: --bogus"])


def test_pip_audit_reads_the_lock_as_it_is() -> None:
    command = pip_audit_command("pip-audit", Path("requirements.lock"), "pypi", Path("report.json"))
    assert command[1:4] == ["--requirement", "requirements.lock", "--require-hashes"]
    assert "--disable-pip" in command
    assert command[command.index("--vulnerability-service") + 1] == "pypi"
