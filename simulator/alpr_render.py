"""JPEG pictures an ALPR unit attaches to a read: the plate crop and an overview.

    crop = render_crop("1-ABC-234", "BE")        # 240x60 JPEG bytes
    overview = render_overview("1-ABC-234", "BE")  # 320x180 JPEG bytes

The crop shows the text the camera *read* (a misread plate looks misread), on the
country's plate: white with red characters for Belgium, yellow for the Netherlands,
white with black for Germany and France, with the blue EU band. Mild sensor noise is
seeded by the text, so the same read renders to the same bytes. Rendering costs about a
millisecond; recent results are cached per (text, country), and callers on the event loop run
it in a thread (see simulator/alpr_unit.py).
"""

from __future__ import annotations

import io
import zlib
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CROP_SIZE = (240, 60)
OVERVIEW_SIZE = (320, 180)
# Plate colours (RGB): background, characters.
PLATE_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "BE": ((250, 250, 248), (160, 16, 42)),  # Belgian plates print in dark red
    "NL": ((247, 200, 30), (20, 20, 20)),
    "DE": ((245, 245, 245), (15, 15, 15)),
    "FR": ((245, 245, 245), (15, 15, 15)),
}
EU_BLUE = (0, 51, 153)
EU_CODES = {"BE": "B", "NL": "NL", "DE": "D", "FR": "F"}
# The EU band is 40 mm of a 110 mm high plate; characters are ~75 mm high (scaled down).
BAND_RATIO = 0.37
TEXT_RATIO = 0.63
MIN_TEXT_SIZE = 8
# Standard deviation of the added noise in 8-bit levels: visible grain, text still crisp.
NOISE_SIGMA = 6.0
# Distinct noise patterns per picture size: enough that neighbouring reads differ.
NOISE_TILES = 16
JPEG_QUALITY = 80  # what ALPR cameras typically ship crops at; ~3-5 kB for a crop
# Distinct readings whose JPEGs are kept. Few reads repeat one: Hasselt's 20,000 plates
# give ~9% hits over the soak's hour even with 4,096 entries, and those held ~30 MB of
# JPEGs that grew for the whole hour (issue 10). A miss costs 1-1.5 ms of rendering;
# 256 entries (<5 MB of crops and overviews) still catch a hotlisted car seen again.
CACHE_SIZE = 256


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit_font(draw: ImageDraw.ImageDraw, text: str, width: int, size: int
              ) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font up to `size` pixels that fits `text` into `width` pixels."""
    while size > MIN_TEXT_SIZE:
        font = _font(size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= width:
            return font
        size -= 2
    return _font(MIN_TEXT_SIZE)


def _plate_image(text: str, country: str, size: tuple[int, int]) -> Image.Image:
    w, h = size
    bg, fg = PLATE_COLOURS.get(country, PLATE_COLOURS["DE"])
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w - 1, h - 1), outline=fg, width=2)
    band = max(4, round(h * BAND_RATIO))
    draw.rectangle((2, 2, band, h - 3), fill=EU_BLUE)
    code = EU_CODES.get(country, country[:2])
    draw.text((2 + band // 2, h - h // 5), code, fill=(255, 255, 255),
              font=_font(max(MIN_TEXT_SIZE, h // 5)), anchor="mm")
    font = _fit_font(draw, text, w - band - h // 4, round(h * TEXT_RATIO))
    draw.text(((w + band) // 2, h // 2), text, fill=fg, font=font, anchor="mm")
    return img


@lru_cache(maxsize=2 * NOISE_TILES)
def _noise(shape: tuple[int, ...], tile: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    """One of NOISE_TILES fixed noise images of `shape`: drawing fresh Gaussian noise
    for every picture cost more than all the rest of the rendering."""
    rng = np.random.default_rng(tile)
    return rng.normal(0.0, NOISE_SIGMA, shape).astype(np.int16)


def _noisy_jpeg(img: Image.Image, seed_text: str) -> bytes:
    pixels = np.asarray(img, dtype=np.int16)
    pixels += _noise(pixels.shape, zlib.crc32(seed_text.encode()) % NOISE_TILES)
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


@lru_cache(maxsize=CACHE_SIZE)
def render_crop(text: str, country: str) -> bytes:
    """A CROP_SIZE JPEG of a plate of `country` showing `text`."""
    return _noisy_jpeg(_plate_image(text, country, CROP_SIZE), f"crop:{country}:{text}")


@lru_cache(maxsize=CACHE_SIZE)
def render_overview(text: str, country: str) -> bytes:
    """An OVERVIEW_SIZE JPEG: the back of a car on the road, its plate showing `text`."""
    w, h = OVERVIEW_SIZE
    rng = np.random.default_rng(zlib.crc32(f"car:{text}".encode()))
    img = Image.new("RGB", OVERVIEW_SIZE, (92, 94, 98))  # asphalt
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, h // 5), fill=(150, 170, 190))  # sky / background
    for x in range(10, w, 60):  # lane markings
        draw.rectangle((x, h - 14, x + 30, h - 10), fill=(230, 230, 230))
    body = tuple(int(v) for v in rng.integers(30, 220, 3))
    car = (w // 2 - 90, h // 5 + 6, w // 2 + 90, h - 24)
    draw.rounded_rectangle(car, radius=14, fill=body)
    draw.rectangle((car[0] + 22, car[1] + 8, car[2] - 22, car[1] + 42), fill=(40, 50, 60))
    for lx in (car[0] + 6, car[2] - 30):  # rear lights
        draw.rectangle((lx, car[1] + 52, lx + 24, car[1] + 64), fill=(200, 30, 30))
    plate = _plate_image(text, country, (96, 24))
    img.paste(plate, (w // 2 - 48, car[3] - 40))
    return _noisy_jpeg(img, f"overview:{country}:{text}")
