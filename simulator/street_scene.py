"""The synthetic street scene every simulated camera films (simulator.video encodes it).

Sky, buildings with windows, a road with lane markings and vehicles driving through,
drawn with numpy straight into yuv420p; the traffic repeats exactly every loop.
"""

from __future__ import annotations

import av
import numpy as np


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited-range YUV of an RGB colour."""
    r, g, b = rgb
    return (round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
            round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255),
            round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255))


class StreetScene:
    """A street with traffic whose motion repeats exactly every loop (seamless loop).

    Frames are drawn straight into yuv420p arrays (shape (h*3/2, w)): converting RGB
    frames would cost more than encoding them.
    """

    def __init__(self, width: int, height: int, look: int, slots: int) -> None:
        self.w, self.h, self.slots = width, height, slots
        rng = np.random.default_rng(1000 + look)
        w, h = width, height
        bg = np.empty((h, w, 3), np.uint8)
        horizon = int(h * (0.30 + 0.08 * rng.random()))
        road_top = int(h * (0.55 + 0.05 * rng.random()))
        # Sky gradient.
        sky_top = np.array([90, 140, 200]) + rng.integers(-30, 30, 3)
        sky_bottom = np.array([190, 210, 230])
        ramp = np.linspace(0, 1, max(horizon, 1))[:, None]
        bg[:horizon] = (sky_top * (1 - ramp) + sky_bottom * ramp).astype(np.uint8)[:, None, :]
        # Buildings with windows.
        bg[horizon:road_top] = (120, 120, 115)
        x = 0
        while x < w:
            bw = int(w * (0.08 + 0.12 * rng.random()))
            top = int(h * (0.12 + 0.25 * rng.random()))
            colour = rng.integers(70, 200, 3)
            bg[top:road_top, x:x + bw] = colour
            win = max(2, h // 60)
            for wy in range(top + win, road_top - 2 * win, 3 * win):
                for wx in range(x + win, x + bw - 2 * win, 3 * win):
                    lit = rng.random() < 0.3
                    bg[wy:wy + win, wx:wx + win] = (230, 220, 150) if lit else (40, 50, 60)
            x += bw + int(w * 0.01)
        # Sidewalk, road, lane markings.
        walk = max(2, h // 30)
        bg[road_top:road_top + walk] = (170, 165, 160)
        bg[road_top + walk:] = (70, 70, 75)
        lanes = 3
        lane_h = (h - road_top - walk) / lanes
        dash = max(4, w // 24)
        line = max(1, h // 180)
        for k in range(1, lanes):
            y = int(road_top + walk + k * lane_h)
            for dx in range(0, w, 2 * dash):
                bg[y:y + line, dx:dx + dash] = (230, 230, 230)
        # Static texture so that keyframes cost what they would on a real street.
        bg = np.clip(bg.astype(np.int16) + rng.integers(-6, 7, (h, w, 1), dtype=np.int16),
                     0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(bg, format="rgb24").reformat(format="yuv420p")
        self.background = np.ascontiguousarray(frame.to_ndarray())
        # Vehicles: each travels a whole number of laps per loop, so the loop is seamless.
        self.vehicles: list[tuple[int, int, int, int, int, tuple[int, int, int]]] = []
        for i in range(int(rng.integers(4, 8))):
            lane = i % lanes
            vh = max(4, int(lane_h * 0.7))
            vl = int(vh * (1.8 + 1.5 * rng.random()))
            y = int(road_top + walk + lane * lane_h + (lane_h - vh) / 2)
            direction = 1 if lane % 2 == 0 else -1
            # One lap per loop: a vehicle is half a lap on at the mid-loop keyframe, so
            # consecutive keyframes always differ (two laps would repeat every GOP, and a
            # freeze detector comparing keyframes would call the picture frozen).
            laps = 1
            x0 = int(rng.integers(0, w + vl))
            r, g, b = (int(c) for c in rng.integers(20, 240, 3))
            self.vehicles.append((y, vh, vl, x0, laps * direction, _yuv((r, g, b))))

    def _rect(self, img: np.ndarray, y0: int, y1: int, x0: int, x1: int,
              yuv: tuple[int, int, int]) -> None:
        w, h = self.w, self.h
        x0, x1, y0, y1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
        if x0 >= x1 or y0 >= y1:
            return
        img[y0:y1, x0:x1] = yuv[0]
        q = (h // 2) * (w // 2)
        u = img[h:].reshape(-1)[:q].reshape(h // 2, w // 2)
        v = img[h:].reshape(-1)[q:2 * q].reshape(h // 2, w // 2)
        u[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = yuv[1]
        v[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = yuv[2]

    def frame(self, slot: int) -> np.ndarray:
        """The yuv420p picture of a slot, shape (h * 3 / 2, w)."""
        img = self.background.copy()
        window, tyre = _yuv((40, 60, 80)), _yuv((15, 15, 15))
        for y, vh, vl, x0, lap_dir, colour in self.vehicles:
            span = self.w + vl
            x = int(x0 + lap_dir * span * slot / self.slots) % span - vl
            self._rect(img, y, y + vh, x, x + vl, colour)
            self._rect(img, y + vh // 6, y + vh // 2, x + vl // 5, x + vl * 4 // 5, window)
            wheel = max(2, vh // 4)
            for cx in (x + vl // 6, x + vl * 5 // 6 - wheel):
                self._rect(img, y + vh - wheel // 2, y + vh + wheel // 2, cx, cx + wheel, tyre)
        return img
