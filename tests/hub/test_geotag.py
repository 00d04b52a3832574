"""geotag() over a track: a table of read times and what each must give."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from hub.geotag import (
    EARTH_RADIUS_M,
    MAX_EXTRAPOLATION_S,
    MAX_INTERPOLATION_GAP_S,
    Geotag,
    GeotagMethod,
    dead_reckon,
    geotag,
)
from hub.model import TrackPoint

T0 = datetime(2025, 3, 14, 9, 30, 0, tzinfo=UTC)
INT, E, S, N = (GeotagMethod.INTERPOLATED, GeotagMethod.EXTRAPOLATED, GeotagMethod.STALE,
              GeotagMethod.NO_FIX)


def t(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


# 1 Hz along a line, then a 10 s tunnel (gap from 3 to 13), then two more fixes.
# The car heads due north (track 0°) at 10 m/s.
TRACK = [
    TrackPoint(t(0), 50.930000, 5.330000, 10.0, 0.0, 3),
    TrackPoint(t(1), 50.930100, 5.330200, 10.0, 0.0, 3),
    TrackPoint(t(2), 50.930300, 5.330300, 10.0, 0.0, 3),
    TrackPoint(t(3), 50.930400, 5.330700, 10.0, 0.0, 3),
    TrackPoint(t(13), 50.931400, 5.331700, 10.0, 0.0, 3),
    TrackPoint(t(14.5), 50.931500, 5.331900, 0.0, None, 3),
]

NORTH_PER_S = math.degrees(10.0 / EARTH_RADIUS_M)  # 10 m/s due north in degrees latitude

# read time (s after T0) → method, lat, lon, age_s
CASES: list[tuple[float, GeotagMethod, float | None, float | None, float | None]] = [
    (-0.5, N, None, None, None),  # before the first fix: nothing to go on
    (0.0, INT, 50.930000, 5.330000, 0.0),  # exactly on a fix
    (0.5, INT, 50.930050, 5.330100, 0.5),
    (0.25, INT, 50.930025, 5.330050, 0.25),
    (1.75, INT, 50.930250, 5.330275, 0.25),
    (2.0, INT, 50.930300, 5.330300, 0.0),
    (2.9, INT, 50.930390, 5.330660, 0.1),
    # In the tunnel: the gap of 10 s is not interpolated over. Just after its entry the
    # last fix is dead-reckoned (flagged); deeper in, no position at all.
    (4.0, E, 50.930400 + 1 * NORTH_PER_S, 5.330700, 1.0),
    (3.0 + MAX_EXTRAPOLATION_S, E, 50.930400 + MAX_EXTRAPOLATION_S * NORTH_PER_S, 5.330700,
     MAX_EXTRAPOLATION_S),
    (8.5, S, None, None, 5.5),
    (12.9, S, None, None, 9.9),
    (13.75, INT, 50.931450, 5.331800, 0.75),  # a 1.5 s gap is interpolated
    (16.0, E, 50.931500, 5.331900, 1.5),  # last fix stood still: stays put
    (14.5 + MAX_EXTRAPOLATION_S + 0.01, S, None, None, MAX_EXTRAPOLATION_S + 0.01),
]


@pytest.mark.parametrize(("s", "method", "lat", "lon", "age"), CASES)
def test_geotag_table(
    s: float, method: GeotagMethod, lat: float | None, lon: float | None, age: float | None
) -> None:
    tag = geotag(t(s), TRACK)
    assert tag.method is method
    if lat is None or lon is None:
        assert tag.lat is None and tag.lon is None and not tag.has_position
    else:
        assert tag.lat == pytest.approx(lat, abs=1e-7)
        assert tag.lon == pytest.approx(lon, abs=1e-7)
    if age is None:
        assert tag.age_s is None
    else:
        assert tag.age_s == pytest.approx(age, abs=1e-9)
    assert tag.flagged is (method is not INT)


def test_constants() -> None:
    assert MAX_INTERPOLATION_GAP_S == 2.0
    assert MAX_EXTRAPOLATION_S == 5.0


def test_gap_just_over_the_limit_is_not_interpolated() -> None:
    track = [TrackPoint(t(0), 50.0, 5.0, None, None, 3), TrackPoint(t(2.001), 51.0, 6.0)]
    assert geotag(t(1), track) == Geotag(None, None, S, 1.0)  # unknown speed: no guess
    track = [TrackPoint(t(0), 50.0, 5.0, None, None, 3), TrackPoint(t(2.0), 51.0, 6.0)]
    tag = geotag(t(1), track)
    assert (tag.method, tag.lat, tag.lon) == (INT, 50.5, 5.5)


def test_no_track_no_fix() -> None:
    assert geotag(t(0), []) == Geotag(None, None, N, None)


def test_dead_reckoning_east() -> None:
    p = TrackPoint(t(0), 50.0, 5.0, 10.0, 90.0, 3)
    moved = dead_reckon(p, 2.0)
    assert moved is not None
    lat, lon = moved
    assert lat == pytest.approx(50.0, abs=1e-9)
    metres = math.radians(lon - 5.0) * EARTH_RADIUS_M * math.cos(math.radians(50.0))
    assert metres == pytest.approx(20.0, abs=1e-6)
    assert dead_reckon(TrackPoint(t(0), 50.0, 5.0, 3.0, None), 1.0) is None
