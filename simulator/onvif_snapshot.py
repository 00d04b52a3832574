"""Snapshots of the simulated cameras: the street scene (its caption and JPEG encoding are
simulator.snapshot_overlay; their HTTP auth is simulator.http_digest)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

import numpy as np
from aiohttp import hdrs, web

# Moved to simulator.http_digest (SOAP of digest-only cameras uses it too); kept importable.
from simulator.http_digest import HttpAuthenticator

__all__ = ["HttpAuthenticator", "render_scene", "snapshot_size", "stalled_snapshot"]

# Snapshots are for previews and tamper checks; capping the size keeps the one-off
# encode cheap even for 4K profiles.
MAX_SNAPSHOT_WIDTH = 1280


def snapshot_size(width: int, height: int) -> tuple[int, int]:
    """The snapshot size for a stream size: same aspect ratio, even dimensions, capped."""
    if width > MAX_SNAPSHOT_WIDTH:
        height = height * MAX_SNAPSHOT_WIDTH // width
        width = MAX_SNAPSHOT_WIDTH
    return max(16, width - width % 2), max(16, height - height % 2)


# Scenes kept: 16 looks times the two or three snapshot sizes of a fleet mostly fit; at
# most 32 x 2.8 MB (1280x720 RGB) of memory.
SCENE_CACHE = 32


@lru_cache(maxsize=SCENE_CACHE)
def render_scene(width: int, height: int, look: int) -> np.ndarray:
    """The synthetic street scene (RGB, snapshot_size of the stream size), read-only;
    cached, since many cameras share a size and look. simulator.snapshot_overlay draws
    each camera's caption on a copy."""
    w, h = snapshot_size(width, height)
    img = np.empty((h, w, 3), np.uint8)
    horizon = h * 2 // 5
    # Sky: vertical gradient, tinted per look so cameras do not all look alike.
    ramp = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    tint = np.array([(90 + 20 * (look % 3)), 140, 200 - 15 * (look % 4)], np.float32)
    img[:horizon] = (tint * (0.6 + 0.4 * ramp))[:, None, :].astype(np.uint8)
    img[horizon:] = (70, 72, 75)  # asphalt
    # Buildings along the horizon.
    rng = np.random.default_rng(look)
    x = 0
    while x < w:
        bw = int(rng.integers(w // 16, w // 6))
        bh = int(rng.integers(horizon // 3, horizon))
        colour = rng.integers(60, 200, 3).astype(np.uint8)
        img[horizon - bh : horizon, x : x + bw] = colour
        x += bw + int(rng.integers(2, w // 40 + 3))
    # Lane markings in perspective.
    for i in range(8):
        y0 = horizon + (h - horizon) * i // 8
        y1 = y0 + max(2, (h - horizon) // 24)
        half = max(1, (w // 200) * (i + 1) // 2)
        img[y0:y1, w // 2 - half : w // 2 + half] = (230, 230, 230)
    img.flags.writeable = False  # shared by every caller through the cache
    return img


# SNAPSHOT_STALL: real seconds a stalled answer keeps its socket at most (a real camera holds
# it until the client gives up; bounded so a test run leaks nothing), and how often it looks
# whether the client went away.
STALL_HOLD_S = 120.0
STALL_POLL_S = 0.5


async def stalled_snapshot(request: web.Request, size: int) -> web.StreamResponse:
    """A snapshot answer that stalls: status and headers of a `size`-byte JPEG, then
    nothing; the socket is held until the client gives up (or STALL_HOLD_S passed)."""
    response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "image/jpeg"})
    response.content_length = size
    response.force_close()  # the short body must not be followed by another answer
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    until = loop.time() + STALL_HOLD_S
    while loop.time() < until:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(STALL_POLL_S)
    # aiohttp then closes the connection, the body short of its Content-Length.
    return response
