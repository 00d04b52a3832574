"""Scenario files (TOML) -> frozen, validated, seed-expanded descriptions of a simulated city.

    scenario = load_scenario(Path("scenarios/hasselt.toml"))
    scenario.cameras  # tuple[CameraSpec, ...], identical for identical files and seeds

Every problem is reported as a `ScenarioError` listing all problems found, each located as
`file:line: field.path: message` (see DESIGN.md "Scenarios", docs/scenarios.md). Each
top-level section has a parser registered in `_SECTIONS` (`[[vehicles]]` lives in
scenario_vehicles.py, `[alpr]` in scenario_alpr.py, `[[timeline]]` in scenario_timeline.py,
`[[expect]]` in scenario_expect.py, the street map in streets.py, value checking in
scenario_check.py); any other top-level key is reported as unknown.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import random
import re
import string
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.model import (
    CameraFault,
    CameraKind,
    CameraQuirk,
    CameraSpec,
    StreamProfile,
    VehicleSpec,
    VendorIdentity,
)
from simulator.scenario_alpr import AlprSpec, section_alpr
from simulator.scenario_check import MISSING as _MISSING
from simulator.scenario_check import Bounds, parse_duration
from simulator.scenario_check import Checker as _Checker
from simulator.scenario_check import choices as _choices
from simulator.scenario_check import describe as _describe
from simulator.scenario_check import is_int as _is_int
from simulator.scenario_check import is_number as _is_number
from simulator.scenario_check import suggest as _suggest
from simulator.scenario_expect import section_expect
from simulator.scenario_timeline import section_timeline
from simulator.scenario_vehicles import section_vehicles
from simulator.streets import STREETS, nearest_street
from simulator.streets import point_on as _point_on
from simulator.timeline_model import Expectation, TimelineEvent
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
    "h265_profiles",
    "load_scenario",
    "nearest_street",
    "parse_duration",
    "parse_scenario",
]

MIN_SPEED, MAX_SPEED = 1.0, 60.0

# --- the frozen result ------------------------------------------------------------------------


class SiteKind(enum.StrEnum):
    CITY = "city"
    POLICE = "police"
    PARTNER = "partner"


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
    vehicles: tuple[VehicleSpec, ...] = ()
    alpr: AlprSpec = field(default_factory=AlprSpec)  # [alpr]: simulator/scenario_alpr.py
    timeline: tuple[TimelineEvent, ...] = ()  # file order; simulator/scenario_timeline.py
    expectations: tuple[Expectation, ...] = ()  # file order; simulator/scenario_expect.py

    @cached_property
    def _cameras_by_id(self) -> dict[str, CameraSpec]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def _sites_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    def camera(self, camera_id: str) -> CameraSpec:
        """The camera with this id (KeyError if there is none)."""
        return self._cameras_by_id[camera_id]

    def vehicle(self, vehicle_id: str) -> VehicleSpec:
        """The vehicle with this id (KeyError if there is none)."""
        return {v.id: v for v in self.vehicles}[vehicle_id]

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


# --- sections -------------------------------------------------------------------------------------


@dataclass
class _Build:
    """Mutable state while a scenario is being validated and expanded."""

    c: _Checker
    index: LineIndex
    raw: dict[str, Any] = field(default_factory=dict)  # the whole TOML document, as parsed
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
    vehicles: list[VehicleSpec] = field(default_factory=list)

    def where(self, path: str) -> str:
        line = self.index.line_of(path)
        return f"line {line}" if line is not None else path

    def claim_id(self, ident: str, path: str, seen: dict[str, str], what: str) -> bool:
        """Record `ident` as defined at `path`; a duplicate is reported and gives False."""
        if ident in seen:
            self.c.err(f"{path}.id", f'duplicate {what} id "{ident}" '
                       f"(first defined at {self.where(seen[ident])})")
            return False
        seen[ident] = path
        return True

    def check_site(self, d: dict[str, Any], path: str) -> bool:
        """False (reported) when the entry names a site no [[sites]] defines."""
        site = d.get("site")
        # A list or table as the value is unhashable: no `in` before knowing it is text.
        if "site" not in d or (isinstance(site, str) and site in self.site_ids):
            return True
        hint = _suggest(site, self.site_ids) if isinstance(site, str) else ""
        self.c.err(f"{path}.site", f"unknown site {_describe(site)}{hint}"
                   f" (sites: {', '.join(self.site_ids) or 'none defined'})")
        return False


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
            if b.claim_id(sid, path, b.site_ids, "site"):
                b.sites_ok[sid] = True
            else:
                sid = None
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
    "stream", "username", "password", "clock_offset_s", "slow_delay_s", "ptz", "quirks",
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


def _check_quirks(c: _Checker, d: dict[str, Any], path: str) -> frozenset[CameraQuirk] | None:
    """The group's vendor quirks (simulator.model.CameraQuirk); None when invalid."""
    value = d.get("quirks", [])
    known = [q.value for q in CameraQuirk]
    if not isinstance(value, list):
        c.err(f"{path}.quirks", f"must be an array of quirk names ({_choices(known)}), "
              f"got {_describe(value)}")
        return None
    ok = True
    for k, v in enumerate(value):
        if not isinstance(v, str) or v not in known:
            hint = _suggest(v, known) if isinstance(v, str) else ""
            c.err(f"{path}.quirks[{k}]",
                  f"unknown quirk {_describe(v)}{hint} (known: {', '.join(known)})")
            ok = False
    return frozenset(CameraQuirk(v) for v in value) if ok else None


def h265_profiles(profiles: tuple[StreamProfile, ...]) -> tuple[StreamProfile, ...]:
    """The profiles of an H265_ONLY camera: every H.264 one encoded as H.265 instead."""
    return tuple(
        dataclasses.replace(p, encoding="H265") if p.encoding == "H264" else p for p in profiles
    )


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
        if gid is not None and not b.claim_id(gid, path, group_ids, "camera group"):
            gid = None
        site = d.get("site") if b.check_site(d, path) else None
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
        ptz = c.check(d, "ptz", path, lambda v: isinstance(v, bool) or v == "continuous",
                      'true, false or "continuous" (PTZ with continuous moves only)',
                      default=None)
        quirks = _check_quirks(c, d, path)

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
                      float(offset), float(slow), ptz, quirks or frozenset())


def _expand_group(
    b: _Build, gid: str, site: str, kind: CameraKind, count: int, template: str | None,
    vendors: list[str], positions: list[dict[str, Any]], streets: list[str],
    area: tuple[tuple[float, float], tuple[float, float]] | None,
    profiles: tuple[StreamProfile, ...], username: str, password: str,
    clock_offset_s: float, slow_delay_s: float, ptz: bool | str | None,
    quirks: frozenset[CameraQuirk] = frozenset(),
) -> None:
    """Turn one valid group into CameraSpecs; deterministic in (seed, group id)."""
    if CameraQuirk.H265_ONLY in quirks:
        profiles = h265_profiles(profiles)
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
            ptz=None if ptz is None else bool(ptz), ptz_continuous_only=ptz == "continuous",
            quirks=quirks,
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
        if "camera" in d and (not isinstance(cam, str) or cam not in b.camera_ids):
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
    "vehicles": section_vehicles,
    "alpr": section_alpr,  # after vehicles: units name them
    "timeline": section_timeline,  # after alpr: plate events name units
    "expect": section_expect,  # after timeline: anchors name its events
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
    b = _Build(c, index, raw=data)
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
        path=path, vehicles=tuple(b.vehicles), alpr=out.get("alpr", AlprSpec()),
        timeline=out.get("timeline", ()), expectations=out.get("expect", ()),
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
