"""The on-screen text of a simulated camera's snapshot: its name, its clock, its PTZ position.

Real cameras burn an OSD into every picture (name and time top left, domes add the PTZ
position), and operators read a preview by it. The street scene is rendered once per
(size, look) and cached (simulator.onvif_snapshot.render_scene); only the caption is drawn
per request, on a copy, and encoded as JPEG with Pillow. Captions are rounded to what they
show (whole seconds, three decimals), so equal captions share a small cache of JPEGs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from simulator.onvif_snapshot import render_scene, snapshot_size

# Text height as a share of the picture height: camera OSDs use about 4-5 %, which keeps
# the text readable in a 320-pixel-high preview and small on a 720p picture.
FONT_HEIGHT_SHARE = 1 / 22
# Below this the bundled font's glyphs break up, whatever the picture size.
MIN_FONT_PX = 10
# Line pitch relative to the font size.
LINE_PITCH = 1.3
# JPEG quality of a snapshot: the cameras' default range (Axis 70-80, Hikvision "high").
JPEG_QUALITY = 80
# Rendered JPEGs kept: a dozen cameras polled once a second for a few seconds.
JPEG_CACHE = 64
TEXT_FILL = (255, 255, 255)
TEXT_OUTLINE = (0, 0, 0)  # an outline keeps white text legible on sky and asphalt
# Digits shown of a PTZ coordinate (the ONVIF generic spaces run -1..1 and 0..1).
PTZ_DECIMALS = 3

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)


@dataclass(frozen=True)
class Caption:
    """What one snapshot shows: camera name, camera clock, PTZ position of a dome."""

    name: str
    time: datetime
    ptz: tuple[float, float, float] | None = None  # pan, tilt, zoom

    @classmethod
    def of(cls, name: str, time: datetime,
           ptz: tuple[float, float, float] | None = None) -> Caption:
        """A caption rounded to what is displayed (equal displays compare equal)."""
        def shown(v: float) -> float:
            return round(v, PTZ_DECIMALS) + 0.0  # + 0.0: no "-0.000" on screen

        pos = None if ptz is None else (shown(ptz[0]), shown(ptz[1]), shown(ptz[2]))
        return cls(name, time.replace(microsecond=0), pos)

    def top_lines(self) -> tuple[str, str]:
        zone = self.time.tzname() or ""
        return self.name, f"{self.time:%Y-%m-%d %H:%M:%S} {zone}".rstrip()

    def ptz_line(self) -> str | None:
        if self.ptz is None:
            return None
        pan, tilt, zoom = self.ptz
        return f"PTZ  pan {pan:+.3f}  tilt {tilt:+.3f}  zoom {zoom:.3f}"


def font_px(height: int) -> int:
    return max(MIN_FONT_PX, round(height * FONT_HEIGHT_SHARE))


def _margin(size: int) -> int:
    return max(2, size // 2)


def _pitch(size: int) -> int:
    return round(size * LINE_PITCH)


def caption_box(width: int, height: int) -> Box:
    """Where the name and time lines are drawn in a snapshot of a `width`x`height` stream."""
    w, h = snapshot_size(width, height)
    size = font_px(h)
    return 0, 0, w, min(h, 2 * _margin(size) + 2 * _pitch(size))


def ptz_box(width: int, height: int) -> Box:
    """Where the PTZ line is drawn (bottom band)."""
    w, h = snapshot_size(width, height)
    size = font_px(h)
    return 0, max(0, h - 2 * _margin(size) - _pitch(size)), w, h


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font (Aileron, scalable with FreeType): no system font needed.
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=JPEG_CACHE)
def render_snapshot(width: int, height: int, look: int, caption: Caption) -> bytes:
    """The scene of a `width`x`height` stream with `caption` drawn on it, as JPEG.

    Blocking (~10-30 ms for 720p): call it through asyncio.to_thread from handlers.
    """
    # fromarray shares the cached (read-only) scene; copy() is the one we draw on.
    img = Image.fromarray(render_scene(width, height, look)).copy()
    h = img.height
    size = font_px(h)
    font, margin, pitch = _font(size), _margin(size), _pitch(size)
    draw = ImageDraw.Draw(img)
    outline = max(1, size // 12)

    def text(y: int, line: str) -> None:
        draw.text((margin, y), line, font=font, fill=TEXT_FILL,
                  stroke_width=outline, stroke_fill=TEXT_OUTLINE)

    for i, line in enumerate(caption.top_lines()):
        text(margin + i * pitch, line)
    ptz = caption.ptz_line()
    if ptz is not None:
        text(h - margin - pitch, ptz)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()

