"""Id sets in state: exact round trips, and small."""

from __future__ import annotations

import random

import pytest

from source_harvest.idset import decode_ids, decode_pairs, encode_ids, encode_pairs


@pytest.mark.parametrize("ids", [set(), {1}, {5, 3, 2**40, 7}, set(range(1000, 5000, 3))])
def test_ids_round_trip(ids: set[int]) -> None:
    assert decode_ids(encode_ids(ids)) == ids


def test_pairs_round_trip() -> None:
    pairs = {(10, 100), (10, 101), (11, 99), (2**35, 7), (3, 2**33)}
    assert decode_pairs(encode_pairs(pairs)) == pairs


def test_harvest_like_ids_take_under_two_bytes_each() -> None:
    rng = random.Random(1)
    ids, current = [], 1_494_415_019  # time entry ids are large, increasing with gaps
    for _ in range(200_000):
        current += rng.randint(1, 40)
        ids.append(current)
    encoded = encode_ids(ids)
    assert len(encoded) / len(ids) < 2.0
    assert decode_ids(encoded) == set(ids)


def test_line_item_pairs_stay_small() -> None:
    rng = random.Random(2)
    pairs, item = [], 50_000_000
    for invoice in range(13_000_000, 13_008_000):
        for _ in range(rng.randint(1, 5)):
            item += rng.randint(1, 3)
            pairs.append((invoice, item))
    assert len(encode_pairs(pairs)) / len(pairs) < 2.0


def test_a_foreign_value_is_rejected() -> None:
    with pytest.raises(ValueError):
        decode_ids("garbage")
