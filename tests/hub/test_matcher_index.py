"""The matcher's two indexes - the sorted numpy index of a national list and the dict of a
small one - answer every read alike, odd plates included."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

import hub.matcher as matcher_module
from hub.alpr_model import HotlistEntry
from hub.hotlists import ParsedHotlist, entries_from, parse_text
from hub.matcher import Matcher
from hub.plate_keys import pack_by_length, shape_bits, shape_text, without_one
from hub.plate_keys import packed as packed_key
from hub.plates import canonical

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
# Look-alike characters, a few others, a wildcard and non-ASCII letters (German "LÖ").
ALPHABET = "0ODQ1I2Z5S8B6GAXK9*"


def _plate(rng: random.Random) -> str:
    length = rng.choice([1, 2, 3, 5, 6, 7, 7, 8, 9, 10])
    chars = ALPHABET + ("ÖŁ" if rng.random() < 0.1 else "")
    return "".join(rng.choice(chars) for _ in range(length))


def _lists(rng: random.Random, size: int) -> list[ParsedHotlist]:
    lines = []
    for _ in range(size):
        plate = _plate(rng)
        if "*" in plate and len(plate) - plate.count("*") < 3:
            plate = plate.replace("*", "A")
        lines.append(f"S;{rng.choice(['BE', 'NL', ''])};{plate};;")
    lines += lines[:5]  # the same plates listed twice
    wanted = [HotlistEntry(plate=_plate(rng).replace("*", "X"), list="wanted", priority=99)
              for _ in range(3)]
    return [parse_text("\n".join(lines) + "\n", name="a", source="t"), entries_from(wanted)]


def _reads(rng: random.Random, lists: list[ParsedHotlist]) -> list[str]:
    reads = [_plate(rng).replace("*", "A") for _ in range(600)]
    reads += [p.replace("*", "7") for p in lists[0].plates[:200]]
    for plate in lists[0].plates[200:400]:  # an extra character: the entry minus one
        at = rng.randrange(len(plate) + 1)
        reads.append((plate[:at] + rng.choice("1I8") + plate[at:]).replace("*", "7"))
    return reads + [r.lower() for r in reads[:20]] + ["", "Q", "ABCDEFGHIJK"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("extra_character", [True, False])
def test_sorted_index_answers_like_the_dict(seed: int, extra_character: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    lists = _lists(rng, 2000)
    reads = _reads(rng, lists)
    small = Matcher(lists, extra_character=extra_character)  # 2,000 entries: the dict
    monkeypatch.setattr(matcher_module, "SORTED_INDEX_MIN", 0)
    big = Matcher(lists, extra_character=extra_character)  # the same, sorted index
    hits = 0
    for read in reads:
        assert big.match(read, AT) == small.match(read, AT), read
        assert big.well_formed(read) == small.well_formed(read), read
        hits += bool(small.match(read, AT))
    assert big.match_many(reads, AT) == small.match_many(reads, AT)
    one_by_one = {i: found for i, read in enumerate(reads) if (found := small.match(read, AT))}
    assert small.match_many(reads, AT) == one_by_one  # the batch path answers like `match`
    assert hits > 300  # the reads do hit: the comparison is not of empty lists


def test_packed_keys_agree_with_the_batch_packing() -> None:
    rng = random.Random(5)
    plates = [_plate(rng).replace("*", "") or "A" for _ in range(3000)] + ["Q", "0A", "A"]
    groups, rest = pack_by_length("\x1f".join(plates), len(plates))
    packed = {}
    for group in groups:
        for row, key in zip(group.rows.tolist(), group.keys.tolist(), strict=True):
            packed[row] = key + 36 ** group.length
    assert sorted([*packed, *rest.tolist()]) == list(range(len(plates)))
    for row, plate in enumerate(plates):
        assert packed.get(row) == packed_key(canonical(plate)), plate
    assert packed_key("0A") != packed_key("A")  # a leading zero keeps the length apart
    assert packed_key("1abc234") is None and packed_key("LÖ123") is None
    assert packed_key("ABCDEFGHIJK") is None  # longer than an int64 holds


def test_empty_and_separator_edge_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matcher_module, "SORTED_INDEX_MIN", 0)
    assert Matcher([]).match("1ABC234", AT) == []
    assert Matcher([]).match_many(["1ABC234", ""], AT) == {}
    groups, rest = pack_by_length("", 0)
    assert groups == [] and len(rest) == 0
    m = Matcher([parse_text("S;BE;1-ABC-234;;\nS;BE;ABC*34;;\n", name="a", source="t")])
    assert [h.entry.plate for h in m.match("1ABC234", AT)] == ["1ABC234"]
    assert [h.entry.plate for h in m.match("ABC234", AT)] == ["ABC*34"]
    assert set(m.match_many(["1A8C234", "ZZZ", "ABCX34"], AT)) == {0, 2}
    assert np.all(np.diff(m._keys) >= 0)  # the index is sorted


def test_batch_shapes_and_left_out_characters_agree_with_the_strings() -> None:
    rng = random.Random(6)
    plates = [_plate(rng).replace("*", "") or "A" for _ in range(2000)]
    groups, _ = pack_by_length("\x1f".join(plates), len(plates))
    checked = 0
    for group in groups:
        lefts = without_one(group.keys, group.length) if group.length > 1 else []
        for k, (row, letters) in enumerate(zip(group.rows.tolist(), group.letters.tolist(),
                                               strict=True)):
            plate = plates[row]
            shape = "".join("L" if c.isalpha() else "D" for c in plate)
            assert shape_text(group.length, letters) == shape
            assert shape_bits(shape) == (group.length, letters)
            for j, left in enumerate(lefts):
                assert int(left[k]) == packed_key(canonical(plate[:j] + plate[j + 1:]))
                checked += 1
    assert checked > 5000
    assert shape_bits("LL*D") is None and shape_bits("") is None
    assert shape_bits("L" * 11) is None
