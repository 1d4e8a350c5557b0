"""requirements.lock: how it is made from setup.py (`make lock`) and whether the two agree (`make test`).

The lock pins, with hashes, every runtime dependency of the connector for the image's platform:
CPython 3.11 on Linux x86_64 (Debian bookworm). `uv pip compile` writes it; `pip install
--require-hashes -r requirements.lock` installs it (`make venv`, both Dockerfile paths).

    python tools/lockfile.py compile [--upgrade]   regenerate the lock with uv, then check it
    python tools/lockfile.py check [--installed]   exit 1, saying what differs, when setup.py's
                                                   install_requires and the lock disagree (and with
                                                   --installed, when this interpreter's packages
                                                   are not the locked versions)
    python tools/lockfile.py extra NAME            print setup.py's extras_require[NAME], one a line

Needs only the standard library and `packaging`, and no network except for `compile`.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SETUP_PY = ROOT / "setup.py"
LOCK = ROOT / "requirements.lock"
# The platform the lock is resolved for: the image's (Debian bookworm's Python 3.11, x86_64).
TARGET_PYTHON = "3.11"
TARGET_PLATFORM = "x86_64-unknown-linux-gnu"
TARGET_MARKERS = {"python_version": TARGET_PYTHON, "python_full_version": f"{TARGET_PYTHON}.2", "sys_platform": "linux",
                  "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                  "implementation_name": "cpython", "platform_python_implementation": "CPython"}
# How uv marks the lock's entries that setup.py asks for itself (`# via source-harvest (setup.py)`).
SETUP_PY_ORIGIN = "(setup.py)"
REGENERATE = "Run `make lock` to regenerate requirements.lock from setup.py."


@dataclass(frozen=True)
class Pin:
    """One entry of the lock: `name==version` with its hashes and the packages that pulled it in."""

    name: str
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]
    marker: Marker | None


def setup_requirements(setup_py: Path) -> tuple[list[str], dict[str, list[str]]]:
    """install_requires and extras_require of setup.py's setup() call, read without running setup.py."""
    tree = ast.parse(setup_py.read_text(encoding="utf-8"))
    assigned = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return value(assigned[node.id])
        if isinstance(node, (ast.List, ast.Tuple)):
            return [value(element) for element in node.elts]
        if isinstance(node, ast.Dict):
            return {value(key): value(item) for key, item in zip(node.keys, node.values, strict=True) if key is not None}
        return ast.literal_eval(node)

    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name) and node.func.id == "setup")
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    install_requires = value(keywords["install_requires"]) if "install_requires" in keywords else []
    extras = value(keywords["extras_require"]) if "extras_require" in keywords else {}
    return install_requires, extras


def read_lock(text: str) -> dict[str, Pin]:
    """The lock's entries by canonical name. Raises ValueError on an entry that is not `name==version`."""
    entries: list[dict[str, Any]] = []
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if logical:  # inside a `\`-continued entry
            logical += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                entries.append({"line": logical, "via": []})
                logical = ""
        elif not stripped:
            continue
        elif stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if entries and line[0].isspace() and comment != "via":  # an entry's `# via` annotation
                entries[-1]["via"].append(comment[len("via "):] if comment.startswith("via ") else comment)
        elif stripped.endswith("\\"):
            logical = stripped.rstrip("\\").strip()
        else:
            entries.append({"line": stripped, "via": []})
    pins: dict[str, Pin] = {}
    for entry in entries:
        requirement_text, *options = entry["line"].split(" --")
        requirement = Requirement(requirement_text)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"requirements.lock: `{requirement_text}` is not pinned with ==")
        hashes = tuple(option.removeprefix("hash=") for option in options if option.startswith("hash="))
        name = canonicalize_name(requirement.name)
        pins[name] = Pin(name, specifiers[0].version, hashes, tuple(entry["via"]), requirement.marker)
    return pins


def applies(marker: Marker | None) -> bool:
    return marker is None or marker.evaluate(TARGET_MARKERS)


def disagreements(install_requires: list[str], pins: Mapping[str, Pin]) -> list[str]:
    """What differs between setup.py's install_requires and the lock; empty when they agree."""
    problems: list[str] = []
    required = [Requirement(text) for text in install_requires]
    for requirement in required:
        if not applies(requirement.marker):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"setup.py requires {requirement}, which requirements.lock does not pin.")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"setup.py requires {requirement}, but requirements.lock pins {pin.name}=={pin.version}.")
    required_names = {canonicalize_name(requirement.name) for requirement in required}
    for pin in pins.values():
        if not pin.hashes:
            problems.append(f"requirements.lock pins {pin.name}=={pin.version} without a hash.")
        if any(via.endswith(SETUP_PY_ORIGIN) for via in pin.via) and pin.name not in required_names:
            problems.append(f"requirements.lock pins {pin.name}=={pin.version} for setup.py, which no longer requires it.")
    return problems


def installed_mismatches(pins: Mapping[str, Pin]) -> list[str]:
    """Locked packages that this interpreter lacks or holds at another version."""
    problems = []
    for pin in pins.values():
        if not applies(pin.marker):
            continue
        try:
            version = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{pin.name}=={pin.version} is locked but not installed.")
            continue
        if version != pin.version:
            problems.append(f"{pin.name} is installed at {version}, but requirements.lock pins {pin.version}.")
    return problems


def check(installed: bool) -> int:
    install_requires, _ = setup_requirements(SETUP_PY)
    pins = read_lock(LOCK.read_text(encoding="utf-8"))
    problems = disagreements(install_requires, pins)
    if problems:
        print("setup.py and requirements.lock disagree:\n  " + "\n  ".join(problems) + "\n" + REGENERATE, file=sys.stderr)
        return 1
    if installed:
        problems = installed_mismatches(pins)
        if problems:
            print(f"{sys.prefix} does not hold the locked set:\n  " + "\n  ".join(problems)
                  + "\nRun `make clean venv` to rebuild it from requirements.lock.", file=sys.stderr)
            return 1
    print(f"requirements.lock pins {len(pins)} packages and satisfies setup.py's {len(install_requires)} requirements"
          + (f"; {sys.prefix} holds them all." if installed else "."))
    return 0


def compile_lock(upgrade: bool) -> int:
    """`uv pip compile` of setup.py for the target platform. Keeps the lock's current pins unless upgrade."""
    uv = Path(sys.executable).parent / "uv"
    command = [str(uv if uv.exists() else "uv"), "pip", "compile", "setup.py", "--quiet", "--generate-hashes",
               "--python-version", TARGET_PYTHON, "--python-platform", TARGET_PLATFORM,
               "--custom-compile-command", "make lock", "--output-file", LOCK.name]
    if upgrade:
        command.append("--upgrade")
    compiled = subprocess.run(command, cwd=ROOT, check=False)
    return compiled.returncode or check(installed=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("compile").add_argument("--upgrade", action="store_true", help="newest versions within setup.py's ranges")
    commands.add_parser("check").add_argument("--installed", action="store_true", help="also compare with this interpreter's packages")
    commands.add_parser("extra").add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "compile":
        return compile_lock(args.upgrade)
    if args.command == "check":
        return check(args.installed)
    print("\n".join(setup_requirements(SETUP_PY)[1][args.name]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
