"""Where a first sync's memory goes: every entity stream against the sandbox (limits lifted, deletion
capture on), read in this process under tracemalloc.

Prints the Python allocation sites holding the most memory at the traced peak (sampled every
SAMPLE_SECONDS; a snapshot is summarised when the traced total has grown by SNAPSHOT_GROWTH), and,
at the end of the sync, what each stream's delete tracker and the sync context still hold, sized by
walking their objects. tracemalloc sees only Python's allocator: memory a C extension takes with
malloc (a roaring bitmap's containers) is reported by the tracker walk instead. Peak RSS without
tracemalloc comes from `bench.py --memory-scales`.

    python bench/heap.py [--scale 10] [--top 25]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import UNLIMITED, Sandbox, sandbox_config, write  # noqa: E402  (bench/bench.py, next to this file)
from integration_tests.conftest import catalog_for  # noqa: E402
from source_harvest.catalog import STREAMS  # noqa: E402
from source_harvest.run import HarvestEntrypoint  # noqa: E402
from source_harvest.source import SourceHarvest  # noqa: E402

SAMPLE_SECONDS = 0.5
SNAPSHOT_GROWTH = 1.05
FRAMES = 1  # the innermost frame: the line that allocated
MB = 1024 * 1024


class PeakSampler(threading.Thread):
    """Summarises a tracemalloc snapshot whenever the traced total reaches a new high (by 5%)."""

    def __init__(self, top: int) -> None:
        super().__init__(daemon=True)
        self.top = top
        self.stop = threading.Event()
        self.best = 0
        self.summary: list[tuple[str, int, int]] = []
        self.by_file: list[tuple[str, int]] = []

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            current, _ = tracemalloc.get_traced_memory()
            if current > self.best * SNAPSHOT_GROWTH:
                self.take(current)

    def take(self, current: int) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        self.best = current
        self.summary = [(str(stat.traceback[0]), stat.size, stat.count) for stat in snapshot.statistics("lineno")[:self.top]]
        self.by_file = [(stat.traceback[0].filename, stat.size) for stat in snapshot.statistics("filename")[:self.top]]


def deep_size(root: Any, shared: set[int]) -> tuple[int, int]:
    """Bytes and object count reachable from `root`, not counting objects in `shared` (and what only
    they reach). Extension types report their own buffers through __sizeof__."""
    seen = set(shared)
    stack = [root]
    size = count = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type) or callable(item) and not hasattr(item, "__dict__"):
            continue
        seen.add(id(item))
        size += sys.getsizeof(item)
        count += 1
        stack.extend(gc.get_referents(item))
    return size, count


def held_by_trackers(source: SourceHarvest) -> list[tuple[str, int, int]]:
    context = source._context
    assert context is not None
    shared = {id(context), id(context.config), *(id(s.spec) for s in context.streams.values())}
    held = []
    for name, stream in context.streams.items():
        if stream.tracker is not None:
            tracker_shared = shared | {id(stream), id(stream.tracker.exists)}
            size, count = deep_size(stream.tracker, tracker_shared)
            held.append((name, size, count))
    size, count = deep_size(context.existence, shared)
    held.append(("(context.existence)", size, count))
    return sorted(held, key=lambda row: -row[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="10")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    Path(ROOT / ".bench").mkdir(exist_ok=True)
    sandbox = Sandbox(args.scale, 1.0, limits=False)
    try:
        config = write(f"config-heap-{args.scale}.json", {**sandbox_config(sandbox), "rate_limit": UNLIMITED})
        catalog = write("catalog-heap.json", catalog_for([s for s in STREAMS if not s.report]))
        source = SourceHarvest()
        entrypoint = HarvestEntrypoint(source)
        parsed = entrypoint.parse_args(["read", "--config", config, "--catalog", catalog])
        sys.stdout.flush()
        stdout = os.dup(1)  # records and the CDK's log lines go to /dev/null, whichever stream they take
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        tracemalloc.start(FRAMES)
        sampler = PeakSampler(args.top)
        sampler.start()
        started = time.monotonic()
        messages = 0
        try:
            for _ in entrypoint.run(parsed):
                messages += 1
        finally:
            sampler.stop.set()
            sampler.join()
            sys.stdout.flush()
            os.dup2(stdout, 1)
        _, peak = tracemalloc.get_traced_memory()
        print(f"scale {args.scale}: {messages:,} messages in {time.monotonic() - started:.0f} s; traced peak {peak / MB:.1f} MB, "
              f"last summarised at {sampler.best / MB:.1f} MB")
        print("\n| allocated at | MB | blocks |\n|---|---|---|")
        for where, size, count in sampler.summary:
            print(f"| {where} | {size / MB:.1f} | {count:,} |")
        print("\n| file | MB |\n|---|---|")
        for filename, size in sampler.by_file:
            print(f"| {filename} | {size / MB:.1f} |")
        tracemalloc.stop()
        print("\nheld at the end of the sync:\n| delete tracker of | MB | objects |\n|---|---|---|")
        held = held_by_trackers(source)
        for name, size, count in held:
            print(f"| {name} | {size / MB:.2f} | {count:,} |")
        print(f"| total | {sum(size for _, size, _ in held) / MB:.2f} | {sum(count for _, _, count in held):,} |")
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
