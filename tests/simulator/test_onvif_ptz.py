"""The simulated PTZ service and SystemReboot, with raw SOAP and the onvif-zeep-async client."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import zeep.exceptions
from onvif import ONVIFCamera

from simulator.clock import VirtualClock
from simulator.model import CameraSpec
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_ptz import PT_POSITION, is_ptz_model
from simulator.ptz_motion import PAN_TILT_MAX_RATE, ZOOM_MAX_RATE, PtzState
from simulator.vendors import VENDOR_PROFILES
from tests.simulator.conftest import (
    NS,
    PASSWORD,
    USER,
    StartCamera,
    fault_codes,
    make_spec,
    post_soap,
    soap_envelope,
)

pytestmark = pytest.mark.timeout(60)

SPEED = 20.0
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"


class ManualClock(VirtualClock):
    """A virtual clock that only moves when the test says so."""

    def __init__(self) -> None:
        super().__init__(datetime(2025, 3, 14, 8, 30, tzinfo=UTC))
        self.t = 0.0

    def elapsed(self) -> float:
        return self.t


def dome_spec(cam_id: str = "hst-ptz-001") -> CameraSpec:
    return dataclasses.replace(make_spec(cam_id), vendor=VENDOR_PROFILES["axis"].models[2])


@pytest.fixture
def clock() -> VirtualClock:
    """Overrides tests/conftest.py's: scenario time runs 20 times faster."""
    return VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=SPEED)


@pytest.fixture
async def dome(start_camera: StartCamera) -> SimulatedCamera:
    return await start_camera(dome_spec())


@asynccontextmanager
async def client(cam: SimulatedCamera) -> AsyncIterator[ONVIFCamera]:
    onvif = ONVIFCamera(cam.host, cam.port, USER, PASSWORD, adjust_time=True, no_cache=True)
    try:
        await onvif.update_xaddrs()
        yield onvif
    finally:
        await onvif.close()


async def ptz_soap(cam: SimulatedCamera, action: str, inner: str = "") -> tuple[int, Any]:
    """POST one PTZ request (`inner`: its children, prefixes tptz/tt) with a valid token."""
    body = (f'<tptz:{action} xmlns:tptz="{TPTZ}" xmlns:tt="{NS["tt"]}">{inner}'
            f"</tptz:{action}>")
    data = soap_envelope(body, username=USER, password=PASSWORD, created=cam.camera_now())
    async with aiohttp.ClientSession() as http:
        return await post_soap(http, cam.ptz_url, data)


# ------------------------------------------------------------------ motion model


def test_motion_is_a_function_of_the_virtual_clock() -> None:
    clock = ManualClock()
    state = PtzState(clock)
    state.continuous((0.5, -0.25), 1.0, timeout_s=2.0)
    clock.t = 1.0
    assert state.position() == pytest.approx((0.5 * PAN_TILT_MAX_RATE, -0.25, ZOOM_MAX_RATE))
    assert state.moving() == (True, True)
    clock.t = 10.0  # the Timeout (2 s) ended the move
    assert state.position() == pytest.approx((1.0 * PAN_TILT_MAX_RATE, -0.5, 2 * ZOOM_MAX_RATE))
    assert state.moving() == (False, False)


def test_limits_clamp_and_absolute_moves_arrive_together() -> None:
    clock = ManualClock()
    state = PtzState(clock)
    state.continuous((1.0, 0.0), -1.0, timeout_s=300)
    clock.t = 100.0
    assert state.position() == (1.0, 0.0, 0.0)  # pan limit 1, zoom limit 0
    assert state.moving() == (False, False)
    state.move_to((-1.0, 0.5), 1.0, pt_speed=0.5, zoom_speed=1.0)
    clock.t = 101.0
    pan, tilt, zoom = state.position()
    assert (pan, tilt) == pytest.approx((0.5, 0.125))  # pan leads, tilt in proportion
    assert zoom == pytest.approx(ZOOM_MAX_RATE)
    clock.t = 104.0
    assert state.position() == pytest.approx((-1.0, 0.5, 1.0))
    assert state.moving() == (False, False)
    state.move_to((0.2, 0.2), None, pt_speed=1.0, zoom_speed=1.0)
    clock.t = 104.5
    state.stop(pan_tilt=True, zoom=False)
    held = state.position()
    clock.t = 200.0
    assert state.position() == held


def test_ptz_models() -> None:
    models = {m.model: is_ptz_model(m.model) for p in VENDOR_PROFILES.values() for m in p.models}
    assert models["AXIS Q6045-E"] is True
    assert [m for m, ptz in models.items() if ptz] == ["AXIS Q6045-E"]
    assert is_ptz_model("DS-2DF7276-AEL") and is_ptz_model("SD49225XA-HNR")
    assert not is_ptz_model("DS-2CD2012-I")


# ------------------------------------------------------------------ advertising


async def test_dome_advertises_ptz_everywhere(dome: SimulatedCamera) -> None:
    async with client(dome) as onvif:
        assert onvif.xaddrs[TPTZ] == dome.ptz_url
        devicemgmt = await onvif.create_devicemgmt_service()
        caps = await devicemgmt.GetCapabilities({"Category": "PTZ"})
        assert caps.PTZ.XAddr == dome.ptz_url
        scopes = [s.ScopeItem for s in await devicemgmt.GetScopes()]
        assert "onvif://www.onvif.org/type/ptz" in scopes
        media = await onvif.create_media_service()
        profiles = await media.GetProfiles()
        ptz = await onvif.create_ptz_service()
        [config] = await ptz.GetConfigurations()
        assert {p.PTZConfiguration.token for p in profiles} == {config.token}
        assert config.UseCount == len(profiles)
        [node] = await ptz.GetNodes()
        assert config.NodeToken == node.token
        assert (await ptz.GetNode({"NodeToken": node.token})).token == node.token
        assert (await ptz.GetConfiguration({"PTZConfigurationToken": config.token})).token \
            == config.token
        caps = await ptz.GetServiceCapabilities()
        assert caps.EFlip is False and caps.Reverse is False
        # The library's WSDL predates MoveStatus/StatusPosition (PTZ 2.4): extra attributes.
        assert caps._attr_1 == {"MoveStatus": "true", "StatusPosition": "true"}


async def test_fixed_camera_has_no_ptz(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    async with client(cam) as onvif:
        assert TPTZ not in onvif.xaddrs
        devicemgmt = await onvif.create_devicemgmt_service()
        with pytest.raises(zeep.exceptions.Fault):
            await devicemgmt.GetCapabilities({"Category": "PTZ"})
    status, doc = await ptz_soap(cam, "GetNodes")
    assert status == 500
    assert "ter:ActionNotSupported" in fault_codes(doc)


# ------------------------------------------------------------------ moves over SOAP


async def test_absolute_move_moving_then_idle(dome: SimulatedCamera) -> None:
    async with client(dome) as onvif:
        ptz = await onvif.create_ptz_service()
        req = {"ProfileToken": "profile_sub"}
        await ptz.AbsoluteMove({
            **req,
            "Position": {"PanTilt": {"x": -0.6, "y": 0.3, "space": PT_POSITION}},
            "Speed": {"PanTilt": {"x": 0.1, "y": 0.1}},  # 6 scenario s = 0.3 real s
        })
        first = await ptz.GetStatus(req)
        assert first.MoveStatus.PanTilt == "MOVING" and first.MoveStatus.Zoom == "IDLE"
        assert -0.6 < first.Position.PanTilt.x <= 0.0
        for _ in range(200):
            status = await ptz.GetStatus(req)
            if status.MoveStatus.PanTilt == "IDLE":
                break
            await asyncio.sleep(0.01)
        assert status.MoveStatus.PanTilt == "IDLE"
        assert (status.Position.PanTilt.x, status.Position.PanTilt.y) == (-0.6, 0.3)
        assert status.UtcTime.tzinfo is not None


async def test_relative_and_continuous_moves(dome: SimulatedCamera) -> None:
    async with client(dome) as onvif:
        ptz = await onvif.create_ptz_service()
        req = {"ProfileToken": "profile_main"}
        await ptz.RelativeMove({**req, "Translation": {"PanTilt": {"x": 0.9, "y": 0.0},
                                                       "Zoom": {"x": 0.5}}})
        await asyncio.sleep(2.5 / SPEED * 4)
        pos = (await ptz.GetStatus(req)).Position
        assert (pos.PanTilt.x, pos.Zoom.x) == (0.9, 0.5)
        await ptz.RelativeMove({**req, "Translation": {"PanTilt": {"x": 0.9, "y": 0.0}}})
        await asyncio.sleep(1.0 / SPEED * 4)
        assert (await ptz.GetStatus(req)).Position.PanTilt.x == 1.0  # clamped at the limit
        await ptz.ContinuousMove({**req, "Velocity": {"Zoom": {"x": -1.0}}, "Timeout": "PT1S"})
        await asyncio.sleep(1.5 / SPEED * 4)
        status = await ptz.GetStatus(req)
        assert status.Position.Zoom.x == pytest.approx(0.5 - ZOOM_MAX_RATE, abs=1e-6)
        assert status.MoveStatus.Zoom == "IDLE"
        await ptz.ContinuousMove({**req, "Velocity": {"PanTilt": {"x": -0.05, "y": 0}}})
        await ptz.Stop({**req, "PanTilt": True, "Zoom": False})
        assert (await ptz.GetStatus(req)).MoveStatus.PanTilt == "IDLE"


async def test_presets_over_soap(dome: SimulatedCamera) -> None:
    async with client(dome) as onvif:
        ptz = await onvif.create_ptz_service()
        req = {"ProfileToken": "profile_main"}
        names = [p.Name for p in await ptz.GetPresets(req)]
        assert names == ["Overview", dome.spec.street]
        token = await ptz.SetPreset({**req, "PresetName": "Bus stop"})
        assert token == "3"
        with pytest.raises(zeep.exceptions.Fault) as info:
            await ptz.SetPreset({**req, "PresetName": "Bus stop"})
        assert [s.localname for s in info.value.subcodes] == ["InvalidArgVal", "PresetExist"]
        await ptz.GotoPreset({**req, "PresetToken": "2"})
        await ptz.RemovePreset({**req, "PresetToken": token})
        assert [p.token for p in await ptz.GetPresets(req)] == ["1", "2"]


PROFILE = "<tptz:ProfileToken>profile_main</tptz:ProfileToken>"


@pytest.mark.parametrize(
    ("action", "inner", "subcode"),
    [
        ("GotoPreset", PROFILE + "<tptz:PresetToken>77</tptz:PresetToken>", "ter:NoToken"),
        ("RemovePreset", PROFILE + "<tptz:PresetToken>77</tptz:PresetToken>", "ter:NoToken"),
        ("AbsoluteMove", PROFILE + '<tptz:Position><tt:PanTilt x="1.5" y="0"/></tptz:Position>',
         "ter:InvalidPosition"),
        ("AbsoluteMove", PROFILE + '<tptz:Position><tt:Zoom x="0.5"/></tptz:Position>'
         '<tptz:Speed><tt:Zoom x="2"/></tptz:Speed>', "ter:InvalidSpeed"),
        ("ContinuousMove", PROFILE + '<tptz:Velocity><tt:PanTilt x="nan" y="0"/></tptz:Velocity>',
         "ter:InvalidVelocity"),
        ("ContinuousMove", PROFILE + '<tptz:Velocity><tt:PanTilt x="0.5" y="0" '
         'space="http://example.com/degrees"/></tptz:Velocity>', "ter:InvalidVelocity"),
        ("RelativeMove", PROFILE + '<tptz:Translation><tt:PanTilt x="-3" y="0"/>'
         "</tptz:Translation>", "ter:InvalidTranslation"),
        ("GetStatus", "<tptz:ProfileToken>nope</tptz:ProfileToken>", "ter:NoProfile"),
        ("GetNode", "<tptz:NodeToken>nope</tptz:NodeToken>", "ter:NoEntity"),
        ("GetConfiguration", "<tptz:PTZConfigurationToken>x</tptz:PTZConfigurationToken>",
         "ter:NoConfig"),
    ],
)
async def test_bad_requests_are_soap_faults(
    dome: SimulatedCamera, action: str, inner: str, subcode: str
) -> None:
    before = dome.ptz_state.position()
    status, doc = await ptz_soap(dome, action, inner)
    assert status == 400
    assert fault_codes(doc) == ["env:Sender", "ter:InvalidArgVal", subcode]
    assert dome.ptz_state.position() == before


async def test_continuous_only_quirk(dome: SimulatedCamera) -> None:
    dome.ptz_state.continuous_only = True
    status, doc = await ptz_soap(
        dome, "AbsoluteMove", PROFILE + '<tptz:Position><tt:PanTilt x="0.5" y="0"/></tptz:Position>'
    )
    assert status == 500 and "ter:ActionNotSupported" in fault_codes(doc)
    async with client(dome) as onvif:
        ptz = await onvif.create_ptz_service()
        [node] = await ptz.GetNodes()
        assert not node.SupportedPTZSpaces.AbsolutePanTiltPositionSpace
        assert node.SupportedPTZSpaces.ContinuousPanTiltVelocitySpace


# ------------------------------------------------------------------ SystemReboot


async def refused(cam: SimulatedCamera) -> bool:
    try:
        _, writer = await asyncio.open_connection(cam.host, cam.port)
    except (ConnectionRefusedError, ConnectionResetError):  # reset: the port closing under us
        return True
    writer.close()
    return False


async def test_system_reboot_goes_down_and_comes_back(dome: SimulatedCamera) -> None:
    clock = dome.clock
    async with client(dome) as onvif:
        devicemgmt = await onvif.create_devicemgmt_service()
        ptz = await onvif.create_ptz_service()
        await ptz.AbsoluteMove({"ProfileToken": "profile_main",
                                "Position": {"PanTilt": {"x": 0.5, "y": 0.5}}})
        started = clock.elapsed()
        message = await devicemgmt.SystemReboot()
    seconds = int(message.split()[2])
    assert message == f"Rebooting in {seconds} seconds" and 21 <= seconds <= 41
    assert dome.rebooting
    while not await refused(dome):
        assert clock.elapsed() - started < 5
        await asyncio.sleep(0.005)
    down_at = clock.elapsed()
    assert not dome.powered
    while await refused(dome):
        assert clock.elapsed() - started < 60
        await asyncio.sleep(0.01)
    back_after = clock.elapsed() - down_at
    assert seconds - 1 - 2 <= back_after <= seconds - 1 + 2
    assert dome.powered and not dome.rebooting
    assert dome.ptz_state.position() == (0.0, 0.0, 0.0)  # parked at home after the boot
    assert len(dome.ptz_state.presets) == 2  # presets survive


async def test_reboot_durations_are_drawn_from_the_seed(clock: VirtualClock) -> None:
    drawn = []
    for seed in (1, 1, 2):
        cam = SimulatedCamera(dome_spec(), clock, seed=seed)
        durations = []
        for _ in range(3):
            durations.append(cam.schedule_reboot())
            task = cam._reboot_task
            assert task is not None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        drawn.append(durations)
    assert drawn[0] == drawn[1] != drawn[2]
    assert all(21 <= d <= 41 for d in drawn[0] + drawn[2])
    assert len(set(drawn[0])) > 1  # each reboot of a camera draws anew
