"""The simulated snapshot shows the camera's name, its clock and (domes) the PTZ position.

Snapshots are fetched with the real drivers (SnapshotFetcher, OnvifPtz) from a simulated
dome; the caption regions are compared pixel by pixel, the rest of the picture must not
change (the scene is cached, only the caption is drawn per request).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from drivers.onvif import OnvifDevice
from drivers.onvif_ptz import OnvifPtz
from drivers.onvif_snapshot import SnapshotFetcher
from simulator.clock import VirtualClock
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_snapshot import render_scene, snapshot_size
from simulator.snapshot_overlay import Box, Caption, caption_box, ptz_box, render_snapshot
from simulator.vendors import VENDOR_PROFILES
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

pytestmark = pytest.mark.timeout(60)

# Mean absolute difference (0-255) that counts as "the text changed" in a caption band.
CHANGED = 1.0
# JPEG works on 16x16 blocks (4:2:0): rows this far from a band are untouched by it.
MCU = 16
# Real seconds a move may take (scenario time runs SPEED times faster here).
MOVE_SETTLE_S = 10.0
POLL_S = 0.05
SPEED = 20.0


@pytest.fixture
def clock() -> VirtualClock:
    """Overrides tests/conftest.py's: moves finish in a fraction of a second."""
    return VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=SPEED)


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.int16)


def band(img: np.ndarray, box: Box) -> np.ndarray:
    left, top, right, bottom = box
    return img[top:bottom, left:right]


def diff(a: np.ndarray, b: np.ndarray, box: Box) -> float:
    return float(np.abs(band(a, box) - band(b, box)).mean())


def between(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """The picture between the caption band and the PTZ band, a JPEG block away from both."""
    top = caption_box(width, height)[3] + MCU
    bottom = ptz_box(width, height)[1] - MCU
    return img[top:bottom]


async def test_ptz_move_changes_the_ptz_caption_only(start_camera: StartCamera) -> None:
    # A dome by its model (the Axis Q6045-E), as the city decides for scenario cameras.
    spec = dataclasses.replace(make_spec("hst-ptz-042"), vendor=VENDOR_PROFILES["axis"].models[2])
    cam: SimulatedCamera = await start_camera(spec)
    assert cam.ptz
    main = spec.profiles[0]
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device, \
            SnapshotFetcher(USER, PASSWORD) as fetcher:
        ptz = OnvifPtz(device, main.token)
        before = await fetcher.fetch(cam.snapshot_url_for(main.token))
        await ptz.absolute_move(0.5, -0.25, 0.6, speed=1.0)
        for _ in range(round(MOVE_SETTLE_S / POLL_S)):  # until the dome is there
            if not any(cam.ptz_state.moving()):
                break
            await asyncio.sleep(POLL_S)
        assert not any(cam.ptz_state.moving())
        after = await fetcher.fetch(cam.snapshot_url_for(main.token))
    w, h = snapshot_size(main.width, main.height)
    assert (before.width, before.height) == (after.width, after.height) == (w, h)
    a, b = pixels(before.jpeg), pixels(after.jpeg)
    assert a.shape == b.shape == (h, w, 3)
    assert diff(a, b, ptz_box(main.width, main.height)) > CHANGED
    assert np.array_equal(between(a, main.width, main.height),
                          between(b, main.width, main.height))


def test_no_ptz_line_without_a_position() -> None:
    t = datetime(2026, 3, 2, 8, 0, 1, tzinfo=UTC)
    got = pixels(render_snapshot(640, 360, 5, Caption.of("Havermarkt 7", t)))
    scene = np.asarray(render_scene(640, 360, 5), dtype=np.int16)
    assert got.shape == scene.shape
    # Text where the caption goes; where a dome's PTZ line would be, only JPEG noise.
    assert diff(got, scene, caption_box(640, 360)) > 5 * CHANGED
    assert diff(got, scene, ptz_box(640, 360)) < CHANGED


def test_camera_name_changes_the_caption_pixels() -> None:
    t = datetime(2026, 3, 2, 8, 0, 1, tzinfo=UTC)
    one = pixels(render_snapshot(1280, 720, 3, Caption.of("Grote Markt 12", t, (0.1, 0, 0.2))))
    two = pixels(render_snapshot(1280, 720, 3, Caption.of("Havermarkt 7", t, (0.1, 0, 0.2))))
    assert one.shape == two.shape == (720, 1280, 3)
    assert diff(one, two, caption_box(1280, 720)) > CHANGED
    assert np.array_equal(one[caption_box(1280, 720)[3] + MCU:],
                          two[caption_box(1280, 720)[3] + MCU:])


def test_caption_shows_time_to_the_second_and_rounded_ptz() -> None:
    t = datetime(2026, 3, 2, 8, 0, 1, 987000, tzinfo=UTC)
    cap = Caption.of("Dome", t, (0.30549, -0.00001, 0.4))
    assert cap.top_lines() == ("Dome", "2026-03-02 08:00:01 UTC")
    assert cap.ptz_line() == "PTZ  pan +0.305  tilt +0.000  zoom 0.400"
    assert Caption.of("Dome", t, None).ptz_line() is None
    # Equal displays are equal captions: the rendered JPEG is reused.
    assert cap == Caption.of("Dome", t.replace(microsecond=5), (0.3054, 0.0, 0.40001))
    assert render_snapshot(640, 360, 1, cap) is render_snapshot(640, 360, 1, cap)


def test_snapshot_size_and_font_follow_the_stream_size() -> None:
    t = datetime(2026, 3, 2, 8, 0, 1, tzinfo=UTC)
    for width, height in ((1920, 1080), (640, 360), (352, 288)):
        img = Image.open(io.BytesIO(render_snapshot(width, height, 0, Caption.of("C", t))))
        assert img.format == "JPEG"
        assert img.size == snapshot_size(width, height)
        assert caption_box(width, height)[3] < img.size[1] // 4
