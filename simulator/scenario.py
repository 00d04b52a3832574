"""Scenario files (TOML) -> frozen, validated, seed-expanded descriptions of a simulated city.

    scenario = load_scenario(Path("scenarios/hasselt.toml"))
    scenario.cameras  # tuple[CameraSpec, ...], identical for identical files and seeds

Every problem is reported as a `ScenarioError` listing all problems found, each located as
`file:line: field.path: message` (see DESIGN.md "Scenarios"). Sections a later version adds
(ALPR units, vehicles, traffic, hotlists, timeline, expectations) get their own `_section_*`
parser and an entry in `_SECTIONS`; until then they are reported as unknown keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import fnmatch
import itertools
import json
import math
import random
import re
import string
import tomllib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.model import CameraFault, CameraKind, CameraSpec, StreamProfile, VendorIdentity
from simulator.toml_lines import LineIndex
from simulator.vendors import VENDOR_PROFILES, VENDORS, vendor_for

__all__ = [
    "STREETS",
    "Bounds",
    "CameraGroup",
    "Grant",
    "Scenario",
    "ScenarioError",
    "Site",
    "SiteKind",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]

MIN_SPEED, MAX_SPEED = 1.0, 60.0

# --- Hasselt street map ---------------------------------------------------------------------
# Street name -> polyline (lat, lon) points, approximate. Generated cameras are placed along
# these lines; cameras placed in an `area` get the nearest street for their name.
Point = tuple[float, float]


def _ring(lat: float, lon: float, dlat: float, dlon: float, n: int = 10) -> tuple[Point, ...]:
    pts = [
        (round(lat + dlat * math.sin(2 * math.pi * k / n), 5),
         round(lon + dlon * math.cos(2 * math.pi * k / n), 5))
        for k in range(n)
    ]
    return (*pts, pts[0])


STREETS: dict[str, tuple[Point, ...]] = {
    # City centre, inside the inner ring.
    "Grote Markt": ((50.9309, 5.3372), (50.9305, 5.3384)),
    "Havermarkt": ((50.9300, 5.3380), (50.9286, 5.3395)),
    "Koning Albertstraat": ((50.9302, 5.3386), (50.9272, 5.3404)),
    "Demerstraat": ((50.9311, 5.3370), (50.9323, 5.3324)),
    "Hoogstraat": ((50.9307, 5.3386), (50.9302, 5.3420)),
    "Kapelstraat": ((50.9303, 5.3366), (50.9290, 5.3344)),
    "Ridder Portmansstraat": ((50.9296, 5.3352), (50.9283, 5.3332)),
    "Kolonel Dusartplein": ((50.9334, 5.3334), (50.9340, 5.3352)),
    "Zuivelmarkt": ((50.9318, 5.3392), (50.9326, 5.3405)),
    "Kanaalkom": ((50.9350, 5.3290), (50.9362, 5.3318)),
    "Quartier Bleu": ((50.9342, 5.3300), (50.9352, 5.3322)),
    "Stationsplein": ((50.9262, 5.3272), (50.9270, 5.3290)),
    # Inner ring R70 and its named stretches.
    "R70 Groene Boulevard": _ring(50.9307, 5.3378, 0.0048, 0.0075),
    "Thonissenlaan": ((50.9350, 5.3390), (50.9338, 5.3442)),
    "Guffenslaan": ((50.9290, 5.3298), (50.9330, 5.3308)),
    "Martelarenlaan": ((50.9344, 5.3442), (50.9366, 5.3472)),
    "Elfde-Liniestraat": ((50.9336, 5.3456), (50.9330, 5.3522)),
    # Radial roads (steenwegen): from the inner ring outwards.
    "Kempische Steenweg": ((50.9352, 5.3420), (50.9470, 5.3490), (50.9575, 5.3565)),
    "Corda Campus": ((50.9503, 5.3508), (50.9514, 5.3536)),
    "Genkersteenweg": ((50.9322, 5.3452), (50.9360, 5.3610), (50.9400, 5.3780)),
    "Kuringersteenweg": ((50.9342, 5.3332), (50.9395, 5.3200), (50.9445, 5.3065)),
    "Diestersteenweg": ((50.9318, 5.3302), (50.9340, 5.3160), (50.9362, 5.3015)),
    "Sint-Truidersteenweg": ((50.9278, 5.3318), (50.9220, 5.3180), (50.9165, 5.3055)),
    "Luikersteenweg": ((50.9262, 5.3392), (50.9150, 5.3405), (50.9045, 5.3420)),
    "Maastrichtersteenweg": ((50.9288, 5.3440), (50.9255, 5.3580), (50.9225, 5.3700)),
    "Runkstersteenweg": ((50.9225, 5.3285), (50.9170, 5.3240), (50.9120, 5.3200)),
    "Putvennestraat": ((50.9540, 5.3560), (50.9565, 5.3610), (50.9590, 5.3660)),
    # Outer ring R71 (southern and eastern arc).
    "R71 Grote Ring": (
        (50.9410, 5.3640), (50.9300, 5.3660), (50.9200, 5.3600),
        (50.9130, 5.3460), (50.9120, 5.3300), (50.9180, 5.3140),
    ),
    # UHasselt campus Diepenbeek: real, but east of the Hasselt box (lon 5.39).
    "Agoralaan": ((50.9290, 5.3900), (50.9300, 5.3950)),
}


def _distance_m(a: Point, b: Point) -> float:
    kx = 111_320 * math.cos(math.radians(a[0]))
    return math.hypot((a[0] - b[0]) * 110_540, (a[1] - b[1]) * kx)


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    ax, ay, bx, by = a[1], a[0], b[1], b[0]
    dx, dy = bx - ax, by - ay
    t = 0.0 if dx == dy == 0 else ((p[1] - ax) * dx + (p[0] - ay) * dy) / (dx * dx + dy * dy)
    t = min(1.0, max(0.0, t))
    return _distance_m(p, (ay + t * dy, ax + t * dx))


def nearest_street(lat: float, lon: float, streets: Iterable[str] | None = None) -> str:
    """The street of the built-in map (or of `streets`) closest to a position."""
    def dist(name: str) -> float:
        pts = STREETS[name]
        return min(_segment_distance((lat, lon), a, b) for a, b in itertools.pairwise(pts))
    return min(streets if streets is not None else STREETS, key=dist)


def _point_on(street: str, rng: random.Random) -> Point:
    pts = STREETS[street]
    lengths = [_distance_m(a, b) for a, b in itertools.pairwise(pts)]
    seg = rng.choices(range(len(lengths)), weights=lengths)[0]
    (la, oa), (lb, ob) = pts[seg], pts[seg + 1]
    t = rng.random()
    jitter = 0.00012
    return (
        round(la + t * (lb - la) + rng.uniform(-jitter, jitter), 6),
        round(oa + t * (ob - oa) + rng.uniform(-jitter, jitter), 6),
    )


# --- the frozen result ------------------------------------------------------------------------


class SiteKind(enum.StrEnum):
    CITY = "city"
    POLICE = "police"
    PARTNER = "partner"


@dataclass(frozen=True)
class Bounds:
    """A lat/lon box; positions of the scenario must lie inside it."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max

    def __str__(self) -> str:
        return (f"lat {self.lat_min:g}..{self.lat_max:g}, "
                f"lon {self.lon_min:g}..{self.lon_max:g}")


@dataclass(frozen=True)
class Grant:
    """A federation grant: site `to` may see this site's cameras matching `cameras` (globs)."""

    to: str
    cameras: tuple[str, ...]

    def matches(self, camera_id: str) -> bool:
        return any(fnmatch.fnmatchcase(camera_id, pat) for pat in self.cameras)


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    kind: SiteKind
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class CameraGroup:
    """A `[[camera_groups]]` entry as written (the cameras it expands to are in Scenario)."""

    id: str
    site: str
    kind: CameraKind
    count: int
    camera_ids: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    duration_s: float
    speed: float
    sites: tuple[Site, ...]
    cameras: tuple[CameraSpec, ...]
    camera_groups: tuple[CameraGroup, ...] = ()
    faults: tuple[tuple[str, CameraFault], ...] = ()  # (camera id, fault) as configured
    bounds: Bounds | None = None
    description: str = ""
    path: Path | None = field(default=None, compare=False)

    @cached_property
    def _cameras_by_id(self) -> dict[str, CameraSpec]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def _sites_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    def camera(self, camera_id: str) -> CameraSpec:
        """The camera with this id (KeyError if there is none)."""
        return self._cameras_by_id[camera_id]

    def site(self, site_id: str) -> Site:
        return self._sites_by_id[site_id]

    def cameras_of(self, site_id: str) -> tuple[CameraSpec, ...]:
        return tuple(c for c in self.cameras if c.site == site_id)

    def granted_to(self, site_id: str) -> tuple[CameraSpec, ...]:
        """Cameras of other sites that those sites grant to `site_id` (federation)."""
        out = []
        for cam in self.cameras:
            site = self._sites_by_id[cam.site]
            if any(g.to == site_id and g.matches(cam.id) for g in site.grants):
                out.append(cam)
        return tuple(out)


# --- value checking -----------------------------------------------------------------------------

_MISSING: Any = object()
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SLUG_HINT = "lowercase letters, digits, '-' and '_', starting with a letter or digit"


def _describe(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _choices(options: Iterable[str]) -> str:
    return ", ".join(f'"{o}"' for o in options)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> float | None:
    """Seconds in "2h", "90m", "45s", "1h30m", "01:30:00" or a number of seconds; else None."""
    if _is_number(value):
        return float(value)
    if not isinstance(value, str):
        return None
    s = value.strip().lower()
    m = re.fullmatch(r"(\d+):([0-5]\d):([0-5]\d)", s)
    if m:
        return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
    if not s or not re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[hms]\s*)+", s):
        return None
    parts = _DURATION_PART.findall(s)
    units = [u for _, u in parts]
    if units != sorted(set(units), key="hms".index):
        return None  # repeated or out of order, like "30m1h"
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


class _Checker:
    """Collects problems as (field path, message) while walking the parsed TOML."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def err(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def table(
        self, value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """`value` must be a table with only `allowed` keys and all `required` ones."""
        if not isinstance(value, dict):
            self.err(path, f"must be a table, got {_describe(value)}")
            return None
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                self.err(_join(path, key), f"unknown key{_suggest(key, allowed)}"
                         f" (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.err(_join(path, key), "required key is missing")
        return value

    def array_of_tables(self, value: Any, path: str) -> list[Any]:
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.err(path, f"must be an array of tables ([[{path}]]), got {_describe(value)}")
            return []
        return value

    def check(
        self, d: dict[str, Any], key: str, path: str, ok: Callable[[Any], bool], expect: str,
        default: Any = _MISSING,
    ) -> Any:
        """d[key] if `ok(value)`; else record "must be {expect}, got ..." and return None."""
        if key not in d:
            return None if default is _MISSING else default  # missing: reported by table()
        value = d[key]
        if not ok(value):
            self.err(_join(path, key), f"must be {expect}, got {_describe(value)}")
            return None
        return value

    def string(self, d: dict[str, Any], key: str, path: str, default: Any = _MISSING) -> Any:
        return self.check(d, key, path, lambda v: isinstance(v, str) and v.strip() != "",
                          "a non-empty string", default)

    def slug(self, d: dict[str, Any], key: str, path: str) -> Any:
        return self.check(d, key, path, lambda v: isinstance(v, str) and bool(_SLUG.fullmatch(v)),
                          f"an id of {_SLUG_HINT}")

    def choice(self, d: dict[str, Any], key: str, path: str, options: Iterable[str],
               default: Any = _MISSING) -> Any:
        options = list(options)
        if key not in d:
            return None if default is _MISSING else default
        value = d[key]
        if not isinstance(value, str) or value not in options:
            hint = _suggest(value, options) if isinstance(value, str) else ""
            self.err(_join(path, key),
                     f"must be one of {_choices(options)}, got {_describe(value)}{hint}")
            return None
        return value

    def latlon(self, value: Any, path: str, axis: str, bounds: Bounds | None) -> float | None:
        lo, hi = (-90.0, 90.0) if axis == "lat" else (-180.0, 180.0)
        word = "latitude" if axis == "lat" else "longitude"
        if not _is_number(value) or not lo <= value <= hi:
            self.err(path, f"must be a {word} between {lo:g} and {hi:g}, got {_describe(value)}")
            return None
        if bounds is not None:
            blo, bhi = ((bounds.lat_min, bounds.lat_max) if axis == "lat"
                        else (bounds.lon_min, bounds.lon_max))
            if not blo <= value <= bhi:
                self.err(path, f"{value:g} is outside the scenario bounds ({bounds})")
                return None
        return float(value)

    def range_pair(self, value: Any, path: str, axis: str, bounds: Bounds | None
                   ) -> tuple[float, float] | None:
        if not isinstance(value, list) or len(value) != 2:
            self.err(path, f"must be a [min, max] pair, got {_describe(value)}")
            return None
        lo = self.latlon(value[0], f"{path}[0]", axis, bounds)
        hi = self.latlon(value[1], f"{path}[1]", axis, bounds)
        if lo is None or hi is None:
            return None
        if lo >= hi:
            self.err(path, f"min must be less than max, got [{lo:g}, {hi:g}]")
            return None
        return lo, hi


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- sections -------------------------------------------------------------------------------------


@dataclass
class _Build:
    """Mutable state while a scenario is being validated and expanded."""

    c: _Checker
    index: LineIndex
    seed: int = 0
    bounds: Bounds | None = None
    site_ids: dict[str, str] = field(default_factory=dict)  # id -> path that defined it
    sites: list[dict[str, Any]] = field(default_factory=list)
    sites_ok: dict[str, bool] = field(default_factory=dict)  # site id -> all its groups valid
    cameras: list[CameraSpec] = field(default_factory=list)
    camera_ids: dict[str, str] = field(default_factory=dict)  # camera id -> defining path
    groups: list[CameraGroup] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    faults: list[tuple[str, CameraFault]] = field(default_factory=list)

    def where(self, path: str) -> str:
        line = self.index.line_of(path)
        return f"line {line}" if line is not None else path


_SCENARIO_KEYS = ("name", "description", "seed", "start", "duration", "speed", "bounds")


def _section_scenario(b: _Build, value: Any, out: dict[str, Any]) -> None:
    c, path = b.c, "scenario"
    d = c.table(value, path, _SCENARIO_KEYS, required=("name", "seed", "start", "duration"))
    if d is None:
        return
    out["name"] = c.string(d, "name", path)
    out["description"] = c.check(d, "description", path, lambda v: isinstance(v, str),
                                 "a string", default="")
    seed = c.check(d, "seed", path, lambda v: _is_int(v) and v >= 0, "a non-negative integer")
    b.seed = out["seed"] = seed if seed is not None else 0
    start = d.get("start", _MISSING)
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            pass
    if start is not _MISSING:
        if not isinstance(start, datetime):
            c.err(f"{path}.start", "must be a date and time such as 2026-03-02T08:00:00Z, "
                  f"got {_describe(start)}")
        elif start.tzinfo is None:
            c.err(f"{path}.start", "must include a UTC offset, e.g. 2026-03-02T08:00:00Z, "
                  f"got {_describe(start)}")
        else:
            out["start"] = start
    if "duration" in d:
        seconds = parse_duration(d["duration"])
        if seconds is None:
            c.err(f"{path}.duration", 'must be a duration such as "2h", "90m", "45s", '
                  f'"1h30m" or "01:30:00", got {_describe(d["duration"])}')
        elif seconds <= 0:
            c.err(f"{path}.duration", f"must be longer than zero, got {_describe(d['duration'])}")
        else:
            out["duration_s"] = seconds
    speed = c.check(d, "speed", path, lambda v: _is_number(v) and MIN_SPEED <= v <= MAX_SPEED,
                    f"a number from {MIN_SPEED:g} to {MAX_SPEED:g}", default=1.0)
    out["speed"] = float(speed) if speed is not None else 1.0
    if "bounds" in d:
        bd = c.table(d["bounds"], f"{path}.bounds", ("lat", "lon"), required=("lat", "lon"))
        if bd is not None and "lat" in bd and "lon" in bd:
            lat = c.range_pair(bd["lat"], f"{path}.bounds.lat", "lat", None)
            lon = c.range_pair(bd["lon"], f"{path}.bounds.lon", "lon", None)
            if lat and lon:
                b.bounds = out["bounds"] = Bounds(lat[0], lat[1], lon[0], lon[1])


_SITE_KEYS = ("id", "name", "kind", "grants")
_GRANT_KEYS = ("to", "cameras")


def _section_sites(b: _Build, value: Any, out: dict[str, Any]) -> None:
    c = b.c
    for i, raw in enumerate(c.array_of_tables(value, "sites")):
        path = f"sites[{i}]"
        d = c.table(raw, path, _SITE_KEYS, required=("id", "name", "kind"))
        if d is None:
            continue
        sid = c.slug(d, "id", path)
        name = c.string(d, "name", path)
        kind = c.choice(d, "kind", path, [k.value for k in SiteKind])
        if sid is not None:
            if sid in b.site_ids:
                c.err(f"{path}.id",
                      f'duplicate site id "{sid}" (first defined at {b.where(b.site_ids[sid])})')
                sid = None
            else:
                b.site_ids[sid] = path
                b.sites_ok[sid] = True
        grants = []
        gvalue = d.get("grants", [])
        if not isinstance(gvalue, list):
            c.err(f"{path}.grants", f"must be an array of tables, got {_describe(gvalue)}")
            gvalue = []
        for j, graw in enumerate(gvalue):
            gpath = f"{path}.grants[{j}]"
            g = c.table(graw, gpath, _GRANT_KEYS, required=_GRANT_KEYS)
            if g is None:
                continue
            to = c.slug(g, "to", gpath)
            pats = c.check(g, "cameras", gpath,
                           lambda v: isinstance(v, list) and bool(v)
                           and all(isinstance(p, str) and p.strip() for p in v),
                           'a non-empty array of camera ids or patterns like "uhasselt-*"')
            grants.append((gpath, to, pats))
        b.sites.append({"path": path, "id": sid, "name": name, "kind": kind, "grants": grants})


_GROUP_KEYS = (
    "id", "site", "kind", "count", "name", "vendors", "vendor", "area", "streets", "positions",
    "stream", "username", "password", "clock_offset_s", "slow_delay_s",
)
_STREAM_KEYS = ("width", "height", "fps", "codec", "bitrate_kbps")
_STREAM_DEFAULTS = {"width": 1920, "height": 1080, "fps": 25, "codec": "H264",
                    "bitrate_kbps": 4096}
_STREAM_LIMITS = {"width": (160, 7680), "height": (120, 4320), "fps": (1, 60),
                  "bitrate_kbps": (32, 65536)}
_CODECS = ("H264", "H265", "JPEG")
_POSITION_KEYS = ("street", "lat", "lon", "name")
_NAME_FIELDS = ("street", "number", "n", "site", "group")
_DEFAULT_NAMES = {
    CameraKind.FIXED: "{street} {number}",
    CameraKind.TEMPORARY: "{street} {number} (tijdelijk)",
    CameraKind.MOBILE: "Combi {n} ALPR",
}


def _check_template(c: _Checker, d: dict[str, Any], path: str) -> str | None:
    tpl = c.string(d, "name", path, default=None)
    if tpl is None:
        return None
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(tpl) if f is not None]
    except ValueError as e:
        c.err(f"{path}.name", f"is not a valid name template ({e}), got {_describe(tpl)}")
        return None
    bad = [n for n in names if n not in _NAME_FIELDS]
    if bad:
        c.err(f"{path}.name", f'unknown placeholder "{{{bad[0]}}}" in name template; use '
              + ", ".join("{" + f + "}" for f in _NAME_FIELDS))
        return None
    return str(tpl)


def _check_stream(c: _Checker, value: Any, path: str) -> tuple[StreamProfile, ...] | None:
    d = c.table(value, path, _STREAM_KEYS)
    if d is None:
        return None
    ok = True
    vals: dict[str, Any] = {}
    for key, (lo, hi) in _STREAM_LIMITS.items():
        def in_range(v: Any, lo: int = lo, hi: int = hi) -> bool:
            return _is_int(v) and lo <= v <= hi
        v = c.check(d, key, path, in_range, f"an integer from {lo} to {hi}",
                    default=_STREAM_DEFAULTS[key])
        ok &= v is not None
        vals[key] = v
    codec = c.choice(d, "codec", path, _CODECS, default="H264")
    ok &= codec is not None
    if not ok:
        return None
    w, h, fps = vals["width"], vals["height"], vals["fps"]
    main = StreamProfile("profile_1", "mainStream", w, h, fps, codec, vals["bitrate_kbps"])
    if w <= 640:
        return (main,)
    sub_h = max(2, round(640 * h / w / 2) * 2)
    sub = StreamProfile("profile_2", "subStream", 640, sub_h, min(fps, 15), codec,
                        min(512, vals["bitrate_kbps"]))
    return (main, sub)


def _check_positions(b: _Build, value: Any, path: str) -> list[dict[str, Any]] | None:
    c = b.c
    if not isinstance(value, list):
        c.err(path, f"must be an array of {{street, lat, lon}} tables, got {_describe(value)}")
        return None
    out: list[dict[str, Any]] | None = []
    for k, raw in enumerate(value):
        ppath = f"{path}[{k}]"
        d = c.table(raw, ppath, _POSITION_KEYS, required=("lat", "lon"))
        if d is None:
            out = None
            continue
        lat = c.latlon(d["lat"], f"{ppath}.lat", "lat", b.bounds) if "lat" in d else None
        lon = c.latlon(d["lon"], f"{ppath}.lon", "lon", b.bounds) if "lon" in d else None
        street = c.string(d, "street", ppath, default=None)
        name = c.string(d, "name", ppath, default=None)
        if lat is None or lon is None or ("street" in d and street is None) or (
            "name" in d and name is None
        ):
            out = None
        elif out is not None:
            out.append({"lat": lat, "lon": lon, "street": street, "name": name})
    return out


def _check_streets(b: _Build, value: Any, path: str) -> list[str] | None:
    c = b.c
    if not isinstance(value, list) or not value:
        c.err(path, f"must be a non-empty array of street names, got {_describe(value)}")
        return None
    ok = True
    for k, s in enumerate(value):
        spath = f"{path}[{k}]"
        if not isinstance(s, str) or s not in STREETS:
            hint = _suggest(s, STREETS) if isinstance(s, str) else ""
            c.err(spath, f"unknown street {_describe(s)}{hint} (known: {', '.join(STREETS)})")
            ok = False
        elif b.bounds is not None and not all(b.bounds.contains(*p) for p in STREETS[s]):
            c.err(spath, f'street "{s}" lies outside the scenario bounds ({b.bounds})')
            ok = False
    return list(value) if ok else None


def _check_vendors(c: _Checker, d: dict[str, Any], path: str) -> list[str] | None:
    """Vendor keys of a group; [] when neither key is given; None when invalid."""
    known = list(VENDORS)
    if "vendor" in d and "vendors" in d:
        c.err(f"{path}.vendors", 'give either "vendor" or "vendors", not both')
        return None
    if "vendor" in d:
        v = c.choice(d, "vendor", path, known)
        return None if v is None else [v]
    if "vendors" not in d:
        return []
    value = d["vendors"]
    if not isinstance(value, list) or not value:
        c.err(f"{path}.vendors", f"must be a non-empty array of vendor names ({_choices(known)})"
              f", got {_describe(value)}")
        return None
    ok = True
    for k, v in enumerate(value):
        if not isinstance(v, str) or v not in VENDORS:
            hint = _suggest(v, known) if isinstance(v, str) else ""
            c.err(f"{path}.vendors[{k}]",
                  f"unknown vendor {_describe(v)}{hint} (known: {', '.join(known)})")
            ok = False
    return list(value) if ok else None


def _section_camera_groups(b: _Build, value: Any, out: dict[str, Any]) -> None:
    c = b.c
    group_ids: dict[str, str] = {}
    for i, raw in enumerate(c.array_of_tables(value, "camera_groups")):
        path = f"camera_groups[{i}]"
        before = len(c.problems)
        d = c.table(raw, path, _GROUP_KEYS, required=("id", "site", "kind", "password"))
        if d is None:
            continue
        gid = c.slug(d, "id", path)
        if gid is not None and gid in group_ids:
            c.err(f"{path}.id", f'duplicate camera group id "{gid}" '
                  f"(first defined at {b.where(group_ids[gid])})")
            gid = None
        elif gid is not None:
            group_ids[gid] = path
        site = d.get("site")
        if "site" in d and site not in b.site_ids:
            hint = _suggest(site, b.site_ids) if isinstance(site, str) else ""
            c.err(f"{path}.site", f"unknown site {_describe(site)}{hint}"
                  f" (sites: {', '.join(b.site_ids) or 'none defined'})")
            site = None
        kind = c.choice(d, "kind", path, [k.value for k in CameraKind])
        template = _check_template(c, d, path)
        vendors = _check_vendors(c, d, path)
        positions = _check_positions(b, d["positions"], f"{path}.positions") \
            if "positions" in d else []
        streets = _check_streets(b, d["streets"], f"{path}.streets") if "streets" in d else []
        area = None
        if "area" in d and "streets" in d:
            c.err(f"{path}.area", 'give either "area" or "streets", not both')
        elif "area" in d:
            ad = c.table(d["area"], f"{path}.area", ("lat", "lon"), required=("lat", "lon"))
            if ad is not None and "lat" in ad and "lon" in ad:
                lat = c.range_pair(ad["lat"], f"{path}.area.lat", "lat", b.bounds)
                lon = c.range_pair(ad["lon"], f"{path}.area.lon", "lon", b.bounds)
                area = (lat, lon) if lat and lon else None
        count = c.check(d, "count", path, lambda v: _is_int(v) and v > 0,
                        "a positive integer", default=len(positions or []) or _MISSING)
        if "count" not in d and not positions and positions is not None:
            c.err(f"{path}.count", "required key is missing (or give explicit positions)")
        if count is not None and positions and count < len(positions):
            c.err(f"{path}.count", f"is {count} but {len(positions)} positions are given")
        profiles = _check_stream(c, d.get("stream", {}), f"{path}.stream")
        username = c.string(d, "username", path, default="admin")
        password = c.string(d, "password", path)
        offset = c.check(d, "clock_offset_s", path, _is_number, "a number of seconds", default=0)
        slow = c.check(d, "slow_delay_s", path, lambda v: _is_number(v) and 0 < v <= 120,
                       "a number of seconds from 0 to 120", default=4.0)

        ids = [f"{gid}-{n:03d}" for n in range(1, (count or 0) + 1)] if gid else []
        for cid in ids:
            if cid in b.camera_ids:
                c.err(f"{path}.id", f'camera id "{cid}" is also made by the group at '
                      f"{b.where(b.camera_ids[cid])}")
            b.camera_ids.setdefault(cid, path)
        if len(c.problems) > before or site is None or gid is None:
            if isinstance(site, str):
                b.sites_ok[site] = False
            continue
        b.groups.append(CameraGroup(gid, site, CameraKind(kind), count, tuple(ids)))
        _expand_group(b, gid, site, CameraKind(kind), count, template, vendors or [],
                      positions or [], streets or [], area, profiles or (), username, password,
                      float(offset), float(slow))


def _expand_group(
    b: _Build, gid: str, site: str, kind: CameraKind, count: int, template: str | None,
    vendors: list[str], positions: list[dict[str, Any]], streets: list[str],
    area: tuple[tuple[float, float], tuple[float, float]] | None,
    profiles: tuple[StreamProfile, ...], username: str, password: str,
    clock_offset_s: float, slow_delay_s: float,
) -> None:
    """Turn one valid group into CameraSpecs; deterministic in (seed, group id)."""
    rng = random.Random(f"citywatch-scenario:{b.seed}:{gid}")
    vrng = random.Random(f"citywatch-scenario:{b.seed}:{gid}:vendors")
    voffset = vrng.randrange(len(vendors)) if vendors else 0
    in_bounds = [
        s for s in STREETS if b.bounds is None or all(b.bounds.contains(*p) for p in STREETS[s])
    ]
    street_pool = streets or in_bounds
    soffset = rng.randrange(len(street_pool)) if street_pool else 0
    template = template or _DEFAULT_NAMES[kind]
    for n in range(1, count + 1):
        cid = f"{gid}-{n:03d}"
        explicit = positions[n - 1] if n <= len(positions) else None
        if explicit is not None:
            lat, lon = explicit["lat"], explicit["lon"]
            street = explicit["street"] or nearest_street(lat, lon, in_bounds)
        elif area is not None:
            (la0, la1), (lo0, lo1) = area
            lat, lon = round(rng.uniform(la0, la1), 6), round(rng.uniform(lo0, lo1), 6)
            street = nearest_street(lat, lon, in_bounds)
        else:
            street = street_pool[(soffset + n) % len(street_pool)]
            lat, lon = _point_on(street, rng)
            if b.bounds is not None and not b.bounds.contains(lat, lon):
                lat = min(max(lat, b.bounds.lat_min), b.bounds.lat_max)
                lon = min(max(lon, b.bounds.lon_min), b.bounds.lon_max)
        number = rng.randint(1, 180)
        if explicit is not None and explicit["name"]:
            name = explicit["name"]
        else:
            fields = {"street": street, "number": number, "n": n, "site": site, "group": gid}
            name = template.format(**fields)
            if "{number}" in template:
                while name in b.names:
                    fields["number"] = number = number + 1
                    name = template.format(**fields)
        b.names.add(name)
        if vendors:
            key = vendors[(voffset + n - 1) % len(vendors)]
            models = VENDOR_PROFILES[key].models if key in VENDOR_PROFILES else (VENDORS[key],)
            vendor: VendorIdentity = vrng.choice(models)
        else:
            vendor = vendor_for(b.seed, zlib.crc32(cid.encode()))
        b.cameras.append(CameraSpec(
            id=cid, name=name, site=site, kind=kind, street=street, lat=lat, lon=lon,
            vendor=vendor, username=username, password=password, profiles=profiles,
            clock_offset_s=clock_offset_s, slow_delay_s=slow_delay_s,
        ))


_FAULT_KEYS = ("camera", "fault")


def _section_faults(b: _Build, value: Any, out: dict[str, Any]) -> None:
    c = b.c
    seen: dict[tuple[str, str], str] = {}
    for i, raw in enumerate(c.array_of_tables(value, "faults")):
        path = f"faults[{i}]"
        d = c.table(raw, path, _FAULT_KEYS, required=_FAULT_KEYS)
        if d is None:
            continue
        cam = d.get("camera")
        if "camera" in d and cam not in b.camera_ids:
            hint = _suggest(cam, b.camera_ids) if isinstance(cam, str) else ""
            c.err(f"{path}.camera", f"unknown camera {_describe(cam)}{hint}")
            cam = None
        fault = c.choice(d, "fault", path, [f.value for f in CameraFault])
        if cam is None or fault is None:
            continue
        if (cam, fault) in seen:
            c.err(path, f'fault "{fault}" of camera "{cam}" is already set at '
                  f"{b.where(seen[cam, fault])}")
            continue
        seen[cam, fault] = path
        b.faults.append((cam, CameraFault(fault)))


def _finish_sites(b: _Build) -> tuple[Site, ...]:
    c = b.c
    sites = []
    for s in b.sites:
        grants = []
        for gpath, to, pats in s["grants"]:
            if to is not None and to not in b.site_ids:
                c.err(f"{gpath}.to", f'unknown site "{to}"{_suggest(to, b.site_ids)}'
                      f" (sites: {', '.join(b.site_ids)})")
                to = None
            elif to is not None and to == s["id"]:
                c.err(f"{gpath}.to", f'a site cannot grant to itself ("{to}")')
                to = None
            if pats is not None and s["id"] is not None and b.sites_ok.get(s["id"], False):
                own = [cid for cid, cam_site in _camera_sites(b) if cam_site == s["id"]]
                for k, pat in enumerate(pats):
                    if not any(fnmatch.fnmatchcase(cid, pat) for cid in own):
                        c.err(f"{gpath}.cameras[{k}]",
                              f'{_describe(pat)} matches no camera of site "{s["id"]}"')
            if to is not None and pats is not None:
                grants.append(Grant(to, tuple(pats)))
        if s["id"] is not None and s["name"] is not None and s["kind"] is not None:
            sites.append(Site(s["id"], s["name"], SiteKind(s["kind"]), tuple(grants)))
    return tuple(sites)


def _camera_sites(b: _Build) -> list[tuple[str, str]]:
    return [(cam.id, cam.site) for cam in b.cameras]


# Top-level key -> parser, in the order they must be processed (sites before groups, ...).
_SECTIONS: dict[str, Callable[[_Build, Any, dict[str, Any]], None]] = {
    "scenario": _section_scenario,
    "sites": _section_sites,
    "camera_groups": _section_camera_groups,
    "faults": _section_faults,
}
_REQUIRED_SECTIONS = ("scenario", "sites", "camera_groups")


def parse_scenario(text: str, file: str = "<scenario>", path: Path | None = None) -> Scenario:
    """Validate and expand scenario TOML source; `file` is how messages name the source."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
        if m:
            problem = ScenarioProblem(file, int(m[1]), "",
                                      f"TOML syntax error at column {m[2]}: {msg[:m.start()]}")
        else:
            line = text.count("\n") + 1 if "end of document" in msg else None
            problem = ScenarioProblem(file, line, "", f"TOML syntax error: {msg}")
        raise ScenarioError([problem]) from None

    c = _Checker()
    index = LineIndex(text)
    b = _Build(c, index)
    out: dict[str, Any] = {}
    c.table(data, "", _SECTIONS, required=_REQUIRED_SECTIONS)
    for key, parse in _SECTIONS.items():
        if key in data:
            parse(b, data[key], out)
    sites = _finish_sites(b)

    if c.problems:
        problems = [ScenarioProblem(file, index.line_of(p), p, m) for p, m in c.problems]
        problems.sort(key=lambda p: p.line or 0)  # stable: same line keeps discovery order
        raise ScenarioError(problems)

    broken: dict[str, set[CameraFault]] = {}
    for cam, fault in b.faults:
        broken.setdefault(cam, set()).add(fault)
    cameras = tuple(
        dataclasses.replace(cam, faults=frozenset(broken[cam.id])) if cam.id in broken else cam
        for cam in b.cameras
    )
    return Scenario(
        name=out["name"], seed=out["seed"], start=out["start"], duration_s=out["duration_s"],
        speed=out["speed"], sites=sites, cameras=cameras, camera_groups=tuple(b.groups),
        faults=tuple(b.faults), bounds=b.bounds, description=out.get("description") or "",
        path=path,
    )


def load_scenario(path: Path | str) -> Scenario:
    """Read, validate and expand a scenario file. Raises ScenarioError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError([ScenarioProblem(str(path), None, "",
                                             f"cannot read scenario: {e.strerror or e}")]) from None
    except UnicodeDecodeError as e:
        raise ScenarioError([ScenarioProblem(str(path), None, "",
                                             f"not UTF-8 text: {e.reason}")]) from None
    return parse_scenario(text, str(path), path)
