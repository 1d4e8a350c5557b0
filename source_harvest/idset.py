"""Compact sets of record ids, in memory and in state: IdSet (ids) and PairSet ((parent id, child id)).

Tombstones need every id a stream has delivered, and a large account has millions: as Python sets
they cost 60-150 bytes an id (the int, the tuple, the hash slot). Here
- an IdSet is a roaring bitmap (pyroaring's BitMap64: sorted, compressed, C-speed add, membership
  and set algebra, any id below 2**64): about 2-4 bytes an id for Harvest's ids;
- a PairSet (invoice id, line item id) is two sorted uint64 columns, 16 bytes a pair, with adds
  buffered in arrays until the next read. Its pairs are few next to ids (line items, messages,
  payments), and keyed by parent it would cost a roaring container per parent.
Neither holds one Python object per id. KeySet holds keys of any kind, compactly when numeric.

Text form for state, "z2:": count, then the parent and child columns as zigzag deltas (children
also across parents: ids created together sit close together), each split into its eight byte
planes so that the high, almost always zero, bytes compress away; zlib, base64. Encoded and decoded
a block of ids at a time, so the working memory stays a few MB whatever the set's size. Measured:
0.9-2.2 bytes an id, close to "z1:" (earlier releases: the same deltas as varints, written in pure
Python), which is still read. bench/idsets.py compares the candidates.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from array import array
from typing import Iterable, Iterator

import numpy as np
from pyroaring import BitMap64

PREFIX = "z2:"  # format version, so a future encoding can be told apart
PREFIX_V1 = "z1:"  # written by releases up to 0.1.0
COMPRESSION_LEVEL = 6  # level 9 gained under 1% on the measured id sets, at twice the CPU
ITER_CHUNK = 4096  # pairs turned into Python ints at a time while iterating
SETTLE_SLACK = 65_536  # buffered adds allowed beyond the settled size before they are merged
ID = np.uint64
ID_LIMIT = 2**64
MAX_DECIMAL_DIGITS = 19  # every such decimal is below 2**64
BLOCK_IDS = 65_536  # values encoded or decoded at a time: bounds the working memory (a few MB)
MAX_INFLATION = 1100  # zlib never expands more than ~1032x: a larger count is a damaged header


class IdSet(BitMap64):
    """A set of ids (ints, 0 <= id < 2**64) with Python set operations, sorted iteration, and
    `encode()`/`decode()` to and from the text kept in state."""

    def encode(self) -> str:
        blocks = (np.frombuffer(self[start:start + BLOCK_IDS].to_array(), dtype=ID) for start in range(0, len(self), BLOCK_IDS))
        return _encode(len(self), [blocks])

    @classmethod
    def decode(cls, text: str | None) -> IdSet:
        """The ids of a text this module wrote ("z2:", or "z1:" of earlier releases); pairs' child ids.
        Raises ValueError for anything else."""
        return _decode_ids(text)

    @classmethod
    def of(cls, ids: np.ndarray) -> IdSet:
        return cls(array("Q", ids.astype(ID, copy=False).tobytes()))


class PairSet:
    """A set of (parent id, child id) pairs (ints, 0 <= id < 2**64), iterated in (parent, child) order."""

    __slots__ = ("_parents", "_children", "_new_parents", "_new_children")

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()) -> None:
        self._parents = np.empty(0, dtype=ID)
        self._children = np.empty(0, dtype=ID)
        self._new_parents = array("Q")
        self._new_children = array("Q")
        for parent, child in pairs:
            self.add(parent, child)

    @classmethod
    def _sorted(cls, parents: np.ndarray, children: np.ndarray) -> PairSet:
        pairs = cls()
        pairs._parents, pairs._children = _sorted_unique(parents, children)
        return pairs

    def add(self, parent: int, child: int) -> None:
        self._new_parents.append(parent)
        self._new_children.append(child)
        if len(self._new_parents) > len(self._parents) + SETTLE_SLACK:
            self._settle()  # bounds the buffers when the same pairs are added again and again

    def _settle(self) -> None:
        if self._new_parents:
            parents = np.concatenate((self._parents, np.frombuffer(self._new_parents, dtype=ID)))
            children = np.concatenate((self._children, np.frombuffer(self._new_children, dtype=ID)))
            self._new_parents, self._new_children = array("Q"), array("Q")
            self._parents, self._children = _sorted_unique(parents, children)

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """The parents and children, sorted by (parent, child), without duplicates (read-only views)."""
        self._settle()
        return self._parents, self._children

    def __len__(self) -> int:
        return len(self.columns()[0])

    def __bool__(self) -> bool:
        return bool(self._new_parents) or bool(len(self._parents))

    def __contains__(self, pair: object) -> bool:
        if not isinstance(pair, tuple) or len(pair) != 2:
            return False
        parent, child = pair
        if not (isinstance(parent, int) and isinstance(child, int) and 0 <= parent < ID_LIMIT and 0 <= child < ID_LIMIT):
            return False
        children = self._children_of(ID(parent))
        position = np.searchsorted(children, ID(child))
        return bool(position < len(children) and children[position] == child)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        parents, children = self.columns()
        for start in range(0, len(parents), ITER_CHUNK):
            yield from zip(parents[start:start + ITER_CHUNK].tolist(), children[start:start + ITER_CHUNK].tolist(), strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PairSet):
            return NotImplemented
        mine, theirs = self.columns(), other.columns()
        return bool(np.array_equal(mine[0], theirs[0]) and np.array_equal(mine[1], theirs[1]))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"PairSet({len(self)} pairs)"

    def __or__(self, other: PairSet) -> PairSet:
        (p1, c1), (p2, c2) = self.columns(), other.columns()
        return PairSet._sorted(np.concatenate((p1, p2)), np.concatenate((c1, c2)))

    def __sub__(self, other: PairSet) -> PairSet:
        parents, children = self.columns()
        keep = ~_members(parents, children, *other.columns())
        return PairSet._sorted(parents[keep], children[keep])

    def parents(self) -> IdSet:
        return IdSet.of(self.columns()[0])

    def children_of(self, parent: int) -> IdSet:
        return IdSet.of(self._children_of(ID(parent)))

    def _children_of(self, parent: np.uint64) -> np.ndarray:
        parents, children = self.columns()
        return children[np.searchsorted(parents, parent, "left"):np.searchsorted(parents, parent, "right")]

    def with_parents(self, parents: IdSet) -> PairSet:
        """The pairs whose parent is in `parents`."""
        mine, children = self.columns()
        keep = np.isin(mine, np.frombuffer(parents.to_array(), dtype=ID))
        return PairSet._sorted(mine[keep], children[keep])

    def without_children(self, children: IdSet) -> PairSet:
        """The pairs whose child is not in `children`."""
        parents, mine = self.columns()
        keep = ~np.isin(mine, np.frombuffer(children.to_array(), dtype=ID))
        return PairSet._sorted(parents[keep], mine[keep])

    def encode(self) -> str:
        parents, children = self.columns()
        return _encode(len(parents), [_blocks(parents), _blocks(children)])

    @classmethod
    def decode(cls, text: str | None) -> PairSet:
        """The pairs of a text this module wrote ("z2:", or "z1:" of earlier releases); an IdSet's
        text gives parent 0. Raises ValueError for anything else."""
        return cls._sorted(*_decode_pairs(text))


def _sorted_unique(parents: np.ndarray, children: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((children, parents))
    parents, children = parents[order], children[order]
    if len(parents) > 1:
        first = np.empty(len(parents), dtype=bool)
        first[0] = True
        np.not_equal(parents[1:], parents[:-1], out=first[1:])
        first[1:] |= children[1:] != children[:-1]
        parents, children = parents[first], children[first]
    return parents, children


def _members(parents: np.ndarray, children: np.ndarray, other_parents: np.ndarray, other_children: np.ndarray) -> np.ndarray:
    """For each pair of the first sorted unique columns: is it among the other's (also sorted, unique)?"""
    both_parents = np.concatenate((parents, other_parents))
    both_children = np.concatenate((children, other_children))
    theirs = np.concatenate((np.zeros(len(parents), dtype=bool), np.ones(len(other_parents), dtype=bool)))
    order = np.lexsort((theirs, both_children, both_parents))  # a pair of ours comes right before its twin
    sorted_parents, sorted_children = both_parents[order], both_children[order]
    twin_follows = (sorted_parents[1:] == sorted_parents[:-1]) & (sorted_children[1:] == sorted_children[:-1])
    member = np.zeros(len(both_parents), dtype=bool)
    member[order[:-1][twin_follows]] = True
    return member[:len(parents)]


class KeySet:
    """Keys of any hashable kind (an embedded element's id: Harvest sends external reference ids as
    strings, "35"). Ints and decimal strings of them live in two IdSets, so the usual numeric ids
    cost bytes; any other key ("awme", a hex id) is kept in a Python set."""

    __slots__ = ("_ints", "_decimals", "_others")

    def __init__(self) -> None:
        self._ints = IdSet()
        self._decimals = IdSet()
        self._others: set[object] = set()

    def _place(self, key: object) -> tuple[IdSet | set[object], object]:
        if key.__class__ is int and 0 <= key < ID_LIMIT:  # type: ignore[operator]
            return self._ints, key
        if key.__class__ is str and 0 < len(key) <= MAX_DECIMAL_DIGITS and key.isascii() and key.isdigit() \
                and (key == "0" or key[0] != "0"):  # type: ignore[union-attr]  # "035" is not "35"
            return self._decimals, int(key)  # type: ignore[arg-type]
        return self._others, key

    def add(self, key: object) -> None:
        target, value = self._place(key)
        target.add(value)  # type: ignore[arg-type]

    def __contains__(self, key: object) -> bool:
        target, value = self._place(key)
        return value in target

    def __len__(self) -> int:
        return len(self._ints) + len(self._decimals) + len(self._others)


# --- text form ---------------------------------------------------------------------------------
# "z2:" + base64(zlib(count, columns (1: ids, 2: parents then children), then each column as blocks
# of BLOCK_IDS values: zigzag deltas (modulo 2**64, from the previous value, 0 for the first), each
# block's eight byte planes, low byte first)). Blocks bound the working memory of both directions.
def _planes(blocks: Iterable[np.ndarray]) -> Iterator[bytes]:
    previous = np.zeros(1, dtype=ID)
    for block in blocks:
        deltas = np.diff(block, prepend=previous).view(np.int64)
        previous = block[-1:]
        zigzag = ((deltas << 1) ^ (deltas >> 63)).astype("<u8")
        yield zigzag.view(np.uint8).reshape(-1, 8).T.tobytes()


def _encode(count: int, columns: list[Iterable[np.ndarray]]) -> str:
    compressor = zlib.compressobj(COMPRESSION_LEVEL)
    out = [compressor.compress(np.array([count, len(columns)], dtype="<u8").tobytes())]
    for blocks in columns:
        out.extend(compressor.compress(planes) for planes in _planes(blocks))
    out.append(compressor.flush())
    return PREFIX + base64.b64encode(b"".join(out)).decode("ascii")


def _blocks(column: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(column), BLOCK_IDS):
        yield column[start:start + BLOCK_IDS]


class _Inflater:
    """Reads a zlib stream a block at a time (never the whole inflated payload at once)."""

    def __init__(self, data: bytes) -> None:
        self._inflater = zlib.decompressobj()
        self._input = data

    def read(self, size: int) -> bytes:
        parts, have = [], 0
        while have < size:
            try:
                chunk = self._inflater.decompress(self._input, size - have)
            except zlib.error as error:
                raise ValueError(f"a damaged id set ({error})") from None
            self._input = self._inflater.unconsumed_tail
            if not chunk:
                raise ValueError("a damaged id set (shorter than its header says)")
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        """Checks that the stream ends (checksum included) right after what the header announced."""
        try:
            rest = self._inflater.decompress(self._input) + self._inflater.flush()
        except zlib.error as error:
            raise ValueError(f"a damaged id set ({error})") from None
        if rest or not self._inflater.eof or self._inflater.unused_data:
            raise ValueError("a damaged id set (longer than its header says, or cut short)")


def _unplanes(inflater: _Inflater, count: int) -> Iterator[np.ndarray]:
    """One column's values, block after block."""
    previous = ID(0)
    for start in range(0, count, BLOCK_IDS):
        size = min(BLOCK_IDS, count - start)
        zigzag = np.frombuffer(inflater.read(8 * size), dtype=np.uint8).reshape(8, size).T.copy().view("<u8").ravel().astype(ID)
        deltas = (zigzag >> ID(1)) ^ (ID(0) - (zigzag & ID(1)))
        deltas[0] += previous
        values = np.cumsum(deltas, dtype=ID)
        previous = values[-1]
        yield values


def _open(text: str) -> tuple[int, int, _Inflater]:
    """Count, columns and the reader of a "z2:" text."""
    try:
        compressed = base64.b64decode(text[len(PREFIX):], validate=True)
    except binascii.Error as error:
        raise ValueError(f"a damaged id set ({error})") from None
    inflater = _Inflater(compressed)
    count, columns = (int(n) for n in np.frombuffer(inflater.read(16), dtype="<u8"))
    if columns not in (1, 2) or 8 * count * columns > MAX_INFLATION * len(compressed):
        raise ValueError("a damaged id set (its header does not fit its length)")  # before any allocation
    return count, columns, inflater


def _decode_ids(text: str | None) -> IdSet:
    ids = IdSet()
    if not text:
        return ids
    if text.startswith(PREFIX_V1):
        _, children = _decode_v1(text[len(PREFIX_V1):])
        return IdSet.of(children)
    if not text.startswith(PREFIX):
        raise ValueError("not an id set written by this connector")
    count, columns, inflater = _open(text)
    if columns == 2:
        for _ in _unplanes(inflater, count):
            pass  # a pair set's parents
    for block in _unplanes(inflater, count):
        ids.update(array("Q", block.tobytes()))
    inflater.close()
    return ids


def _decode_pairs(text: str | None) -> tuple[np.ndarray, np.ndarray]:
    if not text:
        return np.empty(0, dtype=ID), np.empty(0, dtype=ID)
    if text.startswith(PREFIX_V1):
        return _decode_v1(text[len(PREFIX_V1):])
    if not text.startswith(PREFIX):
        raise ValueError("not an id set written by this connector")
    count, columns, inflater = _open(text)
    parents = np.zeros(count, dtype=ID)
    children = np.empty(count, dtype=ID)
    for column in (parents, children)[2 - columns:]:
        for start, block in zip(range(0, count, BLOCK_IDS), _unplanes(inflater, count), strict=False):
            column[start:start + len(block)] = block
    inflater.close()
    return parents, children


# "z1:" — earlier releases: [count] + parent deltas + child deltas, zigzag varints, zlib, base64.
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


def _decode_v1(body: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        numbers = _read_varints(zlib.decompress(base64.b64decode(body, validate=True)))
    except (binascii.Error, zlib.error) as error:
        raise ValueError(f"a damaged id set ({error})") from None
    count = numbers[0] if numbers else -1
    if count < 0 or len(numbers) != 1 + 2 * count:
        raise ValueError("a damaged id set (its length does not match its header)")
    try:
        parents = np.cumsum(np.array(numbers[1:1 + count], dtype=np.int64)).astype(ID)
        children = np.cumsum(np.array(numbers[1 + count:], dtype=np.int64)).astype(ID)
    except OverflowError:
        raise ValueError("a damaged id set (an id out of range)") from None
    return parents, children
