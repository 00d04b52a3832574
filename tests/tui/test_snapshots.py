"""SVG snapshots of the main, detail and ALPR screens at 80x24 and 160x48.

Made with textual==8.2.8 (pinned in pyproject.toml); regenerate with
`.venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update` and look at them.
Deterministic: fixed timestamps and clock (T0), UTC display.
"""

from __future__ import annotations

from datetime import UTC

import pytest
from textual.pilot import Pilot

from tests.tui.camera_hub import PTZ_CAMERA, CameraHub
from tests.tui.conftest import T0, FakeHub
from tui.app import SEARCH_KEY, CitywatchApp
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.reads import ReadsScreen
from tui.widgets.camera_panel import CameraPanel
from tui.widgets.camera_table import CameraTable
from tui.widgets.event_list import EventList
from tui.widgets.findings_view import FindingsView

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def make_app() -> CitywatchApp:
    return CitywatchApp(FakeHub(), home="cameras", title="citywatch", tz=UTC, tick=0.1,
                        clock=lambda: T0)


async def _settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        table = pilot.app.screen.query_one("#cameras", CameraTable)
        await pilot.press(*["down"] * table.row_ids().index("cam-007"))
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_sorted_and_filtered(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("s", "s", "slash", *"city")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def make_camera_app() -> CitywatchApp:
    """The app on a hub double whose cameras answer snapshot, PTZ, diagnose and events."""
    return CitywatchApp(CameraHub(), home="cameras", title="citywatch", tz=UTC, tick=0.1,
                        clock=lambda: T0)


def _open(camera_id: str, diagnose: bool = False):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        table = pilot.app.screen.query_one("#cameras", CameraTable)
        await pilot.press(*["down"] * table.row_ids().index(camera_id), "enter")
        screen = pilot.app.screen
        assert isinstance(screen, CameraDetailScreen)
        panel = screen.query_one(CameraPanel)
        events = screen.query_one(EventList)
        # Everything the hub double answers is drawn: history, snapshot, PTZ, events.
        await _wait(pilot, lambda: screen.history_loaded and panel.snapshots >= 1
                    and panel.snapshot.image.ready and panel.ptz.message != "loading…"
                    and bool(events.events or events.message != "waiting for events…"))
        if diagnose:
            await pilot.press("g")
            findings = screen.query_one(FindingsView)
            await _wait(pilot, lambda: findings.state == "done")
            await pilot.pause()
            # The preview and the findings below it.
            screen.query_one("#detail-body").scroll_to_widget(
                panel, animate=False, top=True
            )
        await _settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A camera whose password changed: every action says so, nothing crashes."""
    assert snap_compare(make_camera_app(), terminal_size=size, run_before=_open("cam-007"))


def test_detail_screen_degraded(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Low fps: the strip, the transitions and the stream numbers, all on one screen."""
    assert snap_compare(make_camera_app(), terminal_size=(160, 48), run_before=_open("cam-009"))


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen_ptz_snapshot_findings(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The PTZ dome: snapshot preview, PTZ line with presets, events, diagnose findings."""
    assert snap_compare(make_camera_app(), terminal_size=size,
                        run_before=_open(PTZ_CAMERA, diagnose=True))


# ALPR screens ------------------------------------------------------------------------------


def make_alpr_app() -> CitywatchApp:
    return CitywatchApp(
        FakeHub(), home="cameras", title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
        operator="tester"
    )


async def _wait(pilot: Pilot[None], condition) -> None:  # type: ignore[no-untyped-def]
    for _ in range(150):
        if condition():
            break
        await pilot.pause(0.02)
    assert condition()


async def _open_alerts(pilot: Pilot[None]) -> AlertsScreen:
    app = pilot.app
    assert isinstance(app, CitywatchApp)
    await _wait(pilot, lambda: app.alerts_loaded)
    await pilot.press("a")
    screen = app.screen
    assert isinstance(screen, AlertsScreen)
    await _wait(pilot, lambda: screen.table.row_count == len(app.alerts))
    return screen


@pytest.mark.parametrize("size", SIZES)
def test_alerts_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _open_alerts(pilot)
        await pilot.press("down", "down")
        await _settle(pilot)

    assert snap_compare(make_alpr_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_alert_detail_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        screen = await _open_alerts(pilot)
        await pilot.press(*["down"] * screen.table.row_ids().index(4), "enter")
        detail = pilot.app.screen
        assert isinstance(detail, AlertDetailScreen)
        await _wait(pilot, lambda: detail.image.ready)
        await _settle(pilot)

    assert snap_compare(make_alpr_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_reads_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press(SEARCH_KEY, *"1A*")
        screen = pilot.app.screen
        assert isinstance(screen, ReadsScreen)
        await _wait(pilot, lambda: screen.pattern == "1A*")
        await _settle(pilot)

    assert snap_compare(make_alpr_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_hotlists_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("w")
        screen = pilot.app.screen
        assert isinstance(screen, HotlistsScreen)
        await _wait(pilot, lambda: screen.wanted_loaded)
        await pilot.press("n", *"1GHI789", "enter", *"stolen car", "enter", "enter")
        await _wait(pilot, lambda: screen.last_added is not None)
        await _wait(pilot, lambda: screen.wanted_table.row_count == 3)
        await _settle(pilot)

    assert snap_compare(make_alpr_app(), terminal_size=size, run_before=run_before)
