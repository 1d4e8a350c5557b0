"""Candidate structures for the sets of ids a sync remembers, measured side by side.

For each id distribution (the sandbox's, a sparser one like a big Harvest account's share of the
global id sequence, and ids past 2**32) and each candidate structure, in a fresh process each:
resident memory per id (RSS growth while the set is built one id at a time, as a stream does), CPU
per add and per membership test, and the size of the set's text form in state.

    python bench/idsets.py [--ids 600000]
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import subprocess
import sys
import time
import zlib
from array import array
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pyroaring import BitMap, BitMap64

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DISTRIBUTIONS = {
    # name: (first id, largest gap between consecutive ids)
    "sandbox (gaps 1-40)": (1_494_415_019, 40),
    "sparse (gaps 1-2000)": (1_494_415_019, 2000),
    "past 2**32 (gaps 1-40)": (2**40 + 17, 40),
}
CANDIDATES = ("python set", "roaring BitMap (32-bit)", "roaring BitMap64", "array('q') + numpy sort")
LOOKUPS = 100_000
PAGE_BYTES = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_BYTES


def gaps(count: int, largest: int, seed: int = 1) -> array:
    rng = random.Random(seed)
    return array("l", (rng.randint(1, largest) for _ in range(count)))


def varint_delta_text(ids: np.ndarray) -> str:
    """The current state form (idset.py "z1:"), for comparison."""
    from source_harvest.idset import encode_ids
    return encode_ids(ids.tolist())


def numpy_delta_text(ids: np.ndarray) -> str:
    deltas = np.diff(ids, prepend=0)
    width = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if deltas[1:].max(initial=0) <= np.iinfo(t).max)
    return base64.b64encode(zlib.compress(deltas[:1].astype("<u8").tobytes() + deltas[1:].astype(width).tobytes(), 9)).decode()


def measure(candidate: str, first: int, largest: int, count: int) -> dict[str, Any]:
    steps = gaps(count, largest)
    gc.collect()
    before = rss_bytes()
    started = time.process_time()
    current = first
    if candidate == "python set":
        built: Any = set()
        add: Callable[[int], None] = built.add
    elif candidate == "roaring BitMap (32-bit)":
        if first + sum(steps) >= 2**32:
            return {"skipped": "ids do not fit in 32 bits"}
        built = BitMap()
        add = built.add
    elif candidate == "roaring BitMap64":
        built = BitMap64()
        add = built.add
    else:
        built = array("q")
        add = built.append
    for step in steps:
        current += step
        add(current)
    if candidate.startswith("array"):
        del add
        ordered_ids = np.frombuffer(built, dtype=np.int64).copy()
        ordered_ids.sort()
        built = ordered_ids[np.concatenate(([True], ordered_ids[1:] != ordered_ids[:-1]))]
        del ordered_ids
    add_seconds = time.process_time() - started
    gc.collect()
    grown = rss_bytes() - before
    ordered = np.cumsum(np.frombuffer(steps, dtype=np.int64)) + first
    probes = [int(v) for v in ordered[:: max(1, count // LOOKUPS)][:LOOKUPS]]
    started = time.process_time()
    if candidate.startswith("array"):
        found = sum(1 for v in probes if built[np.searchsorted(built, v)] == v)
    else:
        found = sum(1 for v in probes if v in built)
    contains_seconds = time.process_time() - started
    assert found == len(probes)
    result = {"bytes_per_id": grown / count, "add_us": 1e6 * add_seconds / count, "contains_us": 1e6 * contains_seconds / len(probes)}
    if candidate.startswith("roaring"):
        built.run_optimize()
        started = time.process_time()
        text = base64.b64encode(built.serialize()).decode()
        result["encode_s"] = time.process_time() - started
        result["text_bytes_per_id"] = len(text) / count
        started = time.process_time()
        back = type(built).deserialize(base64.b64decode(text))
        result["decode_s"] = time.process_time() - started
        assert back == built
    elif candidate == "python set":
        started = time.process_time()
        text = varint_delta_text(ordered)
        result["encode_s"] = time.process_time() - started
        result["text_bytes_per_id"] = len(text) / count
        result["text_form"] = "z1 (varint deltas, zlib)"
    else:
        started = time.process_time()
        text = numpy_delta_text(built)
        result["encode_s"] = time.process_time() - started
        result["text_bytes_per_id"] = len(text) / count
        result["text_form"] = "narrowest-dtype deltas, zlib"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=600_000, help="ids per set (scale 30 holds 600,000 time entries)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        candidate, distribution = args.one.split("|")
        first, largest = DISTRIBUTIONS[distribution]
        print(json.dumps(measure(candidate, first, largest, args.ids)))
        return 0
    print(f"{args.ids:,} ids per set; each cell measured in a fresh process\n")
    print("| ids | structure | RSS bytes per id | add µs | contains µs | state text bytes per id | encode s |")
    print("|---|---|---|---|---|---|---|")
    for distribution in DISTRIBUTIONS:
        for candidate in CANDIDATES:
            output = subprocess.check_output([sys.executable, __file__, "--ids", str(args.ids), "--one", f"{candidate}|{distribution}"])
            r = json.loads(output)
            if "skipped" in r:
                print(f"| {distribution} | {candidate} | — ({r['skipped']}) | | | | |")
                continue
            form = f" ({r['text_form']})" if "text_form" in r else ""
            print(f"| {distribution} | {candidate} | {r['bytes_per_id']:.1f} | {r['add_us']:.2f} | {r['contains_us']:.2f} | "
                  f"{r['text_bytes_per_id']:.2f}{form} | {r['encode_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
