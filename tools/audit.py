"""`make audit`: known vulnerabilities in the locked set (requirements.lock), by pip-audit.

    python tools/audit.py [--service pypi|osv] requirements.lock

pip-audit reads the lock as it is (--disable-pip: no resolution, hashes required) and asks the
vulnerability service about each pinned version. Outcomes:
  * a finding: each vulnerability on a line (id, aliases, fixed versions); exit 1;
  * the service unreachable, or answering for none of the packages: one line "audit skipped: <why>"; exit 0;
  * otherwise: "no known vulnerabilities", naming any package the service had no data for; exit 0.
pip-audit itself exits 0 when the service knows none of the packages ("Dependency not found"),
which would read as a clean audit; this script says "skipped" instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# What requests/urllib3 raise, uncaught by pip-audit, when the service cannot be reached.
UNREACHABLE_SIGNS = ("ConnectionError", "ProxyError", "ConnectTimeout", "ReadTimeout", "NameResolutionError",
                     "Max retries exceeded", "SSLError")


def pip_audit_executable() -> str:
    beside = Path(sys.executable).parent / "pip-audit"  # the tools venv's
    return str(beside) if beside.exists() else "pip-audit"


def pip_audit_command(pip_audit: str, lock: Path, service: str, report: Path) -> list[str]:
    return [pip_audit, "--requirement", str(lock), "--require-hashes",
            "--disable-pip", "--vulnerability-service", service, "--progress-spinner", "off", "--aliases", "on", "--desc", "off",
            "--format", "json", "--output", str(report)]


def verdict(exit_code: int, report: dict[str, Any] | None, stderr: str, service: str) -> tuple[int, list[str]]:
    """The audit's exit code and what to print, from pip-audit's exit code, JSON report (None when it wrote
    none) and stderr."""
    if report is None:
        last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "no output")
        if any(sign in stderr for sign in UNREACHABLE_SIGNS):
            return 0, [f"audit skipped: the {service} vulnerability service is unreachable ({last})"]
        return exit_code or 1, [f"pip-audit failed (exit {exit_code}): {last}"]
    dependencies = report.get("dependencies", [])
    vulnerable = [dependency for dependency in dependencies if dependency.get("vulns")]
    skipped = [dependency for dependency in dependencies if "skip_reason" in dependency]
    audited = len(dependencies) - len(skipped)
    if vulnerable:
        lines = [f"{len(vulnerable)} of {audited} audited packages have known vulnerabilities:"]
        for dependency in vulnerable:
            for vulnerability in dependency["vulns"]:
                aliases = ", ".join(vulnerability.get("aliases") or [])
                fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed release yet"
                lines.append(f"  {dependency['name']} {dependency['version']}: {vulnerability['id']}"
                             f"{f' ({aliases})' if aliases else ''}; fixed in {fixed}")
        return 1, [*lines, "Raise the lower bound in setup.py (or `make lock UPGRADE=1`) to a fixed version, then `make lock`."]
    if exit_code != 0:
        return exit_code, [f"pip-audit failed (exit {exit_code}) without a finding: {stderr.strip()[-500:]}"]
    if dependencies and audited == 0:
        return 0, [f"audit skipped: the {service} vulnerability service gave no data for any of the {len(dependencies)} "
                   f"locked packages, so nothing was checked (pip-audit: {skipped[0]['skip_reason']})"]
    lines = [f"no known vulnerabilities in the {audited} audited packages (service {service})"]
    if skipped:
        lines.append(f"not audited ({len(skipped)}; the service had no data): "
                     + ", ".join(dependency["name"] for dependency in skipped))
    return 0, lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    args = parser.parse_args(argv)
    pip_audit = pip_audit_executable()
    version = subprocess.run([pip_audit, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    today = datetime.now(timezone.utc).date().isoformat()
    print(f"auditing {args.lock} with {version or 'pip-audit'} against the {args.service} service on {today}")
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        audited = subprocess.run(pip_audit_command(pip_audit, args.lock, args.service, report_path),
                                 capture_output=True, text=True, check=False)
        report = json.loads(report_path.read_text()) if report_path.exists() else None
    exit_code, lines = verdict(audited.returncode, report, audited.stderr, args.service)
    print("\n".join(lines), file=sys.stderr if exit_code else sys.stdout)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
