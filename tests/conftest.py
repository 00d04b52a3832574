"""Fixtures shared by every test package: simulated cameras on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest

from simulator.clock import VirtualClock
from simulator.model import CameraFault, CameraKind, CameraSpec, StreamProfile
from simulator.onvif_camera import SimulatedCamera
from simulator.vendors import VENDORS

USER = "operator"
PASSWORD = "S3cret&<pass>"  # characters that need XML escaping, on purpose

StartCamera = Callable[[CameraSpec], Awaitable[SimulatedCamera]]


def make_spec(
    cam_id: str = "hst-cam-007",
    *,
    faults: frozenset[CameraFault] = frozenset(),
    clock_offset_s: float = 0.0,
    slow_delay_s: float = 0.3,
    vendor: str = "axis",
) -> CameraSpec:
    return CameraSpec(
        id=cam_id,
        name="Grote Markt / Maastrichterstraat",
        site="centrum",
        kind=CameraKind.FIXED,
        street="Grote Markt",
        lat=50.9307,
        lon=5.3378,
        vendor=VENDORS[vendor],
        username=USER,
        password=PASSWORD,
        profiles=(
            StreamProfile("profile_main", "mainStream", 1920, 1080, 25, "H264", 4096),
            StreamProfile("profile_sub", "subStream", 640, 360, 12, "H264", 512),
        ),
        faults=faults,
        clock_offset_s=clock_offset_s,
        slow_delay_s=slow_delay_s,
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC))


@pytest.fixture
async def start_camera(
    clock: VirtualClock,
) -> AsyncIterator[StartCamera]:
    """Factory: start a camera for a spec; every camera is stopped after the test."""
    started: list[SimulatedCamera] = []

    async def _start(spec: CameraSpec) -> SimulatedCamera:
        cam = SimulatedCamera(spec, clock, rtsp_port=8554)
        await cam.start()
        started.append(cam)
        return cam

    yield _start
    for cam in started:
        await cam.stop()
