"""`make bench`: full and incremental syncs against the sandbox, with the figures that matter.

Harvest's limit (100 requests / 15 s per token) bounds every sync, so the figures are: requests per
endpoint against the minimum, 429s, wall seconds against requests ÷ rate, CPU seconds and peak RSS of
the connector process. The runs at --scales have their limits compressed by --time-scale (the sandbox
and the connector's `rate_limit` use the same compressed windows); the full sync at
--real-rate-scale runs at Harvest's real rate, and is the one with targets: wall time at most 1.02 x
requests ÷ rate, and the share of one core its CPU takes. --interrupted-scale kills a first sync three
times at 30% of its requests and resumes it (issue 14's figures). A last run lifts the limits to see
where the connector's CPU goes. The sandbox runs in its own process so its memory is not counted.
`--memory-scales 2,30` adds first syncs of every entity stream with the limits lifted at each of
those scales: peak RSS as the account grows, the state each stream leaves, and how long the sandbox
took to build the account.

    python bench/bench.py [--scales 1,10] [--time-scale 0.1] [--real-rate-scale 1] [--interrupted-scale 1]
                          [--unlimited-scale 10] [--memory-scales 2,30] [--connector CMD]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration_tests.conftest import catalog_for  # noqa: E402
from integration_tests.expectations import minimum_requests  # noqa: E402
from integration_tests.sandbox.client import control  # noqa: E402
from source_harvest.catalog import STREAMS, STREAMS_BY_NAME  # noqa: E402
from source_harvest.idset import PairSet  # noqa: E402

WORK = ROOT / ".bench"
CONNECTOR = [str(ROOT / ".venv" / "bin" / "source-harvest")]
SUMMARY_MARKER = '"SYNC_SUMMARY '
UNLIMITED = {"requests": 1_000_000, "period_seconds": 1, "report_requests": 1_000_000, "report_period_seconds": 1}
REAL_TIME_SCALE = 1.0
TARGET_REAL_RATE_WALL_RATIO = 1.02  # at Harvest's real rate: wall seconds ÷ (requests ÷ rate)
TARGET_PEAK_RSS_MB = 250
# The interrupted scenario (issue 14): killed KILLS times, each attempt after KILL_SHARE of an uninterrupted sync's requests.
KILLS = 3
KILL_SHARE = 0.3
KILL_POLL_SECONDS = 0.005
TARGET_REDONE_SHARE = 0.05
TARGET_LARGE_PEAK_RSS_MB = 200  # issue 15: at scale 30 (1.08M records)
TARGET_PEAK_RSS_GROWTH = 1.3  # issue 15: peak at scale 30 over peak at scale 2
STATE_WARN_BYTES = 1_000_000  # the platform stores every STATE message (README, Deletions)


class Sandbox:
    def __init__(self, scale: str, time_scale: float, limits: bool) -> None:
        started = time.monotonic()
        args = [sys.executable, "-m", "integration_tests.sandbox", "--port", "0", "--seed", "1", "--scale", scale,
                "--time-scale", str(time_scale), "--anchor", "2026-06-30"]
        self.process = subprocess.Popen(args + ([] if limits else ["--no-rate-limits"]), stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        self.info = json.loads(self.process.stdout.readline())
        self.base = self.info["url"].split("/v2/")[0]
        self.build_seconds = time.monotonic() - started  # the account is built before the first line
        self.peak_rss_mb = peak_rss_mb(self.process.pid)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return control(self.base, method, path, body)

    def cpu_seconds(self) -> float:
        """The sandbox process's CPU time so far (user + system, Linux's /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def peak_rss_mb(pid: int) -> float | None:
    """A running process's peak resident memory so far (Linux's VmHWM), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run_connector(args: list[str]) -> dict[str, Any]:
    """Run the connector, count records from its stdout, and take its CPU time and peak RSS."""
    started = time.monotonic()
    process = subprocess.Popen([*CONNECTOR, *args], stdout=subprocess.PIPE, cwd=ROOT, bufsize=1 << 20)
    assert process.stdout is not None
    records, errors, states, summary = 0, [], {}, None
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"'):
            records += 1
        elif line.startswith(b'{"type":"STATE"'):
            state = json.loads(line)["state"]
            states[state["stream"]["stream_descriptor"]["name"]] = state
        elif b'"type":"TRACE"' in line and b'"ERROR"' in line:
            errors.append(json.loads(line)["trace"]["error"]["message"])
        elif SUMMARY_MARKER.encode() in line:
            message = json.loads(line)["log"]["message"]
            summary = json.loads(message.split(" ", 1)[1])
    _, status, usage = os.wait4(process.pid, 0)
    return {"exit": os.waitstatus_to_exitcode(status), "wall": time.monotonic() - started, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "records": records, "errors": errors, "states": list(states.values()), "summary": summary}


def write(name: str, content: Any) -> str:
    path = WORK / name
    path.write_text(json.dumps(content))
    return str(path)


def report(title: str, run: dict[str, Any], stats: dict[str, Any], minimum: dict[str, int] | None, rate_per_second: float | None,
           real_rate: bool = False) -> dict[str, Any]:
    made = stats["by_endpoint"]
    requests = sum(made.values())
    print(f"\n## {title}")
    print(f"exit {run['exit']}, records {run['records']:,}, requests {requests:,}, 429s {stats['throttled']}, errors {len(run['errors'])}")
    # Pages read again because rows moved while a list was read (streams/shift.py): 0 on a quiet account.
    rereads = sum(stream.get("rereads", 0) for stream in (run["summary"] or {}).get("streams", []))
    print(f"pages read again for rows that moved during the read: {rereads}")
    for error in run["errors"][:3]:
        print(f"  error: {error[:200]}")
    figures = {"title": title, "records": run["records"], "requests": requests, "rereads": rereads, "429s": stats["throttled"],
               "wall_s": round(run["wall"], 1),
               "cpu_s": round(run["cpu"], 1), "cpu_share": round(run["cpu"] / run["wall"], 3), "peak_rss_mb": round(run["peak_rss_mb"]),
               "records_per_cpu_s": round(run["records"] / max(run["cpu"], 1e-9))}
    if minimum is not None:
        entity = {k: v for k, v in made.items() if "/reports/" not in k}
        extra = {k: (entity.get(k, 0), v) for k, v in minimum.items() if entity.get(k, 0) != v}
        unexpected = {k: v for k, v in entity.items() if k not in minimum}
        figures["requests_minimum"] = sum(minimum.values())
        figures["requests_entity"] = sum(entity.values())
        print(f"entity requests {sum(entity.values()):,} vs minimum {sum(minimum.values()):,}: "
              + ("equal, endpoint by endpoint" if not extra and not unexpected else f"differ {extra} {unexpected}"))
        print(f"report requests {sum(v for k, v in made.items() if '/reports/' in k)}")
    if rate_per_second:
        bound = requests / rate_per_second
        figures["wall_bound_s"] = round(bound, 1)
        figures["wall_ratio"] = round(run["wall"] / bound, 3) if bound else None
        if real_rate:
            verdict = "met" if run["wall"] <= bound * TARGET_REAL_RATE_WALL_RATIO else "MISSED"
            target = f"target ≤ {TARGET_REAL_RATE_WALL_RATIO}: {verdict}"
        else:
            target = "limits compressed, so CPU weighs more than at Harvest's rate: no target"
        print(f"wall {run['wall']:.1f}s vs requests ÷ rate {bound:.1f}s (ratio {run['wall'] / bound:.3f}; {target})")
    else:
        print(f"wall {run['wall']:.1f}s")
    share = f"{figures['cpu_share']:.1%} of one core" + (" at Harvest's real rate" if real_rate else "")
    print(f"cpu {run['cpu']:.1f}s in {run['wall']:.1f}s of wall time: {share}; {figures['records_per_cpu_s']:,} records per CPU second; "
          f"peak RSS {run['peak_rss_mb']:.0f} MB (target ≤ {TARGET_PEAK_RSS_MB})")
    return figures


def bench_scale(scale: str, time_scale: float, results: list[dict[str, Any]], incremental_too: bool = True) -> None:
    sandbox = Sandbox(scale, time_scale, limits=True)
    real_rate = time_scale == REAL_TIME_SCALE
    pace = "Harvest's real rate" if real_rate else f"limits compressed {1 / time_scale:g}x"
    try:
        config = {**sandbox_config(sandbox), "rate_limit": {"requests": 100, "period_seconds": 15 * time_scale,
                                                            "report_requests": 100, "report_period_seconds": 900 * time_scale}}
        config_path = write(f"config-{scale}.json", config)
        catalog = write("catalog.json", catalog_for(STREAMS))
        rate = 100 / (15 * time_scale)
        minimum = minimum_in_subprocess(sandbox.base)
        sandbox.control("POST", "stats/reset")
        full = run_connector(["read", "--config", config_path, "--catalog", catalog])
        results.append(report(f"scale {scale}: full sync ({pace})", full, sandbox.control("GET", "stats"), minimum, rate, real_rate))
        if not incremental_too:
            return
        subprocess.check_call([sys.executable, __file__, "--edit", sandbox.base], cwd=ROOT)  # see minimum_in_subprocess
        # Syncs are minutes apart: let the full sync's requests leave Harvest's window first (a new
        # process's budget cannot know about them; Harvest would answer 429 and the sync would wait).
        time.sleep(15 * time_scale * 1.1)
        sandbox.control("POST", "stats/reset")
        incremental = run_connector(["read", "--config", config_path, "--catalog", catalog, "--state", write("state.json", full["states"])])
        results.append(report(f"scale {scale}: incremental sync after edits ({pace})", incremental, sandbox.control("GET", "stats"), None, rate))
    finally:
        sandbox.stop()


def bench_unlimited(scale: str, results: list[dict[str, Any]]) -> None:
    """CPU with the limits lifted, for profiling (no target: Harvest's rate limit hides it): the whole
    account, then one list endpoint alone (no per-parent requests), each between two timings of the
    reference workload."""
    sandbox = Sandbox(scale, 1.0, limits=False)
    try:
        config_path = write("config-unlimited.json", {**sandbox_config(sandbox), "rate_limit": UNLIMITED})
        entity_streams = [s for s in STREAMS if not s.report]
        for title, streams in ((f"scale {scale}: full sync, limits lifted (CPU throughput)", entity_streams),
                               (f"scale {scale}: time_entries alone, limits lifted", [s for s in entity_streams if s.name == "time_entries"])):
            catalog = write("catalog-unlimited.json", catalog_for(streams))
            before = reference_cpu_seconds()
            sandbox.control("POST", "stats/reset")
            run = run_connector(["read", "--config", config_path, "--catalog", catalog])
            reference = (before + reference_cpu_seconds()) / 2
            figures = report(title, run, sandbox.control("GET", "stats"), None, None)
            figures["reference_cpu_s"] = round(reference, 2)
            print(f"reference workload: {reference:.2f} CPU s on this machine now (see reference_cpu_seconds)")
            results.append(figures)
    finally:
        sandbox.stop()


def run_killed(args: list[str], sandbox: Sandbox, kill_after: int | None) -> dict[str, Any]:
    """The connector as a process, killed with SIGKILL once the sandbox has counted `kill_after` requests
    (None: it runs to its end). What it printed before the kill is what the platform would have."""
    process = subprocess.Popen([*CONNECTOR, *args], stdout=subprocess.PIPE, cwd=ROOT, bufsize=1 << 20)
    assert process.stdout is not None
    killed = threading.Event()

    def watch() -> None:
        while kill_after is not None and process.poll() is None:
            if sandbox.control("GET", "stats")["total"] >= kill_after:
                process.kill()
                killed.set()
                return
            time.sleep(KILL_POLL_SECONDS)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    keys: set[tuple[str, str]] = set()
    tombstones, states = 0, {}
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"'):
            record = json.loads(line)["record"]
            spec = STREAMS_BY_NAME[record["stream"]]
            keys.add((record["stream"], json.dumps([record["data"].get(k) for k in spec.primary_key])))
            tombstones += "_ab_cdc_deleted_at" in record["data"]
        elif line.startswith(b'{"type":"STATE"'):
            state = json.loads(line)["state"]
            states[state["stream"]["stream_descriptor"]["name"]] = state
    process.wait()
    watcher.join()
    return {"exit": process.returncode, "killed": killed.is_set(), "keys": keys, "tombstones": tombstones, "states": states}


def comparable(states: dict[str, Any]) -> dict[str, Any]:
    """Stream states less the time of the last sweep (the time of the sync, not a fact about the data)."""
    return {name: {k: v for k, v in s["stream"]["stream_state"].items() if k != "swept_at"} for name, s in states.items()}


def bench_interrupted(scale: str, time_scale: float, results: list[dict[str, Any]]) -> None:
    """A first sync killed with SIGKILL three times, each attempt after KILL_SHARE of an uninterrupted
    sync's requests, and resumed each time from the last STATE message of each stream it had printed."""
    sandbox = Sandbox(scale, time_scale, limits=True)
    window = 15 * time_scale * 1.1  # let one sync's requests leave Harvest's window before the next starts
    try:
        config = {**sandbox_config(sandbox), "rate_limit": {"requests": 100, "period_seconds": 15 * time_scale,
                                                            "report_requests": 100, "report_period_seconds": 900 * time_scale}}
        args = ["read", "--config", write(f"config-interrupted-{scale}.json", config), "--catalog", write("catalog.json", catalog_for(STREAMS))]

        def attempt(states: dict[str, Any], kill_after: int | None) -> tuple[dict[str, Any], int]:
            time.sleep(window)
            sandbox.control("POST", "stats/reset")
            state_args = ["--state", write("state-interrupted.json", list(states.values()))] if states else []
            run = run_killed(args + state_args, sandbox, kill_after)
            return run, sandbox.control("GET", "stats")["total"]

        full, uninterrupted = attempt({}, None)
        recheck, recheck_requests = attempt(full["states"], None)
        states: dict[str, Any] = {}
        keys: set[tuple[str, str]] = set()
        total, tombstones, kills = 0, 0, 0
        for kill_after in [math.ceil(uninterrupted * KILL_SHARE)] * KILLS + [None]:
            run, made = attempt(states, kill_after)
            total += made
            kills += run["killed"]
            states.update(run["states"])
            keys |= run["keys"]
            tombstones += run["tombstones"]
        redone = total - uninterrupted - kills * recheck_requests
        lost = len(full["keys"] - keys)
        same_state = comparable(states) == comparable(full["states"])
    finally:
        sandbox.stop()
    print(f"\n## scale {scale}: interrupted first sync, SIGKILL {kills} times at {KILL_SHARE:.0%} of its requests")
    print(f"uninterrupted sync {uninterrupted:,} requests; incremental sync with nothing changed {recheck_requests:,} requests")
    print(f"interrupted sync {total:,} requests in {kills + 1} attempts = uninterrupted + {kills} x re-check + {redone:,} redone "
          f"({redone / uninterrupted:.1%} of an uninterrupted sync, target ≤ {TARGET_REDONE_SHARE:.0%})")
    print(f"records lost {lost}, false tombstones {tombstones}, final state equal to the uninterrupted sync's: {same_state}")
    results.append({"title": f"scale {scale}: interrupted {kills}x at {KILL_SHARE:.0%}", "records": len(keys), "requests": total,
                    "uninterrupted_requests": uninterrupted, "redone": redone, "recheck": recheck_requests, "lost": lost,
                    "false_tombstones": tombstones, "same_state": same_state})
def bench_memory(scales: list[str], results: list[dict[str, Any]]) -> None:
    """A first sync of every entity stream with the limits lifted, at each scale: peak RSS as the
    account grows (deletion capture on, so the delivered-id sets are built), the state each stream
    leaves, and the sandbox's own build time and memory."""
    entity_streams = [s for s in STREAMS if not s.report]
    catalog = write("catalog-memory.json", catalog_for(entity_streams))
    peaks: list[float] = []
    for scale in scales:
        sandbox = Sandbox(scale, 1.0, limits=False)
        try:
            print(f"\nsandbox at scale {scale}: built in {sandbox.build_seconds:.1f} s, "
                  f"peak RSS {sandbox.peak_rss_mb or 0:.0f} MB (its own process)")
            config_path = write(f"config-memory-{scale}.json", {**sandbox_config(sandbox), "rate_limit": UNLIMITED})
            before = reference_cpu_seconds()
            sandbox.control("POST", "stats/reset")
            serving = sandbox.cpu_seconds()
            run = run_connector(["read", "--config", config_path, "--catalog", catalog])
            serving = sandbox.cpu_seconds() - serving
            reference = (before + reference_cpu_seconds()) / 2
            figures = report(f"scale {scale}: first sync of every entity stream, limits lifted (memory)", run,
                             sandbox.control("GET", "stats"), None, None)
            print(f"the sandbox used {serving:.1f} CPU s to serve it")
            figures["reference_cpu_s"] = round(reference, 2)
            figures["sandbox_serving_cpu_s"] = round(serving, 1)
            figures["sandbox_build_s"] = round(sandbox.build_seconds, 1)
            figures["sandbox_peak_rss_mb"] = round(sandbox.peak_rss_mb or 0)
            figures["state_bytes"] = print_state_sizes(run["states"])
            results.append(figures)
            peaks.append(run["peak_rss_mb"])
        finally:
            sandbox.stop()
    growth = f", {peaks[-1] / peaks[0]:.2f} × the peak at scale {scales[0]} (target ≤ {TARGET_PEAK_RSS_GROWTH})" if len(peaks) > 1 else ""
    print(f"\npeak RSS at scale {scales[-1]}: {peaks[-1]:.0f} MB (target ≤ {TARGET_LARGE_PEAK_RSS_MB} MB){growth}")


def print_state_sizes(states: list[dict[str, Any]]) -> dict[str, int]:
    """Bytes of each stream's last STATE (its stream_state as JSON), largest first, with the ids it holds."""
    sizes: dict[str, int] = {}
    print("| stream | state bytes | ids | bytes per id |\n|---|---|---|---|")
    rows = []
    for state in states:
        stream = state["stream"]
        blob = stream.get("stream_state") or {}
        ids = len(PairSet.decode(blob.get("ids")))
        size = len(json.dumps(blob, separators=(",", ":")))
        sizes[stream["stream_descriptor"]["name"]] = size
        rows.append((size, stream["stream_descriptor"]["name"], ids))
    for size, name, ids in sorted(rows, reverse=True):
        warning = " (over 1 MB)" if size > STATE_WARN_BYTES else ""
        print(f"| {name} | {size:,}{warning} | {ids:,} | {size / ids if ids else 0:.2f} |")
    print(f"total state {sum(sizes.values()):,} bytes")
    return sizes


def reference_workload() -> int:
    total = 0
    for number in range(10_000_000):
        total += number
    return total


def reference_cpu_seconds() -> float:
    """This machine's speed at this moment: the CPU seconds a fixed pure-Python loop takes here (the
    median of three runs). Shared cloud VMs vary by tens of percent from minute to minute, so a
    records/CPU-s figure is only comparable alongside the reference time measured with it."""
    timings = []
    for _ in range(3):
        started = time.process_time()
        reference_workload()
        timings.append(time.process_time() - started)
    return sorted(timings)[1]


def minimum_in_subprocess(base: str) -> dict[str, int]:
    """The minimum request counts, computed in a short-lived process: loading every record here would
    inflate this process's memory, and a connector forked from it inherits that peak RSS reading."""
    output = subprocess.check_output([sys.executable, __file__, "--minimum-from", base], cwd=ROOT)
    return json.loads(output)


def print_minimum(base: str) -> None:
    print(json.dumps(minimum_requests(lambda collection: control(base, "GET", f"records/{collection}"))))


def sandbox_config(sandbox: Sandbox) -> dict[str, Any]:
    info = sandbox.info
    return {"account_id": str(info["account_id"]), "api_url": info["url"], "id_url": info["id_url"],
            "replication_start_date": "2024-06-30T00:00:00Z",
            "credentials": {"auth_type": "Token", "api_token": info["admin_token"]}}


def edit(base: str) -> None:
    """A day's worth of changes: payments on three invoices, twenty old time entries edited, a client renamed."""
    for invoice in control(base, "GET", "records/invoices")[:3]:
        control(base, "POST", "records/invoice_payments", {"_parent_id": invoice["id"], "amount": 1.0})
    for entry in control(base, "GET", "records/time_entries")[-20:]:
        control(base, "PATCH", f"records/time_entries/{entry['id']}", {"notes": "edited"})
    client = control(base, "GET", "records/clients")[0]
    control(base, "PATCH", f"records/clients/{client['id']}", {"name": client["name"] + " *"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--time-scale", type=float, default=0.1, help="multiplies Harvest's rate-limit windows (0.1: 1.5 s and 90 s)")
    parser.add_argument("--real-rate-scale", default="1", help="a full sync at Harvest's real rate (\"\": none)")
    parser.add_argument("--unlimited-scale", default="10")
    parser.add_argument("--interrupted-scale", default="1", help="scale of the interrupted scenario; empty to skip it")
    parser.add_argument("--memory-scales", default="", help="first syncs with the limits lifted at these scales, "
                        "smallest first (2,30: the peak-RSS growth target); about 5 min on a slow 2-core VM")
    parser.add_argument("--connector", default=None, help="the command that runs the connector "
                        "(A/B: 'python /path/to/other/checkout/main.py'); default .venv/bin/source-harvest")
    parser.add_argument("--minimum-from", help=argparse.SUPPRESS)
    parser.add_argument("--edit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.minimum_from:
        print_minimum(args.minimum_from)
        return 0
    if args.edit:
        edit(args.edit)
        return 0
    if args.connector:
        CONNECTOR[:] = shlex.split(args.connector)
    WORK.mkdir(exist_ok=True)
    results: list[dict[str, Any]] = []
    for scale in filter(None, args.scales.split(",")):
        bench_scale(scale, args.time_scale, results)
    if args.interrupted_scale:
        bench_interrupted(args.interrupted_scale, args.time_scale, results)
    if args.real_rate_scale:
        bench_scale(args.real_rate_scale, REAL_TIME_SCALE, results, incremental_too=False)
    if args.unlimited_scale:
        bench_unlimited(args.unlimited_scale, results)
    memory_scales = [scale for scale in args.memory_scales.split(",") if scale]
    if memory_scales:
        bench_memory(memory_scales, results)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| run | records | requests | minimum | 429s | wall s | requests÷rate s | wall ratio | CPU s | CPU share | reference s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "redone" in r:
            continue  # the interrupted scenario has its own figures, printed above
        print(f"| {r['title']} | {r['records']:,} | {r['requests']:,} | {r.get('requests_minimum', '—')} | {r['429s']} | {r['wall_s']} | "
              f"{r.get('wall_bound_s', '—')} | {r.get('wall_ratio', '—')} | {r['cpu_s']} | {r['cpu_share']:.1%} | {r.get('reference_cpu_s', '—')} | "
              f"{r['peak_rss_mb']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
