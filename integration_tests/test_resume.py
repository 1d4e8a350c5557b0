"""Interrupted syncs on the sandbox: killed at many points, resumed as the Airbyte platform resumes them.

Each attempt is cut after a given number of requests (as a kill would: the platform keeps only the
messages it received) and the next attempt gets the last STATE message of every stream received so
far. Proved against the sandbox's ground truth and an uninterrupted sync of the same account: no
record lost, no tombstone for a record that exists, and the same final state (cursors and delivered
ids). Small pages (PAGE_CAP) make every list several pages long, so kills land inside lists,
per-parent streams, deletion sweeps and report windows alike. A real SIGKILL of a connector process
is in test_reliability.py and `make bench`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

from integration_tests.conftest import ANCHOR, SCALE, TIME_SCALE, Connector, Run
from integration_tests.expectations import expected_keys, key_of
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS, STREAMS_BY_NAME
from source_harvest.streams.checkpoint import CHECKPOINT_REQUESTS, RESUME_KEY
from source_harvest.streams.deletes import DELETED_AT, SWEPT_AT_KEY

PAGE_CAP = 40  # rows per page the sandbox serves: every list takes several pages
# This small account has 40 invoices; a batch of parents is made this small so that per-parent streams
# checkpoint several times here too (the connector's batch is CHECKPOINT_REQUESTS requests).
TEST_BATCH_REQUESTS = 6
TIME_FIELDS = (SWEPT_AT_KEY,)  # when a sweep ran: the time of the sync, not a fact about the data


@dataclass
class Outcome:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # the last STATE message of each stream
    requests: int = 0
    attempts: list[Run] = field(default_factory=list)

    def take(self, run: Run) -> None:
        self.attempts.append(run)
        for stream, rows in run.records.items():
            self.records[stream].extend(rows)
        for message in run.messages:
            if message["type"] == "STATE":
                self.states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]

    def stream_states(self) -> dict[str, dict[str, Any]]:
        return {name: {k: v for k, v in message["stream"]["stream_state"].items() if k not in TIME_FIELDS}
                for name, message in self.states.items()}

    def keys(self, stream: str) -> set[Any]:
        return {key_of(stream, r) for r in self.records[stream] if DELETED_AT not in r}

    def tombstones(self, stream: str) -> set[Any]:
        return {key_of(stream, r) for r in self.records[stream] if DELETED_AT in r}


def sync(box: Sandbox, directory: Path, config: dict[str, Any], kills: Iterable[int] = (),
         state: dict[str, dict[str, Any]] | None = None, incremental: bool = True,
         between: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Outcome:
    """One sync of every stream: an attempt per kill, cut after that many requests of its own, then
    one attempt that runs to the end. Each starts from the last state of each stream received so far,
    and from the config of the last CONTROL message (a rotated OAuth refresh token), as the platform does."""
    outcome = Outcome(states=dict(state or {}))
    directory.mkdir(parents=True, exist_ok=True)
    for limit in [*kills, None]:
        started = box.stats()["total"]

        def stop(limit: int | None = limit, started: int = started) -> bool:
            return limit is not None and box.stats()["total"] - started >= limit

        run = Connector(directory, config).read(STREAMS, state=list(outcome.states.values()) or None, incremental=incremental, stop=stop)
        outcome.requests += box.stats()["total"] - started
        outcome.take(run)
        for message in run.messages:
            if message["type"] == "CONTROL":
                config = message["control"]["connectorConfig"]["config"]
        if between is not None:
            config = between(config)
        if limit is None:
            assert run.exit_code == 0, run.errors()
        else:
            assert run.exit_code == -9, "the attempt ended before its kill: choose an earlier kill point"
    return outcome


@pytest.fixture(scope="module", autouse=True)
def small_batches() -> Iterable[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("source_harvest.streams.child.CHECKPOINT_REQUESTS", TEST_BATCH_REQUESTS)
        patch.setattr("source_harvest.streams.deletes.CHECKPOINT_REQUESTS", TEST_BATCH_REQUESTS)
        yield


@pytest.fixture(scope="module")
def box() -> Iterable[Sandbox]:
    sandbox = Sandbox(seed=5, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, page_size_cap=PAGE_CAP).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def reference(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Outcome]:
    """An uninterrupted first sync, and the incremental sync after it with nothing changed (the re-check
    a restart makes of the streams that had already finished costs at most that)."""
    directory = tmp_path_factory.mktemp("reference")
    first = sync(box, directory, box.config("admin"))
    recheck = sync(box, directory, box.config("admin"), state=first.states)
    return first, recheck


def pages_of_largest_list(outcome: Outcome) -> int:
    return math.ceil(max(len(rows) for rows in outcome.records.values()) / PAGE_CAP)


def assert_same_as_uninterrupted(box: Sandbox, outcome: Outcome, reference: Outcome) -> None:
    for spec in STREAMS:
        name = spec.name
        assert outcome.tombstones(name) == set(), f"{name}: a tombstone for a record that exists"
        assert outcome.keys(name) == reference.keys(name), f"{name}: records lost or foreign"
        if not spec.report:
            assert outcome.keys(name) == expected_keys(box, name), f"{name}: not what the account holds"
    assert outcome.stream_states() == reference.stream_states()
    assert not any(RESUME_KEY in s for s in outcome.stream_states().values())


def test_the_reference_sync_checkpoints_inside_every_long_stream(reference: tuple[Outcome, Outcome]) -> None:
    first, _ = reference
    run = first.attempts[0]
    checkpoints: dict[str, int] = defaultdict(int)
    for message in run.messages:
        if message["type"] == "STATE":
            checkpoints[message["state"]["stream"]["stream_descriptor"]["name"]] += 1
    summary = next(m for m in run.logs() if m.startswith("SYNC_SUMMARY"))
    assert checkpoints["time_entries"] >= 5  # a checkpoint per page of a list
    assert checkpoints["invoice_payments"] >= 2  # per batch of parents
    assert checkpoints["time_team"] >= 2  # per report window
    assert summary


@pytest.mark.parametrize("share", [0.04, 0.12, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.97])
def test_one_kill_anywhere_loses_nothing_and_ends_in_the_uninterrupted_state(box: Sandbox, reference: tuple[Outcome, Outcome],
                                                                             tmp_path: Path, share: float) -> None:
    first, recheck = reference
    outcome = sync(box, tmp_path, box.config("admin"), kills=[math.ceil(first.requests * share)])
    assert_same_as_uninterrupted(box, outcome, first)
    # What a restart redoes beyond re-checking the finished streams: at most a list's pages that were
    # read before the kill for streams derived from it, and one page to find the place again.
    assert outcome.requests <= first.requests + recheck.requests + 2 * TEST_BATCH_REQUESTS + pages_of_largest_list(first)


def test_three_kills_at_thirty_percent_redo_almost_nothing(box: Sandbox, reference: tuple[Outcome, Outcome], tmp_path: Path) -> None:
    first, recheck = reference
    kill = math.ceil(first.requests * 0.3)
    outcome = sync(box, tmp_path, box.config("admin"), kills=[kill, kill, kill])
    assert_same_as_uninterrupted(box, outcome, first)
    redone = outcome.requests - first.requests - 3 * recheck.requests
    assert redone <= 0.05 * first.requests + 3 * 2, f"{redone} requests redone of {first.requests}"


def test_a_killed_oauth_sync_resumes_with_the_rotated_refresh_token(tmp_path: Path) -> None:
    """Harvest may rotate refresh tokens: each attempt refreshes, and the next must use the token the
    last one was given (the platform keeps it from the CONTROL message), or it is refused."""
    box = Sandbox(seed=5, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, page_size_cap=PAGE_CAP,
                  rotate_refresh_tokens=True).start()

    def later(config: dict[str, Any]) -> dict[str, Any]:
        """The retry comes after the access token expired (minutes later, after an eviction)."""
        return {**config, "credentials": {**config["credentials"], "token_expiry_date": "2000-01-01T00:00:00+00:00"}}

    try:
        plain = sync(box, tmp_path / "plain", box.config("admin"))
        outcome = sync(box, tmp_path / "oauth", box.config("oauth"), kills=[plain.requests // 3, plain.requests // 3], between=later)
    finally:
        box.stop()
    rotated = [sum(1 for m in run.messages if m["type"] == "CONTROL") for run in outcome.attempts]
    assert rotated == [1, 1, 1], rotated  # each attempt refreshed once, with the token the one before was given
    assert_same_as_uninterrupted(box, outcome, plain)


def test_a_killed_full_refresh_resumes_within_the_job(box: Sandbox, tmp_path: Path) -> None:
    """Full refresh checkpoints too (the platform passes the state back to the attempts of one job)."""
    reference = sync(box, tmp_path / "reference", box.config("admin"), incremental=False)
    outcome = sync(box, tmp_path / "killed", box.config("admin"), kills=[reference.requests // 2], incremental=False)
    assert_same_as_uninterrupted(box, outcome, reference)
    assert outcome.requests < 1.5 * reference.requests


def test_a_sweep_killed_half_way_emits_exactly_the_true_tombstones(tmp_path: Path) -> None:
    """Deletions between two syncs; the second is a sweep, killed twice. Its tombstones are exactly the
    deleted records, as in an uninterrupted sweep of the same account, and no id set is lost."""
    box = Sandbox(seed=5, scale=SCALE, anchor=ANCHOR, time_scale=TIME_SCALE, page_size_cap=PAGE_CAP).start()
    try:
        baseline = sync(box, tmp_path / "first", box.config("admin"))
        deleted = {"time_entries": [r["id"] for r in box.records("time_entries")[::97]],
                   "clients": [box.records("clients")[-1]["id"]],
                   "invoices": [box.records("invoices")[3]["id"]]}
        for collection, ids in deleted.items():
            for record_id in ids:
                box.delete(collection, record_id)
        config = box.config("admin", deletes_sweep_hours=0)
        reference = sync(box, tmp_path / "reference", config, state=baseline.states)
        sweep = reference.requests
        outcome = sync(box, tmp_path / "killed", config, kills=[sweep // 3, sweep // 3], state=baseline.states)
    finally:
        box.stop()
    for stream in ("time_entries", "clients", "invoices"):
        assert outcome.tombstones(stream) == set(deleted[stream]) == reference.tombstones(stream), stream
    invoice = deleted["invoices"][0]
    cascaded = {key_of("invoice_line_items", r) for r in baseline.records["invoice_line_items"] if r["invoice_id"] == invoice}
    assert outcome.tombstones("invoice_line_items") == cascaded == reference.tombstones("invoice_line_items")
    for name in STREAMS_BY_NAME:
        assert outcome.tombstones(name) <= reference.tombstones(name), f"{name}: a false tombstone"
    assert outcome.stream_states() == reference.stream_states()
    killed_sweeps = {m["state"]["stream"]["stream_descriptor"]["name"] for run in outcome.attempts[:-1] for m in run.messages
                     if m["type"] == "STATE" and "sweep" in m["state"]["stream"]["stream_state"].get(RESUME_KEY, {})}
    assert killed_sweeps, "no attempt was killed inside a sweep"


def test_no_running_stream_goes_more_than_a_hundred_requests_without_a_checkpoint(tmp_path: Path) -> None:
    """With the connector's own batch size, on an account with 160 invoices and 4,000 time entries."""
    box = Sandbox(seed=5, scale=0.2, anchor=ANCHOR, time_scale=TIME_SCALE, page_size_cap=PAGE_CAP).start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("source_harvest.streams.child.CHECKPOINT_REQUESTS", CHECKPOINT_REQUESTS)
        patch.setattr("source_harvest.streams.deletes.CHECKPOINT_REQUESTS", CHECKPOINT_REQUESTS)
        try:
            seen: list[int] = []
            run = Connector(tmp_path, box.config("admin")).read(
                [STREAMS_BY_NAME[name] for name in ("time_entries", "invoices", "invoice_payments", "invoice_messages")],
                stop=lambda: seen.append(box.stats()["total"]) and False)
        finally:
            box.stop()
    assert run.exit_code == 0, run.errors()
    at_state = [seen[i] for i, message in enumerate(run.messages[:len(seen)]) if message["type"] == "STATE"]
    gaps = [later - earlier for earlier, later in zip([0, *at_state], at_state, strict=False)]
    assert len(at_state) > 100 and max(gaps) <= CHECKPOINT_REQUESTS + 1, max(gaps)
