"""Position of a read from a moving ALPR unit, from its vehicle's track.

`geotag(read_time, track)` is a pure function over a time-ordered list of fixes:

- INTERPOLATED: the read lies between two fixes at most MAX_INTERPOLATION_GAP_S apart
  (or exactly on a fix): linear between them.
- EXTRAPOLATED: the read lies at most MAX_EXTRAPOLATION_S after the last usable fix
  (after the track's end, or inside a gap too long to interpolate over): dead reckoning
  from that fix's speed and track. Flagged by its method; never mistaken for a fix.
- STALE: the last fix before the read is older than that; NO_FIX: there is no fix before
  the read at all. Neither carries a position: a stale position is never given silently.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.model import TrackPoint

# Between fixes at most this far apart a straight line is the car's path: at 1 Hz that
# is one missed epoch; at 50 km/h, 28 m. A longer gap is an outage (tunnel, multipath):
# the car may have turned inside it, so we do not draw a line across.
MAX_INTERPOLATION_GAP_S = 2.0

# Dead reckoning from speed and heading holds for a few seconds (a car does not turn
# around in 5 s at speed; error stays within tens of metres). Beyond that the car could
# be anywhere on the next street: no position rather than a wrong one.
MAX_EXTRAPOLATION_S = 5.0

# Mean Earth radius (IUGG), metres: local flat-earth offsets over ≤ 5 s of driving.
EARTH_RADIUS_M = 6_371_008.8


class GeotagMethod(enum.StrEnum):
    """How a read's position was obtained; stored with the read."""

    INTERPOLATED = "interpolated"
    EXTRAPOLATED = "extrapolated"
    STALE = "stale"
    NO_FIX = "no fix"


@dataclass(frozen=True)
class Geotag:
    """Position of a read: lat/lon are None unless the method gives one."""

    lat: float | None
    lon: float | None
    method: GeotagMethod
    age_s: float | None  # seconds to the nearest fix used (None: there was none)

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def flagged(self) -> bool:
        """True unless the position comes from real fixes around the read."""
        return self.method is not GeotagMethod.INTERPOLATED


def geotag(read_time: datetime, track: Sequence[TrackPoint]) -> Geotag:
    """Where the vehicle was at `read_time`, from its fixes (oldest first)."""
    times = [p.at for p in track]
    # Index of the first fix strictly after the read: track[i-1] is at or before it.
    i = bisect.bisect_right(times, read_time)
    if i == 0:
        return Geotag(None, None, GeotagMethod.NO_FIX, None)
    before = track[i - 1]
    since = _seconds(read_time, before.at)
    if since == 0.0:
        return Geotag(before.lat, before.lon, GeotagMethod.INTERPOLATED, 0.0)
    if i < len(track):
        after = track[i]
        gap = _seconds(after.at, before.at)
        if gap <= MAX_INTERPOLATION_GAP_S:
            f = since / gap
            lat = before.lat + f * (after.lat - before.lat)
            lon = before.lon + f * (after.lon - before.lon)
            age = min(since, gap - since)
            return Geotag(lat, lon, GeotagMethod.INTERPOLATED, age)
    if since > MAX_EXTRAPOLATION_S:
        return Geotag(None, None, GeotagMethod.STALE, since)
    moved = dead_reckon(before, since)
    if moved is None:
        return Geotag(None, None, GeotagMethod.STALE, since)
    return Geotag(moved[0], moved[1], GeotagMethod.EXTRAPOLATED, since)


def dead_reckon(fix: TrackPoint, seconds: float) -> tuple[float, float] | None:
    """Position `seconds` after `fix` at its speed and heading; None if they are unknown.

    A car known to stand still (speed 0) stays put even without a heading.
    """
    if fix.speed is None:
        return None
    if fix.speed == 0.0:
        return fix.lat, fix.lon
    if fix.track is None:
        return None
    distance = fix.speed * seconds
    heading = math.radians(fix.track)
    north = distance * math.cos(heading)
    east = distance * math.sin(heading)
    lat = fix.lat + math.degrees(north / EARTH_RADIUS_M)
    lon = fix.lon + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(fix.lat))))
    return lat, lon


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()
