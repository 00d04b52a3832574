"""Licence plates of the simulated city: who drives past, and what a camera makes of it.

    traffic = PlateTraffic(scenario.alpr, seed=scenario.seed)
    truth = traffic.draw(rng)                 # a Plate: printed text + country
    seen = misread(truth.text, rng)           # what the camera read (maybe wrong)

Everything is deterministic in the seed: the same scenario gives the same population,
the same hotlist and, per unit, the same sequence of reads. The simulator never imports
the hub, so the look-alike groups are restated here (they are a property of plate fonts
and OCR, DESIGN.md "ALPR reads"; tests check they agree with hub/plates.py).
"""

from __future__ import annotations

import csv
import enum
import random
import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path

from simulator.scenario_alpr import NAMED_LIST, AlprSpec

# Characters an OCR engine confuses on European plates (same as hub/plates.py).
LOOKALIKE_GROUPS: tuple[str, ...] = ("0ODQ", "1I", "2Z", "5S", "8B", "6G")
_GROUP_OF = {ch: g for g in LOOKALIKE_GROUPS for ch in g}

DIGITS = string.digits
LETTERS = string.ascii_uppercase
# Dutch plates use consonants only, and not C or Q (RDW, since 1978).
NL_LETTERS = "BDFGHJKLNPRSTVXZ"
# French SIV plates never use I, O or U (too close to 1, 0 and V).
FR_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
# German district codes near Hasselt (Aachen, Heinsberg, Düren, ...) and the big cities.
DE_DISTRICTS = ("AC", "HS", "DN", "MG", "VIE", "KLE", "D", "K", "BN", "E", "DU", "DO", "B",
                "M", "HH", "F", "S", "NE", "KR", "EU")
# Dutch sidecodes 4-11 (X letter, 9 digit): the ones on the road today.
NL_SIDECODES = ("XX-99-99", "99-99-XX", "99-XX-99", "XX-999-X", "X-999-XX", "XXX-99-X",
                "99-XXX-9", "9-XXX-99")
# Belgian shares: current 1-ABC-234 / 2-ABC-234 plates dominate; old ones still drive.
BE_STYLES = (("current", 0.9), ("old_letters_first", 0.07), ("old_digits_first", 0.03))

# Confidence an engine reports: clean reads are confident, misreads less so but overlap
# the usual 0.8 alert threshold, which is what makes them a nuisance.
CLEAN_CONFIDENCE = (0.85, 0.99)
MISREAD_CONFIDENCE = (0.55, 0.85)
# Of the misreads: look-alike swaps are by far the most common OCR error.
MISREAD_KINDS = (("swap1", 0.55), ("swap2", 0.15), ("drop", 0.18), ("extra", 0.12))
# Hotlists generated for a scenario: (list, category, priority 0..100, weight).
HOTLIST_LISTS = (
    ("stolen", "vehicle", 80, 0.35),
    ("stolen-plates", "plates", 85, 0.10),
    ("wanted", "person", 95, 0.10),
    ("uninsured", "insurance", 40, 0.30),
    ("inspection", "technical", 20, 0.15),
)
HOTLIST_HEADER = ("plate", "list", "category", "priority")
# Written only when the scenario has dated entries (hub/hotlists.py reads these names).
DATED_HEADER = ("effective", "expiry", "covert")


class ReadKind(enum.StrEnum):
    """How the camera's text relates to the truth (kept by the simulator, not sent)."""

    CLEAN = "clean"
    SWAP = "swap"  # one or two characters replaced by look-alikes
    DROP = "drop"  # one character missing
    EXTRA = "extra"  # one character too many


@dataclass(frozen=True)
class Plate:
    """A real plate: as printed (with its separators) and its country (ISO alpha-2)."""

    text: str
    country: str

    @property
    def normalized(self) -> str:
        return normalize(self.text)


@dataclass(frozen=True)
class Misread:
    """What a camera read from a plate, and how it got there."""

    text: str  # printed form: separators where the plate has them
    kind: ReadKind
    confidence: float


def normalize(text: str) -> str:
    """Uppercase letters and digits only: "1-abc-234" -> "1ABC234"."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_plate(country: str, rng: random.Random) -> Plate:
    """A random plate of `country` in one of its current formats."""
    if country == "BE":
        style = _weighted(rng, BE_STYLES)
        if style == "current":
            text = f"{rng.choice('12')}-{_pick(rng, LETTERS, 3)}-{_pick(rng, DIGITS, 3)}"
        elif style == "old_letters_first":
            text = f"{_pick(rng, LETTERS, 3)}-{_pick(rng, DIGITS, 3)}"
        else:
            text = f"{_pick(rng, DIGITS, 3)}-{_pick(rng, LETTERS, 3)}"
    elif country == "NL":
        code = rng.choice(NL_SIDECODES)
        text = "".join(rng.choice(NL_LETTERS) if ch == "X" else rng.choice(DIGITS)
                       if ch == "9" else ch for ch in code)
    elif country == "DE":
        district = rng.choice(DE_DISTRICTS)
        # At most 8 characters besides separators; numbers never start with 0.
        letters = _pick(rng, LETTERS, rng.randint(1, min(2, 6 - len(district))))
        room = min(4, 8 - len(district) - len(letters))
        number = str(rng.randint(1, 10 ** rng.randint(1, room) - 1))
        text = f"{district}-{letters} {number}"
    elif country == "FR":
        text = f"{_pick(rng, FR_LETTERS, 2)}-{_pick(rng, DIGITS, 3)}-{_pick(rng, FR_LETTERS, 2)}"
    else:
        raise ValueError(f"no plate format for country {country!r}")
    return Plate(text, country)


def misread(text: str, rng: random.Random) -> Misread:
    """A wrong reading of `text`: look-alike swaps (one or two), a dropped or an extra
    character. Separators of the plate are kept; the result always differs from `text`."""
    kind_name = _weighted(rng, MISREAD_KINDS)
    chars = list(text)
    alnum = [i for i, ch in enumerate(chars) if ch.isalnum()]
    swappable = [i for i in alnum if chars[i] in _GROUP_OF]
    if kind_name.startswith("swap") and swappable:
        count = min(len(swappable), 2 if kind_name == "swap2" else 1)
        for i in rng.sample(swappable, count):
            chars[i] = rng.choice([c for c in _GROUP_OF[chars[i]] if c != chars[i]])
        kind = ReadKind.SWAP
    elif kind_name == "extra" or len(alnum) < 3:
        # Bolts, dirt and frame edges read as a stray 1, I or letter next to a character.
        i = rng.choice(alnum) + rng.randint(0, 1)
        chars.insert(i, rng.choice("1I" + LETTERS + DIGITS))
        kind = ReadKind.EXTRA
    else:
        del chars[rng.choice(alnum)]
        kind = ReadKind.DROP
    seen = _tidy("".join(chars))
    lo, hi = MISREAD_CONFIDENCE
    return Misread(seen, kind, round(rng.uniform(lo, hi), 3))


def clean_read(text: str, rng: random.Random) -> Misread:
    """A correct reading of `text` with a clean read's confidence."""
    lo, hi = CLEAN_CONFIDENCE
    return Misread(text, ReadKind.CLEAN, round(rng.uniform(lo, hi), 3))


def _tidy(text: str) -> str:
    """No separators at the ends or doubled (a dropped character between two of them)."""
    out: list[str] = []
    for ch in text:
        if not ch.isalnum() and (not out or not out[-1].isalnum()):
            continue
        out.append(ch)
    while out and not out[-1].isalnum():
        out.pop()
    return "".join(out)


def country_of(text: str) -> str:
    """Best guess of the country of a printed plate (named hotlist plates carry none)."""
    t = text.upper()
    if re.fullmatch(r"[12]-[A-Z]{3}-\d{3}|[A-Z]{3}-\d{3}|\d{3}-[A-Z]{3}", t):
        return "BE"
    if re.fullmatch(r"[A-Z]{2}-\d{3}-[A-Z]{2}", t):
        return "FR"
    if re.fullmatch(r"[A-Z]{1,3}-[A-Z]{1,2} \d{1,4}", t):
        return "DE"
    if re.fullmatch(r"[A-Z0-9]{1,3}-[A-Z0-9]{2,3}-[A-Z0-9]{1,2}", t):
        return "NL"
    return "BE"


@dataclass(frozen=True)
class HotlistRow:
    """One line of the generated hotlist CSV."""

    plate: Plate
    list: str
    category: str
    priority: int
    effective: date | datetime | None = None
    expiry: date | datetime | None = None
    covert: bool = False


class PlateTraffic:
    """The plates of one scenario: a fixed population (so cars are seen again by other
    units) and the hotlist; draws are deterministic in the caller's rng."""

    def __init__(self, spec: AlprSpec, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self._population: dict[int, Plate] = {}

    def resident(self, index: int) -> Plate:
        """Plate number `index` of the population (made on first use, then kept)."""
        plate = self._population.get(index)
        if plate is None:
            rng = random.Random(f"citywatch-alpr:{self.seed}:population:{index}")
            country = _weighted(rng, self.spec.traffic.countries)
            plate = self._population[index] = make_plate(country, rng)
        return plate

    def draw(self, rng: random.Random) -> tuple[Plate, bool]:
        """(the plate of the next passing car, whether it is on the hotlist)."""
        t = self.spec.traffic
        if self.drawn_hotlist and rng.random() < t.hotlist_share:
            return rng.choice(self.drawn_hotlist).plate, True
        return self.resident(rng.randrange(t.population)), False

    def read(self, rng: random.Random) -> tuple[Plate, bool, Misread]:
        """A passing car and what the camera read: (truth, hotlisted, reading)."""
        plate, hot = self.draw(rng)
        if rng.random() < self.spec.traffic.misread_share:
            return plate, hot, misread(plate.text, rng)
        return plate, hot, clean_read(plate.text, rng)

    @cached_property
    def hotlist(self) -> tuple[HotlistRow, ...]:
        """Named plates, then `generated` distinct drawn ones, then the dated `entries`
        (made on first use: a big list takes seconds, so the fleet asks for it in a
        thread)."""
        h = self.spec.hotlist
        if h is None:
            return ()
        name, category, priority = NAMED_LIST
        rows = [HotlistRow(Plate(p, country_of(p)), name, category, priority)
                for p in h.plates]
        rng = random.Random(f"citywatch-alpr:{self.seed}:hotlist")
        lists = tuple((f"{n}|{c}|{p}", w) for n, c, p, w in HOTLIST_LISTS)
        seen = {r.plate.normalized for r in rows} | {normalize(e.plate) for e in h.entries}
        while len(rows) < len(h.plates) + h.generated:
            plate = make_plate(_weighted(rng, self.spec.traffic.countries), rng)
            if plate.normalized in seen:
                continue
            seen.add(plate.normalized)
            lname, cat, prio = _weighted(rng, lists).split("|")
            rows.append(HotlistRow(plate, lname, cat, int(prio)))
        rows.extend(HotlistRow(Plate(e.plate, country_of(e.plate)), e.list, e.category,
                               e.priority, e.effective, e.expiry, e.covert)
                    for e in h.entries)
        return tuple(rows)

    @cached_property
    def drawn_hotlist(self) -> tuple[HotlistRow, ...]:
        """The rows passing traffic draws from: named and generated plates. Dated entries
        are left to timeline plate events, so that whether an expired or not yet
        effective entry raises an alert is never blurred by a random sighting."""
        h = self.spec.hotlist
        rows = self.hotlist
        return rows[: len(rows) - len(h.entries)] if h is not None and h.entries else rows

    def write_hotlist(self, path: Path) -> Path:
        """Write the hotlist as CSV `plate,list,category,priority` (what the hub imports),
        plus `effective,expiry,covert` when the scenario has dated entries."""
        h = self.spec.hotlist
        dated = h is not None and bool(h.entries)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(HOTLIST_HEADER + DATED_HEADER if dated else HOTLIST_HEADER)
            for r in self.hotlist:
                row: tuple[object, ...] = (r.plate.text, r.list, r.category, r.priority)
                if dated:
                    row += (_iso(r.effective), _iso(r.expiry), "true" if r.covert else "")
                w.writerow(row)
        return path


def _iso(value: date | datetime | None) -> str:
    """A date as 2026-03-01 (the hub takes a whole day), a date-time with its offset."""
    return "" if value is None else value.isoformat()
