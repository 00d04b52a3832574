"""The ONVIF driver follows a camera clock that moves while it is watched (NTP resync,
a technician): WS-Security tokens are judged on the camera's clock."""

from __future__ import annotations

import pytest

from drivers.errors import OnvifAuthError
from drivers.onvif import OnvifDevice
from simulator.model import CameraFault
from tests.conftest import PASSWORD, USER, StartCamera, make_spec


async def test_check_follows_a_camera_clock_that_jumped(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    device = OnvifDevice(cam.onvif_url, USER, PASSWORD)
    try:
        await device.check()
        before = (await device.snapshot()).clock_offset_s
        assert before is not None
        cam.set_clock_offset(3600)  # resynced to a server an hour off: tokens now "stale"
        info = await device.check()
        assert info.manufacturer
        after = (await device.snapshot()).clock_offset_s
        assert after is not None and abs(after - before - 3600) < 2
    finally:
        await device.close()


async def test_a_wrong_password_is_still_wrong_after_the_clock_check(
    start_camera: StartCamera,
) -> None:
    cam = await start_camera(make_spec())
    device = OnvifDevice(cam.onvif_url, USER, PASSWORD)
    try:
        await device.check()
        await cam.set_fault(CameraFault.WRONG_PASSWORD, True)
        with pytest.raises(OnvifAuthError):
            await device.check()
    finally:
        await device.close()
