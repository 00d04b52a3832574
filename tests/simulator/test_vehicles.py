"""Patrol cars: [[vehicles]] parsing, motion along routes, NMEA per receiver profile."""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path

import pytest

from simulator.clock import VirtualClock
from simulator.gps_device import JUMP_M, SimulatedGps
from simulator.model import GpsFault, GpsOutage, ReceiverKind, ReceiverProfile, VehicleSpec
from simulator.scenario import ScenarioError, load_scenario, parse_scenario
from simulator.streets import ROUTES, distance_m, polyline_distance_m
from simulator.vehicles import VehicleMotion

ROOT = Path(__file__).resolve().parents[2]
HASSELT = load_scenario(ROOT / "scenarios" / "hasselt.toml")
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# --- a tiny independent NMEA decoder (not the driver's: the two must agree by themselves) ---


def valid(line: bytes) -> bool:
    """$BODY*CS\\r\\n with a correct checksum."""
    text = line.decode("ascii", "replace")
    if not (text.startswith("$") and text.endswith("\r\n") and text[-5] == "*"):
        return False
    body, cs = text[1:-5], text[-4:-2]
    return f"{reduce(lambda a, c: a ^ ord(c), body, 0):02X}" == cs and "$" not in body


def fields(line: bytes) -> list[str]:
    return line.decode()[1:-5].split(",")


def coord(value: str, hemi: str, deg_digits: int) -> float:
    deg = int(value[:deg_digits]) + float(value[deg_digits:]) / 60
    return -deg if hemi in "SW" else deg


def decode(line: bytes) -> dict[str, object]:
    """type, talker and the fields a test looks at, from RMC, GGA, GLL, GSA, GSV, VTG, ZDA."""
    f = fields(line)
    talker, kind = f[0][:2], f[0][2:]
    out: dict[str, object] = {"talker": talker, "type": kind, "n": len(f)}
    if kind == "RMC":
        out |= {"time": f[1], "status": f[2], "date": f[9]}
        if f[2] == "A":
            out |= {"lat": coord(f[3], f[4], 2), "lon": coord(f[5], f[6], 3),
                    "knots": float(f[7]), "course": float(f[8])}
    elif kind == "GGA":
        out |= {"time": f[1], "quality": int(f[6]), "sats": f[7]}
        if f[6] != "0":
            out |= {"lat": coord(f[2], f[3], 2), "lon": coord(f[4], f[5], 3),
                    "alt": float(f[9]), "sep": float(f[11])}
    elif kind == "GLL":
        out |= {"status": f[6]}
        if f[6] == "A":
            out |= {"lat": coord(f[1], f[2], 2), "lon": coord(f[3], f[4], 3)}
    elif kind == "GSA":
        out |= {"mode": f[2], "used": [x for x in f[3:15] if x]}
    elif kind == "GSV":
        out |= {"total": int(f[1]), "num": int(f[2]), "count": int(f[3]),
                "prns": [int(f[i]) for i in range(4, len(f) - 3, 4)]}
    elif kind == "ZDA":
        out |= {"time": f[1], "day": int(f[2]), "month": int(f[3]), "year": int(f[4])}
    return out


def hms(text: str) -> float:
    return int(text[:2]) * 3600 + int(text[2:4]) * 60 + float(text[4:])


# --- scenario --------------------------------------------------------------------------------


def test_hasselt_has_eight_patrol_cars_with_the_mobile_cameras() -> None:
    cars = HASSELT.vehicles
    assert len(cars) == 8
    mobile = sorted(c.id for c in HASSELT.cameras if c.kind.value == "mobile")
    assert sorted(v.camera for v in cars) == mobile  # type: ignore[type-var]
    assert {v.site for v in cars} == {"police"}
    assert {v.receiver.kind for v in cars} == set(ReceiverKind)
    assert {v.receiver.rate_hz for v in cars} == {1, 5, 10}
    assert {"ring-r70", "centre", "waypoints"} <= {v.route for v in cars}
    assert HASSELT.vehicle("combi-1").outages == (GpsOutage(300.0, 40.0, "tunnel"),)


VEHICLE = """
[[vehicles]]
id = "car"
site = "police"
camera = "combi-001"
route = "centre"
receiver = { profile = "ublox", rate_hz = 5 }
"""
SMALL = (ROOT / "scenarios" / "small.toml").read_text().split("\n[[vehicles]]")[0] + VEHICLE
LINE = SMALL.count("\n") - VEHICLE.count("\n") + 2  # line of the [[vehicles]] header

BAD = [
    ("route", {'route = "centre"': 'route = "centr"'},
     '+4: vehicles[0].route: unknown route "centr"; did you mean "centre"?'),
    ("sirf-rate", {'"ublox", rate_hz = 5': '"sirf", rate_hz = 5'},
     '+5: vehicles[0].receiver.rate_hz: a "sirf" receiver reports at most 1 Hz, got 5'),
    ("rate", {"rate_hz = 5": "rate_hz = 2"},
     "+5: vehicles[0].receiver.rate_hz: must be one of 1, 5, 10, got 2"),
    ("profile", {'"ublox"': '"garmin"'},
     '+5: vehicles[0].receiver.profile: must be one of "ublox", "sirf", "quectel", got "garmin"'),
    ("camera-kind", {'"combi-001"': '"centre-001"'},
     '+3: vehicles[0].camera: camera "centre-001" is fixed, a vehicle carries a mobile camera'),
    ("camera-unknown", {'"combi-001"': '"combi-009"'},
     '+3: vehicles[0].camera: unknown camera "combi-009"'),
    ("site", {'site = "police"': 'site = "polce"'},
     '+2: vehicles[0].site: unknown site "polce"; did you mean "police"?'),
    ("waypoint-bounds", {'route = "centre"': "route = [[50.93, 5.33], [50.99, 5.33]]"},
     "+4: vehicles[0].route[1][0]: 50.99 is outside the scenario bounds"),
    ("outage-at", {'route = "centre"': 'route = "centre"\noutages = [{at = "soon", '
                   'duration = "40s"}]'},
     '+5: vehicles[0].outages[0].at: must be a time from the start such as "00:05:00"'),
    ("outage-late", {'route = "centre"': 'route = "centre"\noutages = [{at = "2h", '
                     'duration = "40s"}]'},
     '+5: vehicles[0].outages[0].at: "2h" is after the end of the scenario'),
    ("speed", {'route = "centre"': 'route = "centre"\nspeed = { cruise_kmh = 300 }'},
     "+5: vehicles[0].speed.cruise_kmh: must be a speed from 5 to 130 km/h, got 300"),
    ("missing", {'route = "centre"\n': ""}, "+0: vehicles[0].route: required key is missing"),
    ("key", {'route = "centre"': 'route = "centre"\nspeeed = {}'},
     '+5: vehicles[0].speeed: unknown key; did you mean "speed"?'),
]


@pytest.mark.parametrize(("replace", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_invalid_vehicles(replace: dict[str, str], expected: str) -> None:
    head, body = SMALL[: -len(VEHICLE)], VEHICLE
    for old, new in replace.items():
        assert old in body
        body = body.replace(old, new, 1)
    offset, message = expected.split(": ", 1)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(head + body, "v.toml")
    want = f"v.toml:{LINE + int(offset)}: {message}"
    assert any(str(p).startswith(want) for p in info.value.problems), str(info.value)


def test_valid_vehicle_snippet_and_waypoints_go_out_and_back() -> None:
    sc = parse_scenario(SMALL, "v.toml")
    assert sc.vehicle("car").receiver == ReceiverProfile(ReceiverKind.UBLOX, 5)
    text = SMALL.replace('route = "centre"', "route = [[50.93, 5.33], [50.94, 5.34]]")
    car = parse_scenario(text, "v.toml").vehicle("car")
    assert car.waypoints == ((50.93, 5.33), (50.94, 5.34), (50.93, 5.33))


# --- motion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("car", HASSELT.vehicles, ids=lambda v: v.id)
def test_motion_stays_on_route_inside_bounds(car: VehicleSpec) -> None:
    m = VehicleMotion(car)
    bounds = HASSELT.bounds
    assert bounds is not None
    speeds = []
    for t in range(0, int(m.lap_s * 1.5), 3):
        s = m.at(float(t))
        assert bounds.contains(s.lat, s.lon), (t, s)
        assert polyline_distance_m((s.lat, s.lon), car.waypoints) < 1.0
        assert 35 <= s.alt_m <= 45 and 0 <= s.course_deg < 360
        speeds.append(s.speed_mps * 3.6)
    assert max(speeds) <= car.cruise_kmh * 1.15
    assert min(speeds) < 1.0  # it stops (traffic lights) or U-turns
    mean = m.route.length / m.lap_s * 3.6
    assert 0.4 * car.cruise_kmh < mean < car.cruise_kmh


def test_motion_is_continuous_and_deterministic_by_seed() -> None:
    car = HASSELT.vehicle("combi-1")
    a, b = VehicleMotion(car), VehicleMotion(car)
    other = VehicleMotion(dataclasses.replace(car, seed=car.seed + 1))
    assert [a.at(t) for t in range(0, 600, 7)] == [b.at(t) for t in range(0, 600, 7)]
    assert a.at(100) != other.at(100)
    prev = a.at(0)
    for k in range(1, 3000):
        cur = a.at(k * 0.2)
        # Never faster than the car can drive in 0.2 s (no teleporting, laps wrap smoothly).
        assert distance_m((prev.lat, prev.lon), (cur.lat, cur.lon)) < 0.2 * 20
        prev = cur


def test_cars_on_one_route_are_spread_out() -> None:
    car = HASSELT.vehicle("combi-1")
    twin = dataclasses.replace(car, id="combi-9")
    a, b = VehicleMotion(car).at(0), VehicleMotion(twin).at(0)
    assert distance_m((a.lat, a.lon), (b.lat, b.lon)) > 50


def test_corners_slow_the_car_down() -> None:
    spec = VehicleSpec("sq", "Square", "police", "waypoints", ROUTES["centre"],
                       ReceiverProfile(ReceiverKind.UBLOX), cruise_kmh=50, stops=0)
    m = VehicleMotion(spec)
    corner = m.route.cum[3]  # the sharp turn at Koning Albertstraat
    near = [m.at(t) for t in range(int(m.lap_s))]
    at_corner = min(near, key=lambda s: abs(s.lap_m - corner))
    assert at_corner.speed_mps * 3.6 < 30


# --- NMEA ------------------------------------------------------------------------------------


def gps_for(kind: ReceiverKind, rate: int, **kw: object) -> SimulatedGps:
    spec = dataclasses.replace(HASSELT.vehicle("combi-1"),
                               receiver=ReceiverProfile(kind, rate), **kw)  # type: ignore[arg-type]
    return SimulatedGps(spec, VirtualClock(START), Path("/nonexistent"))


EXPECT = {
    ReceiverKind.UBLOX: ({"GN", "GP", "GL", "GA", "GB"}, {"RMC", "VTG", "GGA", "GSA", "GSV",
                                                         "GLL"}),
    ReceiverKind.SIRF: ({"GP"}, {"RMC", "GGA", "GSA", "GSV"}),
    ReceiverKind.QUECTEL: ({"GP", "GL"}, {"RMC", "VTG", "GGA", "GSA", "GSV", "GLL", "ZDA"}),
}


@pytest.mark.parametrize(("kind", "rate"), [(ReceiverKind.UBLOX, 10), (ReceiverKind.UBLOX, 1),
                                            (ReceiverKind.SIRF, 1), (ReceiverKind.QUECTEL, 5)])
def test_sentences_are_valid_and_decode_to_the_position(kind: ReceiverKind, rate: int) -> None:
    gps = gps_for(kind, rate)
    talkers, types = EXPECT[kind]
    seen_talkers, seen_types, rmc_times, gsv_epochs = set(), set(), [], 0
    for k in range(3 * rate):
        epoch = gps.epoch(k)
        lines = gps.chunks(k)
        assert all(valid(line) and len(line) <= 82 for line in lines), lines
        decoded = [decode(line) for line in lines]
        seen_talkers |= {d["talker"] for d in decoded}
        seen_types |= {d["type"] for d in decoded}
        gsv_epochs += any(d["type"] == "GSV" for d in decoded)
        for d in decoded:
            if "lat" in d:
                here = (float(d["lat"]), float(d["lon"]))  # type: ignore[arg-type]
                assert distance_m(here, (epoch.lat, epoch.lon)) < 0.5, d
            if d["type"] == "RMC":
                rmc_times.append(hms(str(d["time"])))
                assert d["status"] == "A" and d["date"] == "020326"
                assert abs(float(d["knots"]) / 1.943844 - epoch.speed_mps) < 0.01  # type: ignore[arg-type]
            if d["type"] == "GGA":
                assert d["quality"] == 1 and d["sep"] == 47.0
                assert abs(float(d["alt"]) - epoch.alt_m) < 0.06  # type: ignore[arg-type]
            if d["type"] == "ZDA":
                assert (d["day"], d["month"], d["year"]) == (2, 3, 2026)
    assert seen_talkers == talkers and seen_types == types
    steps = {round(b - a, 3) for a, b in itertools.pairwise(rmc_times)}
    assert steps == {round(1 / rate, 3)} and rmc_times[0] == 8 * 3600
    assert gsv_epochs == 3  # GSA/GSV once a second, whatever the rate


def test_satellites_have_stable_ids() -> None:
    gps = gps_for(ReceiverKind.QUECTEL, 1)
    def prns(k: int) -> list[object]:
        return [decode(line).get("prns") for line in gps.chunks(k) if b"GSV" in line]
    assert prns(0) == prns(60)
    gsv = [decode(line) for line in gps.chunks(0) if b"GPGSV" in line]
    assert gsv[0]["count"] == sum(len(d["prns"]) for d in gsv) >= 8  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(ReceiverKind))
def test_tunnel_outage_gives_no_fix(kind: ReceiverKind) -> None:
    gps = gps_for(kind, 1, outages=(GpsOutage(10.0, 5.0),))
    for k, fix in ((9, True), (10, False), (14, False), (15, True)):
        got = {d["type"]: d for d in map(decode, gps.chunks(k))}
        assert got["RMC"]["status"] == ("A" if fix else "V")
        assert got["GGA"]["quality"] == (1 if fix else 0)
        assert ("lat" in got["GGA"]) is fix
        assert got["RMC"]["time"]  # the clock keeps running without a fix
    gps.faults.add(GpsFault.OUTAGE)
    assert {d["type"]: d for d in map(decode, gps.chunks(0))}["RMC"]["status"] == "V"


def test_jump_displaces_the_position_while_on() -> None:
    gps = gps_for(ReceiverKind.UBLOX, 1)
    before = gps.epoch(5)
    gps.faults.add(GpsFault.JUMP)
    jumped = gps.epoch(5)
    assert abs(distance_m((before.lat, before.lon), (jumped.lat, jumped.lon)) - JUMP_M) < 1


def test_corrupt_damages_a_share_of_sentences() -> None:
    gps = gps_for(ReceiverKind.UBLOX, 1)
    gps.faults.add(GpsFault.CORRUPT)
    stream = b"".join(b"".join(gps.chunks(k)) for k in range(200))
    lines = [line + b"\r\n" for line in stream.split(b"\r\n") if line]
    bad = [line for line in lines if not valid(line)]
    assert 0.1 < len(bad) / len(lines) < 0.35
    assert any(line.count(b"$") > 1 for line in bad)  # spliced
    assert any(line.count(b"$") == 1 and b"*" not in line for line in bad)  # truncated


def test_epoch_times_follow_the_virtual_clock() -> None:
    gps = gps_for(ReceiverKind.UBLOX, 5)
    assert gps.epoch(7).time == START + timedelta(seconds=1.4)
    assert math.isclose(gps.epoch(7).time.timestamp() - gps.epoch(2).time.timestamp(), 1.0)
