"""The built-in Hasselt map: named streets (camera placement) and named patrol routes.

Coordinates are approximate (a few tens of metres), inside lat 50.90-50.96 / lon 5.30-5.40.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable

__all__ = [
    "ROUTES",
    "STREETS",
    "Point",
    "bearing_deg",
    "distance_m",
    "nearest_street",
    "point_on",
]

Point = tuple[float, float]  # (lat, lon) in degrees


def _ring(lat: float, lon: float, dlat: float, dlon: float, n: int = 10) -> tuple[Point, ...]:
    pts = [
        (round(lat + dlat * math.sin(2 * math.pi * k / n), 5),
         round(lon + dlon * math.cos(2 * math.pi * k / n), 5))
        for k in range(n)
    ]
    return (*pts, pts[0])


# Street name -> polyline (lat, lon) points. Generated cameras are placed along these lines;
# cameras placed in an `area` get the nearest street for their name.
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


def _out_and_back(*pts: Point) -> tuple[Point, ...]:
    """Drive a polyline out and return the same way: a closed route."""
    return (*pts, *reversed(pts[:-1]))


# Patrol routes: closed polylines (first point == last point) that vehicles drive in loops.
ROUTES: dict[str, tuple[Point, ...]] = {
    # The R70 Groene Boulevard around the centre, smoother than the street for cameras.
    "ring-r70": _ring(50.9307, 5.3378, 0.0048, 0.0075, n=24),
    # Inner streets: Grote Markt, Hoogstraat, Koning Albertstraat, Kapelstraat, Demerstraat,
    # Kolonel Dusartplein, Zuivelmarkt.
    "centre": (
        (50.9309, 5.3372), (50.9305, 5.3384), (50.9302, 5.3420), (50.9272, 5.3404),
        (50.9283, 5.3332), (50.9296, 5.3352), (50.9303, 5.3366), (50.9323, 5.3324),
        (50.9334, 5.3334), (50.9340, 5.3352), (50.9326, 5.3405), (50.9318, 5.3392),
        (50.9309, 5.3372),
    ),
    # From the R70 up the Kempische Steenweg past Corda Campus to Kiewit and back.
    "kempische": _out_and_back(*STREETS["Kempische Steenweg"]),
    # Genkersteenweg out to the R71 and back.
    "genk": _out_and_back(*STREETS["Genkersteenweg"][:2], (50.9378, 5.3690)),
    # Kuringersteenweg out to Kuringen and back.
    "kuringen": _out_and_back(*STREETS["Kuringersteenweg"]),
    # The R71 southern arc and back.
    "r71-south": _out_and_back(*STREETS["R71 Grote Ring"]),
    # Station loop: Stationsplein, Guffenslaan, Demerstraat, Kapelstraat, Ridder Portmans.
    "station": (
        (50.9262, 5.3272), (50.9270, 5.3290), (50.9290, 5.3298), (50.9330, 5.3308),
        (50.9323, 5.3324), (50.9303, 5.3366), (50.9283, 5.3332), (50.9262, 5.3272),
    ),
}


def distance_m(a: Point, b: Point) -> float:
    """Distance in metres on a local flat-earth approximation (fine at city scale)."""
    kx = 111_320 * math.cos(math.radians(a[0]))
    return math.hypot((a[0] - b[0]) * 110_540, (a[1] - b[1]) * kx)


def bearing_deg(a: Point, b: Point) -> float:
    """Course over ground from a to b, degrees true (0 north, 90 east)."""
    kx = 111_320 * math.cos(math.radians(a[0]))
    east, north = (b[1] - a[1]) * kx, (b[0] - a[0]) * 110_540
    return math.degrees(math.atan2(east, north)) % 360.0


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    ax, ay, bx, by = a[1], a[0], b[1], b[0]
    dx, dy = bx - ax, by - ay
    t = 0.0 if dx == dy == 0 else ((p[1] - ax) * dx + (p[0] - ay) * dy) / (dx * dx + dy * dy)
    t = min(1.0, max(0.0, t))
    return distance_m(p, (ay + t * dy, ax + t * dx))


def polyline_distance_m(p: Point, pts: Iterable[Point]) -> float:
    """Shortest distance in metres from p to a polyline."""
    return min(_segment_distance(p, a, b) for a, b in itertools.pairwise(pts))


def nearest_street(lat: float, lon: float, streets: Iterable[str] | None = None) -> str:
    """The street of the built-in map (or of `streets`) closest to a position."""
    def dist(name: str) -> float:
        return polyline_distance_m((lat, lon), STREETS[name])
    return min(streets if streets is not None else STREETS, key=dist)


def point_on(street: str, rng: random.Random) -> Point:
    """A random point near a street of the map (a few metres of jitter)."""
    pts = STREETS[street]
    lengths = [distance_m(a, b) for a, b in itertools.pairwise(pts)]
    seg = rng.choices(range(len(lengths)), weights=lengths)[0]
    (la, oa), (lb, ob) = pts[seg], pts[seg + 1]
    t = rng.random()
    jitter = 0.00012
    return (
        round(la + t * (lb - la) + rng.uniform(-jitter, jitter), 6),
        round(oa + t * (ob - oa) + rng.uniform(-jitter, jitter), 6),
    )
