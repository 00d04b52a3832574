"""drivers.onvif_ptz and OnvifDevice.reboot: recorded PTZ domes replayed, and a simulated dome.

Expected values of the recorded cameras are read from their XML here, never typed in by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from lxml import etree

from drivers.errors import (
    OnvifError,
    OnvifNotSupported,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
)
from drivers.onvif import OnvifDevice
from drivers.onvif_ptz import OnvifPtz
from simulator.clock import VirtualClock
from simulator.onvif_camera import SimulatedCamera
from simulator.vendors import VENDOR_PROFILES
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

from .conftest import DATA, TT, ReplayFactory

pytestmark = pytest.mark.timeout(60)

TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
PTZ_CAMERAS = ("axis-q6045-e", "hikvision-ds-2df7276-ael", "gsoap-camera")
FIXED_CAMERAS = ("hikvision-ds-2cd2012-i", "trendnet-tv-ip320pi")
# A scenario at 60x: a dome's move of 1 generic unit (1 s) takes ~17 ms, a reboot < 1 s.
SPEED = 60.0


def xml(camera: str, *names: str) -> etree._Element:
    for name in names:
        path = DATA / camera / name
        if path.is_file():
            return etree.parse(str(path)).getroot()
    raise FileNotFoundError(names)


def floats(el: etree._Element | None, *attrs: str) -> tuple[float | None, ...]:
    return tuple(None if el is None or el.get(a) is None else float(el.get(a, "")) for a in attrs)


# ------------------------------------------------------------------ recorded cameras


@pytest.mark.parametrize("camera", PTZ_CAMERAS)
async def test_recorded_nodes_configurations_status_presets(
    replay: ReplayFactory, camera: str
) -> None:
    cam = await replay(camera)
    async with OnvifDevice(cam.url, USER, PASSWORD) as device:
        ptz = device.ptz()
        nodes = await ptz.nodes()
        configs = await ptz.configurations()
        status = await ptz.status()
        presets = await ptz.presets()
        profile = await ptz.profile_token()

    rec_nodes = list(xml(camera, "GetNodes.xml").iter(f"{{{TPTZ}}}PTZNode"))
    assert [n.token for n in nodes] == [n.get("token") for n in rec_nodes]
    node, rec = nodes[0], rec_nodes[0]
    spaces = rec.find(f"{{{TT}}}SupportedPTZSpaces")
    assert spaces is not None
    assert [(s.kind, s.uri) for s in node.spaces] == [
        (etree.QName(s).localname, (s.findtext(f"{{{TT}}}URI") or "").strip()) for s in spaces
    ]
    first = spaces[0]
    assert (node.spaces[0].x_min, node.spaces[0].x_max) == (
        float(first.findtext(f"{{{TT}}}XRange/{{{TT}}}Min") or "nan"),
        float(first.findtext(f"{{{TT}}}XRange/{{{TT}}}Max") or "nan"),
    )
    assert node.max_presets == int(rec.findtext(f"{{{TT}}}MaximumNumberOfPresets") or 0)
    assert node.home_supported is (rec.findtext(f"{{{TT}}}HomeSupported") == "true")
    assert node.supports("continuous") and node.supports("absolute")
    assert node.aux_commands == tuple(
        t.strip() for a in rec.iter(f"{{{TT}}}AuxiliaryCommands") if (t := a.text or "").strip()
    )

    rec_configs = list(xml(camera, "GetConfigurations.xml").iter(f"{{{TPTZ}}}PTZConfiguration"))
    assert [(c.token, c.node_token) for c in configs] == [
        (c.get("token"), c.findtext(f"{{{TT}}}NodeToken")) for c in rec_configs
    ]
    timeout = (rec_configs[0].findtext(f"{{{TT}}}DefaultPTZTimeout") or "").strip()
    assert configs[0].default_timeout_s == pytest.approx(float(timeout[2:-1]))  # "PT<n>S"
    limits = rec_configs[0].find(f"{{{TT}}}PanTiltLimits/{{{TT}}}Range/{{{TT}}}XRange")
    expected_limits = None if limits is None else (
        float(limits.findtext(f"{{{TT}}}Min") or "nan"),
        float(limits.findtext(f"{{{TT}}}Max") or "nan"),
    )
    assert configs[0].pan_limits == expected_limits

    rec_status = xml(camera, "GetStatus.xml").find(f".//{{{TPTZ}}}PTZStatus")
    assert rec_status is not None
    assert (status.pan, status.tilt) == floats(
        rec_status.find(f"{{{TT}}}Position/{{{TT}}}PanTilt"), "x", "y"
    )
    assert (status.zoom,) == floats(rec_status.find(f"{{{TT}}}Position/{{{TT}}}Zoom"), "x")
    move = rec_status.findtext(f"{{{TT}}}MoveStatus/{{{TT}}}PanTilt")
    assert status.pan_tilt_moving is (None if move is None else move == "MOVING")
    utc = (rec_status.findtext(f"{{{TT}}}UtcTime") or "").strip()
    assert status.utc_time == datetime.fromisoformat(utc.replace("Z", "+00:00"))
    assert status.error == ((rec_status.findtext(f"{{{TT}}}Error") or "").strip() or None)

    rec_presets = list(
        xml(camera, "GetPresets.xml", "ptz.GetPresets.xml").iter(f"{{{TPTZ}}}Preset")
    )
    assert [(p.token, p.name) for p in presets] == [
        (p.get("token"), (p.findtext(f"{{{TT}}}Name") or "").strip()) for p in rec_presets
    ]
    for preset, rec_preset in zip(presets, rec_presets, strict=True):
        pt = rec_preset.find(f"{{{TT}}}PTZPosition/{{{TT}}}PanTilt")
        assert (preset.pan, preset.tilt) == floats(pt, "x", "y")

    rec_profiles = xml(camera, "GetProfiles.xml")
    first_ptz = next(
        p.get("token") for p in rec_profiles.iter("{http://www.onvif.org/ver10/media/wsdl}Profiles")
        if p.find(f"{{{TT}}}PTZConfiguration") is not None
    )
    assert profile == first_ptz


@pytest.mark.parametrize("camera", ("axis-q6045-e", "hikvision-ds-2df7276-ael"))
async def test_recorded_moves_and_preset_token(replay: ReplayFactory, camera: str) -> None:
    cam = await replay(camera)
    async with OnvifDevice(cam.url, USER, PASSWORD) as device:
        ptz = device.ptz()
        await ptz.continuous_move(pan=0.5, tilt=-0.2, zoom=0.0, timeout_s=2)
        await ptz.stop()
        await ptz.absolute_move(0.1, 0.2, 0.3, speed=0.5)
        await ptz.relative_move(pan=0.1)
        await ptz.goto_preset("1")
        token = await ptz.set_preset("Gate")
    recorded = xml(camera, "SetPreset.xml").findtext(f".//{{{TPTZ}}}PresetToken")
    assert token == (recorded or "").strip()
    actions = [action for _, action in cam.requests]
    for action in ("ContinuousMove", "Stop", "AbsoluteMove", "RelativeMove", "GotoPreset"):
        assert action in actions
    # The requests went to the PTZ XAddr the camera advertises, rewritten to the replay host.
    ptz_paths = {path for path, action in cam.requests if action == "ContinuousMove"}
    assert ptz_paths and all(p != "/onvif/device_service" or camera == "axis-q6045-e"
                             for p in ptz_paths)


@pytest.mark.parametrize("camera", ("axis-q6045-e", "hikvision-ds-2df7276-ael", "gsoap-camera",
                                    "hikvision-ds-2cd2012-i", "trendnet-tv-ip320pi"))
async def test_recorded_reboot_message(replay: ReplayFactory, camera: str) -> None:
    cam = await replay(camera)
    async with OnvifDevice(cam.url, USER, PASSWORD) as device:
        message = await device.reboot()
    recorded = xml(camera, "SystemReboot.xml").findtext(f".//{{{TDS}}}Message")
    assert message == " ".join((recorded or "").split())


@pytest.mark.parametrize("camera", FIXED_CAMERAS)
async def test_fixed_camera_has_no_ptz(replay: ReplayFactory, camera: str) -> None:
    cam = await replay(camera)
    async with OnvifDevice(cam.url, USER, PASSWORD) as device:
        with pytest.raises(OnvifNotSupported) as info:
            await device.ptz().status()
    assert info.value.not_supported and info.value.operation == "GetStatus"
    assert not any(action == "GetStatus" for _, action in cam.requests)


# ------------------------------------------------------------------ simulated dome


@pytest.fixture
def clock() -> VirtualClock:
    """Overrides tests/conftest.py's: the dome moves and reboots 60 times faster."""
    return VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=SPEED)


@pytest.fixture
async def dome(start_camera: StartCamera) -> SimulatedCamera:
    spec = dataclasses.replace(make_spec(), vendor=VENDOR_PROFILES["axis"].models[2])  # Q6045-E
    return await start_camera(spec)


@pytest.fixture
async def device(dome: SimulatedCamera) -> AsyncIterator[OnvifDevice]:
    async with OnvifDevice(dome.onvif_url, USER, PASSWORD, timeout_s=3) as dev:
        yield dev


async def wait_idle(ptz: OnvifPtz, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while (await ptz.status()).moving:
        assert time.monotonic() < deadline, "the dome never stopped"
        await asyncio.sleep(0.01)


async def test_simulated_absolute_move_moving_then_idle(
    dome: SimulatedCamera, device: OnvifDevice
) -> None:
    ptz = device.ptz()
    assert await ptz.profile_token() == "profile_main"
    [node] = await ptz.nodes()
    assert node.supports("absolute") and node.supports("relative")
    # Slow (speed 0.05: 0.05 units/s), so the move lasts 16 scenario s = 0.27 real s.
    await ptz.absolute_move(0.8, -0.4, 0.2, speed=0.05)
    moving = await ptz.status()
    assert moving.pan_tilt_moving is True and moving.moving is True
    assert 0.0 <= moving.pan < 0.8 and -0.4 < moving.tilt <= 0.0
    await wait_idle(ptz)
    idle = await ptz.status()
    assert (idle.pan, idle.tilt, idle.zoom) == pytest.approx((0.8, -0.4, 0.2), abs=1e-6)
    assert idle.pan_tilt_moving is False and idle.zoom_moving is False
    assert idle.utc_time is not None
    assert abs((idle.utc_time - dome.camera_now()).total_seconds()) < 5


async def test_simulated_continuous_move_stop_and_timeout(device: OnvifDevice) -> None:
    ptz = device.ptz()
    await ptz.continuous_move(pan=0.02, timeout_s=300)  # 0.02 units/s: far from any limit
    await asyncio.sleep(0.1)
    await ptz.stop()
    stopped = await ptz.status()
    assert stopped.moving is False and 0.0 < stopped.pan < 0.5
    await asyncio.sleep(0.05)
    assert (await ptz.status()).pan == stopped.pan
    # The Timeout ends the move: 2 s of scenario time at 0.1 units/s is 0.2 units.
    await ptz.continuous_move(tilt=-0.1, timeout_s=2)
    await wait_idle(ptz)
    after = await ptz.status()
    assert after.tilt == pytest.approx(-0.2, abs=1e-3)
    assert after.pan == pytest.approx(stopped.pan, abs=1e-6)


async def test_simulated_presets(device: OnvifDevice) -> None:
    ptz = device.ptz()
    before = await ptz.presets()
    assert before and before[0].name == "Overview"
    await ptz.absolute_move(-0.5, 0.25, 0.4)
    await wait_idle(ptz)
    token = await ptz.set_preset("Parking lot")
    stored = {p.token: p for p in await ptz.presets()}[token]
    assert (stored.name, stored.pan, stored.tilt, stored.zoom) == (
        "Parking lot", pytest.approx(-0.5), pytest.approx(0.25), pytest.approx(0.4)
    )
    await ptz.goto_preset(before[0].token)
    await wait_idle(ptz)
    home = await ptz.status()
    assert (home.pan, home.tilt, home.zoom) == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)
    await ptz.goto_preset(token, speed=1.0)
    await wait_idle(ptz)
    assert (await ptz.status()).pan == pytest.approx(-0.5, abs=1e-6)
    await ptz.remove_preset(token)
    assert token not in {p.token for p in await ptz.presets()}
    with pytest.raises(OnvifProtocolError) as info:
        await ptz.goto_preset(token)
    assert "NoToken" in info.value.fault_subcodes
    assert not isinstance(info.value, OnvifNotSupported)


async def test_simulated_camera_without_ptz(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())  # AXIS P1455-LE: a fixed bullet
    assert not cam.ptz
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD, timeout_s=3) as device:
        with pytest.raises(OnvifNotSupported):
            await device.ptz().continuous_move(pan=1)
        assert all(p.ptz_configuration is None for p in await device.profiles())


async def test_simulated_continuous_only_dome(dome: SimulatedCamera, device: OnvifDevice) -> None:
    dome.ptz_state.continuous_only = True
    ptz = device.ptz()
    [node] = await ptz.nodes()
    assert node.supports("continuous") and not node.supports("absolute")
    with pytest.raises(OnvifNotSupported) as info:
        await ptz.absolute_move(0.5, 0.5)
    assert info.value.operation == "AbsoluteMove"
    await ptz.continuous_move(pan=0.5, timeout_s=1)


async def test_simulated_reboot_down_then_back(dome: SimulatedCamera, device: OnvifDevice) -> None:
    ptz = device.ptz()
    await ptz.absolute_move(0.3, 0.3, 0.3)
    await wait_idle(ptz)
    started = dome.clock.elapsed()
    message = await device.reboot()
    assert message.startswith("Rebooting in ") and message.endswith(" seconds")
    announced = float(message.split()[2])
    assert 20 <= announced <= 41

    # Unreachable right after (a 1 s shutdown: 17 ms here; real-time bounds, since every
    # request costs scenario seconds at 60x).
    deadline = time.monotonic() + 2.0
    while True:
        try:
            await device.check()
        except (OnvifUnreachable, OnvifTimeout):
            break
        assert time.monotonic() < deadline, "still answering 2 s after SystemReboot"
        await asyncio.sleep(0.005)
    assert not dome.powered
    deadline = time.monotonic() + 10.0
    while True:
        try:
            await device.check()
            break
        except OnvifError:
            assert time.monotonic() < deadline, "not back 10 s (600 scenario s) after reboot"
            await asyncio.sleep(0.01)
    back_after = dome.clock.elapsed() - started
    # Down for 20-40 s after a 1 s shutdown; the real-time floor of the shutdown (50 ms = 3
    # scenario s at 60x) and the polling round trips come on top of the announced time.
    assert 21 <= back_after and announced - 1 <= back_after <= announced + 8
    # A dome calibrates at boot and parks at home.
    status = await ptz.status()
    assert (status.pan, status.tilt, status.zoom) == pytest.approx((0.0, 0.0, 0.0))


async def test_reboot_as_first_call_on_a_camera_an_hour_ahead(
    start_camera: StartCamera,
) -> None:
    # A fresh device whose first request is SystemReboot still learns the camera's clock
    # first: dated on ours, the WS-Security header would be refused as expired.
    spec = dataclasses.replace(make_spec(), clock_offset_s=3600.0)
    cam = await start_camera(spec)
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD, timeout_s=3) as dev:
        message = await dev.reboot()
    assert message.startswith("Rebooting in ")
