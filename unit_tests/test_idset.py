"""Id sets: set behaviour, 64-bit ids, exact round trips through state, "z1:" state of earlier releases, and small."""

from __future__ import annotations

import random

import pytest

from source_harvest.idset import PREFIX, IdSet, KeySet, PairSet

# Written by release 0.1.0's idset.encode_ids / encode_pairs (the "z1:" form), kept verbatim.
Z1_IDS = "z1:eNrjYgABNhaWE7emT+RetfTFuy/2ACyaB0Y="  # {5, 3, 2**40, 7, 1_494_415_019}
Z1_PAIRS = "z1:eNrjYWDjY2B69R8IGJsaoICxEUgcAArVb//3/789E/N2RgCAthR5"
Z1_PAIRS_VALUE = {(10, 100), (10, 101), (11, 99), (2**35, 7), (3, 2**33), (0, 2**62 + 1)}
Z1_EMPTY = "z1:eNpjAAAAAQAB"
PAST_32_BITS = [2**32 - 1, 2**32, 2**32 + 1, 2**40, 2**63 - 1, 2**63, 2**64 - 1]


@pytest.mark.parametrize("ids", [set(), {1}, {5, 3, 2**40, 7}, set(range(1000, 5000, 3)), set(PAST_32_BITS) | {0, 9}])
def test_ids_round_trip_through_state(ids: set[int]) -> None:
    text = IdSet(ids).encode()
    assert text.startswith(PREFIX)
    assert list(IdSet.decode(text)) == sorted(ids)


def test_ids_past_32_bits_are_distinct_members_in_order() -> None:
    ids = IdSet(PAST_32_BITS)
    assert len(ids) == len(PAST_32_BITS)
    assert list(ids) == PAST_32_BITS
    assert 2**32 in ids and 2**33 not in ids and 0 not in ids
    assert list(ids - IdSet([2**40])) == [i for i in PAST_32_BITS if i != 2**40]


def test_ids_are_a_set() -> None:
    ids = IdSet()
    for value in (7, 3, 7, 5):
        ids.add(value)
    assert len(ids) == 3 and 5 in ids and 4 not in ids
    assert list(ids) == [3, 5, 7]
    assert list((ids - IdSet([5])) | IdSet([1])) == [1, 3, 7]


def test_a_negative_id_is_refused() -> None:
    with pytest.raises(OverflowError):
        IdSet().add(-1)
    with pytest.raises(OverflowError):
        PairSet().add(1, -1)


def test_pairs_are_a_set_in_parent_then_child_order() -> None:
    pairs = PairSet()
    for pair in [(10, 101), (3, 2**33), (10, 100), (10, 101), (2**35, 7)]:
        pairs.add(*pair)
    assert len(pairs) == 4
    assert list(pairs) == [(3, 2**33), (10, 100), (10, 101), (2**35, 7)]
    assert (10, 100) in pairs and (10, 7) not in pairs and (2**35, 7) in pairs and (4, 2**33) not in pairs
    assert "10" not in pairs and (-1, 3) not in pairs
    assert list(pairs.parents()) == [3, 10, 2**35]
    assert list(pairs.children_of(10)) == [100, 101] and not pairs.children_of(11)


def test_pair_set_algebra() -> None:
    first = PairSet([(1, 10), (1, 11), (2, 20), (3, 30)])
    second = PairSet([(1, 11), (2, 21), (3, 30), (9, 90)])
    assert list(first - second) == [(1, 10), (2, 20)]
    assert list(second - first) == [(2, 21), (9, 90)]
    assert list(first | second) == [(1, 10), (1, 11), (2, 20), (2, 21), (3, 30), (9, 90)]
    assert list(first.with_parents(IdSet([1, 3, 4]))) == [(1, 10), (1, 11), (3, 30)]
    assert list(first.without_children(IdSet([11, 30]))) == [(1, 10), (2, 20)]
    assert first - PairSet() == first and not (PairSet() - first)


def test_pair_set_algebra_matches_python_sets_on_random_pairs() -> None:
    rng = random.Random(3)
    left = {(rng.randint(0, 50), rng.choice([rng.randint(0, 300), 2**40 + rng.randint(0, 9)])) for _ in range(2000)}
    right = {(rng.randint(0, 50), rng.choice([rng.randint(0, 300), 2**40 + rng.randint(0, 9)])) for _ in range(2000)}
    a, b = PairSet(left), PairSet(right)
    assert list(a - b) == sorted(left - right)
    assert list(a | b) == sorted(left | right)
    assert len(a) == len(left)


def test_pairs_added_again_and_again_stay_bounded() -> None:
    pairs = PairSet()
    for _ in range(300):
        for child in range(1000):
            pairs.add(child % 7, child)
    assert len(pairs) == 1000
    assert len(pairs._new_parents) < 100_000  # merged along the way, not buffered 300,000 times


def test_pairs_round_trip_through_state() -> None:
    value = Z1_PAIRS_VALUE | {(2**64 - 1, 2**64 - 1), (2**64 - 1, 0), (5, 2**63)}
    text = PairSet(value).encode()
    assert text.startswith(PREFIX)
    assert list(PairSet.decode(text)) == sorted(value)


@pytest.mark.parametrize("read", [IdSet.decode, PairSet.decode])
def test_nothing_saved_is_an_empty_set(read) -> None:
    assert len(read(None)) == 0 and len(read("")) == 0 and len(read(Z1_EMPTY)) == 0


def test_state_of_earlier_releases_is_still_read() -> None:
    assert list(IdSet.decode(Z1_IDS)) == [3, 5, 7, 1_494_415_019, 2**40]
    assert list(PairSet.decode(Z1_PAIRS)) == sorted(Z1_PAIRS_VALUE)
    assert list(IdSet.decode(Z1_PAIRS)) == sorted({child for _, child in Z1_PAIRS_VALUE})


def test_ids_text_read_as_pairs_has_parent_zero_and_back() -> None:
    assert list(PairSet.decode(IdSet([4, 2]).encode())) == [(0, 2), (0, 4)]
    assert list(IdSet.decode(PairSet([(1, 4), (9, 2)]).encode())) == [2, 4]


@pytest.mark.parametrize("text", [
    "garbage",
    "z2:",  # no header
    "z2:not base64!",
    "z2:" + "A" * 12,  # base64, not zlib
    "z1:eNpjAAAAAQAC",  # damaged checksum
    IdSet([1, 2, 3]).encode()[:-6] + "AAAA",  # truncated
])
@pytest.mark.parametrize("read", [IdSet.decode, PairSet.decode])
def test_a_foreign_or_damaged_value_is_a_value_error(read, text: str) -> None:
    with pytest.raises(ValueError):
        read(text)


def harvest_like_ids(count: int, seed: int, largest_gap: int = 40) -> list[int]:
    rng = random.Random(seed)
    ids, current = [], 1_494_415_019  # time entry ids are large, increasing with gaps
    for _ in range(count):
        current += rng.randint(1, largest_gap)
        ids.append(current)
    return ids


def test_harvest_like_ids_take_under_two_bytes_each_in_state_and_under_five_in_memory() -> None:
    ids = harvest_like_ids(200_000, 1)
    built = IdSet()
    for value in ids:
        built.add(value)
    encoded = built.encode()
    assert len(encoded) / len(ids) < 2.0
    assert built.__sizeof__() / len(ids) < 5.0  # a Python set takes about 76 bytes an id (bench/idsets.py)
    assert list(IdSet.decode(encoded)) == ids


def test_line_item_pairs_stay_small_in_state() -> None:
    rng = random.Random(2)
    pairs, item = [], 50_000_000
    for invoice in range(13_000_000, 13_008_000):
        for _ in range(rng.randint(1, 5)):
            item += rng.randint(1, 3)
            pairs.append((invoice, item))
    assert len(PairSet(pairs).encode()) / len(pairs) < 2.0


def test_keys_of_any_kind_are_told_apart() -> None:
    keys = KeySet()
    for key in ["35", 35, "035", "awme", "35", 2**40, str(2**70), "", None]:
        keys.add(key)
    assert len(keys) == 8  # "35" twice
    for key in ["35", 35, "035", "awme", 2**40, str(2**70), "", None]:
        assert key in keys
    assert "36" not in keys and 36 not in keys and "35 " not in keys
    assert not keys._others - {"035", "awme", str(2**70), "", None}  # decimal ids are not kept as strings
