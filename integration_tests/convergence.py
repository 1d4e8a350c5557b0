"""Convergence soak: weeks of an account's life, synced into a simulated Airbyte warehouse, compared with the truth.

Issue 19, item 4. Owns three parts of the proof and the runner that ties them with the fourth:

* `Warehouse`: what an Airbyte destination holds after folding every emitted record.
  Incremental streams use Append + Deduped, applied per attempt as typing and deduping does when an
  attempt ends: per primary key the greatest cursor wins (over the attempt's records and the table's
  row), a tie goes to the later record, and a winning record with `_ab_cdc_deleted_at` removes the key.
  The key is then gone: a record of it in a later attempt, whatever its cursor, inserts it again, as
  Airbyte's final table does once the row was deleted. Every record the platform received is folded,
  also those an attempt emitted after its last STATE before it was killed (destinations write records
  as they arrive).
  Full-refresh streams use Overwrite: the table is swapped for the rows of a *successful* sync, the rows
  of all of that sync's attempts (a resumed full refresh goes on from the killed attempt's checkpoint,
  so neither attempt alone holds every row); a sync that never succeeds leaves the table as it was.
* `truth`: per stream, primary key -> the fields a converged row must show, from the sandbox's ground
  truth (`Sandbox.records`, `Sandbox.report`). Entity streams: `updated_at`. Derived streams: the
  parent's `updated_at` under the stream's cursor (`role_updated_at`, `user_project_updated_at`,
  `time_entry_updated_at`, `invoice_updated_at`, `estimate_updated_at`). `company` and
  `project_budget` (full refresh, no cursor): every field of the truth's row.
  `external_reference` (one row per reference id, distinct over the time entries that carry it, its
  cursor the `updated_at` of whichever entry came first): the reference's own fields, not the cursor.
* `compare`: per stream, missing keys (in the truth, not in the warehouse), ghost keys (in the
  warehouse, not in the truth) and stale rows (a compared field differs: for incremental streams the
  cursor, i.e. `updated_at` or the parent's `updated_at`).
* `Life` (integration_tests/life.py): the account's activity, before and while each sync runs.

`soak()` runs one seed: a first sync, busy rounds (mutations before and during the sync, a few percent
of server faults, some attempts killed after a random share of a sync's requests and resumed from the
last STATE of each stream, as Airbyte does), then a quiet round, and compares.

Deletion sweeps: `deletes_sweep_hours` is set per sync, 0 (every sync sweeps) or 24 (no sweep: the
rounds take seconds), chosen by the seed for a third of the busy rounds; the quiet round always sweeps,
since the connector promises convergence within one sweep interval. `lookback_window_minutes` is 0, so
nothing is re-read by the overlap: convergence must come from the cursor cap and the sweeps alone.

Not compared: the nine windowed reports (`time_*`, `expenses_*`, `uninvoiced`). Their rows are totals
per subject and window with no `updated_at`; the connector re-reads only the open window and the
windows ending within `reports_lookback_days` (docs/reports.md), and emits no tombstone when a
subject's row leaves a window (an entry moved or deleted), so a warehouse that keeps an old window's
total or a vanished subject's row is what the docs promise, not a divergence. `project_budget` is one
current row set read in full every sync (Overwrite), so its truth is sound: the report as the account
stands at the end. A stream this module has no truth for (a stream added later) is listed as not
compared.

Run: `make soak` (`python -m integration_tests.convergence --help`); the CI version is
integration_tests/test_convergence.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO
from unittest import mock

from integration_tests.conftest import ANCHOR, Connector, Run, catalog_for, run_of
from integration_tests.expectations import ENTITY, key_of
from integration_tests.life import COMPENSATED_SHIFT_SHARE, PAGE_LISTS, Life
from integration_tests.sandbox import Sandbox
from source_harvest.catalog import STREAMS, STREAMS_BY_NAME, StreamSpec
from source_harvest.streams.deletes import DELETED_AT

ROOT = Path(__file__).resolve().parent.parent
WINDOWED_REPORTS = tuple(s.name for s in STREAMS if s.report == "windowed")
NOT_COMPARED_REASON = "windowed report: no updated_at, re-read only within reports_lookback_days, no tombstones"
# Harvest's 15 s window becomes 15 ms, reports' 15 minutes 0.9 s: dozens of syncs' reports in seconds, not minutes.
SOAK_TIME_SCALE = 0.001
BACKOFF_CAP_SECONDS = 0.02  # retries' backoff (the CDK's 5 s, 10 s, …) shortened: the sandbox's time runs at SOAK_TIME_SCALE
SWEEP_HOURS, NO_SWEEP_HOURS = 0, 24
BATCH_REQUESTS = 6  # parents per checkpoint of per-parent streams, small so kills land inside them (as test_resume.py)
MAX_FAILED_ATTEMPTS = 3  # attempts that end in an error (not a kill) before the sync counts as failed

Key = Any
Fields = dict[str, Any]


# --- the warehouse ---------------------------------------------------------------------------------

class Warehouse:
    """Tables as an Airbyte destination holds them after every record received (see module docstring)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, dict[str, Any]]] = defaultdict(dict)
        self.pending: dict[str, dict[Key, dict[str, Any]]] | None = None  # full-refresh rows of the sync in progress
        self.syncs = 0
        # stream -> key -> (sync number, cursor, tombstone?) of every record received: to explain a divergence
        self.history: dict[str, dict[Key, list[tuple[int, Any, bool]]]] = defaultdict(lambda: defaultdict(list))

    def begin_sync(self) -> None:
        self.pending = defaultdict(dict)
        self.syncs += 1

    def fold(self, stream: str, data: dict[str, Any]) -> None:
        """One record, as a batch of its own."""
        self.fold_batch(stream, [data])

    def fold_batch(self, stream: str, rows: list[dict[str, Any]]) -> None:
        """The records of one stream in one attempt, as typing and deduping applies them when the attempt
        ends: the batch's winner per key (greatest cursor, ties to the later record) against the table's row."""
        spec = STREAMS_BY_NAME[stream]
        winners: dict[Key, dict[str, Any]] = {}
        for data in rows:
            key = key_of(stream, data)
            self.history[stream][key].append((self.syncs, data.get(spec.cursor) if spec.cursor else None, data.get(DELETED_AT) is not None))
            if spec.cursor is None:
                if self.pending is None:
                    raise RuntimeError("a full-refresh record outside a sync: call begin_sync() first")
                self.pending[stream][key] = data
                continue
            held = winners.get(key)
            if held is None or _order(data.get(spec.cursor)) >= _order(held.get(spec.cursor)):
                winners[key] = data
        table = self.tables[stream]
        for key, data in winners.items():
            held = table.get(key)
            if held is not None and _order(held.get(spec.cursor)) > _order(data.get(spec.cursor)):
                continue  # an older version arrived late: the greater cursor stays
            if data.get(DELETED_AT) is not None:
                table.pop(key, None)
            else:
                table[key] = data

    def end_sync(self, succeeded: bool) -> None:
        """Overwrite: a successful sync's full-refresh rows replace the tables; a failed sync's are dropped."""
        assert self.pending is not None
        if succeeded:
            for spec in STREAMS:
                if spec.cursor is None:
                    self.tables[spec.name] = dict(self.pending.get(spec.name, {}))
        self.pending = None

    def take(self, run: Run) -> None:
        """Every record an attempt emitted (a killed one's too: destinations write records as they arrive)."""
        for stream, rows in run.records.items():
            if stream in STREAMS_BY_NAME:
                self.fold_batch(stream, rows)


def _order(cursor: Any) -> tuple[int, str]:
    """Cursors compare as text (ISO dates and datetimes); a missing cursor sorts first."""
    return (0, "") if cursor is None else (1, str(cursor))


# --- the truth ---------------------------------------------------------------------------------------

Truth = dict[str, dict[Key, Fields]]
REFERENCE_FIELDS = ("id", "group_id", "account_id", "permalink", "service", "service_icon_url")


def truth(box: Sandbox) -> Truth:
    """Per compared stream: primary key -> the fields its converged row must show."""
    result: Truth = {}
    for stream, collection in ENTITY.items():
        spec = STREAMS_BY_NAME[stream]
        result[stream] = {r["id"]: {spec.cursor: r["updated_at"]} for r in box.records(collection)}  # keyed by their own id
    for stream, documents in (("invoice_line_items", "invoices"), ("estimate_line_items", "estimates")):
        cursor = STREAMS_BY_NAME[stream].cursor
        result[stream] = {item["id"]: {cursor: parent["updated_at"]} for parent in box.records(documents) for item in parent["line_items"]}
    result["user_roles"] = {(user, role["id"]): {"role_updated_at": role["updated_at"]}
                            for role in box.records("roles") for user in role["user_ids"]}
    result["user_project_tasks"] = {(a["_parent_id"], t["id"]): {"user_project_updated_at": a["updated_at"]}
                                    for a in box.records("project_assignments") for t in a["task_assignments"]}
    entries = [e for e in box.records("time_entries") if e.get("external_reference")]
    result["time_entry_external_reference"] = {(e["id"], e["external_reference"]["id"]): {"time_entry_updated_at": e["updated_at"]}
                                               for e in entries}
    result["external_reference"] = {e["external_reference"]["id"]: {k: e["external_reference"].get(k) for k in REFERENCE_FIELDS}
                                    for e in entries}
    # Full refresh (overwrite): the teammates of every Manager as the account stands, field by field.
    result["user_teammates"] = {(t["_parent_id"], t["id"]): {k: t[k] for k in ("first_name", "last_name", "email")}
                                for t in box.records("teammates")}
    company = box.records("company")[0]
    result["company"] = {company["base_uri"]: dict(company)}
    result["project_budget"] = {row["project_id"]: dict(row) for row in box.report("project_budget")}
    return result


# --- the comparison ----------------------------------------------------------------------------------

@dataclass
class Divergence:
    missing: list[Key] = field(default_factory=list)
    ghost: list[Key] = field(default_factory=list)
    stale: list[tuple[Key, Fields, Fields]] = field(default_factory=list)  # key, truth's fields, warehouse's
    compared: bool = True

    @property
    def counts(self) -> tuple[int, int, int]:
        return len(self.missing), len(self.ghost), len(self.stale)

    @property
    def clean(self) -> bool:
        return self.counts == (0, 0, 0)


def compare(warehouse: Warehouse, expected: Truth) -> dict[str, Divergence]:
    result: dict[str, Divergence] = {}
    for spec in STREAMS:
        if spec.name not in expected:
            result[spec.name] = Divergence(compared=False)
            continue
        table, wanted = warehouse.tables.get(spec.name, {}), expected[spec.name]
        divergence = Divergence(missing=sorted((k for k in wanted if k not in table), key=repr),
                                ghost=sorted((k for k in table if k not in wanted), key=repr))
        for key, fields in wanted.items():
            row = table.get(key)
            if row is not None:
                held = {name: row.get(name) for name in fields}
                if held != fields:
                    divergence.stale.append((key, fields, held))
        result[spec.name] = divergence
    return result


def render(divergences: dict[str, Divergence], examples: int = 2) -> str:
    """A table: stream, missing, ghost, stale, and a few example keys of each divergent stream."""
    lines = [f"{'stream':34} {'missing':>7} {'ghost':>7} {'stale':>7}  examples"]
    skipped: dict[str, list[str]] = defaultdict(list)
    for name, d in divergences.items():
        if not d.compared:
            skipped[NOT_COMPARED_REASON if name in WINDOWED_REPORTS else "no truth defined for this stream"].append(name)
            continue
        missing, ghost, stale = d.counts
        shown = []
        if d.missing:
            shown.append(f"missing {d.missing[:examples]}")
        if d.ghost:
            shown.append(f"ghost {d.ghost[:examples]}")
        for key, want, held in d.stale[:examples]:
            diff = {k: (want[k], held[k]) for k in want if want[k] != held[k]}
            shown.append(f"stale {key!r} (truth, warehouse): {_short(diff)}")
        lines.append(f"{name:34} {missing:>7} {ghost:>7} {stale:>7}  {'; '.join(shown)}")
    total = [sum(d.counts[i] for d in divergences.values() if d.compared) for i in range(3)]
    lines.append(f"{'TOTAL':34} {total[0]:>7} {total[1]:>7} {total[2]:>7}")
    lines += [f"not compared ({why}): {', '.join(names)}" for why, names in skipped.items()]
    return "\n".join(lines)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- syncs -------------------------------------------------------------------------------------------

class CappedSleep:
    """The `time` module as the backoff library sees it: its waits cut to BACKOFF_CAP_SECONDS."""

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, BACKOFF_CAP_SECONDS))


@contextlib.contextmanager
def fast_retries() -> Iterator[None]:
    """The CDK's retry backoff (5 s, 10 s, … via the backoff library) waits at most BACKOFF_CAP_SECONDS; the
    connector's budget and Retry-After waits are untouched (the sandbox's windows are SOAK_TIME_SCALE short)."""
    with mock.patch("backoff._sync.time", CappedSleep):
        yield


@contextlib.contextmanager
def small_batches(requests: int = BATCH_REQUESTS) -> Iterator[None]:
    with mock.patch("source_harvest.streams.child.CHECKPOINT_REQUESTS", requests), \
            mock.patch("source_harvest.streams.deletes.CHECKPOINT_REQUESTS", requests):
        yield


@dataclass
class Totals:
    syncs: int = 0
    attempts: int = 0
    kills: int = 0
    failed_attempts: int = 0
    requests: int = 0
    faults: int = 0
    records: int = 0
    tombstones: int = 0
    seconds: float = 0.0

    def add(self, other: Totals) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _subprocess_read(config: dict[str, Any], streams: tuple[StreamSpec, ...], state: list[dict[str, Any]] | None, directory: Path,
                     watch: Callable[[str], bool]) -> Run:
    """`source-harvest read` as a real process, killed with SIGKILL when `watch` says so (exit code -9)."""
    paths = {}
    for name, content in (("config", config), ("catalog", catalog_for(streams)), ("state", state)):
        if content is not None:
            paths[name] = directory / f"{name}.json"
            paths[name].write_text(json.dumps(content))
    args = ["read", "--config", str(paths["config"]), "--catalog", str(paths["catalog"])]
    if "state" in paths:
        args += ["--state", str(paths["state"])]
    bootstrap = ("import backoff._sync, integration_tests.convergence as c; backoff._sync.time = c.CappedSleep; "
                 "from source_harvest.run import run; run()")
    process = subprocess.Popen([sys.executable, "-c", bootstrap, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if watch(lines[-1]):
            process.send_signal(signal.SIGKILL)
            break
    process.stdout.close()
    return run_of(process.wait(), lines)


class Soak:
    """One account's life: a sandbox, the account's activity, the warehouse it feeds and the state between syncs."""

    def __init__(self, seed: int, scale: float, page_size: int, fault_rate: float, kill_share: float, changes: int,
                 directory: Path, sigkill: bool = False, log: Callable[[str], None] = lambda _: None,
                 streams: tuple[StreamSpec, ...] = STREAMS, compensated_share: float = COMPENSATED_SHIFT_SHARE) -> None:
        self.seed = seed
        self.streams = streams  # the catalog each sync selects
        self.rng = random.Random(seed * 7919 + 1)
        self.box = Sandbox(seed=seed, scale=scale, anchor=ANCHOR, time_scale=SOAK_TIME_SCALE, page_size_cap=page_size).start()
        self.life = Life(self.box, seed, page_size, compensated_share=compensated_share)
        self.before_sweep: dict[str, Divergence] = {}  # after a quiet sync that does not sweep
        self.warehouse = Warehouse()
        self.states: dict[str, dict[str, Any]] = {}
        self.fault_rate = fault_rate
        self.kill_share = kill_share
        self.changes = changes
        self.directory = directory
        self.sigkill = sigkill
        self.log = log
        self.totals = Totals()
        # Requests of the last sync, where kills are drawn; before the first, the pages of the page lists.
        self.last_requests = sum(len(self.box.records(name)) for name in PAGE_LISTS) // page_size
        self.started: list[str] = []

    def close(self) -> None:
        self.box.stop()

    def config(self, sweep: bool) -> dict[str, Any]:
        return self.box.config("admin", deletes_sweep_hours=SWEEP_HOURS if sweep else NO_SWEEP_HOURS, lookback_window_minutes=0,
                               capture_deletes=True)

    def sync(self, sweep: bool, busy: bool, kill: bool, during: Callable[[str], None] | None = None) -> Totals:
        """One Airbyte sync: attempts until one succeeds, each from the last STATE of every stream. A busy
        sync changes the account as it runs (`Life.during`, or `during` when given)."""
        during = during or (self.life.during if busy else None)
        totals = Totals(syncs=1)
        started_at = time.perf_counter()
        self.started.append(f"{time.strftime('%H:%M:%S', time.gmtime())} {'sweep' if sweep else 'no sweep'}{', busy' if busy else ''}")
        self.box.set_faults(self.fault_rate)
        self.warehouse.begin_sync()
        kills_left = (1 + (self.rng.random() < 0.3)) if kill else 0
        failed = 0
        while True:
            self.life.begin_attempt()
            before = self.box.stats()
            limit = int(self.last_requests * self.rng.uniform(0.1, 0.9)) if kills_left else None

            def watch(line: str, limit: int | None = limit, before: int = before["total"]) -> bool:
                if during is not None:
                    during(line)
                return limit is not None and self.box.stats()["total"] - before >= limit

            state = list(self.states.values()) or None
            attempt_dir = Path(tempfile.mkdtemp(dir=self.directory))
            if self.sigkill:
                run = _subprocess_read(self.config(sweep), self.streams, state, attempt_dir, watch)
            else:
                run = Connector(attempt_dir, self.config(sweep)).read(self.streams, state=state, watch=watch)
            after = self.box.stats()
            totals.attempts += 1
            totals.requests += after["total"] - before["total"]
            totals.faults += after["faults"] - before["faults"]
            totals.records += sum(len(rows) for rows in run.records.values())
            totals.tombstones += sum(1 for rows in run.records.values() for r in rows if DELETED_AT in r)
            self.warehouse.take(run)
            for message in run.messages:
                if message["type"] == "STATE":
                    self.states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
            if run.exit_code == 0:
                break
            if run.exit_code == -signal.SIGKILL and limit is not None:
                totals.kills += 1
                kills_left -= 1
                continue
            failed += 1
            totals.failed_attempts += 1
            self.log(f"seed {self.seed}: an attempt failed (exit {run.exit_code}): {[e['message'] for e in run.errors()][:3]}")
            if failed >= MAX_FAILED_ATTEMPTS:
                self.warehouse.end_sync(succeeded=False)
                self.box.set_faults(0.0)
                raise RuntimeError(f"seed {self.seed}: a sync failed {failed} times: {run.errors()[:3]}")
        self.warehouse.end_sync(succeeded=True)
        self.box.set_faults(0.0)
        self.last_requests = totals.requests
        totals.seconds = time.perf_counter() - started_at
        return totals

    def live(self, rounds: int, quiet_rounds: int = 1) -> dict[str, Divergence]:
        """A first sync (the account changes while it runs), `rounds` busy rounds, a quiet sync that does not
        sweep (compared into `before_sweep`: what live detection alone achieved), `quiet_rounds` quiet ones
        (the first sweeps), then the comparison."""
        with fast_retries(), small_batches():
            self.totals.add(self.sync(sweep=True, busy=True, kill=self.rng.random() < self.kill_share))  # the first sync sweeps
            for number in range(rounds):
                self.life.round(self.changes)
                sweep = self.rng.random() < 1 / 3
                self.totals.add(self.sync(sweep=sweep, busy=True, kill=self.rng.random() < self.kill_share))
                self.log(f"seed {self.seed}: round {number + 1}/{rounds} {'sweep' if sweep else 'no sweep'}")
            self.totals.add(self.sync(sweep=False, busy=False, kill=False))
            self.before_sweep = compare(self.warehouse, truth(self.box))
            for number in range(quiet_rounds):
                self.totals.add(self.sync(sweep=number == 0, busy=False, kill=False))
        return compare(self.warehouse, truth(self.box))


@dataclass
class SeedResult:
    seed: int
    divergences: dict[str, Divergence]
    totals: Totals
    changes: dict[str, int]
    warehouse: Warehouse | None = None
    syncs: list[str] = field(default_factory=list)  # when each sync started, and whether it swept
    before_sweep: dict[str, Divergence] = field(default_factory=dict)  # after the quiet sync that does not sweep

    def explain(self, examples: int = 2) -> str:
        """For a few divergent keys of each stream: every record received for it, by sync."""
        if self.warehouse is None:
            return ""
        lines = ["syncs: " + ", ".join(f"{n + 1} {text}" for n, text in enumerate(self.syncs))]
        for name, d in self.divergences.items():
            for kind, keys in (("missing", d.missing), ("ghost", d.ghost), ("stale", [k for k, _, _ in d.stale])):
                for key in keys[:examples]:
                    received = self.warehouse.history[name].get(key, [])
                    shown = ", ".join(f"sync {n}: {cursor}{' tombstone' if gone else ''}" for n, cursor, gone in received) or "never received"
                    lines.append(f"{name} {kind} {key!r}: {shown}")
        return "\n".join(lines)

    @property
    def clean(self) -> bool:
        return all(d.clean for d in self.divergences.values() if d.compared)

    def report(self) -> str:
        t = self.totals
        done = sum(self.changes.values())
        shifts = sum(count for name, count in self.changes.items() if name.startswith("shift-delete"))
        header = (f"seed {self.seed}: {t.syncs} syncs, {t.attempts} attempts, {t.kills} kills, {t.failed_attempts} failed attempts, "
                  f"{t.requests} requests, {t.faults} faults, {t.records} records ({t.tombstones} tombstones), "
                  f"{done} changes ({shifts} deletions on a page already read while the list was read), {t.seconds:.1f} s")
        return header + "\n" + render(self.divergences)


def soak(seed: int, rounds: int = 4, scale: float = 0.05, page_size: int = 8, fault_rate: float = 0.03, kill_share: float = 0.5,
         changes: int = 40, sigkill: bool = False, directory: Path | None = None, log: Callable[[str], None] = lambda _: None,
         compensated_share: float = COMPENSATED_SHIFT_SHARE) -> SeedResult:
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"soak-{seed}-")))
        life = Soak(seed, scale, page_size, fault_rate, kill_share, changes, directory, sigkill, log, compensated_share=compensated_share)
        stack.callback(life.close)
        divergences = life.live(rounds)
        return SeedResult(seed, divergences, life.totals, dict(life.life.counts), life.warehouse, life.started, life.before_sweep)


def summed(results: list[SeedResult]) -> dict[str, Divergence]:
    """The divergences of several seeds as one, each key prefixed with its seed."""
    total: dict[str, Divergence] = {}
    for result in results:
        for name, d in result.divergences.items():
            into = total.setdefault(name, Divergence(compared=d.compared))
            into.missing += [(result.seed, k) for k in d.missing]
            into.ghost += [(result.seed, k) for k in d.ghost]
            into.stale += [((result.seed, k), want, held) for k, want, held in d.stale]
    return total


def _quiet_connector_logs() -> TextIO:
    """The in-process connector's log lines go where its process's stdout would (the CDK writes them to
    file descriptor 1): that descriptor now goes to /dev/null, and the returned stream is the real stdout."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return out


def _seeds(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.convergence", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds, attempts in-process (default 1,2,3,4,5)")
    parser.add_argument("--rounds", type=int, default=10, help="busy rounds per seed (default 10)")
    parser.add_argument("--scale", type=float, default=0.1, help="sandbox scale (default 0.1: 2,000 time entries)")
    parser.add_argument("--page-size", type=int, default=10, help="rows per page the sandbox serves (default 10)")
    parser.add_argument("--fault-rate", type=float, default=0.03, help="share of requests faulted (default 0.03)")
    parser.add_argument("--kill-share", type=float, default=0.5, help="share of busy syncs with killed attempts (default 0.5)")
    parser.add_argument("--changes", type=int, default=80, help="random changes before each busy sync (default 80)")
    parser.add_argument("--explain", action="store_true", help="print what was received for a few divergent keys")
    parser.add_argument("--sigkill-seeds", default="", help="more seeds, each attempt a real process killed with SIGKILL")
    args = parser.parse_args(argv)
    out = _quiet_connector_logs()
    results = []
    overall = Totals()
    started = time.perf_counter()
    runs = [(seed, False) for seed in _seeds(args.seeds)] + [(seed, True) for seed in _seeds(args.sigkill_seeds)]
    for seed, sigkill in runs:
        result = soak(seed, args.rounds, args.scale, args.page_size, args.fault_rate, args.kill_share, args.changes, sigkill,
                      log=lambda line: print(line, file=sys.stderr, flush=True))
        if sigkill:
            print("(attempts as real processes, killed with SIGKILL)", file=out)
        print(result.report(), file=out, flush=True)
        if args.explain and not result.clean:
            print(result.explain(), file=out, flush=True)
        print(file=out, flush=True)
        results.append(result)
        overall.add(result.totals)
    if len(results) > 1:
        print("all seeds (examples are (seed, key)):", file=out)
        print(render(summed(results)), file=out)
    clean = [r.seed for r in results if r.clean]
    print(f"TOTAL: {len(results)} seeds, {len(clean)} converged; {overall.syncs} syncs, {overall.attempts} attempts, {overall.kills} kills, "
          f"{overall.failed_attempts} failed attempts, {overall.requests} requests, {overall.faults} faults, "
          f"{overall.records} records; {time.perf_counter() - started:.1f} s", file=out, flush=True)
    return 0 if len(clean) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
