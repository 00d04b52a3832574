"""SVG snapshots of the help screen and the dialogs (reject reason, wanted plate,
maintenance, reboot), and of the degraded camera detail at 80x24, at 80x24 and 160x48.

Made with textual==8.2.8 (pinned in pyproject.toml); regenerate with
`.venv/bin/pytest tests/tui/test_snapshots_modals.py --snapshot-update` and look at them.
Deterministic: fixed timestamps and clock (T0), UTC display, the cameras screen as home.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import pytest
from textual.pilot import Pilot

from tests.tui.camera_hub import PTZ_CAMERA, CameraHub
from tests.tui.conftest import T0
from tui.app import CitywatchApp
from tui.screens.alerts import AlertsScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import HelpScreen
from tui.screens.hotlists import HotlistsScreen
from tui.widgets.camera_panel import CameraPanel
from tui.widgets.camera_table import CameraTable
from tui.widgets.confirm import Confirm
from tui.widgets.event_list import EventList
from tui.widgets.maintenance_form import MaintenanceForm
from tui.widgets.reason_picker import ReasonPicker
from tui.widgets.wanted_form import WantedForm

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
DEGRADED_CAMERA = "cam-009"  # low fps: strip, transitions and stream numbers
REJECTED_ALERT = 2  # 1-ABC-234 on the stolen list: second in the queue
# Generous: on a loaded machine (2 shared cores) a screen and its workers can take seconds.
WAIT_S = 10.0

# The help's keys table is this wide at least when the screen has room for it.
HELP_MIN_WIDTH = 60


def make_app() -> CitywatchApp:
    """Cameras that answer snapshot/PTZ/events, the FakeHub's alerts, a known operator."""
    return CitywatchApp(
        CameraHub(), title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
        operator="tester", home="cameras",
    )


async def _wait(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    for _ in range(int(WAIT_S / 0.02)):
        if condition():
            break
        await pilot.pause(0.02)
    assert condition()


async def _settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _open_camera(pilot: Pilot[None], camera_id: str) -> CameraDetailScreen:
    """The detail of `camera_id` with everything the hub double answers drawn."""
    await pilot.pause()
    table = pilot.app.screen.query_one("#cameras", CameraTable)
    await pilot.press(*["down"] * table.row_ids().index(camera_id), "enter")
    await _wait(pilot, lambda: isinstance(pilot.app.screen, CameraDetailScreen))
    screen = pilot.app.screen
    assert isinstance(screen, CameraDetailScreen)
    panel = screen.query_one(CameraPanel)
    events = screen.query_one(EventList)
    await _wait(pilot, lambda: screen.history_loaded and panel.snapshots >= 1
                and panel.snapshot.image.ready and panel.ptz.message != "loading…"
                and bool(events.events or events.message != "waiting for events…"))
    return screen


async def _open_help(pilot: Pilot[None]) -> HelpScreen:
    await pilot.pause()
    await pilot.press("question_mark")
    await _wait(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
    screen = pilot.app.screen
    assert isinstance(screen, HelpScreen)
    await _settle(pilot)
    return screen


@pytest.mark.parametrize("size", SIZES)
async def test_help_fills_its_box(size: tuple[int, int]) -> None:
    """The keys use most of the width, and the box most of the height (it scrolls)."""
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = await _open_help(pilot)
        keys = screen.query_one("#help-keys").region
        body = screen.query_one("#help-body").region
        assert keys.width >= min(HELP_MIN_WIDTH, size[0] - 10)
        assert body.height >= size[1] * 3 // 4
        assert body.right <= size[0] and body.bottom <= size[1]  # all of it on screen


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """? on the cameras screen: the keys, in a box that scrolls when it does not fit."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await _open_help(pilot)
        assert screen.query_one("#help-keys").region.width >= HELP_MIN_WIDTH

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_reject_reason_picker(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """r on the second alert of the queue: five numbered reasons over the queue."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, CitywatchApp)
        await _wait(pilot, lambda: app.alerts_loaded)
        await pilot.press("a")
        await _wait(pilot, lambda: isinstance(app.screen, AlertsScreen))
        queue = app.screen
        assert isinstance(queue, AlertsScreen)
        await _wait(pilot, lambda: queue.table.row_count == len(app.alerts))
        await pilot.press(*["down"] * queue.table.row_ids().index(REJECTED_ALERT), "r")
        await _wait(pilot, lambda: isinstance(app.screen, ReasonPicker))
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_wanted_form(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """n on the hotlists screen, a plate typed: the reason box has the focus."""

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("w")
        await _wait(pilot, lambda: isinstance(pilot.app.screen, HotlistsScreen))
        screen = pilot.app.screen
        assert isinstance(screen, HotlistsScreen)
        await _wait(pilot, lambda: screen.wanted_loaded)
        await pilot.press("n")
        await _wait(pilot, lambda: isinstance(pilot.app.screen, WantedForm))
        await pilot.press(*"1AB*234", "enter")
        form = pilot.app.screen
        await _wait(pilot, lambda: form.focused is form.query_one("#wanted-reason"))
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_maintenance_form(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """M on a camera detail, then 1 (an hour): the durations and the reason box."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _open_camera(pilot, PTZ_CAMERA)
        await pilot.press("M")
        await _wait(pilot, lambda: isinstance(pilot.app.screen, MaintenanceForm))
        form = pilot.app.screen
        assert isinstance(form, MaintenanceForm)
        await pilot.press("1")
        await _wait(pilot, lambda: bool(form.query("#maintenance-reason")))
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_reboot_confirmation(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """R on a camera detail asks first."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _open_camera(pilot, PTZ_CAMERA)
        await pilot.press("R")
        await _wait(pilot, lambda: isinstance(pilot.app.screen, Confirm))
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_detail_screen_degraded_small(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Low fps at 80x24 (test_snapshots.py has the 160x48 one): the state and its
    reason in the title, the strip and the stream numbers scroll below."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _open_camera(pilot, DEGRADED_CAMERA)
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
