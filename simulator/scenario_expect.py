"""The `[[expect]]` section of a scenario: what the hub under test must observe, and by when.

    [[expect]]
    id = "stall-seen"               # optional; default "expect-<n>"
    kind = "camera"                 # camera | cameras | vehicle | alert | no_alert | read
    after = "stall-1"               # a timeline id or "id.end"; or at = "00:05:00"
    within = "10s"                  # REAL seconds after the anchor
    camera = "city-centre-012"
    state = "down"

`within` is real time while timeline times are scenario time: the hub runs in real time
as in production, so its detection delays do not shrink with the simulator's speed.
Runs after section_timeline: anchors are checked against out["timeline_ids"]. Valid
entries become out["expect"] (file order). See docs/scenarios.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.scenario_alpr import AlprSpec
from simulator.scenario_check import describe, is_int, suggest
from simulator.scenario_timeline import (
    Keys,
    check_camera,
    check_plate,
    check_vehicle,
    entry_id,
    kind_table,
    positive_duration,
    scenario_time,
)
from simulator.timeline_model import Anchor, Expectation, ExpectKind

if TYPE_CHECKING:
    from simulator.scenario import _Build

COMMON_KEYS: Keys = ("id", "kind", "after", "at", "within")
KIND_KEYS: dict[str, tuple[Keys, Keys]] = {
    ExpectKind.CAMERA: (("camera", "state", "reason"), ("camera", "state", "within")),
    ExpectKind.CAMERAS: (("state", "site", "at_least"), ("state", "at_least", "within")),
    ExpectKind.VEHICLE: (("vehicle", "state"), ("vehicle", "state", "within")),
    ExpectKind.ALERT: (("plate", "list"), ("plate", "within")),
    ExpectKind.NO_ALERT: (("plate",), ("plate",)),  # no `within`: until the run ends
    ExpectKind.READ: (("plate", "camera"), ("plate", "within")),
}
CAMERA_STATES = ("ok", "degraded", "down", "unknown")
VEHICLE_STATES = ("fix", "no fix", "stale", "no device")
END = ".end"


def section_expect(b: _Build, value: Any, out: dict[str, Any]) -> None:
    """Validate `[[expect]]`; valid entries become out["expect"] (file order)."""
    c = b.c
    total = out.get("duration_s")
    events: dict[str, bool | None] = out.get("timeline_ids", {})
    ids: dict[str, str] = {}
    named: dict[str, bool | None] = {}
    found: list[Expectation] = []
    for i, raw in enumerate(c.array_of_tables(value, "expect")):
        path = f"expect[{i}]"
        before = len(c.problems)
        d, kind = kind_table(c, raw, path, COMMON_KEYS, ("kind",), KIND_KEYS, "expectation")
        if d is None:
            continue
        eid = entry_id(b, d, path, f"expect-{i + 1}", ids, named, "expectation")
        anchor = _anchor(b, d, path, events, total)
        within = positive_duration(c, d, "within", path, "10s")
        if kind is None or eid is None or anchor is None:
            continue
        fields = _FIELDS[kind](b, d, path, out)
        if len(c.problems) > before or fields is None:
            continue
        found.append(Expectation(eid, ExpectKind(kind), b.index.line_of(path), anchor,
                                 within, **fields))
    out["expect"] = tuple(found)


def _anchor(b: _Build, d: dict[str, Any], path: str, events: dict[str, bool | None],
            total: float | None) -> Anchor | None:
    c = b.c
    if "after" in d and "at" in d:
        c.err(f"{path}.after", 'give either "after" (a timeline event) or "at" (a scenario '
              "time), not both")
        return None
    if "at" in d:
        at = scenario_time(c, d, "at", path, total)
        return None if at is None else Anchor(at_s=at)
    if "after" not in d:
        return Anchor()
    ref = d["after"]
    apath = f"{path}.after"
    if not isinstance(ref, str) or not ref:
        c.err(apath, 'must be a timeline event id such as "stall-1" or its end '
              f'"stall-1.end", got {describe(ref)}')
        return None
    end = ref.endswith(END)  # ids are slugs: they have no "."
    eid = ref[: -len(END)] if end else ref
    if eid not in events:
        listed = f" (events: {', '.join(events)})" if 0 < len(events) <= 12 else ""
        c.err(apath, f"unknown timeline event {describe(eid)}{suggest(eid, events)}"
              + (listed if events else " (the scenario has no [[timeline]] events)"))
        return None
    if end and events[eid] is False:
        c.err(apath, f'timeline event "{eid}" has no end: only a fault or gps event with a '
              "duration, a reboot or a move has one")
        return None
    return Anchor(event=eid, end=end)


Fields = dict[str, Any] | None


def _camera(b: _Build, d: dict[str, Any], path: str, out: dict[str, Any]) -> Fields:
    c = b.c
    cam = check_camera(b, d, path)
    state = c.choice(d, "state", path, CAMERA_STATES)
    reason = c.string(d, "reason", path, default=None)
    if cam is None or state is None:
        return None
    return {"camera": cam, "state": state, "reason": reason}


def _cameras(b: _Build, d: dict[str, Any], path: str, out: dict[str, Any]) -> Fields:
    c = b.c
    state = c.choice(d, "state", path, CAMERA_STATES)
    site_ok = b.check_site(d, path)
    site = d.get("site")
    at_least = c.check(d, "at_least", path, lambda v: is_int(v) and v >= 1,
                       "an integer of 1 or more")
    # Only counted when every group of the scope is valid: a broken group has fewer.
    scope_ok = site_ok and (b.sites_ok.get(site, False) if site is not None
                            else all(b.sites_ok.values()))
    if at_least is not None and scope_ok:
        have = sum(1 for cam in b.cameras if site is None or cam.site == site)
        if at_least > have:
            where = f'site "{site}" has' if site is not None else "the scenario has"
            c.err(f"{path}.at_least", f"is {at_least} but {where} {have} cameras")
            return None
    if state is None or at_least is None or not site_ok:
        return None
    return {"state": state, "site": site, "at_least": int(at_least)}


def _vehicle(b: _Build, d: dict[str, Any], path: str, out: dict[str, Any]) -> Fields:
    vid = check_vehicle(b, d, path)
    state = b.c.choice(d, "state", path, VEHICLE_STATES)
    if vid is None or state is None:
        return None
    return {"vehicle": vid, "state": state}


def _alert(b: _Build, d: dict[str, Any], path: str, out: dict[str, Any]) -> Fields:
    plate = check_plate(b.c, d, "plate", path)
    name = b.c.string(d, "list", path, default=None)
    if plate is None or ("list" in d and name is None):
        return None
    return {"plate": plate, "list": None if name is None else name.strip()}


def _no_alert(b: _Build, d: dict[str, Any], path: str, out: dict[str, Any]) -> Fields:
    plate = check_plate(b.c, d, "plate", path)
    return None if plate is None else {"plate": plate}


def _read(b: _Build, d: dict[str, Any], path: str, out: dict[str, Any]) -> Fields:
    plate = check_plate(b.c, d, "plate", path)
    cam = check_camera(b, d, path)
    # out has no "alpr" when that section has problems of its own (reported there).
    alpr = out.get("alpr") if "alpr" in b.raw else AlprSpec()
    if cam is not None and alpr is not None:
        on = [u.camera for u in alpr.units]
        if cam not in on:
            b.c.err(f"{path}.camera", f'camera "{cam}" has no ALPR unit'
                    + (f" (units are on: {', '.join(on)})" if on else
                       " (the scenario has no [[alpr.unit]])"))
            return None
    if plate is None or ("camera" in d and cam is None):
        return None
    return {"plate": plate, "camera": cam}


_FIELDS: dict[str, Callable[[_Build, dict[str, Any], str, dict[str, Any]], Fields]] = {
    ExpectKind.CAMERA: _camera,
    ExpectKind.CAMERAS: _cameras,
    ExpectKind.VEHICLE: _vehicle,
    ExpectKind.ALERT: _alert,
    ExpectKind.NO_ALERT: _no_alert,
    ExpectKind.READ: _read,
}
