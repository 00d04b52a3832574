"""A JPEG drawn in the terminal: one cell is two pixels, "▀" in the top pixel's colour on
the bottom pixel's colour. Decoding and scaling run in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging

from PIL import Image
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widget import Widget

log = logging.getLogger(__name__)

UPPER_HALF = "▀"
# A terminal cell is about twice as tall as wide, so two stacked pixels per cell make
# square pixels.
PIXELS_PER_CELL_Y = 2
# Larger images are refused: a crop is a few hundred pixels wide, an overview a few
# thousand; anything beyond is not worth decoding for a terminal preview.
MAX_PIXELS = 40_000_000

Pixels = tuple[tuple[int, int, int], ...]


class ImageUnreadable(Exception):
    """The bytes are not an image Pillow can decode."""


def decode(data: bytes) -> Image.Image:
    """Decode image bytes to RGB; raises ImageUnreadable."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise ImageUnreadable(f"image too large ({img.width}x{img.height})")
        img.load()
        return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable(str(exc) or type(exc).__name__) from exc


def fit(width: int, height: int, cells_w: int, cells_h: int) -> tuple[int, int]:
    """Pixel size that fits `cells_w` x `cells_h` cells, keeping the aspect ratio."""
    if width <= 0 or height <= 0 or cells_w <= 0 or cells_h <= 0:
        return (0, 0)
    box_h = cells_h * PIXELS_PER_CELL_Y
    scale = min(cells_w / width, box_h / height)
    w = max(1, min(cells_w, round(width * scale)))
    h = max(1, min(box_h, round(height * scale)))
    # An even number of rows: the last cell would otherwise be half empty.
    if h % PIXELS_PER_CELL_Y and h < box_h:
        h += 1
    return (w, h)


def scale(img: Image.Image, cells_w: int, cells_h: int) -> list[Pixels]:
    """Rows of RGB pixels, resized to fit the cells."""
    w, h = fit(img.width, img.height, cells_w, cells_h)
    if not w or not h:
        return []
    raw = img.resize((w, h), Image.Resampling.BOX).tobytes()  # RGB, row by row
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    return [tuple(pixels[y * w : (y + 1) * w]) for y in range(h)]


def strips(rows: list[Pixels]) -> list[Strip]:
    """Half-block lines: each line joins two pixel rows (the last may be alone)."""
    lines = []
    for y in range(0, len(rows), PIXELS_PER_CELL_Y):
        top = rows[y]
        bottom = rows[y + 1] if y + 1 < len(rows) else None
        segments = []
        for x, upper in enumerate(top):
            lower = bottom[x] if bottom is not None else None
            style = Style(
                color=f"rgb({upper[0]},{upper[1]},{upper[2]})",
                bgcolor=None if lower is None else f"rgb({lower[0]},{lower[1]},{lower[2]})",
            )
            segments.append(Segment(UPPER_HALF, style))
        lines.append(Strip(Segment.simplify(segments), len(top)))
    return lines


class PlateImage(Widget):
    """Shows image bytes given to `show`; a short message while loading or without one.

    `ready` is True once what `show` was given is drawn (or known to be unusable).
    """

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, what: str = "read image"
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.what = what  # names the image in logs ("read image", "snapshot")
        self._image: Image.Image | None = None
        self._lines: list[Strip] = []
        self._drawn_for: tuple[int, int] | None = None
        self.message = "loading image…"
        self.ready = False

    async def show(self, data: bytes | None, *, keep_old: bool = False) -> None:
        """Decode `data` (off the event loop) and draw it; None means "no image".

        `keep_old`: the previous picture stays until the new one is drawn (a refreshed
        preview must not flicker); otherwise it goes at once (a crop of another read)."""
        self.ready = False
        if not keep_old:
            self._image = None
            self._lines = []
            self._drawn_for = None
        if data is None:
            self.show_message("no image")
            return
        try:
            image = await asyncio.to_thread(decode, data)
        except ImageUnreadable as exc:
            log.warning("%s unreadable: %s", self.what, exc)
            self.show_message("image unreadable")
            return
        self._image = image
        await self._draw()

    @property
    def picture_size(self) -> tuple[int, int] | None:
        """(width, height) in pixels of the picture shown, None without one."""
        return None if self._image is None else self._image.size

    def show_message(self, message: str) -> None:
        """Drop the image and show `message` instead (e.g. why there is none)."""
        self._image = None
        self._lines = []
        self._drawn_for = None
        self._done(message)

    def on_resize(self, event: events.Resize) -> None:
        if self._image is not None and self._drawn_for != self._cells():
            # The method, not a coroutine: a worker that never starts (the app quits first)
            # leaves no un-awaited coroutine behind.
            self.run_worker(self._draw, group="scale", exclusive=True)  # type: ignore[arg-type]

    def _cells(self) -> tuple[int, int]:
        return (self.size.width, self.size.height)

    async def _draw(self) -> None:
        img = self._image
        if img is None:
            return
        cells = self._cells()
        rows = await asyncio.to_thread(scale, img, *cells)
        self._lines = strips(rows)
        self._drawn_for = cells
        self._done("")

    def _done(self, message: str) -> None:
        self.message = message
        self.ready = True
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._lines):
            return self._lines[y]
        if y == 0 and self.message:
            return Strip([Segment(self.message, self.rich_style + Style(dim=True, italic=True))])
        return Strip.blank(self.size.width, self.rich_style)
