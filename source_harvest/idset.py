"""Compact sets of record ids, in memory and in state: IdSet (ids) and PairSet ((parent id, child id)).

Tombstones need every id a stream has delivered, and a large account has millions: as Python sets
they cost 60-150 bytes an id (the int, the tuple, the hash slot). Here
- an IdSet is a roaring bitmap (pyroaring's BitMap64: sorted, compressed, C-speed add, membership
  and set algebra, any id below 2**64): about 2-4 bytes an id for Harvest's ids;
- a PairSet (invoice id, line item id) is two sorted uint64 columns, 16 bytes a pair, with adds
  buffered in arrays until the next read. Its pairs are few next to ids (line items, messages,
  payments), and keyed by parent it would cost a roaring container per parent.
Neither holds one Python object per id.

Text form for state, "z2:": count, then the parent and child columns as zigzag deltas (children
also across parents: ids created together sit close together), each split into its eight byte
planes so that the high, almost always zero, bytes compress away; zlib, base64. Measured: 0.9-2.2
bytes an id, close to "z1:" (earlier releases: the same deltas as varints, written in pure Python),
which is still read. bench/idsets.py compares the candidates.
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


class IdSet(BitMap64):
    """A set of ids (ints, 0 <= id < 2**64) with Python set operations, sorted iteration, and
    `encode()`/`decode()` to and from the text kept in state."""

    def encode(self) -> str:
        return _encode_columns(None, np.frombuffer(self.to_array(), dtype=ID))

    @classmethod
    def decode(cls, text: str | None) -> IdSet:
        """The ids of a text this module wrote ("z2:", or "z1:" of earlier releases); pairs' child ids.
        Raises ValueError for anything else."""
        _, children = _decode_columns(text)
        return cls(children)

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
        return _encode_columns(*self.columns())

    @classmethod
    def decode(cls, text: str | None) -> PairSet:
        """The pairs of a text this module wrote ("z2:", or "z1:" of earlier releases); an IdSet's
        text gives parent 0. Raises ValueError for anything else."""
        parents, children = _decode_columns(text)
        return cls._sorted(np.zeros(len(children), dtype=ID) if parents is None else parents, children)


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
def _planes(column: np.ndarray) -> bytes:
    """Zigzag deltas (modulo 2**64, so any uint64 column round-trips), as eight byte planes."""
    deltas = np.diff(column, prepend=ID(0)).view(np.int64)
    zigzag = ((deltas << 1) ^ (deltas >> 63)).astype("<u8")
    return zigzag.view(np.uint8).reshape(-1, 8).T.tobytes()


def _unplanes(data: bytes, count: int) -> np.ndarray:
    zigzag = np.frombuffer(data, dtype=np.uint8).reshape(8, count).T.copy().view("<u8").ravel().astype(ID)
    deltas = (zigzag >> ID(1)) ^ (ID(0) - (zigzag & ID(1)))
    return np.cumsum(deltas, dtype=ID)


def _encode_columns(parents: np.ndarray | None, children: np.ndarray) -> str:
    header = np.array([len(children), 1 if parents is None else 2], dtype="<u8").tobytes()
    payload = header + (b"" if parents is None else _planes(parents)) + _planes(children)
    return PREFIX + base64.b64encode(zlib.compress(payload, COMPRESSION_LEVEL)).decode("ascii")


def _decode_columns(text: str | None) -> tuple[np.ndarray | None, np.ndarray]:
    if not text:
        return None, np.empty(0, dtype=ID)
    if text.startswith(PREFIX_V1):
        return _decode_v1(text[len(PREFIX_V1):])
    if not text.startswith(PREFIX):
        raise ValueError("not an id set written by this connector")
    try:
        payload = zlib.decompress(base64.b64decode(text[len(PREFIX):], validate=True))
    except (binascii.Error, zlib.error) as error:
        raise ValueError(f"a damaged id set ({error})") from None
    if len(payload) < 16:
        raise ValueError("a damaged id set (no header)")
    count, columns = (int(n) for n in np.frombuffer(payload[:16], dtype="<u8"))
    if columns not in (1, 2) or len(payload) != 16 + 8 * count * columns:
        raise ValueError("a damaged id set (its length does not match its header)")
    body = payload[16:]
    if columns == 1:
        return None, _unplanes(body, count)
    return _unplanes(body[:8 * count], count), _unplanes(body[8 * count:], count)


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
