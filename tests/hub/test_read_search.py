from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import read_search
from hub.alpr_model import Read
from hub.errors import SearchPatternError
from hub.plates import normalize
from hub.read_store import ReadStore
from hub.store import Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# (plate as seen, camera, minutes after T0)
PLATES = [
    ("1-ABC-234", "cam-1", 0),
    ("1-ABD-235", "cam-2", 1),
    ("2-XYZ-123", "cam-1", 2),
    ("AB-123-CD", "cam-2", 3),
    ("1-ABC-239", "cam-1", 4),
    ("M-AB 1234", "cam-2", 5),
    ("O-ABC-234", "cam-1", 6),  # a look-alike of 0-ABC-234: never a match for "0AB*"
]


@pytest.fixture
async def reads(tmp_path: Path) -> AsyncIterator[ReadStore]:
    store = await Store.open(tmp_path)
    read_store = ReadStore(store)
    await read_store.start()
    await asyncio.gather(*(
        read_store.add(Read(0, plate, normalize(plate), T0 + timedelta(minutes=m), cam, "test"))
        for plate, cam, m in PLATES
    ))
    yield read_store
    await read_store.close()
    await store.close()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("1AB*", ["1ABC239", "1ABD235", "1ABC234"]),  # prefix, newest first
        ("1-ab*", ["1ABC239", "1ABD235", "1ABC234"]),  # case and separators ignored
        ("*23?", ["OABC234", "MAB1234", "1ABC239", "1ABD235", "1ABC234"]),  # end, one unknown
        ("A?", []),  # two characters, anchored both ends
        ("*234", ["OABC234", "MAB1234", "1ABC234"]),  # anchored end
        ("*34", ["OABC234", "MAB1234", "1ABC234"]),  # anchored end of two
        ("123", ["MAB1234", "AB123CD", "2XYZ123"]),  # fragment anywhere
        ("abc", ["OABC234", "1ABC239", "1ABC234"]),
        ("1A?C*", ["1ABC239", "1ABC234"]),  # ? is exactly one character
        ("1A?C", []),  # anchored both ends: no 4-character plate
        ("1A*3?", ["1ABC239", "1ABD235", "1ABC234"]),
        ("?ABC*", ["OABC234", "1ABC239", "1ABC234"]),
        ("0AB*", []),  # look-alikes are not the same plate for search
        ("AB1234", ["MAB1234"]),
        ("1ABC234", ["1ABC234"]),
    ],
)
async def test_search_semantics(reads: ReadStore, pattern: str, expected: list[str]) -> None:
    assert [r.normalized for r in await reads.search(pattern)] == expected


async def test_search_filters_and_limit(reads: ReadStore) -> None:
    since = T0 + timedelta(minutes=1)
    assert [r.normalized for r in await reads.search("1AB*", since=since)] == [
        "1ABC239", "1ABD235"]
    assert [r.normalized for r in await reads.search("1AB*", camera_id="cam-1")] == [
        "1ABC239", "1ABC234"]
    assert [r.normalized for r in await reads.search("1AB*", limit=2)] == ["1ABC239", "1ABD235"]
    # short patterns are allowed with a recent `since`, through the time index
    found = await reads.search("*2*", since=T0 + timedelta(minutes=3))
    assert [r.normalized for r in found] == ["OABC234", "MAB1234", "1ABC239", "AB123CD"]
    found = await reads.search("A?", since=T0, camera_id="cam-2")
    assert found == []


@pytest.mark.parametrize("pattern", ["", "--", "*", "*?*", "??"])
async def test_empty_patterns_are_refused(reads: ReadStore, pattern: str) -> None:
    with pytest.raises(SearchPatternError, match="no plate characters"):
        await reads.search(pattern)


@pytest.mark.parametrize("pattern", ["23", "*2*", "*3", "1*", "*A?*", "*2??"])
async def test_short_patterns_need_a_recent_since(reads: ReadStore, pattern: str) -> None:
    with pytest.raises(SearchPatternError, match=r"at least 3 characters.*--since"):
        await reads.search(pattern)
    too_old = T0 + timedelta(minutes=6) - read_search.SHORT_PATTERN_MAX_WINDOW - timedelta(1)
    with pytest.raises(SearchPatternError):
        await reads.search(pattern, since=too_old)
    await reads.search(pattern, since=T0)  # within the window: allowed


@pytest.mark.parametrize(
    ("pattern", "strategy"),
    [
        ("1AB*", read_search.Strategy.TRIGRAM),
        ("*234", read_search.Strategy.TRIGRAM),
        ("ABC", read_search.Strategy.TRIGRAM),
        ("1A*", read_search.Strategy.TRIGRAM),  # "^1A"
        ("*23", read_search.Strategy.TRIGRAM),  # "23$"
        ("*23?", read_search.Strategy.EXPANDED),
        ("?AB*", read_search.Strategy.EXPANDED),
        ("1A?C2*", read_search.Strategy.TRIGRAM),
    ],
)
async def test_query_plans_use_an_index(
    reads: ReadStore, pattern: str, strategy: read_search.Strategy
) -> None:
    assert read_search.parse_search(pattern).strategy() is strategy
    plan = await reads.explain_search(pattern)
    assert any("reads_fts VIRTUAL TABLE" in line for line in plan), plan
    assert not [line for line in plan if line.startswith("SCAN") and "VIRTUAL" not in line]


async def test_short_pattern_plan_uses_the_time_index(reads: ReadStore) -> None:
    plan = await reads.explain_search("*2*", since=T0)
    assert plan == ["SEARCH reads USING INDEX reads_at (at>?)"]
    plan = await reads.explain_search("*2*", since=T0, camera_id="cam-1")
    assert plan[0] == "SEARCH reads USING INDEX reads_camera_at (camera_id=? AND at>?)"
    assert not [line for line in plan if line.startswith("SCAN")]


async def test_newest_first_follows_time_not_insertion(tmp_path: Path) -> None:
    # A camera uploading late: the read committed last was seen first.
    store = await Store.open(tmp_path)
    reads = ReadStore(store)
    await reads.start()
    try:
        for minute in (5, 9, 1):
            plate = f"1ABC{minute:03d}"
            await reads.add(Read(0, plate, plate, T0 + timedelta(minutes=minute), "c", "t"))
        assert [r.normalized for r in await reads.search("1ABC*")] == [
            "1ABC009", "1ABC005", "1ABC001"]
        assert [r.normalized for r in await reads.search("1ABC*", limit=1)] == ["1ABC009"]
    finally:
        await reads.close()
        await store.close()


async def test_walk_over_many_blocks_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 4 ids: the walk must still find the newest matches anywhere.
    monkeypatch.setattr(read_search, "BLOCK_BITS", 2)
    store = await Store.open(tmp_path)
    reads = ReadStore(store)
    await reads.start()
    try:
        expected = []
        for i in range(60):
            # times go back and forth so ids and times disagree
            at = T0 + timedelta(minutes=(i * 37) % 60)
            plate = f"1ABC{i:03d}" if i % 3 == 0 else f"9XYZ{i:03d}"
            await reads.add(Read(0, plate, plate, at, "c", "t"))
            if i % 3 == 0:
                expected.append((at, plate))
        expected.sort(reverse=True)
        found = await reads.search("1ABC*", limit=7)
        assert [r.normalized for r in found] == [p for _, p in expected[:7]]
        found = await reads.search("1ABC*", since=T0 + timedelta(minutes=30))
        assert [r.normalized for r in found] == [
            p for at, p in expected if at >= T0 + timedelta(minutes=30)]
    finally:
        await reads.close()
        await store.close()


def test_wanted_pattern_spells_look_alikes() -> None:
    pattern = read_search.parse_wanted("1A8*234")
    assert pattern.glob == "1A8?234"
    match = pattern.match([])
    assert '"1AB"' in match and '"IA8"' in match  # the index holds normalised text
    with pytest.raises(SearchPatternError):
        read_search.parse_wanted("***")
