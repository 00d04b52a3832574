"""Plate population, misreads, the generated hotlist and plate pictures of the simulator."""

from __future__ import annotations

import csv
import io
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from hub.plates import LOOKALIKE_GROUPS as HUB_GROUPS
from hub.plates import canonical
from simulator.alpr_plates import (
    CLEAN_CONFIDENCE,
    LOOKALIKE_GROUPS,
    MISREAD_CONFIDENCE,
    PlateTraffic,
    ReadKind,
    country_of,
    make_plate,
    misread,
    normalize,
)
from simulator.alpr_render import CROP_SIZE, OVERVIEW_SIZE, render_crop, render_overview
from simulator.scenario_alpr import AlprHotlist, AlprSpec, AlprTraffic

# What each country's plates look like as printed (written from the national rules, not
# from the generator): BE current and the two older formats, NL sidecodes 4-11 (consonants
# without C and Q), DE district-letters number, FR SIV (no I, O, U).
NL_L = "[BDFGHJKLNPRSTVXZ]"
PATTERNS = {
    "BE": r"[12]-[A-Z]{3}-\d{3}|[A-Z]{3}-\d{3}|\d{3}-[A-Z]{3}",
    "NL": "|".join(p.replace("X", NL_L).replace("9", r"\d") for p in (
        "XX-99-99", "99-99-XX", "99-XX-99", "XX-999-X", "X-999-XX", "XXX-99-X", "99-XXX-9",
        "9-XXX-99")),
    "DE": r"[A-Z]{1,3}-[A-Z]{1,2} [1-9]\d{0,3}",
    "FR": r"[A-HJ-NP-TV-Z]{2}-\d{3}-[A-HJ-NP-TV-Z]{2}",
}


def _traffic(seed: int = 1, **kw: object) -> PlateTraffic:
    hotlist = kw.pop("hotlist", AlprHotlist(("1-ABC-234",), 50))
    assert hotlist is None or isinstance(hotlist, AlprHotlist)
    return PlateTraffic(AlprSpec((), AlprTraffic(**kw), hotlist), seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("country", list(PATTERNS))
def test_plates_follow_the_country_format(country: str) -> None:
    rng = random.Random(5)
    plates = [make_plate(country, rng) for _ in range(500)]
    assert all(p.country == country for p in plates)
    bad = [p.text for p in plates if not re.fullmatch(PATTERNS[country], p.text)]
    assert bad == []
    assert len({p.text for p in plates}) > 450, "plates are varied"
    # DE: at most 8 characters besides the separators, as the German rules allow.
    if country == "DE":
        assert max(len(p.normalized) for p in plates) <= 8


def test_belgian_plates_are_mostly_current_ones() -> None:
    rng = random.Random(9)
    texts = [make_plate("BE", rng).text for _ in range(2000)]
    current = sum(bool(re.fullmatch(r"[12]-[A-Z]{3}-\d{3}", t)) for t in texts)
    assert 0.8 < current / len(texts) < 0.97


def test_population_follows_country_shares() -> None:
    shares = (("BE", 0.7), ("NL", 0.2), ("DE", 0.1))
    traffic = _traffic(countries=shares, population=4000)
    counts = Counter(traffic.resident(i).country for i in range(4000))
    for country, share in shares:
        assert abs(counts[country] / 4000 - share) < 0.03, (country, counts)
    assert counts["FR"] == 0


def test_country_of_recognises_printed_plates() -> None:
    rng = random.Random(3)
    for country in PATTERNS:
        for _ in range(50):
            plate = make_plate(country, rng)
            assert country_of(plate.text) == country, plate


def test_simulator_lookalikes_match_the_hub() -> None:
    assert LOOKALIKE_GROUPS == HUB_GROUPS


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(PATTERNS)), st.integers(0, 2**32 - 1))
def test_misreads_stay_within_lookalikes_or_change_length_by_one(country: str,
                                                                seed: int) -> None:
    rng = random.Random(seed)
    truth = make_plate(country, rng).text
    m = misread(truth, rng)
    t, s = normalize(truth), normalize(m.text)
    assert s != t, "a misread always differs from the plate"
    assert MISREAD_CONFIDENCE[0] <= m.confidence <= MISREAD_CONFIDENCE[1]
    assert m.text == m.text.strip("- ") and "--" not in m.text
    if m.kind is ReadKind.SWAP:
        diffs = [(a, b) for a, b in zip(t, s, strict=True) if a != b]
        assert 1 <= len(diffs) <= 2
        assert all(any(a in g and b in g for g in LOOKALIKE_GROUPS) for a, b in diffs)
        assert canonical(s) == canonical(t)
    elif m.kind is ReadKind.DROP:
        assert len(s) == len(t) - 1 and _is_subsequence(s, t)
    else:
        assert m.kind is ReadKind.EXTRA
        assert len(s) == len(t) + 1 and _is_subsequence(t, s)


def test_misread_kinds_all_occur() -> None:
    rng = random.Random(11)
    kinds = Counter(misread("1-ABC-234", rng).kind for _ in range(1000))
    assert set(kinds) == {ReadKind.SWAP, ReadKind.DROP, ReadKind.EXTRA}
    assert kinds[ReadKind.SWAP] > kinds[ReadKind.DROP] > 0


def test_reads_follow_misread_and_hotlist_shares() -> None:
    traffic = _traffic(misread_share=0.2, hotlist_share=0.1)
    rng = random.Random(2)
    reads = [traffic.read(rng) for _ in range(4000)]
    hot = {r.plate.text for r in traffic.hotlist}
    misread_share = sum(seen.kind is not ReadKind.CLEAN for _, _, seen in reads) / len(reads)
    hot_share = sum(h for _, h, _ in reads) / len(reads)
    assert abs(misread_share - 0.2) < 0.03
    assert abs(hot_share - 0.1) < 0.02
    assert all(truth.text in hot for truth, h, _ in reads if h)
    for truth, _, seen in reads:
        if seen.kind is ReadKind.CLEAN:
            assert seen.text == truth.text
            assert CLEAN_CONFIDENCE[0] <= seen.confidence <= CLEAN_CONFIDENCE[1]
        else:
            assert normalize(seen.text) != truth.normalized


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    def run(seed: int) -> list[tuple[str, str]]:
        traffic = _traffic(seed)
        rng = random.Random(f"unit:{seed}")
        return [(t.text, s.text) for t, _, s in (traffic.read(rng) for _ in range(200))]

    assert run(4) == run(4)
    assert run(4) != run(5)
    assert [r.plate for r in _traffic(4).hotlist] == [r.plate for r in _traffic(4).hotlist]
    assert [r.plate for r in _traffic(4).hotlist] != [r.plate for r in _traffic(5).hotlist]


def test_hotlist_file(tmp_path: Path) -> None:
    traffic = _traffic(hotlist=AlprHotlist(("1-ABC-234", "XX-999-X"), 300, "h.csv"))
    path = traffic.write_hotlist(tmp_path / "h.csv")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["plate", "list", "category", "priority"]
    assert len(rows) == 302
    assert [r["plate"] for r in rows[:2]] == ["1-ABC-234", "XX-999-X"]
    assert len({normalize(r["plate"]) for r in rows}) == 302, "no duplicate plates"
    assert {r["list"] for r in rows[2:]} >= {"stolen", "uninsured"}
    assert all(0 <= int(r["priority"]) <= 100 for r in rows)
    assert country_of("XX-999-X") == "NL" and traffic.hotlist[1].plate.country == "NL"


def test_no_hotlist_means_no_hotlisted_reads() -> None:
    traffic = _traffic(hotlist=None, hotlist_share=0.5)
    rng = random.Random(1)
    assert traffic.hotlist == ()
    assert not any(h for _, h, _ in (traffic.read(rng) for _ in range(200)))


@pytest.mark.parametrize("country", ["BE", "NL", "DE", "FR", "PL"])
def test_rendered_pictures_decode_at_their_size(country: str) -> None:
    for render, size in ((render_crop, CROP_SIZE), (render_overview, OVERVIEW_SIZE)):
        data = render("AB-123-CD", country)
        img = Image.open(io.BytesIO(data))
        assert img.format == "JPEG" and img.size == size
        assert render("AB-123-CD", country) == data, "same read, same picture"
    assert render_crop("AB-123-CD", country) != render_crop("AB-128-CD", country)


def test_crop_colours_follow_the_country() -> None:
    def centre_row_mean(country: str) -> tuple[float, ...]:
        img = Image.open(io.BytesIO(render_crop("1-ABC-234", country))).convert("RGB")
        strip = np.asarray(img, dtype=np.float64)[4, img.size[0] // 2 : -6]  # background
        return tuple(float(v) for v in strip.mean(axis=0))

    r, g, b = centre_row_mean("NL")
    assert r > 200 and g > 160 and b < 100, "Dutch plates are yellow"
    r, g, b = centre_row_mean("BE")
    assert min(r, g, b) > 200, "Belgian plates are white"
