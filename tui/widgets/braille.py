"""A canvas of braille dots: each terminal cell holds 2 x 4 dots (U+2800 block).

Lines and dots are drawn in dot space; labelled markers are whole characters on top.
Each cell takes the style of the most important thing drawn in it. The canvas is
rebuilt only when its scene or its size changes; lines are served from that cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui.geo import BBox, LatLon, Projection

BRAILLE_BASE = 0x2800
# Bit of each dot in a cell, indexed [y][x] (Unicode braille pattern numbering 1-8).
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


@dataclass(frozen=True)
class Polyline:
    points: Sequence[LatLon]
    style: str = "dim"
    rank: int = 1  # higher ranks win a shared cell's colour


@dataclass(frozen=True)
class Dot:
    lat: float
    lon: float
    style: str = ""
    rank: int = 3


@dataclass(frozen=True)
class Marker:
    lat: float
    lon: float
    glyph: str
    label: str = ""
    style: str = "bold"


@dataclass(frozen=True)
class Scene:
    box: BBox | None
    lines: tuple[Polyline, ...] = ()
    dots: tuple[Dot, ...] = ()
    markers: tuple[Marker, ...] = ()


@dataclass
class _Grid:
    width: int
    height: int
    bits: list[list[int]] = field(default_factory=list)
    rank: list[list[int]] = field(default_factory=list)
    style: list[list[str]] = field(default_factory=list)
    chars: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bits = [[0] * self.width for _ in range(self.height)]
        self.rank = [[0] * self.width for _ in range(self.height)]
        self.style = [[""] * self.width for _ in range(self.height)]

    def dot(self, x: int, y: int, style: str, rank: int) -> None:
        if not (0 <= x < self.width * 2 and 0 <= y < self.height * 4):
            return
        cx, cy = x // 2, y // 4
        self.bits[cy][cx] |= DOT_BITS[y % 4][x % 2]
        if rank >= self.rank[cy][cx]:
            self.rank[cy][cx] = rank
            self.style[cy][cx] = style

    def line(self, a: tuple[int, int], b: tuple[int, int], style: str, rank: int) -> None:
        """Bresenham between two dots (both ends included)."""
        (x0, y0), (x1, y1) = a, b
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        limit = 4 * (self.width + self.height) * 4  # clipped far-away lines stay cheap
        for _ in range(max(dx, -dy) + 1):
            self.dot(x0, y0, style, rank)
            if (x0, y0) == (x1, y1) or limit <= 0:
                break
            limit -= 1
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, cx: int, cy: int, text: str, style: str) -> None:
        if not 0 <= cy < self.height:
            return
        for i, ch in enumerate(text):
            if 0 <= cx + i < self.width:
                self.chars[(cx + i, cy)] = (ch, style)

    def strips(self) -> list[Strip]:
        out: list[Strip] = []
        for cy in range(self.height):
            segments: list[Segment] = []
            run, run_style = "", ""
            for cx in range(self.width):
                char, style = self.chars.get((cx, cy), ("", ""))
                if not char:
                    bits = self.bits[cy][cx]
                    char = chr(BRAILLE_BASE + bits) if bits else " "
                    style = self.style[cy][cx] if bits else ""
                if style != run_style and run:
                    segments.append(Segment(run, Style.parse(run_style) if run_style else None))
                    run = ""
                run_style = style
                run += char
            if run:
                segments.append(Segment(run, Style.parse(run_style) if run_style else None))
            out.append(Strip(segments, self.width))
        return out


def draw(scene: Scene, width: int, height: int) -> list[Strip]:
    """The scene on a canvas of width x height cells."""
    grid = _Grid(width, height)
    if scene.box is not None and width > 0 and height > 0:
        project = Projection(scene.box, width * 2, height * 4)
        for poly in scene.lines:
            pts = [project(lat, lon) for lat, lon in poly.points]
            if len(pts) == 1:
                grid.dot(*pts[0], poly.style, poly.rank)
            for a, b in itertools.pairwise(pts):
                grid.line(a, b, poly.style, poly.rank)
        for dot in scene.dots:  # 2 x 2 dots: one lone dot is too easy to miss
            x, y = project(dot.lat, dot.lon)
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                grid.dot(x + dx, y + dy, dot.style, dot.rank)
        for marker in scene.markers:
            x, y = project(marker.lat, marker.lon)
            cx, cy = x // 2, y // 4
            grid.text(cx, cy, marker.glyph, marker.style)
            if marker.label:
                # Label to the right, or to the left when it would run off the canvas.
                label = f" {marker.label}"
                start = cx + 1 if cx + 1 + len(label) <= width else cx - len(label)
                grid.text(max(start, 0), cy, label if start > cx else f"{marker.label} ",
                          marker.style)
                grid.text(cx, cy, marker.glyph, marker.style)
    return grid.strips()


class BrailleCanvas(Widget):
    """Shows a `Scene`; `show(scene)` replaces it and redraws once."""

    DEFAULT_CSS = """
    BrailleCanvas {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.scene = Scene(box=None)
        self.draws = 0  # how often the grid was rebuilt (tests check throttling)
        self._cache: tuple[tuple[int, int], list[Strip]] | None = None

    def show(self, scene: Scene) -> None:
        if scene == self.scene:
            return
        self.scene = scene
        self._cache = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        size = (self.size.width, self.size.height)
        if self._cache is None or self._cache[0] != size:
            self._cache = (size, draw(self.scene, *size))
            self.draws += 1
        strips = self._cache[1]
        if 0 <= y < len(strips):
            return strips[y].apply_style(self.rich_style)
        return Strip.blank(size[0], self.rich_style)
