"""The `[[timeline]]` section of a scenario: what happens when, in scenario time.

    [[timeline]]
    id = "stall-1"                  # optional; default "timeline-<n>"
    at = "00:05:00"                 # scenario time after the start
    kind = "fault"                  # fault | reboot | gps | plate | move | wanted
    camera = "city-centre-012"
    fault = "stall"
    duration = "2m"

Valid entries become out["timeline"] in file order (the player sorts them by time).
out["timeline_ids"] maps every id an entry defines to whether the event has an end phase
(None when the entry itself is invalid), so that `[[expect]]` anchors can be checked
without a second error for an entry already reported. See docs/scenarios.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from simulator.model import CameraFault, CameraKind, GpsFault
from simulator.scenario_alpr import PLATE_HINT, PLATE_TEXT
from simulator.scenario_check import Checker, choices, describe, is_int, is_number, suggest
from simulator.scenario_check import parse_duration as _parse_duration
from simulator.timeline_model import (
    EventKind,
    FaultEvent,
    GpsEvent,
    MoveEvent,
    PlateEvent,
    RebootEvent,
    TimelineEvent,
    WantedEvent,
    format_scenario_time,
)

if TYPE_CHECKING:
    from simulator.scenario import _Build

Keys = tuple[str, ...]

COMMON_KEYS: Keys = ("id", "at", "kind")
# kind -> (its keys besides the common ones, the required ones among them)
KIND_KEYS: dict[str, tuple[Keys, Keys]] = {
    EventKind.FAULT: (("camera", "fault", "duration"), ("camera", "fault")),
    EventKind.REBOOT: (("camera", "duration"), ("camera",)),
    EventKind.GPS: (("vehicle", "fault", "duration"), ("vehicle", "fault")),
    EventKind.PLATE: (("unit", "plate", "seen", "confidence", "country"), ("unit", "plate")),
    EventKind.MOVE: (("camera", "to", "duration"), ("camera", "to")),
    EventKind.WANTED: (("plate", "reason", "days"), ("plate", "reason")),
}
MOVE_TO_KEYS = ("lat", "lon", "street")
# StreamFault values (simulator/stream_faults.py), restated because importing that module
# pulls in the video encoder (PyAV, a second of start-up) just to parse a file; a test
# checks the two agree. "offline" is the camera fault, which takes the streams down too.
STREAM_FAULTS = ("refuse", "auth_change", "stall", "disconnect", "freeze", "black",
                 "fps_drop", "bitrate_drop", "no_keyframes")
CAMERA_FAULTS = tuple(f.value for f in CameraFault) + STREAM_FAULTS
GPS_FAULTS = tuple(f.value for f in GpsFault)
REBOOT_S = (20, 40)  # how long a camera takes to boot when the file does not say
DEFAULT_MOVE_S = 60.0  # unplug, carry, set up again
DEFAULT_CONFIDENCE = 0.92
MAX_DAYS = 100
AT_HINT = 'a time from the start such as "00:05:00", "5m", "90s" or a number of seconds'


def section_timeline(b: _Build, value: Any, out: dict[str, Any]) -> None:
    """Validate `[[timeline]]`; valid entries become out["timeline"] (file order)."""
    c = b.c
    total = out.get("duration_s")
    ids: dict[str, str] = {}
    ends: dict[str, bool | None] = {}
    events: list[TimelineEvent] = []
    for i, raw in enumerate(c.array_of_tables(value, "timeline")):
        path = f"timeline[{i}]"
        before = len(c.problems)
        d, kind = kind_table(c, raw, path, COMMON_KEYS, ("at", "kind"), KIND_KEYS, "event")
        if d is None:
            continue
        eid = entry_id(b, d, path, f"timeline-{i + 1}", ids, ends, "timeline event")
        at = scenario_time(c, d, "at", path, total)
        event = None if kind is None else _PARSERS[kind](b, d, path, eid or "", at or 0.0)
        if event is not None and at is not None and total is not None:
            _check_end(c, d, path, event, total)
        if len(c.problems) > before or event is None or eid is None or at is None:
            continue
        ends[eid] = _end(event) is not None
        events.append(event)
    out["timeline"] = tuple(events)
    out["timeline_ids"] = ends


# --- helpers shared with scenario_expect.py --------------------------------------------------


def kind_table(
    c: Checker, raw: Any, path: str, common: Keys, common_required: Keys,
    kinds: Mapping[str, tuple[Keys, Keys]], what: str,
) -> tuple[dict[str, Any] | None, str | None]:
    """(the table, its valid kind or None). Keys are checked against the kind: a key of
    another kind is named as such, a key of no kind is unknown."""
    if not isinstance(raw, dict):
        c.err(path, f"must be a table, got {describe(raw)}")
        return None, None
    kind = c.choice(raw, "kind", path, list(kinds))
    every = list(dict.fromkeys([*common, *(k for keys, _ in kinds.values() for k in keys)]))
    allowed = [*common, *kinds[kind][0]] if kind is not None else every
    for key in raw:
        if key not in every:
            c.err(f"{path}.{key}", f"unknown key{suggest(key, allowed)}"
                  f" (allowed: {', '.join(allowed)})")
        elif key not in allowed:
            c.err(f"{path}.{key}", f'does not apply to a "{kind}" {what} '
                  f"(its keys: {', '.join(allowed)})")
    required = [*common_required, *(kinds[kind][1] if kind is not None else ())]
    for key in required:
        if key not in raw:
            c.err(f"{path}.{key}", "required key is missing")
    return raw, kind


def entry_id(b: _Build, d: dict[str, Any], path: str, default: str, ids: dict[str, str],
             known: dict[str, bool | None], what: str) -> str | None:
    """The entry's id (or `default`), claimed in `ids`; None (reported) when invalid or a
    duplicate. Any id the entry names is put in `known` (value None) so that references
    to it are not reported again."""
    raw = d.get("id", default)
    if isinstance(raw, str):
        known.setdefault(raw, None)
    eid = b.c.slug(d, "id", path) if "id" in d else default
    if eid is not None and not b.claim_id(eid, path, ids, what):
        return None
    return eid


def scenario_time(c: Checker, d: dict[str, Any], key: str, path: str,
                  total: float | None) -> float | None:
    """d[key] as scenario seconds from the start, before the scenario's end."""
    if key not in d:
        return None
    at = _parse_duration(d[key])
    if at is None or at < 0:
        c.err(f"{path}.{key}", f"must be {AT_HINT}, got {describe(d[key])}")
        return None
    if total is not None and at >= total:
        c.err(f"{path}.{key}", f"{describe(d[key])} is not before the end of the scenario "
              f"({format_scenario_time(total)})")
        return None
    return float(at)


def positive_duration(c: Checker, d: dict[str, Any], key: str, path: str,
                      example: str) -> float | None:
    """d[key] as seconds > 0 (None when absent or invalid, reported)."""
    if key not in d:
        return None
    seconds = _parse_duration(d[key])
    if seconds is None or seconds <= 0:
        c.err(f"{path}.{key}", f'must be a duration longer than zero such as "{example}", '
              f"got {describe(d[key])}")
        return None
    return float(seconds)


def unknown(c: Checker, path: str, what: str, value: Any, known: Iterable[str],
            list_them: bool = True) -> None:
    """Report a reference to something the scenario does not define."""
    known = list(known)
    hint = suggest(value, known) if isinstance(value, str) else ""
    listed = f" ({what}s: {', '.join(known) or 'none defined'})" if list_them else ""
    c.err(path, f"unknown {what} {describe(value)}{hint}{listed}")


def defined_ids(b: _Build, *keys: str) -> list[str]:
    """Ids the entries of a raw section define (`defined_ids(b, "alpr", "unit")`), valid
    or not: an entry with problems of its own has had them reported already."""
    node: Any = b.raw
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        return []
    return [e["id"] for e in node if isinstance(e, dict) and isinstance(e.get("id"), str)]


def check_camera(b: _Build, d: dict[str, Any], path: str) -> str | None:
    """d["camera"] if it names a camera of the scenario (else reported, None)."""
    if "camera" not in d:
        return None
    cam = d["camera"]
    if not isinstance(cam, str) or cam not in b.camera_ids:
        unknown(b.c, f"{path}.camera", "camera", cam, b.camera_ids, list_them=False)
        return None
    return cam


def check_vehicle(b: _Build, d: dict[str, Any], path: str) -> str | None:
    if "vehicle" not in d:
        return None
    vid = d["vehicle"]
    known = defined_ids(b, "vehicles")
    if not isinstance(vid, str) or vid not in known:
        unknown(b.c, f"{path}.vehicle", "vehicle", vid, known)
        return None
    return vid


def check_plate(c: Checker, d: dict[str, Any], key: str, path: str) -> str | None:
    """d[key] as an upper-case plate text."""
    v = c.check(d, key, path, lambda v: isinstance(v, str) and bool(
        PLATE_TEXT.fullmatch(v.strip().upper())), PLATE_HINT)
    return None if v is None else str(v).strip().upper()


# --- the kinds ---------------------------------------------------------------------------


def _end(event: TimelineEvent) -> float | None:
    """Scenario time of the event's end phase (None: it has none)."""
    if isinstance(event, FaultEvent | GpsEvent | RebootEvent | MoveEvent):
        return None if event.duration_s is None else event.at_s + event.duration_s
    return None


def _check_end(c: Checker, d: dict[str, Any], path: str, event: TimelineEvent,
               total: float) -> None:
    end = _end(event)
    if end is None or end <= total:
        return
    given = "duration" in d
    how = "" if given else f" (its default duration is {end - event.at_s:g} s)"
    c.err(f"{path}.duration" if given else f"{path}.at",
          f'the {event.kind.value} ends at {format_scenario_time(end)}{how}, after the end '
          f"of the scenario ({format_scenario_time(total)})")


def _fault(b: _Build, d: dict[str, Any], path: str, eid: str, at: float) -> TimelineEvent | None:
    cam = check_camera(b, d, path)
    fault = _fault_name(b.c, d, path, CAMERA_FAULTS, GPS_FAULTS, "gps")
    dur = positive_duration(b.c, d, "duration", path, "2m")
    if cam is None or fault is None or ("duration" in d and dur is None):
        return None
    return FaultEvent(eid, at, b.index.line_of(path), cam, fault, dur)


def _gps(b: _Build, d: dict[str, Any], path: str, eid: str, at: float) -> TimelineEvent | None:
    vid = check_vehicle(b, d, path)
    fault = _fault_name(b.c, d, path, GPS_FAULTS, CAMERA_FAULTS, "fault")
    dur = positive_duration(b.c, d, "duration", path, "40s")
    if vid is None or fault is None or ("duration" in d and dur is None):
        return None
    return GpsEvent(eid, at, b.index.line_of(path), vid, fault, dur)


def _fault_name(c: Checker, d: dict[str, Any], path: str, options: Keys, other: Keys,
                other_kind: str) -> str | None:
    v = d.get("fault")
    if "fault" in d and isinstance(v, str) and v not in options and v in other:
        c.err(f"{path}.fault", f"must be one of {choices(options)}, got {describe(v)}: that "
              f'is a fault of a kind = "{other_kind}" event')
        return None
    name = c.choice(d, "fault", path, options)
    return None if name is None else str(name)


def _reboot(b: _Build, d: dict[str, Any], path: str, eid: str,
            at: float) -> TimelineEvent | None:
    cam = check_camera(b, d, path)
    if "duration" in d:
        dur = positive_duration(b.c, d, "duration", path, "30s")
    else:  # drawn per event, so that adding an event does not change the others
        dur = float(random.Random(f"citywatch-timeline:{b.seed}:{eid}:reboot")
                    .randint(*REBOOT_S))
    if cam is None or dur is None:
        return None
    return RebootEvent(eid, at, b.index.line_of(path), cam, dur)


def _plate(b: _Build, d: dict[str, Any], path: str, eid: str, at: float) -> TimelineEvent | None:
    c = b.c
    unit = d.get("unit")
    units = defined_ids(b, "alpr", "unit")
    if "unit" in d and (not isinstance(unit, str) or unit not in units):
        unknown(c, f"{path}.unit", "ALPR unit", unit, units)
        unit = None
    plate = check_plate(c, d, "plate", path)
    seen = check_plate(c, d, "seen", path) if "seen" in d else None
    conf = c.check(d, "confidence", path, lambda v: is_number(v) and 0 < v <= 1,
                   "a number above 0 and up to 1", default=DEFAULT_CONFIDENCE)
    country = c.check(d, "country", path, lambda v: isinstance(v, str) and len(v) == 2
                      and v.isascii() and v.isalpha() and v.isupper(),
                      'an ISO 3166 alpha-2 country code such as "BE"', default=None)
    if unit is None or plate is None or conf is None or ("seen" in d and seen is None) or (
            "country" in d and country is None):
        return None
    return PlateEvent(eid, at, b.index.line_of(path), unit, plate, seen, float(conf), country)


def _move(b: _Build, d: dict[str, Any], path: str, eid: str, at: float) -> TimelineEvent | None:
    c = b.c
    cam = check_camera(b, d, path)
    spec = next((s for s in b.cameras if s.id == cam), None)
    if spec is not None and spec.kind is not CameraKind.TEMPORARY:
        c.err(f"{path}.camera", f'camera "{cam}" is {spec.kind.value}: only a temporary '
              "camera is moved")
        cam = None
    lat = lon = street = None
    to_ok = False
    if "to" in d:
        tpath = f"{path}.to"
        to = c.table(d["to"], tpath, MOVE_TO_KEYS, required=("lat", "lon"))
        if to is not None:
            lat = c.latlon(to["lat"], f"{tpath}.lat", "lat", b.bounds) if "lat" in to else None
            lon = c.latlon(to["lon"], f"{tpath}.lon", "lon", b.bounds) if "lon" in to else None
            street = c.string(to, "street", tpath, default=None)
            to_ok = lat is not None and lon is not None and ("street" not in to or
                                                             street is not None)
    dur = positive_duration(c, d, "duration", path, "60s") if "duration" in d \
        else DEFAULT_MOVE_S
    if cam is None or not to_ok or dur is None or lat is None or lon is None:
        return None
    return MoveEvent(eid, at, b.index.line_of(path), cam, lat, lon, street, dur)


def _wanted(b: _Build, d: dict[str, Any], path: str, eid: str,
            at: float) -> TimelineEvent | None:
    c = b.c
    plate = check_plate(c, d, "plate", path)
    reason = c.string(d, "reason", path)
    days = c.check(d, "days", path, lambda v: is_int(v) and 1 <= v <= MAX_DAYS,
                   f"an integer from 1 to {MAX_DAYS}", default=1)
    if plate is None or reason is None or days is None:
        return None
    return WantedEvent(eid, at, b.index.line_of(path), plate, reason.strip(), int(days))


Parser = Callable[["_Build", dict[str, Any], str, str, float], TimelineEvent | None]
_PARSERS: dict[str, Parser] = {
    EventKind.FAULT: _fault,
    EventKind.REBOOT: _reboot,
    EventKind.GPS: _gps,
    EventKind.PLATE: _plate,
    EventKind.MOVE: _move,
    EventKind.WANTED: _wanted,
}
