"""hub.camera_control against simulated cameras: snapshot, PTZ, presets, reboot, diagnose,
errors, and the hub/LocalHubClient wiring."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from hub.camera_control import CameraControl, CameraEvent
from hub.core import Hub
from hub.errors import CameraActionError, CameraNotSupported
from hub.health_thresholds import HealthPolicy, HealthThresholds
from hub.local_client import LocalHubClient
from hub.model import CameraConfig, CameraKind, HealthState, Site
from hub.supervisor import SupervisorTiming
from simulator.clock import VirtualClock
from simulator.model import CameraQuirk, CameraSpec
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_snapshot import snapshot_size
from simulator.vendors import VENDOR_PROFILES
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

# Domes move and reboot 60 times faster than real time: a 20-40 s reboot takes < 1 s.
SPEED = 60.0


@pytest.fixture
def clock() -> VirtualClock:
    """Overrides tests/conftest.py's: a fast scenario clock."""
    return VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=SPEED)


def config_for(cam: SimulatedCamera, cam_id: str = "dome-1", password: str = PASSWORD) -> (
    CameraConfig
):
    return CameraConfig(
        id=cam_id, name="Grote Markt dome", site="city", kind=CameraKind.FIXED,
        onvif_url=cam.onvif_url, username=USER, password=password,
    )


@pytest.fixture
async def dome(start_camera: StartCamera) -> SimulatedCamera:
    spec = dataclasses.replace(make_spec(), vendor=VENDOR_PROFILES["axis"].models[2])  # Q6045-E
    return await start_camera(spec)


@pytest.fixture
async def control(dome: SimulatedCamera) -> AsyncIterator[CameraControl]:
    control = CameraControl([config_for(dome)])
    yield control
    await control.close()


async def wait_still(control: CameraControl, cam_id: str = "dome-1", limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while (await control.ptz_status(cam_id)).moving:
        assert time.monotonic() < deadline, "the dome never stopped"
        await asyncio.sleep(0.01)


async def test_snapshot_is_a_jpeg_of_the_main_profile(
    dome: SimulatedCamera, control: CameraControl
) -> None:
    jpeg = await control.snapshot("dome-1")
    main = dome.spec.profiles[0]
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == snapshot_size(main.width, main.height)
    again = await control.snapshot("dome-1")  # the session (and URI) is reused
    assert again.startswith(b"\xff\xd8")


async def test_ptz_move_changes_position_then_stops(control: CameraControl) -> None:
    before = await control.ptz_status("dome-1")
    after = await control.ptz_move("dome-1", pan=0.05)
    assert after.pan is not None and before.pan is not None
    assert after.pan > before.pan
    assert after.moving is False
    await asyncio.sleep(0.1)
    assert (await control.ptz_status("dome-1")).pan == pytest.approx(after.pan)
    zoomed = await control.ptz_move("dome-1", zoom=0.05)
    assert zoomed.zoom is not None and before.zoom is not None and zoomed.zoom > before.zoom


async def test_presets_and_goto(control: CameraControl) -> None:
    presets = await control.ptz_presets("dome-1")
    assert presets and presets[0].name == "Overview"
    await control.ptz_move("dome-1", pan=0.5, tilt=0.5)
    await control.ptz_goto_preset("dome-1", presets[0].token)
    await wait_still(control)
    home = await control.ptz_status("dome-1")
    assert (home.pan, home.tilt) == pytest.approx((0.0, 0.0), abs=1e-6)


async def test_reboot_camera_down_then_back(dome: SimulatedCamera, control: CameraControl) -> None:
    message = await control.reboot("dome-1", actor="tech")
    assert message.startswith("Rebooting in ")
    deadline = time.monotonic() + 2.0
    while dome.powered:
        assert time.monotonic() < deadline, "still powered 2 s after SystemReboot"
        await asyncio.sleep(0.005)
    with pytest.raises(CameraActionError) as down:
        await control.ptz_status("dome-1")
    assert "Grote Markt dome: PTZ status" in str(down.value)
    deadline = time.monotonic() + 10.0  # 600 scenario s
    while True:
        try:
            status = await control.ptz_status("dome-1")
            break
        except CameraActionError:
            assert time.monotonic() < deadline, "not back after the reboot"
            await asyncio.sleep(0.02)
    assert (status.pan, status.tilt) == pytest.approx((0.0, 0.0))


async def test_not_a_ptz_camera(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())  # AXIS P1455-LE: a fixed bullet
    control = CameraControl([config_for(cam, "bullet")])
    try:
        with pytest.raises(CameraNotSupported, match="not a PTZ camera"):
            await control.ptz_move("bullet", pan=1.0)
        with pytest.raises(CameraNotSupported, match="not a PTZ camera"):
            await control.ptz_presets("bullet")
        assert (await control.snapshot("bullet")).startswith(b"\xff\xd8")
    finally:
        await control.close()


async def test_stalling_snapshot_is_a_timeout(start_camera: StartCamera) -> None:
    spec = dataclasses.replace(make_spec(), quirks=frozenset({CameraQuirk.SNAPSHOT_STALL}))
    cam = await start_camera(spec)
    control = CameraControl([config_for(cam, "bullet")], snapshot_timeout_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(CameraActionError) as info:
            await control.snapshot("bullet")
        message = str(info.value)
        assert message.startswith("Grote Markt dome: snapshot: ") and "0.5 s" in message
        assert "snapshot: snapshot" not in message
        assert time.monotonic() - started < 3
        # The camera itself still answers: PTZ and the rest are not held up.
        with pytest.raises(CameraNotSupported):
            await control.ptz_status("bullet")
    finally:
        await control.close()


async def test_wrong_password_is_a_readable_error(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    wrong = "Wr0ng-Passw0rd!"
    control = CameraControl([config_for(cam, "bullet", password=wrong)])
    try:
        for action in (control.snapshot("bullet"), control.ptz_status("bullet"),
                       control.reboot("bullet", "tech")):
            with pytest.raises(CameraActionError) as info:
                await action
            message = str(info.value)
            assert "credentials rejected" in message
            assert wrong not in message and PASSWORD not in message
    finally:
        await control.close()


async def test_unknown_camera_and_closed_control(control: CameraControl) -> None:
    with pytest.raises(CameraActionError, match="unknown"):
        await control.snapshot("nope")
    await control.close()
    with pytest.raises(CameraActionError, match="stopping"):
        await control.snapshot("dome-1")


async def test_idle_sessions_are_closed(dome: SimulatedCamera) -> None:
    control = CameraControl([config_for(dome)], idle_s=0.1)
    try:
        await control.ptz_status("dome-1")
        assert control._sessions
        deadline = time.monotonic() + 2.0
        while control._sessions:
            assert time.monotonic() < deadline, "idle session kept"
            await asyncio.sleep(0.02)
        await control.ptz_status("dome-1")  # a new session when needed again
    finally:
        await control.close()


async def test_diagnose_reports_clock_drift(video_cache: Path) -> None:
    # Its own real-time clock: clock drift is measured against the wall clock.
    clock = VirtualClock(datetime.now(UTC))
    cam = SimulatedCamera(make_spec(clock_offset_s=3600.0), clock, rtsp_port=0)
    await cam.start()
    control = CameraControl([config_for(cam, "bullet")])
    try:
        report = await control.diagnose("bullet")
    finally:
        await control.close()
        await cam.stop()
    assert report.device.manufacturer == "AXIS"
    assert report.clock_offset_s == pytest.approx(3600.0, abs=5)
    assert "clock_drift" in {f.code for f in report.findings}
    assert PASSWORD not in repr(report.to_json())


async def test_hub_client_delegates_and_stop_closes(
    control: CameraControl, dome: SimulatedCamera, tmp_path: Path
) -> None:
    hub = await Hub.open([Site("city", "City")], [config_for(dome)], tmp_path,
                         stream_health=False)
    client = LocalHubClient(hub)
    try:
        position = await client.ptz_move("dome-1", tilt=0.05)
        assert position.tilt is not None and position.tilt > 0
        assert (await client.camera_snapshot("dome-1")).startswith(b"\xff\xd8")
        assert (await client.ptz_presets("dome-1"))[0].name == "Overview"
    finally:
        await hub.stop()
    with pytest.raises(CameraActionError):
        await client.ptz_status("dome-1")


async def first_events(control: CameraControl, cam_id: str, count: int) -> list[CameraEvent]:
    """The first `count` events of a subscription, then unsubscribe (close the iterator)."""
    events: list[CameraEvent] = []
    stream = control.camera_events(cam_id)
    try:
        async with asyncio.timeout(10):
            async for event in stream:
                events.append(event)
                if len(events) == count:
                    break
    finally:
        await stream.aclose()
    return events


@pytest.fixture
async def start_with_events(clock: VirtualClock) -> AsyncIterator[StartCamera]:
    """Like start_camera, for cameras with an event service."""
    started: list[SimulatedCamera] = []

    async def _start(spec: CameraSpec) -> SimulatedCamera:
        cam = SimulatedCamera(spec, clock, rtsp_port=8554, event_service=True)
        await cam.start()
        started.append(cam)
        return cam

    yield _start
    for cam in started:
        await cam.stop()


async def test_camera_events_start_with_the_present_states(
    start_with_events: StartCamera,
) -> None:
    cam = await start_with_events(make_spec())
    control = CameraControl([config_for(cam, "bullet")])
    try:
        events = await first_events(control, "bullet", 2)
        await asyncio.sleep(0.05)
        assert not cam.events.subscriptions  # closing the iterator unsubscribed
    finally:
        await control.close()
    # A PullPoint subscription starts with an Initialized message per property.
    assert all(e.operation == "Initialized" for e in events)
    assert {e.kind for e in events} <= {"motion", "tamper", "video_loss", "digital_input"}
    assert all(e.topic.startswith("tns1:") and e.active is not None for e in events)


async def test_camera_events_without_pullpoint_come_by_push(
    start_with_events: StartCamera,
) -> None:
    """No PullPoint: the driver falls back to WS-BaseNotification (wsnt:Subscribe)."""
    spec = dataclasses.replace(make_spec(), quirks=frozenset({CameraQuirk.NO_PULLPOINT}))
    cam = await start_with_events(spec)
    control = CameraControl([config_for(cam, "bullet")])
    try:
        events = await first_events(control, "bullet", 2)
        await asyncio.sleep(0.05)
        assert not cam.events.subscriptions  # closing the iterator unsubscribed
    finally:
        await control.close()
    assert all(e.operation == "Initialized" and e.active is not None for e in events)
    assert {e.kind for e in events} <= {"motion", "tamper", "video_loss", "digital_input"}


async def test_camera_events_without_event_service(clock: VirtualClock) -> None:
    cam = SimulatedCamera(make_spec(), clock, rtsp_port=8554, event_service=False)
    await cam.start()
    control = CameraControl([config_for(cam, "bullet")])
    try:
        with pytest.raises(CameraNotSupported, match="events: not supported"):
            await first_events(control, "bullet", 1)
    finally:
        await control.close()
        await cam.stop()


async def test_reboot_through_the_hub_is_seen_down_then_ok(tmp_path: Path) -> None:
    """The hub's own health watch sees the reboot: down while the camera is away, ok after."""
    # 20x: the 20-40 s reboot takes 1-2 real s, long enough for two failed polls.
    clock = VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=20.0)
    cam = SimulatedCamera(make_spec(), clock, rtsp_port=8554)
    await cam.start()
    timing = SupervisorTiming(poll_interval_s=0.2, backoff_steps_s=(0.1, 0.3), jitter=0.0,
                              call_timeout_s=2.0)
    quick = HealthPolicy(HealthThresholds(down_after_s=0.5, ok_after_s=0.5))
    hub = await Hub.open([Site("city", "City")], [config_for(cam, "bullet")], tmp_path, timing,
                         stream_health=False, health=quick)
    client = LocalHubClient(hub)
    changes = client.changes()
    states: list[HealthState] = []

    async def wait_for(state: HealthState) -> None:
        while not states or states[-1] is not state:
            status = await anext(changes)
            if not states or states[-1] is not status.state:
                states.append(status.state)

    await hub.start()
    try:
        async with asyncio.timeout(10):
            await wait_for(HealthState.OK)
            message = await client.reboot_camera("bullet", actor="tech")
            assert message.startswith("Rebooting in ")
            await wait_for(HealthState.DOWN)
            await wait_for(HealthState.OK)
    finally:
        await hub.stop()
        await cam.stop()
    assert states[-3:] == [HealthState.OK, HealthState.DOWN, HealthState.OK]
