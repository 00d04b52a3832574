"""The `[[vehicles]]` section of a scenario: patrol cars, their routes and GPS receivers.

    [[vehicles]]
    id = "combi-1"
    name = "Combi 1"
    site = "police"
    camera = "police-combi-001"            # optional: the mobile ALPR camera on the car
    route = "ring-r70"                     # a named route, or [[lat, lon], ...] waypoints
    speed = { cruise_kmh = 45, stops = 3, stop_duration = "20s" }
    receiver = { profile = "ublox", rate_hz = 5 }
    outages = [{ at = "00:05:00", duration = "40s", kind = "tunnel" }]

See docs/scenarios.md for every key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.model import CameraKind, GpsOutage, ReceiverKind, ReceiverProfile, VehicleSpec
from simulator.scenario_check import (
    choices,
    describe,
    is_int,
    is_number,
    parse_duration,
    suggest,
)
from simulator.streets import ROUTES, Point

if TYPE_CHECKING:
    from simulator.scenario import _Build

VEHICLE_KEYS = ("id", "name", "site", "camera", "route", "speed", "receiver", "outages")
SPEED_KEYS = ("cruise_kmh", "stops", "stop_duration")
RECEIVER_KEYS = ("profile", "rate_hz")
OUTAGE_KEYS = ("at", "duration", "kind")
RATES = (1, 5, 10)
OUTAGE_KINDS = ("tunnel",)
# SiRFstar III receivers only ever report once a second.
MAX_RATE = {ReceiverKind.SIRF: 1}


def section_vehicles(b: _Build, value: Any, out: dict[str, Any]) -> None:
    """Validate `[[vehicles]]`; valid entries become VehicleSpecs in b.vehicles."""
    c = b.c
    ids: dict[str, str] = {}
    cameras_taken: dict[str, str] = {}
    cams = {cam.id: cam for cam in b.cameras}
    for i, raw in enumerate(c.array_of_tables(value, "vehicles")):
        path = f"vehicles[{i}]"
        before = len(c.problems)
        d = c.table(raw, path, VEHICLE_KEYS, required=("id", "site", "route", "receiver"))
        if d is None:
            continue
        vid = c.slug(d, "id", path)
        if vid is not None:
            b.claim_id(vid, path, ids, "vehicle")
        name = c.string(d, "name", path, default=vid)
        site = d.get("site")
        b.check_site(d, path)
        camera = _check_camera(b, d, path, site, cams, cameras_taken)
        route_name, points = _check_route(b, d.get("route"), f"{path}.route") \
            if "route" in d else (None, None)
        speed = _check_speed(b, d.get("speed", {}), f"{path}.speed")
        receiver = _check_receiver(b, d["receiver"], f"{path}.receiver") \
            if "receiver" in d else None
        outages = _check_outages(b, d.get("outages", []), f"{path}.outages",
                                 out.get("duration_s"))
        if len(c.problems) > before or None in (vid, name, route_name, points, speed,
                                                receiver, outages):
            continue
        assert speed is not None and points is not None and receiver is not None
        assert isinstance(site, str)
        cruise, stops, stop_s = speed
        b.vehicles.append(VehicleSpec(
            id=vid, name=name, site=site, route=str(route_name), waypoints=points,
            receiver=receiver, camera=camera, cruise_kmh=cruise, stops=stops, stop_s=stop_s,
            outages=tuple(outages or ()), seed=b.seed,
        ))


def _check_camera(b: _Build, d: dict[str, Any], path: str, site: Any,
                  cams: dict[str, Any], taken: dict[str, str]) -> str | None:
    c = b.c
    if "camera" not in d:
        return None
    cam = d["camera"]
    cpath = f"{path}.camera"
    if not isinstance(cam, str) or cam not in b.camera_ids:  # a list is unhashable
        hint = suggest(cam, b.camera_ids) if isinstance(cam, str) else ""
        c.err(cpath, f"unknown camera {describe(cam)}{hint}")
        return None
    if cam in taken:
        c.err(cpath, f'camera "{cam}" is already on the vehicle at {b.where(taken[cam])}')
        return None
    taken[cam] = path
    spec = cams.get(cam)
    if spec is None:  # its group has problems of its own, reported there
        return str(cam)
    if spec.kind is not CameraKind.MOBILE:
        c.err(cpath, f'camera "{cam}" is {spec.kind.value}, a vehicle carries a mobile camera')
    elif isinstance(site, str) and spec.site != site:
        c.err(cpath, f'camera "{cam}" belongs to site "{spec.site}", not "{site}"')
    return str(cam)


def _check_route(b: _Build, value: Any, path: str
                 ) -> tuple[str | None, tuple[Point, ...] | None]:
    """(route name, closed polyline); waypoints not ending where they start go back and forth."""
    c = b.c
    if isinstance(value, str):
        if value not in ROUTES:
            c.err(path, f"unknown route {describe(value)}{suggest(value, ROUTES)}"
                  f" (routes: {', '.join(ROUTES)}; or [[lat, lon], ...] waypoints)")
            return None, None
        named = ROUTES[value]
        if b.bounds is not None and not all(b.bounds.contains(*p) for p in named):
            c.err(path, f'route "{value}" leaves the scenario bounds ({b.bounds})')
            return None, None
        return value, named
    if not isinstance(value, list) or len(value) < 2:
        c.err(path, f'must be a route name ({choices(ROUTES)}) or an array of at least two '
              f"[lat, lon] waypoints, got {describe(value)}")
        return None, None
    pts: list[Point] = []
    for k, wp in enumerate(value):
        wpath = f"{path}[{k}]"
        if not isinstance(wp, list) or len(wp) != 2:
            c.err(wpath, f"must be a [lat, lon] pair, got {describe(wp)}")
            continue
        lat = c.latlon(wp[0], f"{wpath}[0]", "lat", b.bounds)
        lon = c.latlon(wp[1], f"{wpath}[1]", "lon", b.bounds)
        if lat is not None and lon is not None:
            pts.append((lat, lon))
    if len(pts) != len(value):
        return None, None
    if len(set(pts)) < 2:
        c.err(path, "waypoints must name at least two different places")
        return None, None
    if pts[0] != pts[-1]:
        pts = [*pts, *reversed(pts[:-1])]
    return "waypoints", tuple(pts)


def _check_speed(b: _Build, value: Any, path: str) -> tuple[float, int, float] | None:
    c = b.c
    d = c.table(value, path, SPEED_KEYS)
    if d is None:
        return None
    cruise = c.check(d, "cruise_kmh", path, lambda v: is_number(v) and 5 <= v <= 130,
                     "a speed from 5 to 130 km/h", default=40.0)
    stops = c.check(d, "stops", path, lambda v: is_int(v) and 0 <= v <= 20,
                    "an integer from 0 to 20 (stops per lap)", default=2)
    stop_s: float | None = 20.0
    if "stop_duration" in d:
        stop_s = parse_duration(d["stop_duration"])
        if stop_s is None or not 0 <= stop_s <= 600:
            c.err(f"{path}.stop_duration", 'must be a duration up to "10m" such as "20s", '
                  f"got {describe(d['stop_duration'])}")
            stop_s = None
    if cruise is None or stops is None or stop_s is None:
        return None
    return float(cruise), int(stops), float(stop_s)


def _check_receiver(b: _Build, value: Any, path: str) -> ReceiverProfile | None:
    c = b.c
    d = c.table(value, path, RECEIVER_KEYS, required=("profile",))
    if d is None:
        return None
    kind = c.choice(d, "profile", path, [k.value for k in ReceiverKind])
    rate = c.check(d, "rate_hz", path, lambda v: is_int(v) and v in RATES,
                   f"one of {', '.join(map(str, RATES))}", default=1)
    if kind is None or rate is None:
        return None
    limit = MAX_RATE.get(ReceiverKind(kind))
    if limit is not None and rate > limit:
        c.err(f"{path}.rate_hz", f'a "{kind}" receiver reports at most {limit} Hz, got {rate}')
        return None
    return ReceiverProfile(ReceiverKind(kind), int(rate))


def _check_outages(b: _Build, value: Any, path: str, scenario_s: float | None
                   ) -> list[GpsOutage] | None:
    c = b.c
    if not isinstance(value, list):
        c.err(path, f"must be an array of {{at, duration, kind}} tables, got {describe(value)}")
        return None
    out: list[GpsOutage] | None = []
    for k, raw in enumerate(value):
        opath = f"{path}[{k}]"
        d = c.table(raw, opath, OUTAGE_KEYS, required=("at", "duration"))
        if d is None:
            out = None
            continue
        at = parse_duration(d["at"]) if "at" in d else None
        if "at" in d and at is None:
            c.err(f"{opath}.at", 'must be a time from the start such as "00:05:00" or "5m", '
                  f"got {describe(d['at'])}")
        elif at is not None and scenario_s is not None and at >= scenario_s:
            c.err(f"{opath}.at", f"{describe(d['at'])} is after the end of the scenario")
            at = None
        dur = parse_duration(d["duration"]) if "duration" in d else None
        if "duration" in d and (dur is None or dur <= 0):
            c.err(f"{opath}.duration", 'must be a duration longer than zero such as "40s", '
                  f"got {describe(d['duration'])}")
            dur = None
        kind = c.choice(d, "kind", opath, OUTAGE_KINDS, default="tunnel")
        if at is None or dur is None or kind is None:
            out = None
        elif out is not None:
            out.append(GpsOutage(float(at), float(dur), str(kind)))
    return out
