"""One camera's health over the last hours: a strip of cells, a time axis, a legend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.history import (
    Point,
    aligned_end,
    axis_text,
    bucket_states,
    legend_text,
    strip_text,
)


@dataclass(frozen=True)
class Zoom:
    span: timedelta
    cells: tuple[int, ...]  # widest first; each a whole number of minutes per cell
    ticks: int  # axis labels, a divisor of every `cells`


ZOOMS: tuple[Zoom, ...] = (
    Zoom(timedelta(hours=24), (96, 48, 24), 4),  # 15, 30 or 60 min per cell
    Zoom(timedelta(hours=6), (72, 36, 24), 6),  # 5, 10 or 15 min
    Zoom(timedelta(hours=1), (60, 20, 12), 4),  # 1, 3 or 5 min
)


class HealthStrip(Widget):
    """Three lines: the worst state per cell over `span`, relative times, the legend.

    Set `points` (from `tui.history.timeline`) and `now`; `zoom` picks the span. The
    number of cells follows the widget's width.
    """

    points: reactive[tuple[Point, ...]] = reactive(tuple)
    now: reactive[datetime | None] = reactive(None)
    zoom: reactive[int] = reactive(0)

    @property
    def span(self) -> timedelta:
        return ZOOMS[self.zoom % len(ZOOMS)].span

    def cells_for_width(self, width: int) -> int:
        zoom = ZOOMS[self.zoom % len(ZOOMS)]
        return next((c for c in zoom.cells if c <= width), zoom.cells[-1])

    def render(self) -> Text:
        zoom = ZOOMS[self.zoom % len(ZOOMS)]
        cells = self.cells_for_width(self.size.width)
        end = aligned_end(self.now or datetime.now(UTC), zoom.span / cells)
        states = bucket_states(self.points, now=end, span=zoom.span, cells=cells)
        text = strip_text(states)
        text.append("\n")
        text.append_text(axis_text(zoom.span, cells, zoom.ticks))
        text.append("\n")
        text.append_text(legend_text())
        return text
