"""Background geometry of the map and the projection from WGS84 to terminal dots.

The ring road and the main roads are drawn from a short hard-coded list of points:
enough to recognise the city, not a street map. Vehicles' tracks and camera positions
come from the hub.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

LatLon = tuple[float, float]

# Hasselt's inner ring road R70 ("Groene Boulevard"), clockwise from the north, through
# the crossings with the radial roads (where the R70 ALPR cameras stand). Schematic.
HASSELT_R70: tuple[LatLon, ...] = (
    (50.9360, 5.3375),  # north, Kanaalkom
    (50.9352, 5.3420),  # Kempische Steenweg
    (50.9322, 5.3452),  # Genkersteenweg
    (50.9288, 5.3440),  # Maastrichtersteenweg
    (50.9262, 5.3392),  # Luikersteenweg
    (50.9278, 5.3318),  # Sint-Truidersteenweg
    (50.9318, 5.3302),  # Diestersteenweg
    (50.9342, 5.3332),  # Kuringersteenweg
    (50.9360, 5.3375),
)

# Main radial roads from the R70 to the edge of town (steenwegen), as straight lines.
HASSELT_RADIALS: tuple[tuple[LatLon, ...], ...] = (
    ((50.9352, 5.3420), (50.9490, 5.3503)),  # Kempische Steenweg
    ((50.9322, 5.3452), (50.9378, 5.3690)),  # Genkersteenweg
    ((50.9288, 5.3440), (50.9242, 5.3640)),  # Maastrichtersteenweg
    ((50.9262, 5.3392), (50.9128, 5.3408)),  # Luikersteenweg
    ((50.9278, 5.3318), (50.9182, 5.3142), (50.9170, 5.3065)),  # Sint-Truidersteenweg
    ((50.9318, 5.3302), (50.9360, 5.3030)),  # Diestersteenweg
    ((50.9342, 5.3332), (50.9440, 5.3078)),  # Kuringersteenweg
)


@dataclass(frozen=True)
class BBox:
    """A latitude/longitude box."""

    south: float
    west: float
    north: float
    east: float

    @classmethod
    def around(cls, points: Iterable[LatLon], margin: float = 0.06) -> BBox | None:
        """The box around `points`, grown by `margin` of its size on every side."""
        pts = list(points)
        if not pts:
            return None
        lats = [p[0] for p in pts]
        lons = [p[1] for p in pts]
        s, n, w, e = min(lats), max(lats), min(lons), max(lons)
        dlat = max(n - s, 0.002) * margin
        dlon = max(e - w, 0.002) * margin
        return cls(s - dlat, w - dlon, n + dlat, e + dlon)


class Projection:
    """WGS84 → dot coordinates of a canvas `width` x `height` dots, north up.

    Equirectangular at the box's mid latitude; one scale for both axes (braille dots
    are about square), the box centred.
    """

    def __init__(self, box: BBox, width: int, height: int) -> None:
        self.box = box
        self._coslat = math.cos(math.radians((box.south + box.north) / 2))
        span_x = max((box.east - box.west) * self._coslat, 1e-9)
        span_y = max(box.north - box.south, 1e-9)
        self.scale = min((width - 1) / span_x, (height - 1) / span_y)
        self._x0 = (width - 1 - span_x * self.scale) / 2
        self._y0 = (height - 1 - span_y * self.scale) / 2

    def __call__(self, lat: float, lon: float) -> tuple[int, int]:
        x = self._x0 + (lon - self.box.west) * self._coslat * self.scale
        y = self._y0 + (self.box.north - lat) * self.scale
        return round(x), round(y)
