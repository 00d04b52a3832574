"""Pilot tests of the citywatch TUI against the in-memory hub double."""

from __future__ import annotations

import io
from datetime import UTC

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from hub.model import CameraStatus, HealthReason, HealthState
from tests.tui.conftest import CAMERAS, SECRET, FakeHub, make_status
from tui.app import CitywatchApp
from tui.format import strip_credentials
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import HelpScreen
from tui.widgets.camera_table import COLUMNS, CameraTable, column_widths

SIZE = (80, 24)
ALL_IDS = {row[0] for row in CAMERAS}


def table_of(app: CitywatchApp) -> CameraTable:
    return app.screen.query_one("#cameras", CameraTable)


def state_cell(table: CameraTable, camera_id: str) -> str:
    return table.get_cell(camera_id, "state").plain


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (rich renderables included)."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(widget.content)
    return capture.get()


def summary_of(app: CitywatchApp) -> str:
    return plain(app.screen.query_one("#summary", Static))


async def settle(pilot, app: CitywatchApp) -> None:  # type: ignore[no-untyped-def]
    """Let at least one tick of the update timer pass."""
    ticks = app.ticks
    while app.ticks < ticks + 2:
        await pilot.pause(0.05)


async def go_to(pilot, app: CitywatchApp, camera_id: str) -> None:  # type: ignore[no-untyped-def]
    """Move the cursor to a camera with the arrow keys, as a user would."""
    table = table_of(app)
    target = table.row_ids().index(camera_id)
    await pilot.press("ctrl+home")
    delta = target - table.cursor_row
    await pilot.press(*(["down"] * delta if delta > 0 else ["up"] * -delta))
    assert table.current_id == camera_id


async def wait_history(pilot, screen: CameraDetailScreen) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if screen.history_loaded:
            break
        await pilot.pause(0.02)
    assert screen.history_loaded
    await pilot.pause()


# the table -------------------------------------------------------------------------------


async def test_table_has_every_camera(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE):
        assert isinstance(app.screen, CamerasScreen)
        table = table_of(app)
        assert table.row_count == len(CAMERAS)
        assert set(table.row_ids()) == ALL_IDS
        # Sorted by name at start; states carry a symbol and a word.
        names = [table.get_cell(cid, "name").plain for cid in table.row_ids()]
        assert names == sorted(names, key=str.lower)
        assert state_cell(table, "cam-003") == "✘ down"
        assert state_cell(table, "cam-001") == "✔ ok"
        assert state_cell(table, "cam-008") == "? unknown"
        assert table.get_cell("cam-008", "seen").plain == "never"
        assert table.get_cell("cam-001", "seen").plain == "09:29:58"
        assert table.get_cell("cam-007", "model").plain == "AXIS Q1700-LE"


async def test_columns_fit_80_columns(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = table_of(app)
        needed = sum(col.get_render_width(table) for col in table.columns.values())
        assert needed <= table.size.width
        assert table.virtual_size.width <= 80


def test_column_widths_grow_with_space() -> None:
    narrow = column_widths(65)
    wide = column_widths(145)
    assert sum(narrow.values()) <= 65
    assert sum(wide.values()) <= 145
    assert wide["name"] > narrow["name"] and wide["model"] > narrow["model"]
    assert all(narrow[c.key] >= c.min_width for c in COLUMNS)


# detail ------------------------------------------------------------------------------------


async def test_enter_opens_detail_and_esc_returns(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await go_to(pilot, app, "cam-007")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen)
        assert screen.camera_id == "cam-007"
        await wait_history(pilot, screen)

        title = plain(screen.query_one("#detail-title", Static))
        assert "Ring R70 Zuid ALPR" in title and "✘ down" in title and "auth failed" in title
        facts = plain(screen.query_one("#detail-facts", Static))
        for expected in ("AXIS", "Q1700-LE", "SN000007", "+7215.0 s", "Profile_1"):
            assert expected in facts
        history = screen.query_one("#history", DataTable)
        assert history.row_count == len(await hub.history("cam-007")) == 4
        assert "✔ ok → ✘ down" in history.get_row_at(0)[1].plain

        # Nothing on the screen gives the password away.
        for static in screen.query(Static):
            assert SECRET not in plain(static)

        await pilot.press("escape")
        assert isinstance(app.screen, CamerasScreen)
        assert table_of(app).current_id == "cam-007"


async def test_detail_updates_live(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await go_to(pilot, app, "cam-001")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen)
        await wait_history(pilot, screen)
        assert screen.query_one("#history", DataTable).row_count == 1

        hub.set_state("cam-001", HealthState.DOWN, HealthReason.UNREACHABLE, "no route")
        screen.history_loaded = False
        await settle(pilot, app)
        await wait_history(pilot, screen)
        title = plain(screen.query_one("#detail-title", Static))
        assert "✘ down" in title and "unreachable" in title
        assert "no route" in plain(screen.query_one("#detail-status", Static))
        assert screen.query_one("#history", DataTable).row_count == 2

        await pilot.press("q")  # q on the detail goes back, it does not quit
        assert isinstance(app.screen, CamerasScreen)
        assert state_cell(table_of(app), "cam-001") == "✘ down"


async def test_history_error_is_a_notification(app: CitywatchApp, hub: FakeHub) -> None:
    hub.fail_history = True
    async with app.run_test(size=SIZE) as pilot:
        await go_to(pilot, app, "cam-003")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen)
        await wait_history(pilot, screen)
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("hub unreachable" in m for m in messages)


# filter ------------------------------------------------------------------------------------


async def test_filter_narrows_and_esc_restores(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        assert box.display and box.has_focus
        await pilot.press(*"police")
        await pilot.pause()
        police = {row[0] for row in CAMERAS if row[2] == "police"}
        assert set(table.row_ids()) == police
        assert "5/12 cameras" in summary_of(app)
        assert "/police" in summary_of(app)

        # Live: every keystroke refilters.
        await pilot.press("backspace", *"", *["backspace"] * 5, *"down")
        await pilot.pause()
        assert set(table.row_ids()) == {"cam-003", "cam-007", "cam-011"}

        await pilot.press("escape")
        await pilot.pause()
        assert not box.display
        assert table.has_focus
        assert set(table.row_ids()) == ALL_IDS
        assert "/police" not in summary_of(app) and "12 cameras" in summary_of(app)


async def test_filter_matches_model_and_reason_and_enter_keeps_it(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await pilot.press("slash", *"vivotek")
        await pilot.pause()
        assert set(table.row_ids()) == {"cam-010", "cam-011"}
        await pilot.press("enter")  # keep the filter, back in the table
        await pilot.pause()
        box = app.screen.query_one("#filter", Input)
        assert not box.display and table.has_focus
        assert set(table.row_ids()) == {"cam-010", "cam-011"}
        await pilot.press("escape")  # Esc in the table clears the filter
        await pilot.pause()
        assert table.row_count == len(CAMERAS)

        await pilot.press("slash", *"auth")
        await pilot.pause()
        assert table.row_ids() == ["cam-007"]


async def test_camera_that_starts_matching_is_appended(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await pilot.press("slash", *"down", "enter")
        await pilot.pause()
        before = table.row_ids()
        hub.set_state("cam-001", HealthState.DOWN, HealthReason.TIMEOUT)
        await settle(pilot, app)
        assert table.row_ids() == [*before, "cam-001"]


# live updates ------------------------------------------------------------------------------


async def test_status_change_updates_cell_and_keeps_cursor(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await go_to(pilot, app, "cam-002")
        row = table.cursor_row
        order = table.row_ids()

        hub.set_state("cam-002", HealthState.DOWN, HealthReason.UNREACHABLE)
        hub.set_state("cam-004", HealthState.DOWN, HealthReason.TIMEOUT)
        await settle(pilot, app)

        assert state_cell(table, "cam-002") == "✘ down"
        assert table.get_cell("cam-002", "reason").plain == "unreachable"
        assert state_cell(table, "cam-004") == "✘ down"
        assert table.current_id == "cam-002"
        assert table.cursor_row == row
        assert table.row_ids() == order  # nothing moved


async def test_header_counts_follow_changes(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        text = summary_of(app)
        assert "12 cameras" in text
        assert "✔ 8 ok" in text and "✘ 3 down" in text and "? 1 unknown" in text
        assert "city 4✔ 1✘" in text and "police 3✔ 1✘ 1?" in text

        hub.set_state("cam-001", HealthState.DOWN, HealthReason.UNREACHABLE)
        await settle(pilot, app)
        text = summary_of(app)
        assert "✔ 7 ok" in text and "✘ 4 down" in text
        assert "city 3✔ 2✘" in text


async def test_unknown_camera_from_changes_is_added(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        row = (
            "cam-099",
            "New pole Thonissenlaan",
            "city",
            CAMERAS[0][3],
            "AXIS",
            "M3106",
            HealthState.OK,
            HealthReason.NONE,
            "",
            1,
        )
        hub.push(make_status(row))
        await settle(pilot, app)
        table = table_of(app)
        assert table.row_ids()[-1] == "cam-099"
        assert "13 cameras" in summary_of(app)


async def test_end_of_changes_is_a_warning_not_a_crash(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        hub.close()
        for _ in range(50):
            await pilot.pause(0.02)
            if app._notifications:
                break
        assert app.is_running
        assert any("stopped" in n.message for n in app._notifications)


class _BrokenHub(FakeHub):
    def cameras(self) -> list[CameraStatus]:
        raise ConnectionError("connection refused")


async def test_broken_hub_at_start_is_a_notification() -> None:
    app = CitywatchApp(_BrokenHub(), tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.is_running
        assert table_of(app).row_count == 0
        assert any("connection refused" in n.message for n in app._notifications)


# sort, help, quit --------------------------------------------------------------------------


async def test_sort_key_cycles_and_puts_down_first(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await go_to(pilot, app, "cam-005")
        await pilot.press("s")  # site
        sites = [table.get_cell(cid, "site").plain for cid in table.row_ids()]
        assert sites == sorted(sites)
        await pilot.press("s")  # state, worst first
        ids = table.row_ids()
        assert set(ids[:3]) == {"cam-003", "cam-007", "cam-011"}
        assert ids[3] == "cam-008"  # unknown next
        assert "sort: state" in summary_of(app)
        assert table.current_id == "cam-005"  # the cursor follows its camera
        await pilot.press("s")  # last seen: never first, then the stalest
        assert table.row_ids()[:2] == ["cam-008", "cam-011"]
        await pilot.press("s")  # back to name
        names = [table.get_cell(cid, "name").plain for cid in table.row_ids()]
        assert names == sorted(names, key=str.lower)


async def test_help_and_quit(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, CamerasScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://admin:pw@10.0.0.1:8080/onvif", "http://10.0.0.1:8080/onvif"),
        ("rtsp://u:p@[fe80::1]:554/s", "rtsp://[fe80::1]:554/s"),
        ("http://10.0.0.1/onvif", "http://10.0.0.1/onvif"),
        (None, "—"),
    ],
)
def test_strip_credentials(url: str | None, shown: str) -> None:
    assert strip_credentials(url) == shown
