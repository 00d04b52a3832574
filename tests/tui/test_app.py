"""Pilot tests of the citywatch TUI against the in-memory hub double."""

from __future__ import annotations

import dataclasses
import io
import itertools
from datetime import UTC, timedelta

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from hub.model import CameraStatus, HealthReason, HealthState
from tests.tui.conftest import CAMERAS, SECRET, T0, FakeHub, make_status
from tui.app import CitywatchApp
from tui.format import strip_credentials
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import HelpScreen
from tui.widgets.camera_table import (
    COLUMNS,
    PADDING,
    SPECS,
    CameraTable,
    column_widths,
    visible_columns,
)
from tui.widgets.health_strip import HealthStrip
from tui.widgets.summary import summary_text

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
    narrow = column_widths(79)  # 80 columns less the scrollbar
    wide = column_widths(159)
    assert sum(w + PADDING for w in narrow.values()) <= 79
    assert sum(w + PADDING for w in wide.values()) <= 159
    assert wide["name"] > narrow["name"] and wide["model"] > narrow["model"]
    assert all(narrow[key] >= SPECS[key].min_width for key in narrow)
    # What matters most survives 80 columns; the wide table shows everything.
    assert list(narrow) == ["name", "site", "model", "state", "reason", "seen"]
    assert list(wide) == [c.key for c in COLUMNS]


def test_narrow_terminals_drop_the_least_important_columns_first() -> None:
    shown = [visible_columns(width) for width in range(20, 200)]
    for fewer, more in itertools.pairwise(shown):
        assert set(fewer) <= set(more)  # growing never hides a column
    assert visible_columns(50) == ("name", "state", "reason")
    assert visible_columns(10) == ("name",)  # the name stays, however narrow


async def test_degraded_state_and_reasons_at_80_columns(app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = table_of(app)
        # 80 columns: the name gets the room, the stream numbers wait for more width.
        assert table.column_keys == ("name", "site", "model", "state", "reason", "seen")
        assert table.columns[ColumnKey("name")].width == 19
        assert state_cell(table, "cam-009") == "▲ degraded"
        assert table.get_cell("cam-009", "reason").plain == "low fps 3/25"
        assert str(table.get_cell("cam-009", "reason").style) == "orange1"
        assert table.get_cell("cam-011", "reason").plain == "stalled"


async def test_stream_columns(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=(90, 24)) as pilot:
        await pilot.pause()
        table = table_of(app)
        assert "fps" in table.column_keys and "kbps" not in table.column_keys
        assert table.get_cell("cam-009", "fps").plain == "3.1"
        assert table.get_cell("cam-001", "fps").style == ""
        # Down: the last sample's number stays, dimmed (same text, new look).
        hub.set_state("cam-001", HealthState.DOWN, HealthReason.STALLED)
        await settle(pilot, app)
        assert table.get_cell("cam-001", "fps").plain == "25.0"
        assert table.get_cell("cam-001", "fps").style == "dim"
        # The number the reason is about wears the state's colour.
        assert str(table.get_cell("cam-009", "fps").style) == "orange1"
        assert table.get_cell("cam-001", "fps").plain == "25.0"
        assert table.get_cell("cam-011", "reason").plain == "stalled"
        assert table.get_cell("cam-011", "fps").plain == "—"  # no packets, no fps
        assert table.get_cell("cam-007", "fps").plain == "—"  # never sampled


async def test_wide_table_shows_every_column_and_the_last_hour(app: CitywatchApp) -> None:
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = table_of(app)
        assert table.column_keys == tuple(c.key for c in COLUMNS)
        assert table.get_cell("cam-005", "kbps").plain == "12.3M"
        assert table.get_cell("cam-009", "kbps").plain == "512"
        assert table.get_cell("cam-001", "kbps").plain == "4.1M"  # 4096 kbit/s
        assert table.get_cell("cam-001", "recent").plain == "▁" * 10  # ok for 20 h
        # cam-007 went down 16 min ago; before that this TUI knows nothing.
        assert table.get_cell("cam-007", "recent").plain == "·" * 7 + "█" * 3
        await go_to(pilot, app, "cam-009")

        # Narrowing drops columns (one rebuild); the cursor stays on its camera.
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "kbps" not in table.column_keys and "recent" not in table.column_keys
        assert table.current_id == "cam-009"
        assert table.row_count == len(CAMERAS)
        needed = sum(col.get_render_width(table) for col in table.columns.values())
        assert needed <= table.size.width


async def test_stream_change_patches_only_its_cells(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = table_of(app)
        status = hub.camera("cam-001")
        assert status is not None and status.stream is not None
        slow = dataclasses.replace(status.stream, fps=4.0, bitrate_kbps=300.0)
        new = dataclasses.replace(
            status,
            state=HealthState.DEGRADED,
            reason=HealthReason.LOW_FPS,
            changed_at=T0 - timedelta(minutes=1),
            stream=slow,
        )
        updates: list[tuple[str, str]] = []
        update_cell = table.update_cell

        def spy(row_key, column_key, value, **kw):  # type: ignore[no-untyped-def]
            updates.append((row_key, column_key))
            return update_cell(row_key, column_key, value, **kw)

        table.update_cell = spy  # type: ignore[method-assign]
        hub.push(new)
        await settle(pilot, app)
        assert sorted(updates) == [
            ("cam-001", key) for key in ("fps", "kbps", "reason", "recent", "state")
        ]
        assert state_cell(table, "cam-001") == "▲ degraded"
        assert table.get_cell("cam-001", "reason").plain == "low fps 4/25"
        assert table.get_cell("cam-001", "fps").plain == "4.0"
        assert table.get_cell("cam-001", "kbps").plain == "300"
        assert table.get_cell("cam-001", "recent").plain == "▁" * 9 + "▄"


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
        assert history.row_count == len(await hub.history("cam-007")) == 6
        assert "✔ ok → ✘ down" in history.get_row_at(0)[1].plain

        # Nothing on the screen gives the password away.
        for static in screen.query(Static):
            assert SECRET not in plain(static)

        await pilot.press("escape")
        assert isinstance(app.screen, CamerasScreen)
        assert table_of(app).current_id == "cam-007"


async def test_detail_shows_strip_transitions_and_stream(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await go_to(pilot, app, "cam-009")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen)
        await wait_history(pilot, screen)

        strip = screen.query_one("#strip", HealthStrip)
        lines = str(strip.render()).splitlines()
        cells = lines[0]
        assert len(cells) == 48  # 24 h in 30-minute cells
        # 20 h of history: 8 cells of nothing, then ok, a poor hour 9 h ago, a short
        # outage 1.5 h ago, and degraded (low fps) since 7 min ago.
        assert cells[:8] == "·" * 8 and cells[8] == "▁"
        assert cells[30] == "▄" and cells[45] == "█" and cells[47] == "▄"
        assert cells.count("█") == 1 and cells.count("▄") == 3
        assert lines[1].startswith("-24h") and lines[1].endswith("now")
        assert "degraded" in lines[2] and "no history" in lines[2]
        panel = screen.query_one("#history-panel")
        assert "last 24 h" in str(panel.border_title)

        history = screen.query_one("#history", DataTable)
        assert history.row_count == 6
        newest = [cell.plain for cell in history.get_row_at(0)]
        assert newest[1] == "✔ ok → ▲ degraded" and newest[2] == "low fps"
        assert "expected 25" in newest[3]
        reasons = [history.get_row_at(i)[2].plain for i in range(history.row_count)]
        assert "stalled" in reasons and "low bitrate" in reasons

        stream = plain(screen.query_one("#detail-stream", Static))
        for expected in ("3.1", "512 kbit/s", "every 4.0 s", "110 of 255", "09:29:54 (6.0 s ago)"):
            assert expected in stream

        await pilot.press("z")  # 6 h
        await pilot.press("z")  # 1 h: 60 one-minute cells, degraded 66 s ago
        assert "last 60 min" in str(panel.border_title)
        await pilot.pause()
        cells = str(strip.render()).splitlines()[0]
        assert cells == "▁" * 58 + "▄" * 2

        # What the detail read also fills the table's "last hour" for this camera.
        assert [state for _, state in app.recent.points("cam-009")][:2] == [
            HealthState.OK,
            HealthState.DEGRADED,
        ]


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
        assert "✔ 7 ok" in text and "▲ 1 degraded" in text
        assert "✘ 3 down" in text and "? 1 unknown" in text
        assert "city 4✔ 1✘" in text and "police 2✔ 1▲ 1✘ 1?" in text

        hub.set_state("cam-001", HealthState.DOWN, HealthReason.UNREACHABLE)
        hub.set_state("cam-002", HealthState.DEGRADED, HealthReason.FROZEN)
        await settle(pilot, app)
        text = summary_of(app)
        assert "✔ 5 ok" in text and "▲ 2 degraded" in text and "✘ 4 down" in text
        assert "city 2✔ 1▲ 2✘" in text


async def test_removed_camera_leaves_table_and_counts(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        table.select_camera("cam-002")
        hub.remove_camera("cam-001")  # e.g. a partner hub revoked its grant
        await settle(pilot, app)
        assert not table.has_camera("cam-001")
        assert set(table.row_ids()) == ALL_IDS - {"cam-001"}
        assert table.current_id == "cam-002"  # the cursor stays on its camera
        assert "11 cameras" in summary_of(app) and "✔ 6 ok" in summary_of(app)
        assert "cam-001" not in app.statuses


def test_totals_leave_out_zero_degraded_and_unknown() -> None:
    healthy = [make_status(row) for row in CAMERAS if row[6] is HealthState.OK]
    text = summary_text("citywatch", healthy, []).plain
    assert "✔ 7 ok ✘ 0 down" in text  # "0 down" stays: it is the news that matters
    assert "degraded" not in text and "unknown" not in text


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
    app = CitywatchApp(_BrokenHub(), home="cameras", tz=UTC)
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
        assert ids[3] == "cam-009"  # degraded next
        assert ids[4] == "cam-008"  # then unknown
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
