"""Patrol-car motion: where a vehicle is on its route at a given scenario time.

A vehicle drives its closed route in laps at a cruise speed that wanders a little, slows
down for corners (harder for sharper turns, to walking pace for a U-turn), and stands still
at a few stops per lap (traffic lights, calls). The speed profile of one lap is planned once
(forward/backward passes with acceleration limits, like a motion planner), so `at(t)` is a
pure function of t: deterministic in (scenario seed, vehicle id), cheap, no state.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass

from simulator.model import VehicleSpec
from simulator.streets import Point, bearing_deg, distance_m

STEP_M = 2.0  # sampling of the lap speed profile
ACCEL = 1.5  # m/s², a police car in town
DECEL = 2.5  # m/s², comfortable braking
MIN_TURN_DEG = 20.0  # gentler bends are taken at cruise speed
ALTITUDE_M = 40.0  # Hasselt lies about 40 m above mean sea level


@dataclass(frozen=True)
class MotionState:
    """A vehicle at one instant: what its GPS receiver would measure (before noise)."""

    lat: float
    lon: float
    speed_mps: float
    course_deg: float  # degrees true, of the segment being driven
    alt_m: float
    lap_m: float  # distance along the route since the lap's start


class Route:
    """A closed polyline with distances: position and course at a distance along it."""

    def __init__(self, points: tuple[Point, ...]) -> None:
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        if points[0] != points[-1]:
            points = (*points, points[0])
        # Repeated points (an out-and-back's turning point) would make zero-length segments.
        pts = [points[0]]
        for p in points[1:]:
            if p != pts[-1]:
                pts.append(p)
        self.points: tuple[Point, ...] = tuple(pts)
        self.cum: list[float] = [0.0]
        for a, b in itertools.pairwise(self.points):
            self.cum.append(self.cum[-1] + distance_m(a, b))
        self.length = self.cum[-1]
        self.courses = [bearing_deg(a, b) for a, b in itertools.pairwise(self.points)]

    def at(self, s: float) -> tuple[float, float, float]:
        """(lat, lon, course) at `s` metres along the route (wrapping around)."""
        s %= self.length
        k = min(bisect.bisect_right(self.cum, s) - 1, len(self.courses) - 1)
        seg = self.cum[k + 1] - self.cum[k]
        f = (s - self.cum[k]) / seg if seg else 0.0
        (la, oa), (lb, ob) = self.points[k], self.points[k + 1]
        return la + f * (lb - la), oa + f * (ob - oa), self.courses[k]

    def turns(self) -> list[tuple[float, float]]:
        """(distance, turn angle in degrees) at every vertex, the start vertex included."""
        out = []
        n = len(self.courses)
        for k in range(n):
            before, after = self.courses[k - 1], self.courses[k]
            angle = abs((after - before + 180.0) % 360.0 - 180.0)
            out.append((self.cum[k], angle))
        return out


def corner_speed(angle_deg: float, cruise: float) -> float:
    """Speed limit (m/s) through a turn: ~17 km/h at 90°, walking pace for a U-turn."""
    if angle_deg < MIN_TURN_DEG:
        return cruise
    return min(cruise, max(1.5, 12.0 * (1.0 - angle_deg / 150.0)))


class VehicleMotion:
    """The planned lap of one vehicle; `at(elapsed_s)` gives its state at a scenario time."""

    def __init__(self, spec: VehicleSpec) -> None:
        self.spec = spec
        rng = random.Random(f"citywatch-vehicle:{spec.seed}:{spec.id}")
        self.route = route = Route(spec.waypoints)
        cruise = spec.cruise_kmh / 3.6 * rng.uniform(0.92, 1.04)
        n = max(2, math.ceil(route.length / STEP_M))
        ds = route.length / n
        s = [i * ds for i in range(n + 1)]
        phase = rng.uniform(0, 2 * math.pi)
        v = [cruise * (1 + 0.06 * math.sin(2 * math.pi * x / 400.0 + phase)) for x in s]
        for at, angle in route.turns():
            lim = corner_speed(angle, cruise)
            i = round(at / ds)
            v[i] = min(v[i], lim)
            if i == 0:
                v[n] = min(v[n], lim)  # the lap's end is its start
        stops = sorted(rng.randrange(1, n) for _ in range(spec.stops))
        for i in stops:
            v[i] = 0.0
        # Acceleration limits: forward pass (speeding up), backward pass (braking).
        for i in range(n):
            v[i + 1] = min(v[i + 1], math.sqrt(v[i] ** 2 + 2 * ACCEL * ds))
        for i in range(n - 1, -1, -1):
            v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2 * DECEL * ds))
        # Time table; a stop is a repeated sample whose time advances by the dwell.
        self._s: list[float] = [0.0]
        self._t: list[float] = [0.0]
        self._v: list[float] = [v[0]]
        stop_set = set(stops)
        for i in range(n):
            self._append(s[i + 1], self._t[-1] + 2 * ds / max(v[i] + v[i + 1], 0.5), v[i + 1])
            if i + 1 in stop_set:
                dwell = spec.stop_s * rng.uniform(0.7, 1.3)
                self._append(s[i + 1], self._t[-1] + dwell, 0.0)
        self.lap_s = self._t[-1]
        self.offset_s = rng.uniform(0, self.lap_s)  # cars on one route spread over it
        self._alt_phase = rng.uniform(0, 2 * math.pi)

    def _append(self, s: float, t: float, v: float) -> None:
        self._s.append(s)
        self._t.append(t)
        self._v.append(v)

    def at(self, elapsed_s: float) -> MotionState:
        """State at `elapsed_s` scenario seconds after the scenario start."""
        t = (elapsed_s + self.offset_s) % self.lap_s
        j = min(bisect.bisect_right(self._t, t) - 1, len(self._t) - 2)
        t0, t1 = self._t[j], self._t[j + 1]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        s = self._s[j] + f * (self._s[j + 1] - self._s[j])
        speed = self._v[j] + f * (self._v[j + 1] - self._v[j])
        lat, lon, course = self.route.at(s)
        # Gentle relief (the Demer valley is flat): a few metres over a lap.
        alt = ALTITUDE_M + 3.0 * math.sin(2 * math.pi * s / self.route.length + self._alt_phase)
        return MotionState(lat, lon, max(0.0, speed), course, alt, s)
