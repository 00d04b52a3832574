"""The mouse works as the keys do: table rows, footer keys, the choices of the reject,
reboot and maintenance dialogs; and Esc (or the footer's Back) closes every dialog and
screen without doing anything.

A DataTable click moves the cursor to the row; a click on the row under the cursor
selects it (Enter). Clicks land by screen position, so each test checks where it clicks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from hub.alpr_model import AlertState, RejectReason
from tests.tui.camera_hub import PTZ_CAMERA, CameraHub
from tests.tui.conftest import OPERATOR, T0, FakeHub, wait_until
from tui.app import CitywatchApp
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import HelpScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.map import MapScreen
from tui.widgets.alert_table import AlertTable
from tui.widgets.camera_table import CameraTable
from tui.widgets.confirm import Confirm
from tui.widgets.maintenance_form import MaintenanceForm
from tui.widgets.reason_picker import ReasonPicker
from tui.widgets.wanted_form import WantedForm

SIZE = (80, 24)
HEADER = 1  # the table's header line: row n is drawn at y = HEADER + n
REJECTED_ALERT = 4  # 1-TUV-654 on the covert intel list: fourth in the queue
# Generous: on a loaded machine (2 shared cores) a screen switch can take seconds.
WAIT_S = 10.0


async def until(pilot: Pilot[None], condition: Callable[[], object]) -> None:
    """Pause until `condition()` holds (fail after WAIT_S)."""
    await wait_until(pilot, condition, WAIT_S)


def make_app(hub: FakeHub) -> CitywatchApp:
    return CitywatchApp(hub, title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
                        operator=OPERATOR, home="cameras")


def footer_key(screen: Screen[Any], action: str) -> Widget:
    """The footer key that runs `action` (as bound, without its namespace). Found by its
    type's name: Textual does not export FooterKey."""
    keys = [key for key in screen.query("Footer FooterKey")
            if str(getattr(key, "action", "")).split(".")[-1] == action]
    assert keys, f"no footer key for {action}"
    return keys[0]


def place_of(widget: Static, label: str) -> tuple[int, int]:
    """Where `label` is drawn in `widget` (x, y in the widget), to click on it."""
    for y in range(widget.size.height):
        line = widget.render_line(y).text
        if label in line:
            return line.index(label), y
    raise AssertionError(f"{label!r} is not shown")


async def open_alerts(pilot: Pilot[None], app: CitywatchApp) -> AlertsScreen:
    await until(pilot, lambda: app.alerts_loaded)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
    queue = app.screen
    assert isinstance(queue, AlertsScreen)
    await until(pilot, lambda: queue.table.row_count == len(app.alerts))
    return queue


# the cameras table -----------------------------------------------------------------------


async def test_click_selects_a_camera_and_a_second_click_opens_it() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#cameras", CameraTable)
        row = table.row_ids().index("cam-009")
        assert row > 0 and table.current_id != "cam-009"
        assert await pilot.click(table, offset=(2, HEADER + row))
        await until(pilot, lambda: table.current_id == "cam-009")
        assert isinstance(app.screen, CamerasScreen)  # one click only selects
        await pilot.click(table, offset=(2, HEADER + row))
        await until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen) and screen.camera_id == "cam-009"


async def test_click_then_enter_opens_the_clicked_camera_after_a_sort() -> None:
    """The rows' mouse data follows the rows when the sort moves them."""
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s", "s")  # by state: worst first
        table = app.screen.query_one("#cameras", CameraTable)
        row = table.row_ids().index("cam-012")
        await pilot.click(table, offset=(2, HEADER + row))
        await until(pilot, lambda: table.current_id == "cam-012")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen) and screen.camera_id == "cam-012"


async def test_double_click_opens_a_camera() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#cameras", CameraTable)
        row = table.row_ids().index("cam-003")
        await pilot.double_click(table, offset=(2, HEADER + row))
        await until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen) and screen.camera_id == "cam-003"


# footer keys -----------------------------------------------------------------------------


async def test_footer_keys_open_the_alerts_and_go_back() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.alerts_loaded)
        assert await pilot.click(footer_key(app.screen, "open_alerts"))
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        queue = app.screen
        assert isinstance(queue, AlertsScreen)
        await until(pilot, lambda: queue.table.row_count == len(app.alerts))
        assert await pilot.click(footer_key(queue, "back"))
        await until(pilot, lambda: isinstance(app.screen, CamerasScreen))


async def test_footer_key_opens_the_wanted_plates_and_the_help() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.click(footer_key(app.screen, "open_hotlists"))
        await until(pilot, lambda: isinstance(app.screen, HotlistsScreen))
        await pilot.click(footer_key(app.screen, "help"))
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HotlistsScreen))


async def test_footer_key_opens_the_map_and_its_back_key_and_esc_leave_it() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for leave in ("click", "escape", "q"):
            await pilot.click(footer_key(app.screen, "open_map"))
            await until(pilot, lambda: isinstance(app.screen, MapScreen))
            if leave == "click":
                await pilot.click(footer_key(app.screen, "back"))
            else:
                await pilot.press(leave)
            await until(pilot, lambda: isinstance(app.screen, CamerasScreen))
        assert app.is_running  # q left the map, not the app


# the alert queue and the reject reasons ----------------------------------------------------


async def test_click_an_alert_then_a_reason_rejects_it_with_that_reason() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_alerts(pilot, app)
        table = queue.query_one("#alerts", AlertTable)
        row = table.row_ids().index(REJECTED_ALERT)
        assert row > 0
        await pilot.click(table, offset=(2, HEADER + row))
        await until(pilot, lambda: table.current_id == REJECTED_ALERT)
        assert isinstance(app.screen, AlertsScreen)  # one click only selects
        await pilot.click(footer_key(queue, "reject"))
        await until(pilot, lambda: isinstance(app.screen, ReasonPicker))
        picker = app.screen
        assert isinstance(picker, ReasonPicker) and picker.plate == "1-TUV-654"
        choices = picker.query_one("#reason-choices", Static)
        assert await pilot.click(choices, offset=place_of(choices, "wrong state"))
        await until(pilot, lambda: app.alerts[REJECTED_ALERT].state is AlertState.REJECTED)
        assert hub.transition_calls == [
            (REJECTED_ALERT, AlertState.REJECTED, OPERATOR, RejectReason.WRONG_STATE, "")
        ]
        assert isinstance(app.screen, AlertsScreen)
        alert = app.alerts[REJECTED_ALERT]
        assert alert.reason is RejectReason.WRONG_STATE and alert.actor == OPERATOR


async def test_click_other_asks_for_words_and_digits_are_then_text() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_alerts(pilot, app)
        await pilot.press("r")  # the first alert
        await until(pilot, lambda: isinstance(app.screen, ReasonPicker))
        picker = app.screen
        assert isinstance(picker, ReasonPicker)
        choices = picker.query_one("#reason-choices", Static)
        await pilot.click(choices, offset=place_of(choices, "other"))
        await until(pilot, lambda: picker.asking_text)
        # A click on a reason while typing picks nothing (its digit is text then).
        await pilot.click(choices, offset=place_of(choices, "misread"))
        await pilot.pause()
        assert app.screen is picker and len(picker.query("#reason-text")) == 1
        await pilot.press(*"van 2 men", "enter")
        first = queue.table.row_ids()[0]
        await until(pilot, lambda: app.alerts[first].state is AlertState.REJECTED)
        assert hub.transition_calls == [
            (first, AlertState.REJECTED, OPERATOR, RejectReason.OTHER, "van 2 men")
        ]


async def test_clicking_the_selected_alert_opens_its_detail() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_alerts(pilot, app)
        table = queue.table
        row = table.row_ids().index(REJECTED_ALERT)
        await pilot.click(table, offset=(2, HEADER + row))
        await pilot.click(table, offset=(2, HEADER + row))
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        detail = app.screen
        assert isinstance(detail, AlertDetailScreen) and detail.alert_id == REJECTED_ALERT


# the camera dialogs ----------------------------------------------------------------------


async def open_detail(pilot: Pilot[None], app: CitywatchApp) -> CameraDetailScreen:
    await pilot.pause()
    app.open_camera(PTZ_CAMERA)
    await until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
    detail = app.screen
    assert isinstance(detail, CameraDetailScreen)
    return detail


async def test_click_yes_reboots_and_click_no_does_not() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, app)
        await pilot.click(footer_key(detail, "reboot"))
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        question = app.screen.query_one("#confirm-question", Static)
        await pilot.click(question, offset=place_of(question, " no"))
        await until(pilot, lambda: app.screen is detail)
        assert hub.reboots == []
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        question = app.screen.query_one("#confirm-question", Static)
        await pilot.click(question, offset=place_of(question, "yes"))
        await until(pilot, lambda: hub.reboots == [(PTZ_CAMERA, OPERATOR)])
        assert app.screen is detail


async def test_click_a_duration_asks_for_the_reason() -> None:
    app = make_app(CameraHub())
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, app)
        await pilot.press("M")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceForm))
        form = app.screen
        assert isinstance(form, MaintenanceForm)
        choices = form.query_one("#maintenance-choices", Static)
        await pilot.click(choices, offset=place_of(choices, "4 h"))
        await until(pilot, lambda: bool(form.query("#maintenance-reason")))
        assert form.duration == timedelta(hours=4)
        assert app.focused is form.query_one("#maintenance-reason")
        # While typing, a click on another duration changes nothing.
        await pilot.click(choices, offset=place_of(choices, "24 h"))
        await pilot.pause()
        assert form.duration == timedelta(hours=4) and len(form.query(Input)) == 1


# Esc: every dialog closes without doing anything ------------------------------------------


async def test_esc_closes_the_reason_picker_without_a_transition() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        queue = await open_alerts(pilot, app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReasonPicker))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is queue)
        assert hub.transition_calls == []
        await pilot.press("escape")  # and Esc again leaves the queue
        await until(pilot, lambda: isinstance(app.screen, CamerasScreen))


async def test_esc_closes_the_wanted_form_without_adding() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, HotlistsScreen))
        screen = app.screen
        assert isinstance(screen, HotlistsScreen)
        await until(pilot, lambda: screen.wanted_loaded)
        await pilot.press("n", *"1ABC234", "enter")
        await until(pilot, lambda: isinstance(app.screen, WantedForm))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert hub.add_wanted_calls == [] and screen.last_added is None
        assert screen.wanted_table.row_count == 2


async def test_esc_closes_the_reboot_question_and_the_maintenance_form() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, app)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is detail)
        await pilot.press("M")
        await until(pilot, lambda: isinstance(app.screen, MaintenanceForm))
        await pilot.press("1")  # the reason box has the focus: Esc still cancels
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is detail)
        assert hub.reboots == []
        assert hub.camera(PTZ_CAMERA).maintenance is None  # type: ignore[union-attr]
        await pilot.press("escape")  # and Esc again back to the cameras
        await until(pilot, lambda: isinstance(app.screen, CamerasScreen))


async def test_esc_and_q_close_the_help() -> None:
    app = make_app(FakeHub())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ("escape", "q", "question_mark"):
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, CamerasScreen))
        assert app.is_running  # q closed the help, not the app
