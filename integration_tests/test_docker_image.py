"""The container image, as a user runs it: built by docker/build-image.sh, then `docker run` of
spec, check, discover and read against the sandbox on the host's 127.0.0.1.

Needs a Docker engine (skipped, saying so, when none answers) and, on a machine without the local
base image, root (docker/build-base-image.sh). The build is a full one each session (about 100 s
when the base exists); SOURCE_HARVEST_TEST_IMAGE=<image> tests that image instead of building.
Deselect with -m "not docker and not image_tests".
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pytest

from integration_tests.conftest import ANCHOR, catalog_for, run_connector, show
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS
from tools.lockfile import LOCK, read_lock

docker = pytest.importorskip("docker", reason="the docker package is in setup.py's tests extra: pip install -e '.[tests]'")

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "docker" / "build-image.sh"
BUILD_TIMEOUT_SECONDS = 1200
RUN_TIMEOUT_SECONDS = 600
INSTALL_DIR = "/opt/source-harvest"  # the image's virtualenv (Dockerfile)
IMAGE_LOCK = f"{INSTALL_DIR}/requirements.lock"  # the lock the image was built from (Dockerfile)
IMAGE_UID = 1000  # the user the image runs as (Dockerfile: USER 1000)
SECRETS_MOUNT = "/secrets"
# Never in an image: test suites, test data, credentials, build leftovers.
FORBIDDEN_NAMES = ("integration_tests", "unit_tests", "secrets", "wheelhouse", ".git")
# The committed standard-test configs hold sandbox tokens; none may reach an image layer.
COMMITTED_CONFIGS = ("config.json", "invalid_config.json", "spec_config.json")

log = logging.getLogger(__name__)


def report(config: pytest.Config, line: str) -> None:
    """A fact about the image, logged and shown on the terminal without -s."""
    log.info(line)
    show(config, "docker image", line)


@dataclass
class ContainerRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def records(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.of_type("RECORD"):
            counts[message["record"]["stream"]] = counts.get(message["record"]["stream"], 0) + 1
        return counts

    def explain(self) -> str:
        errors = [m["trace"]["error"]["message"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]
        return f"exit {self.exit_code}; errors {errors}; stderr tail:\n{self.stderr[-2000:]}"


@pytest.fixture(scope="module")
def client() -> Any:
    try:
        engine = docker.from_env()
        engine.ping()
    except Exception as error:  # noqa: BLE001 - any failure to reach the engine means "no Docker here"
        pytest.skip(f"no Docker engine answers (docker.from_env().ping() failed: {error})")
    return engine


@pytest.fixture(scope="module")
def image(client: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterable[str]:
    prebuilt = os.environ.get("SOURCE_HARVEST_TEST_IMAGE")
    if prebuilt:
        report(request.config, f"testing the prebuilt {prebuilt} (SOURCE_HARVEST_TEST_IMAGE), no build")
        yield prebuilt
        return
    tag = f"source-harvest:pytest-{os.getpid()}"
    build_log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    with build_log.open("w") as out:
        built = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], cwd=ROOT, env={**os.environ, "IMAGE_TAG": tag},
            stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_SECONDS, check=False,
        )
    seconds = time.monotonic() - started
    if built.returncode != 0:
        tail = "\n".join(build_log.read_text().splitlines()[-40:])
        pytest.fail(f"docker/build-image.sh failed (exit {built.returncode}, log {build_log}):\n{tail}")
    report(request.config, f"built {tag} with docker/build-image.sh in {seconds:.0f} s")
    yield tag
    client.images.remove(tag, force=True)


def run(client: Any, image: str, args: list[str], *, secrets: Path | None = None, entrypoint: str | None = None,
        user: str | None = None) -> ContainerRun:
    """`docker run --network host [-v secrets:/secrets:ro] image args`, with its exit code and both streams."""
    volumes = {str(secrets): {"bind": SECRETS_MOUNT, "mode": "ro"}} if secrets else None
    container = client.containers.run(image, args, entrypoint=entrypoint, user=user, network_mode="host", volumes=volumes, detach=True)
    try:
        status = container.wait(timeout=RUN_TIMEOUT_SECONDS)
        return ContainerRun(
            exit_code=status["StatusCode"],
            stdout=container.logs(stdout=True, stderr=False).decode(),
            stderr=container.logs(stdout=False, stderr=True).decode(),
        )
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def sandbox() -> Iterable[Sandbox]:
    box = Sandbox(seed=11, scale=0.02, anchor=ANCHOR, time_scale=0.01).start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def secrets(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a user mounts at /secrets. The container runs as uid 1000: world-readable, traversable."""
    directory = tmp_path_factory.mktemp("secrets")
    bad = sandbox.config("admin", credentials={"auth_type": "Token", "api_token": f"{sandbox.user_ids['admin']}.pt.revoked-long-ago"})
    files = {"config.json": sandbox.config("admin"), "bad_config.json": bad, "catalog.json": catalog_for(STREAMS)}
    for name, content in files.items():
        path = directory / name
        path.write_text(json.dumps(content))
        path.chmod(0o644)
    directory.chmod(0o755)
    return directory


def test_spec_prints_the_spec(client: Any, image: str) -> None:
    result = run(client, image, ["spec"])
    assert result.exit_code == 0, result.explain()
    assert result.messages[0]["type"] == "LOG"
    (spec,) = result.of_type("SPEC")
    assert set(spec["spec"]["connectionSpecification"]["required"]) == {"account_id", "credentials"}


def test_check_succeeds_against_the_sandbox(client: Any, image: str, secrets: Path) -> None:
    result = run(client, image, ["check", "--config", f"{SECRETS_MOUNT}/config.json"], secrets=secrets)
    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "SUCCEEDED", status
    assert result.exit_code == 0, result.explain()


def test_check_with_a_bad_token_fails(client: Any, image: str, secrets: Path) -> None:
    result = run(client, image, ["check", "--config", f"{SECRETS_MOUNT}/bad_config.json"], secrets=secrets)
    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert "token" in status["connectionStatus"]["message"]


def test_discover_lists_every_stream(client: Any, image: str, secrets: Path) -> None:
    result = run(client, image, ["discover", "--config", f"{SECRETS_MOUNT}/config.json"], secrets=secrets)
    assert result.exit_code == 0, result.explain()
    (catalog,) = result.of_type("CATALOG")
    assert sorted(s["name"] for s in catalog["catalog"]["streams"]) == sorted(spec.name for spec in STREAMS)


def test_read_syncs_every_stream_like_the_source_does(client: Any, image: str, secrets: Path, request: pytest.FixtureRequest) -> None:
    args = ["read", "--config", f"{SECRETS_MOUNT}/config.json", "--catalog", f"{SECRETS_MOUNT}/catalog.json"]
    started = time.monotonic()
    result = run(client, image, args, secrets=secrets)
    seconds = time.monotonic() - started
    assert result.exit_code == 0, result.explain()
    counts = result.records()
    assert [spec.name for spec in STREAMS if not counts.get(spec.name)] == []
    states = {m["state"]["stream"]["stream_descriptor"]["name"] for m in result.of_type("STATE") if m["state"].get("stream")}
    assert states >= {spec.name for spec in STREAMS if spec.cursor}
    report(request.config, f"docker run … read: {sum(counts.values())} records of {len(counts)} streams in {seconds:.1f} s")
    # The same read in-process, on the same files: the image runs the same connector.
    in_process = run_connector(["read", "--config", str(secrets / "config.json"), "--catalog", str(secrets / "catalog.json")])
    assert in_process.exit_code == 0, in_process.errors()
    assert counts == {name: len(rows) for name, rows in in_process.records.items()}


def test_the_container_does_not_run_as_root(client: Any, image: str) -> None:
    assert client.images.get(image).attrs["Config"]["User"] not in ("", "0", "root")
    result = run(client, image, ["-u"], entrypoint="id")
    assert result.exit_code == 0 and result.stdout.strip() != "0", result.stdout


def test_the_image_holds_no_tests_test_data_or_secrets(client: Any, image: str, request: pytest.FixtureRequest) -> None:
    listing = run(client, image, ["-c", (
        "import json, os, sys\n"
        "roots, names = sys.argv[1:2] + ['/airbyte', '/src'], set(sys.argv[2:])\n"
        "found = [os.path.join(d, n) for root in roots for d, dirs, files in os.walk(root) for n in dirs + files if n in names]\n"
        "import source_harvest\n"
        "print(json.dumps({'found': found, 'package': os.path.dirname(source_harvest.__file__), 'src': os.path.exists('/src')}))\n"
    ), INSTALL_DIR, *FORBIDDEN_NAMES], entrypoint="python")
    assert listing.exit_code == 0, listing.stderr
    facts = json.loads(listing.stdout.splitlines()[-1])
    assert facts["found"] == []
    assert facts["package"].startswith(INSTALL_DIR) and not facts["src"]
    # No token of the committed test configs anywhere in the image's file system (as root: every file).
    tokens = [json.loads((ROOT / "integration_tests" / name).read_text())["credentials"] for name in COMMITTED_CONFIGS]
    needles = [value for credentials in tokens for key, value in credentials.items() if key != "auth_type"]
    grep_args = [arg for needle in needles for arg in ("-e", needle)]
    scan = run(client, image, ["-rlF", *grep_args, "/", "--exclude-dir=proc", "--exclude-dir=sys", "--exclude-dir=dev"], entrypoint="grep", user="0")
    assert scan.exit_code == 1 and scan.stdout == "", f"sandbox credentials found in the image: {scan.stdout}{scan.stderr}"
    env = client.images.get(image).attrs["Config"]["Env"]
    assert not [item for item in env if any(word in item.split("=")[0].upper() for word in ("TOKEN", "SECRET", "PASSWORD"))]
    size = client.images.get(image).attrs["Size"]
    report(request.config, f"{image}: {size:,} bytes ({size / 1e6:.0f} MB)")


def test_the_image_holds_exactly_the_locked_versions(client: Any, image: str) -> None:
    assert client.images.get(image).attrs["Config"]["Labels"]["io.airbyte.source-harvest.lock"] == IMAGE_LOCK
    shown = run(client, image, [IMAGE_LOCK], entrypoint="cat")
    assert shown.exit_code == 0 and shown.stdout == LOCK.read_text(), shown.stderr
    listing = run(client, image, ["-c", (
        "import json\nfrom importlib import metadata\n"
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version for d in metadata.distributions()}))\n"
    )], entrypoint="python")
    assert listing.exit_code == 0, listing.stderr
    installed = json.loads(listing.stdout.splitlines()[-1])
    locked = {pin.name: pin.version for pin in read_lock(LOCK.read_text()).values()}
    assert {name: installed.get(name) for name in locked} == locked
    assert set(installed) - set(locked) == {"pip", "source-harvest"}


def test_a_catalog_the_container_user_cannot_read_is_a_config_error(client: Any, image: str, secrets: Path,
                                                                     tmp_path: Path) -> None:
    """The issue's case: the catalog mounted root-owned 0600, the container running as uid 1000."""
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "config.json").write_text((secrets / "config.json").read_text())
    (mounted / "catalog.json").write_text((secrets / "catalog.json").read_text())
    (mounted / "config.json").chmod(0o644)
    (mounted / "catalog.json").chmod(0o600)
    mounted.chmod(0o755)
    if os.stat(mounted / "catalog.json").st_uid == IMAGE_UID:
        pytest.skip(f"the tests run as uid {IMAGE_UID}, who owns the file: the container user could read it")
    catalog = f"{SECRETS_MOUNT}/catalog.json"
    result = run(client, image, ["read", "--config", f"{SECRETS_MOUNT}/config.json", "--catalog", catalog], secrets=mounted)
    assert result.exit_code == 1, result.explain()
    errors = [m["trace"]["error"] for m in result.of_type("TRACE") if m["trace"]["type"] == "ERROR"]
    assert [error["failure_type"] for error in errors] == ["config_error"], result.explain()
    assert errors[0]["message"] == (
        f"Cannot read the catalog file {catalog}: permission denied for uid {IMAGE_UID}, the user the connector runs as. "
        f"Make the file readable by it: `chmod a+r` the file (and `chmod a+x` its folders) on the host, or mount it owned by uid {IMAGE_UID}.")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.of_type("RECORD") == []
