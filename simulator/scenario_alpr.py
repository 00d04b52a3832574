"""The `[alpr]` section of a scenario: ALPR units, the traffic they read, the hotlist.

    [[alpr.unit]]
    id = "alpr-ring-1"
    camera = "city-alpr-001"          # a fixed unit on a camera ...
    format = "openalpr"               # "citywatch", "openalpr", "platerecognizer", "onvif"
    reads_per_minute = 20
    sender_id = 1234                  # optional: the number OpenALPR puts in camera_id

    [[alpr.unit]]
    id = "alpr-combi-1"
    vehicle = "combi-1"               # ... or a mobile unit on a patrol car
    format = "platerecognizer"
    multipart = true                  # platerecognizer only: JSON + JPEG as form-data

A unit of format "onvif" posts nothing: its camera publishes each read as an ONVIF Profile M
plate event (PullPoint) that the hub subscribes to, so it must sit on a fixed camera; the
city switches that camera's event service on.

    [alpr.traffic]
    misread_share = 0.15
    hotlist_share = 0.02
    countries = { BE = 0.85, NL = 0.07, DE = 0.05, FR = 0.03 }
    population = 5000                 # distinct plates driving around (repeat sightings)
    hourly = [0.2, 0.1, ...]          # optional: 24 rate factors by UTC hour

    [alpr.hotlist]
    plates = ["1-ABC-234"]
    generated = { size = 1000, file = "hotlist.csv" }
    entries = [{ plate = "1-EXP-001", list = "stolen", expiry = 2026-03-01 }]

Problems are reported through the scenario's Checker like every other section, so they
come out as `file:line: alpr.unit[2].camera: message`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from simulator.model import CameraKind
from simulator.scenario_check import choices, describe, is_int, is_number, suggest

if TYPE_CHECKING:
    from simulator.scenario import _Build

# Published by the unit's camera as ONVIF plate events instead of posted over HTTP.
ONVIF = "onvif"
FORMATS = ("citywatch", "openalpr", "platerecognizer", ONVIF)
COUNTRIES = ("BE", "NL", "DE", "FR")
ALPR_KEYS = ("unit", "traffic", "hotlist")
UNIT_KEYS = ("id", "camera", "vehicle", "format", "reads_per_minute", "sender_id", "multipart",
             "queue")
TRAFFIC_KEYS = ("misread_share", "hotlist_share", "countries", "population", "hourly")
HOTLIST_KEYS = ("plates", "generated", "entries")
GENERATED_KEYS = ("size", "file")
ENTRY_KEYS = ("plate", "list", "category", "priority", "effective", "expiry", "covert")
# (list, category, priority) of the named plates, and the defaults of `entries`.
NAMED_LIST = ("scenario", "named", 90)
MIN_PRIORITY, MAX_PRIORITY = 0, 100  # the hub's hotlist priorities

# A busy ring-road entry sees about one car a second; ten a second is beyond any lane.
MAX_READS_PER_MINUTE = 600.0
# OpenALPR's camera_id is a 32-bit signed integer in its agent configuration.
MAX_SENDER_ID = 2**31 - 1
# Derived sender ids start here so that they look like the agent's own numbering.
FIRST_SENDER_ID = 1001
# Reads a unit keeps while the hub is unreachable: ~50 min of a busy entry at 20/min.
DEFAULT_QUEUE = 1000
MAX_QUEUE = 100_000
# Default traffic: Hasselt is near NL and DE; French visitors are fewer.
DEFAULT_COUNTRIES = (("BE", 0.85), ("NL", 0.07), ("DE", 0.05), ("FR", 0.03))
DEFAULT_MISREAD_SHARE = 0.15
DEFAULT_HOTLIST_SHARE = 0.02
DEFAULT_POPULATION = 5000
MAX_POPULATION = 10_000_000
MAX_HOTLIST_SIZE = 5_000_000
# Shares given to two decimals (0.85 + 0.07 + ...) must still count as summing to 1.
SHARE_SUM_TOLERANCE = 0.005
DEFAULT_HOTLIST_FILE = "hotlist.csv"
# What a hotlist plate may look like: letters, digits and the separators plates print.
PLATE_TEXT = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,12}[A-Z0-9]")
PLATE_HINT = "a plate of letters and digits with optional '-' or ' ' separators"


@dataclass(frozen=True)
class AlprUnitSpec:
    """One ALPR unit: on a fixed camera, or on a patrol car (then `vehicle` is set and
    `camera` is the car's mobile camera)."""

    id: str
    camera: str
    format: str
    reads_per_minute: float
    sender_id: int
    vehicle: str | None = None
    multipart: bool = False  # platerecognizer: multipart/form-data with the overview JPEG
    queue: int = DEFAULT_QUEUE

    @property
    def mobile(self) -> bool:
        return self.vehicle is not None


@dataclass(frozen=True)
class AlprTraffic:
    """What the units see: which plates, how often misread, how often a hotlisted one."""

    misread_share: float = DEFAULT_MISREAD_SHARE
    hotlist_share: float = DEFAULT_HOTLIST_SHARE
    countries: tuple[tuple[str, float], ...] = DEFAULT_COUNTRIES
    population: int = DEFAULT_POPULATION
    hourly: tuple[float, ...] = ()  # 24 factors by UTC hour; () = flat

    def rate_factor(self, hour: int) -> float:
        return self.hourly[hour % 24] if self.hourly else 1.0


@dataclass(frozen=True)
class HotlistEntrySpec:
    """A hotlist row written as given, with validity dates: for timeline plate events
    ("no alert for an expired entry"). A date is the whole day (the hub takes an
    effective date from its start, an expiry to its end); a date-time has an offset."""

    plate: str
    list: str = NAMED_LIST[0]
    category: str = NAMED_LIST[1]
    priority: int = NAMED_LIST[2]
    effective: date | datetime | None = None
    expiry: date | datetime | None = None
    covert: bool = False


@dataclass(frozen=True)
class AlprHotlist:
    """Plates on the simulated hotlist: named ones plus `generated` drawn by the seed,
    plus `entries` (rows with dates; traffic never draws them, timeline events pass them)."""

    plates: tuple[str, ...] = ()
    generated: int = 0
    file: str = DEFAULT_HOTLIST_FILE
    entries: tuple[HotlistEntrySpec, ...] = ()


@dataclass(frozen=True)
class AlprSpec:
    """The whole `[alpr]` section; empty when the scenario has none."""

    units: tuple[AlprUnitSpec, ...] = ()
    traffic: AlprTraffic = field(default_factory=AlprTraffic)
    hotlist: AlprHotlist | None = None

    @property
    def event_cameras(self) -> tuple[str, ...]:
        """Ids of the cameras whose "onvif" unit publishes plate events, in file order."""
        return tuple(u.camera for u in self.units if u.format == ONVIF)


def section_alpr(b: _Build, value: Any, out: dict[str, Any]) -> None:
    """Validate `[alpr]`; a valid section becomes out["alpr"] (an AlprSpec)."""
    c = b.c
    before = len(c.problems)
    d = c.table(value, "alpr", ALPR_KEYS)
    if d is None:
        return
    units = _units(b, d.get("unit", []))
    traffic = _traffic(b, d["traffic"]) if "traffic" in d else AlprTraffic()
    hotlist = _hotlist(b, d["hotlist"]) if "hotlist" in d else None
    if len(c.problems) == before and units is not None and traffic is not None:
        out["alpr"] = AlprSpec(units, traffic, hotlist)


def _units(b: _Build, value: Any) -> tuple[AlprUnitSpec, ...] | None:
    c = b.c
    before = len(c.problems)
    ids: dict[str, str] = {}
    on_camera: dict[str, str] = {}
    senders: dict[int, str] = {}
    vehicles = {v.id: v for v in b.vehicles}
    cams = {cam.id: cam for cam in b.cameras}
    rows: list[dict[str, Any]] = []
    for i, raw in enumerate(c.array_of_tables(value, "alpr.unit")):
        path = f"alpr.unit[{i}]"
        d = c.table(raw, path, UNIT_KEYS, required=("id", "format"))
        if d is None:
            continue
        uid = c.slug(d, "id", path)
        if uid is not None:
            b.claim_id(uid, path, ids, "ALPR unit")
        fmt = c.choice(d, "format", path, FORMATS)
        rate = c.check(d, "reads_per_minute", path,
                       lambda v: is_number(v) and 0 < v <= MAX_READS_PER_MINUTE,
                       f"a number of reads above 0 and up to {MAX_READS_PER_MINUTE:g}",
                       default=10.0)
        queue = c.check(d, "queue", path, lambda v: is_int(v) and 1 <= v <= MAX_QUEUE,
                        f"an integer from 1 to {MAX_QUEUE}", default=DEFAULT_QUEUE)
        multipart = c.check(d, "multipart", path, lambda v: isinstance(v, bool),
                            "true or false", default=False)
        if multipart and fmt is not None and fmt != "platerecognizer":
            c.err(f"{path}.multipart", f'only a "platerecognizer" unit posts multipart, '
                  f'this one is "{fmt}"')
        sender = c.check(d, "sender_id", path,
                         lambda v: is_int(v) and 1 <= v <= MAX_SENDER_ID,
                         f"an integer from 1 to {MAX_SENDER_ID}", default=None)
        if sender is not None:
            if sender in senders:
                c.err(f"{path}.sender_id", f"sender id {sender} is also used by the unit at "
                      f"{b.where(senders[sender])}")
            senders.setdefault(sender, path)
        camera, vehicle = _mount(b, d, path, cams, vehicles, on_camera, fmt)
        if fmt == ONVIF and "vehicle" in d and "camera" not in d:
            c.err(f"{path}.format", f'an "{ONVIF}" unit publishes plate events on a fixed '
                  'camera\'s ONVIF event service: mount it with camera = "..." instead of '
                  'vehicle = "...", or give it an HTTP format '
                  f"({', '.join(f for f in FORMATS if f != ONVIF)})")
        rows.append({"id": uid, "camera": camera, "vehicle": vehicle, "format": fmt,
                     "rate": rate, "sender": sender, "multipart": multipart, "queue": queue})
    if len(c.problems) > before:
        return None
    # Units without an explicit sender id get the next free number in file order.
    next_id = FIRST_SENDER_ID
    units = []
    for r in rows:
        sender = r["sender"]
        if sender is None:
            while next_id in senders:
                next_id += 1
            sender = next_id
            senders[sender] = r["id"]
        units.append(AlprUnitSpec(
            id=r["id"], camera=r["camera"], format=r["format"],
            reads_per_minute=float(r["rate"]), sender_id=sender, vehicle=r["vehicle"],
            multipart=bool(r["multipart"]), queue=int(r["queue"]),
        ))
    return tuple(units)


def _mount(b: _Build, d: dict[str, Any], path: str, cams: dict[str, Any],
           vehicles: dict[str, Any], on_camera: dict[str, str],
           fmt: str | None) -> tuple[Any, Any]:
    """(camera id, vehicle id or None) the unit sits on; problems reported."""
    c = b.c
    if ("camera" in d) == ("vehicle" in d):
        what = "give either" if "camera" in d else "needs"
        c.err(path, f'{what} "camera" (a fixed unit) or "vehicle" (a unit on a patrol car)'
              + (", not both" if "camera" in d else ""))
        return None, None
    if "vehicle" in d:
        vid = d["vehicle"]
        spec = vehicles.get(vid) if isinstance(vid, str) else None
        if spec is None:
            hint = suggest(vid, vehicles) if isinstance(vid, str) else ""
            c.err(f"{path}.vehicle", f"unknown vehicle {describe(vid)}{hint}"
                  f" (vehicles: {', '.join(vehicles) or 'none defined'})")
            return None, None
        if spec.camera is None:
            c.err(f"{path}.vehicle", f'vehicle "{vid}" carries no camera; give it one with '
                  f'camera = "..." in its [[vehicles]] entry')
            return None, None
        camera = spec.camera
        where = f"{path}.vehicle"
    else:
        camera = d["camera"]
        where = f"{path}.camera"
        cam = cams.get(camera) if isinstance(camera, str) else None
        if cam is None:
            hint = suggest(camera, b.camera_ids) if isinstance(camera, str) else ""
            c.err(where, f"unknown camera {describe(camera)}{hint}")
            return None, None
        if cam.kind is CameraKind.MOBILE and fmt == ONVIF:
            c.err(where, f'camera "{camera}" is mobile: an "{ONVIF}" unit publishes on a '
                  "fixed camera's event service")
            return None, None
        if cam.kind is CameraKind.MOBILE:
            carrier = next((v.id for v in vehicles.values() if v.camera == camera), None)
            how = f'vehicle = "{carrier}"' if carrier else "vehicle = ..."
            c.err(where, f'camera "{camera}" is mobile: put the unit on its car with {how}')
            return None, None
    if camera in on_camera:
        c.err(where, f'camera "{camera}" already has the ALPR unit at '
              f"{b.where(on_camera[camera])}")
        return None, None
    on_camera[camera] = path
    return camera, d.get("vehicle")


def _share(b: _Build, d: dict[str, Any], key: str, path: str, default: float) -> float | None:
    v = b.c.check(d, key, path, lambda v: is_number(v) and 0 <= v <= 1,
                  "a share from 0 to 1", default=default)
    return None if v is None else float(v)


def _traffic(b: _Build, value: Any) -> AlprTraffic | None:
    c, path = b.c, "alpr.traffic"
    d = c.table(value, path, TRAFFIC_KEYS)
    if d is None:
        return None
    misread = _share(b, d, "misread_share", path, DEFAULT_MISREAD_SHARE)
    hot = _share(b, d, "hotlist_share", path, DEFAULT_HOTLIST_SHARE)
    population = c.check(d, "population", path,
                         lambda v: is_int(v) and 1 <= v <= MAX_POPULATION,
                         f"an integer from 1 to {MAX_POPULATION}", default=DEFAULT_POPULATION)
    countries = _countries(b, d["countries"], f"{path}.countries") \
        if "countries" in d else DEFAULT_COUNTRIES
    hourly: tuple[float, ...] | None = ()
    if "hourly" in d:
        h = d["hourly"]
        if not isinstance(h, list) or len(h) != 24:
            c.err(f"{path}.hourly", f"must be an array of 24 rate factors (one per UTC hour), "
                  f"got {describe(h) if not isinstance(h, list) else f'{len(h)} values'}")
            hourly = None
        else:
            for k, v in enumerate(h):
                if not is_number(v) or v < 0:
                    c.err(f"{path}.hourly[{k}]", f"must be a factor of 0 or more, "
                          f"got {describe(v)}")
                    hourly = None
            if hourly is not None and not any(h):
                c.err(f"{path}.hourly", "at least one hour needs a factor above 0")
                hourly = None
            if hourly is not None:
                hourly = tuple(float(v) for v in h)
    if None in (misread, hot, population, countries, hourly):
        return None
    assert misread is not None and hot is not None and countries is not None
    assert hourly is not None
    return AlprTraffic(misread, hot, countries, int(population), hourly)


def _countries(b: _Build, value: Any, path: str) -> tuple[tuple[str, float], ...] | None:
    c = b.c
    if not isinstance(value, dict) or not value:
        c.err(path, f"must be a table of country shares such as {{ BE = 0.9, NL = 0.1 }} "
              f"({choices(COUNTRIES)}), got {describe(value)}")
        return None
    out: list[tuple[str, float]] | None = []
    for code, share in value.items():
        cpath = f"{path}.{code}"
        if code not in COUNTRIES:
            c.err(cpath, f"unknown country{suggest(code, COUNTRIES)} "
                  f"(plates are made for {', '.join(COUNTRIES)})")
            out = None
        elif not is_number(share) or not 0 <= share <= 1:
            c.err(cpath, f"must be a share from 0 to 1, got {describe(share)}")
            out = None
        elif out is not None:
            out.append((code, float(share)))
    if out is not None and abs(sum(s for _, s in out) - 1) > SHARE_SUM_TOLERANCE:
        c.err(path, f"shares must add up to 1, they add up to {sum(s for _, s in out):g}")
        return None
    return tuple(out) if out is not None else None


def _hotlist(b: _Build, value: Any) -> AlprHotlist | None:
    c, path = b.c, "alpr.hotlist"
    d = c.table(value, path, HOTLIST_KEYS)
    if d is None:
        return None
    ok = True
    plates: list[str] = []
    raw = d.get("plates", [])
    if not isinstance(raw, list):
        c.err(f"{path}.plates", f'must be an array of plates such as ["1-ABC-234"], '
              f"got {describe(raw)}")
        ok = False
    else:
        for k, p in enumerate(raw):
            if not isinstance(p, str) or not PLATE_TEXT.fullmatch(p.strip().upper()):
                c.err(f"{path}.plates[{k}]", f"must be {PLATE_HINT}, got {describe(p)}")
                ok = False
            else:
                plates.append(p.strip().upper())
    size, file = 0, DEFAULT_HOTLIST_FILE
    if "generated" in d:
        gpath = f"{path}.generated"
        g = c.table(d["generated"], gpath, GENERATED_KEYS, required=("size",))
        if g is None:
            return None
        n = c.check(g, "size", gpath, lambda v: is_int(v) and 1 <= v <= MAX_HOTLIST_SIZE,
                    f"an integer from 1 to {MAX_HOTLIST_SIZE}")
        name = c.check(g, "file", gpath,
                       lambda v: isinstance(v, str) and v.strip() != "" and
                       v.endswith(".csv"), 'a file name ending in ".csv"',
                       default=DEFAULT_HOTLIST_FILE)
        if n is None or name is None:
            ok = False
        else:
            size, file = int(n), str(name)
    entries = _entries(b, d.get("entries", []), f"{path}.entries", plates)
    if entries is None:
        ok = False
    if ok and not plates and size == 0 and not entries:
        c.err(path, "names no plates: give plates = [...], generated = { size = N } "
              "and/or entries = [...]")
        ok = False
    return AlprHotlist(tuple(plates), size, file, tuple(entries or ())) if ok else None


def _entries(b: _Build, value: Any, path: str, named: list[str]
             ) -> list[HotlistEntrySpec] | None:
    """`[alpr.hotlist] entries`: rows with a list, priority, dates and covert flag."""
    c = b.c
    if not isinstance(value, list):
        c.err(path, f'must be an array of {{ plate = "...", ... }} tables, got {describe(value)}')
        return None
    out: list[HotlistEntrySpec] | None = []
    # A plate twice on the list would make "no alert for the expired entry" meaningless.
    seen = {_alnum(p): f"alpr.hotlist.plates[{k}]" for k, p in enumerate(named)}
    for k, raw in enumerate(value):
        epath = f"{path}[{k}]"
        d = c.table(raw, epath, ENTRY_KEYS, required=("plate",))
        if d is None:
            out = None
            continue
        plate = c.check(d, "plate", epath,
                        lambda v: isinstance(v, str) and bool(PLATE_TEXT.fullmatch(
                            v.strip().upper())), PLATE_HINT)
        if plate is not None:
            plate = plate.strip().upper()
            if _alnum(plate) in seen:
                c.err(f"{epath}.plate", f'plate "{plate}" is already on the hotlist at '
                      f"{b.where(seen[_alnum(plate)])}")
                plate = None
            else:
                seen[_alnum(plate)] = f"{epath}.plate"
        name = c.string(d, "list", epath, default=NAMED_LIST[0])
        category = c.check(d, "category", epath, lambda v: isinstance(v, str), "a string",
                           default=NAMED_LIST[1])
        priority = c.check(d, "priority", epath,
                           lambda v: is_int(v) and MIN_PRIORITY <= v <= MAX_PRIORITY,
                           f"an integer from {MIN_PRIORITY} to {MAX_PRIORITY}",
                           default=NAMED_LIST[2])
        effective = _date(b, d, "effective", epath)
        expiry = _date(b, d, "expiry", epath)
        covert = c.check(d, "covert", epath, lambda v: isinstance(v, bool), "true or false",
                         default=False)
        if effective and expiry and _instant(expiry, True) < _instant(effective, False):
            c.err(f"{epath}.expiry", f"{describe(expiry)} is before the effective date "
                  f"{describe(effective)}")
            expiry = None
        if None in (plate, name, category, priority, covert) or (
            "effective" in d and effective is None) or ("expiry" in d and expiry is None):
            out = None
        elif out is not None:
            out.append(HotlistEntrySpec(plate, name.strip(), category, int(priority),
                                        effective, expiry, bool(covert)))
    return out


def _alnum(plate: str) -> str:
    return "".join(ch for ch in plate.upper() if ch.isalnum())


def _date(b: _Build, d: dict[str, Any], key: str, path: str) -> date | datetime | None:
    """A TOML date, a date-time with an offset, or such a string; None if absent/invalid."""
    if key not in d:
        return None
    v = d[key]
    if isinstance(v, str):
        try:
            v = date.fromisoformat(v) if len(v.strip()) == 10 else datetime.fromisoformat(v)
        except ValueError:
            pass
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v
    if isinstance(v, date) and not isinstance(v, datetime):
        return v
    b.c.err(f"{path}.{key}", "must be a date such as 2026-03-01 or a date and time with a "
            f"UTC offset such as 2026-03-01T08:00:00Z, got {describe(d[key])}")
    return None


def _instant(v: date | datetime, end_of_day: bool) -> datetime:
    """When a date starts (or ends), as the hub reads it: dates are UTC days."""
    if isinstance(v, datetime):
        return v
    return datetime.combine(v, time.max if end_of_day else time.min, UTC)
