"""Fixtures shared by every test package: simulated cameras on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from simulator.clock import VirtualClock
from simulator.model import CameraKind, CameraSpec, StreamProfile
from simulator.onvif_camera import SimulatedCamera
from simulator.vendors import VENDORS

CameraFactory = Callable[..., Awaitable[SimulatedCamera]]


def make_spec(camera_id: str = "city-fixed-001", **changes: object) -> CameraSpec:
    """A realistic camera spec; keyword arguments override fields."""
    fields: dict[str, object] = {
        "id": camera_id,
        "name": "Grote Markt 1",
        "site": "city",
        "kind": CameraKind.FIXED,
        "street": "Grote Markt",
        "lat": 50.9307,
        "lon": 5.3378,
        "vendor": VENDORS["hikvision"],
        "username": "admin",
        "password": "Hasselt-2026!",
        "profiles": (
            StreamProfile("main", "mainStream", 1920, 1080, 25),
            StreamProfile("sub", "subStream", 640, 360, 12, bitrate_kbps=512),
        ),
    }
    fields.update(changes)
    return CameraSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def sim_camera() -> AsyncIterator[CameraFactory]:
    """Start simulated cameras on free loopback ports; all are stopped after the test."""
    started: list[SimulatedCamera] = []

    async def start(spec: CameraSpec | None = None, **changes: object) -> SimulatedCamera:
        camera = SimulatedCamera(spec or make_spec(**changes), VirtualClock())
        await camera.start()
        started.append(camera)
        return camera

    yield start
    for camera in started:
        await camera.stop()
