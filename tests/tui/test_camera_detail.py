"""Pilot tests of the camera detail's actions: snapshot, PTZ keys, presets, reboot behind a
confirmation, diagnose findings, the live event list, and Esc back.

The hub double with camera actions is tests/tui/camera_hub.py (test_snapshots.py uses it
too).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.camera_control import PtzPosition
from hub.client import HubClient
from hub.core import Hub
from hub.local_client import LocalHubClient
from hub.model import CameraConfig, CameraKind, Site
from simulator.clock import VirtualClock
from simulator.onvif_snapshot import snapshot_size
from simulator.vendors import VENDOR_PROFILES
from tests.conftest import PASSWORD, USER, StartCamera, make_spec
from tests.tui.camera_hub import (
    BROKEN_CAMERA,
    EVENTS,
    FIXED_CAMERA,
    PTZ_CAMERA,
    SIZE,
    CameraHub,
)
from tests.tui.conftest import SECRET, T0, wait_until
from tests.tui.test_app import plain
from tui.app import CitywatchApp
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.widgets.camera_panel import CameraPanel
from tui.widgets.confirm import Confirm
from tui.widgets.event_list import EventList
from tui.widgets.findings_view import FindingsView


def make_app(hub: HubClient) -> CitywatchApp:
    return CitywatchApp(hub, home="cameras", title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
                        operator="tester")


async def open_detail(pilot, app: CitywatchApp, camera_id: str) -> CameraDetailScreen:  # type: ignore[no-untyped-def]
    await pilot.pause()
    app.open_camera(camera_id)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, CameraDetailScreen)
    return screen


async def test_snapshot_ptz_and_presets() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, PTZ_CAMERA)
        panel = screen.query_one(CameraPanel)
        await wait_until(pilot, lambda: panel.snapshots >= 1 and panel.snapshot.image.ready)
        assert panel.snapshot.image.picture_size == (320, 180)
        assert panel.snapshot.image._lines, "no half-block lines drawn"
        await wait_until(pilot, lambda: bool(panel.ptz.presets))
        assert "1 Overview" in panel.ptz.render().plain  # type: ignore[union-attr]

        await pilot.press("right")
        await wait_until(pilot, lambda: panel.ptz.position == hub.position
                         and hub.position.pan == 0.05)
        await pilot.press("up", "plus")
        await wait_until(pilot, lambda: hub.position.zoom == 0.05)
        assert hub.position.tilt == 0.05
        assert "pan +0.05 tilt +0.05 zoom +0.05" in panel.ptz.render().plain  # type: ignore[union-attr]
        await pilot.press("minus")
        await wait_until(pilot, lambda: hub.position.zoom == 0.0)

        await pilot.press("2")
        await wait_until(pilot, lambda: hub.gotos == [(PTZ_CAMERA, "2")])
        await wait_until(pilot, lambda: panel.ptz.position == PtzPosition(0.0, 0.0, 0.0, False))
        await pilot.press("9")  # no such preset: a notification, no call
        await pilot.pause()
        assert hub.gotos == [(PTZ_CAMERA, "2")]
        assert any("no preset 9" in n.message for n in app._notifications)

        calls = len(hub.snapshot_calls)
        await pilot.press("s")
        await wait_until(pilot, lambda: len(hub.snapshot_calls) == calls + 1)


async def test_not_a_ptz_camera_says_so() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, FIXED_CAMERA)
        panel = screen.query_one(CameraPanel)
        await wait_until(pilot, lambda: panel.ptz.supported is False)
        assert "not a PTZ camera" in panel.ptz.render().plain  # type: ignore[union-attr]
        await pilot.press("left", "plus", "1")
        await pilot.pause()
        assert hub.moves == [] and hub.gotos == []
        assert any(n.message == "not a PTZ camera" for n in app._notifications)
        assert isinstance(app.screen, CameraDetailScreen)


async def test_broken_camera_shows_failures_not_tracebacks() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, BROKEN_CAMERA)
        panel = screen.query_one(CameraPanel)
        await wait_until(pilot, lambda: panel.snapshots >= 1)
        assert panel.snapshot.image.message.startswith("snapshot failed: Havermarkt: connect")
        await pilot.press("down")
        await wait_until(pilot, lambda: any("timed out" in n.message
                                            for n in app._notifications))
        events = screen.query_one(EventList)
        await wait_until(pilot, lambda: "timed out" in events.message)
        await pilot.press("g")
        findings = screen.query_one(FindingsView)
        await wait_until(pilot, lambda: findings.state == "failed")
        assert isinstance(app.screen, CameraDetailScreen)


async def test_reboot_asks_first() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, app, PTZ_CAMERA)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, CameraDetailScreen) and hub.reboots == []
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await wait_until(pilot, lambda: hub.reboots == [(PTZ_CAMERA, "tester")])
        await wait_until(pilot, lambda: any("Rebooting in 30 seconds" in n.message
                                            for n in app._notifications))


async def test_diagnose_shows_running_then_findings() -> None:
    hub = CameraHub()
    hub.diagnose_delay = 0.3
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, PTZ_CAMERA)
        findings = screen.query_one(FindingsView)
        await pilot.press("g")
        await pilot.pause()
        assert findings.state == "running"
        assert "running diagnose" in plain(findings)
        await wait_until(pilot, lambda: findings.state == "done")
        text = plain(findings)
        lines = [line for line in text.splitlines() if line.strip()]
        # Worst first, each with its symbol.
        assert lines[0].lstrip().startswith("✘ camera clock is 3601 s ahead")
        assert lines[1].lstrip().startswith("▲ no PullPoint")
        assert lines[2].lstrip().startswith("• snapshot needs HTTP Digest")
        assert "AXIS P1448-LE 10.12.182" in text and "+3601.2 s" in text
        assert "Profile_1" in text and SECRET not in text


async def test_event_list_and_subscription_closed_on_leave() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, PTZ_CAMERA)
        events = screen.query_one(EventList)
        await wait_until(pilot, lambda: len(events.events) == len(EVENTS))
        text = plain(events)
        lines = [line for line in text.splitlines() if line.strip()]
        first = lines[0].split()
        assert first[:2] == ["09:29:59", "!"] and first[-1] == "on"
        assert first[2].startswith("VideoSource/GlobalSceneChange")
        assert "Device/Trigger/DigitalInput" in lines[1] and lines[1].split()[-1] == "off"
        assert "VideoSource/MotionAlarm" in lines[2] and lines[2].split()[1] == "»"
        assert hub.event_streams == 1 and hub.events_closed == 0
        await pilot.press("escape")
        await wait_until(pilot, lambda: hub.events_closed == 1)
        assert isinstance(app.screen, CamerasScreen)


# The whole chain: TUI → LocalHubClient → Hub → drivers → a simulated dome ---------------


@pytest.fixture
def clock() -> VirtualClock:
    """Overrides tests/conftest.py's: the dome moves 60 times faster than real time."""
    return VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=60.0)


async def test_detail_with_a_real_hub_and_simulated_dome(
    start_camera: StartCamera, tmp_path: Path
) -> None:
    spec = dataclasses.replace(make_spec(), vendor=VENDOR_PROFILES["axis"].models[2])  # Q6045-E
    dome = await start_camera(spec)
    config = CameraConfig(id="dome-1", name="Grote Markt dome", site="city",
                          kind=CameraKind.FIXED, onvif_url=dome.onvif_url, username=USER,
                          password=PASSWORD)
    hub = await Hub.open([Site("city", "City")], [config], tmp_path, stream_health=False)
    app = make_app(LocalHubClient(hub))
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_detail(pilot, app, "dome-1")
            panel = screen.query_one(CameraPanel)
            await wait_until(pilot, lambda: panel.snapshots >= 1, seconds=10)
            main = dome.spec.profiles[0]
            assert panel.snapshot.image.picture_size == snapshot_size(main.width, main.height)
            await wait_until(pilot, lambda: bool(panel.ptz.presets), seconds=10)
            assert panel.ptz.presets[0].name == "Overview"
            await pilot.press("right")
            await wait_until(pilot, lambda: (panel.ptz.position is not None
                                             and (panel.ptz.position.pan or 0) > 0), seconds=10)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CamerasScreen)
    finally:
        await hub.stop()
