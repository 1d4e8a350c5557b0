"""Compact sets of record ids for state: sorted, delta-encoded as varints, zlib-compressed, base64.

Tombstones need the ids a stream has delivered, and state must stay small: consecutive Harvest ids
are close, so deltas mostly fit in one or two varint bytes before compression (well under 2 bytes
an id). Pairs (parent id, child id) — line items of an invoice — are encoded as two id columns.
"""

from __future__ import annotations

import base64
import zlib
from typing import Iterable

PREFIX = "z1:"  # format version, so a future encoding can be told apart


def _varints(numbers: Iterable[int]) -> bytes:
    out = bytearray()
    for number in numbers:
        value = (number << 1) ^ (number >> 63)  # zigzag: small negatives stay small
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def _read_varints(data: bytes) -> list[int]:
    numbers, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        numbers.append((value >> 1) ^ -(value & 1))
        value, shift = 0, 0
    return numbers


def _deltas(values: list[int]) -> list[int]:
    return [value - previous for previous, value in zip([0, *values], values, strict=False)]


def _undelta(deltas: list[int]) -> list[int]:
    total, values = 0, []
    for delta in deltas:
        total += delta
        values.append(total)
    return values


def encode_ids(ids: Iterable[int]) -> str:
    return encode_pairs((0, i) for i in ids)


def decode_ids(text: str | None) -> set[int]:
    return {child for _, child in decode_pairs(text)}


def encode_pairs(pairs: Iterable[tuple[int, int]]) -> str:
    """(parent, child) pairs, sorted by parent then child; parents and children delta-encoded apart
    (children also across parents: ids created together sit close together)."""
    ordered = sorted(set(pairs))
    parents = _deltas([p for p, _ in ordered])
    children = _deltas([c for _, c in ordered])
    payload = _varints([len(ordered)]) + _varints(parents) + _varints(children)
    return PREFIX + base64.b64encode(zlib.compress(payload, 9)).decode("ascii")


def decode_pairs(text: str | None) -> set[tuple[int, int]]:
    if not text:
        return set()
    if not text.startswith(PREFIX):
        raise ValueError("not an id set written by this connector")
    numbers = _read_varints(zlib.decompress(base64.b64decode(text[len(PREFIX):])))
    count = numbers[0]
    parents = _undelta(numbers[1:1 + count])
    children = _undelta(numbers[1 + count:1 + 2 * count])
    return set(zip(parents, children, strict=True))
