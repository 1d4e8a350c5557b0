"""Candidate structures for the sets of ids a sync remembers, and their text forms, side by side.

For each id distribution (the sandbox's, a sparser one like a large Harvest account's share of the
global id sequence, and ids past 2**32), in a fresh process each:
- per structure: resident memory per id (RSS growth while the set is built one id at a time, as a
  stream does), CPU per add and per membership test;
- per text form for state: characters per id, and CPU to encode the set.

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
from typing import Any, Callable, Iterable

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
STRUCTURES = ("python set", "roaring BitMap (32-bit)", "roaring BitMap64", "array('q') + numpy sort")
TEXT_FORMS = ("z1: varint deltas, zlib (0.1.0)", "roaring portable form", "z2: byte-plane deltas, zlib (IdSet)")
LOOKUPS = 100_000
PAGE_BYTES = 4096


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_BYTES


def gaps(count: int, largest: int, seed: int = 1) -> array:
    rng = random.Random(seed)
    return array("l", (rng.randint(1, largest) for _ in range(count)))


def ids_of(first: int, steps: array) -> np.ndarray:
    return (np.cumsum(np.frombuffer(steps, dtype=np.int64)).astype(np.uint64) + np.uint64(first)).astype(np.uint64)


def z1_text(ids: Iterable[int]) -> str:
    """0.1.0's encoder (ids as (0, id) pairs: count, parent deltas, id deltas as zigzag varints), for comparison."""
    ordered = sorted(set(ids))
    numbers = [len(ordered), *([0] * len(ordered)), *(b - a for a, b in zip([0, *ordered], ordered, strict=False))]
    out = bytearray()
    for number in numbers:
        value = (number << 1) ^ (number >> 63)
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return "z1:" + base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


def measure_structure(structure: str, first: int, steps: array) -> dict[str, Any]:
    count = len(steps)
    gc.collect()
    before = rss_bytes()
    started = time.process_time()
    current = first
    if structure == "python set":
        built: Any = set()
        add: Callable[[int], None] = built.add
    elif structure == "roaring BitMap (32-bit)":
        if first + sum(steps) >= 2**32:
            return {"skipped": "ids do not fit in 32 bits"}
        built = BitMap()
        add = built.add
    elif structure == "roaring BitMap64":
        built = BitMap64()
        add = built.add
    else:
        built = array("q")
        add = built.append
    for step in steps:
        current += step
        add(current)
    if structure.startswith("array"):
        del add
        ordered = np.frombuffer(built, dtype=np.int64).copy()
        ordered.sort()
        built = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
        del ordered
    add_seconds = time.process_time() - started
    gc.collect()
    grown = rss_bytes() - before
    probes = [int(v) for v in ids_of(first, steps)[:: max(1, count // LOOKUPS)][:LOOKUPS]]
    started = time.process_time()
    if structure.startswith("array"):
        found = sum(1 for v in probes if built[np.searchsorted(built, v)] == v)
    else:
        found = sum(1 for v in probes if v in built)
    contains_seconds = time.process_time() - started
    assert found == len(probes)
    return {"bytes_per_id": grown / count, "add_us": 1e6 * add_seconds / count, "contains_us": 1e6 * contains_seconds / len(probes)}


def measure_text(form: str, first: int, steps: array) -> dict[str, Any]:
    # Imported here: importing the connector (and the CDK with it) leaves freed heap that would hide
    # the structures' growth from the RSS readings of measure_structure.
    from source_harvest.idset import IdSet

    ids = IdSet.of(ids_of(first, steps))
    started = time.process_time()
    if form.startswith("z1"):
        text = z1_text(ids)
    elif form.startswith("roaring"):
        ids.run_optimize()
        text = base64.b64encode(ids.serialize()).decode("ascii")
    else:
        text = ids.encode()
        assert IdSet.decode(text) == ids
    return {"chars_per_id": len(text) / len(ids), "encode_s": time.process_time() - started}


def run_one(kind: str, name: str, distribution: str, count: int) -> dict[str, Any]:
    output = subprocess.check_output([sys.executable, __file__, "--ids", str(count), "--one", f"{kind}|{name}|{distribution}"])
    return json.loads(output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=600_000, help="ids per set (scale 30 holds 600,000 time entries)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, name, distribution = args.one.split("|")
        first, largest = DISTRIBUTIONS[distribution]
        steps = gaps(args.ids, largest)
        measure = measure_structure if kind == "structure" else measure_text
        print(json.dumps(measure(name, first, steps)))
        return 0
    print(f"{args.ids:,} ids per set; each cell measured in a fresh process\n")
    print("| ids | structure | RSS bytes per id | µs per add | µs per lookup |\n|---|---|---|---|---|")
    for distribution in DISTRIBUTIONS:
        for structure in STRUCTURES:
            r = run_one("structure", structure, distribution, args.ids)
            if "skipped" in r:
                print(f"| {distribution} | {structure} | — ({r['skipped']}) | | |")
            else:
                print(f"| {distribution} | {structure} | {r['bytes_per_id']:.1f} | {r['add_us']:.2f} | {r['contains_us']:.2f} |")
    print("\n| ids | text form in state | characters per id | CPU s to encode |\n|---|---|---|---|")
    for distribution in DISTRIBUTIONS:
        for form in TEXT_FORMS:
            r = run_one("text", form, distribution, args.ids)
            print(f"| {distribution} | {form} | {r['chars_per_id']:.2f} | {r['encode_s']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
