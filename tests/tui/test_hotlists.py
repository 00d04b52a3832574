"""Hotlists and wanted plates: the lists, adding with search-back, removing with a confirm."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from tests.tui.conftest import OPERATOR, FakeHub, wait_until
from tests.tui.test_app import plain
from tui.app import CitywatchApp
from tui.screens.cameras import CamerasScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.reads import ReadDetailScreen
from tui.widgets.confirm import Confirm
from tui.widgets.wanted_form import WantedForm, parse_days

SIZE = (80, 24)


async def open_hotlists(pilot: Pilot[None]) -> HotlistsScreen:
    await pilot.press("w")
    screen = pilot.app.screen
    assert isinstance(screen, HotlistsScreen)
    await wait_until(pilot, lambda: screen.wanted_loaded)
    return screen


def row(table: DataTable, key: str) -> list[str]:  # type: ignore[type-arg]
    return [cell.plain for cell in table.get_row(key)]


async def fill_form(pilot: Pilot[None], plate: str, reason: str, days: str | None) -> WantedForm:
    await pilot.press("n")
    form = pilot.app.screen
    assert isinstance(form, WantedForm)
    await pilot.press(*plate, "enter", *reason, "enter")
    if days is not None:
        form.query_one("#wanted-days", Input).value = ""
        await pilot.press(*days)
    await pilot.press("enter")
    return form


async def test_w_shows_hotlists_and_wanted_plates(alpr_app: CitywatchApp) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_hotlists(pilot)
        lists = screen.query_one("#hotlists", DataTable)
        assert lists.row_count == 4
        assert row(lists, "stolen") == ["stolen", "125,034", "—", "2025-03-14 07:30:00", "3 lines"]
        assert row(lists, "intel")[2] == "◆ covert"
        wanted = screen.wanted_table
        assert row(wanted, "1") == [
            "1GHI789",
            "hit and run Kuringersteenweg",
            "an",
            "2025-03-21 08:30:00",
        ]
        assert row(wanted, "2")[0] == "1DEF4*6"
        await pilot.press("escape")
        assert isinstance(alpr_app.screen, CamerasScreen)


async def test_adding_a_wanted_plate_shows_where_it_was_seen(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_hotlists(pilot)
        await fill_form(pilot, "1-ghi-789", "stolen car", None)  # days: default 7
        await wait_until(pilot, lambda: screen.last_added is not None)
        assert hub.add_wanted_calls == [("1-ghi-789", "stolen car", 7, OPERATOR)]
        text = plain(screen.query_one("#searchback"))  # type: ignore[arg-type]
        assert "1GHI789 is wanted. Seen 3 times: 03-14 09:29 Ring R70 Noord ALPR" in text
        assert screen.searchback_reads.row_ids() == [101, 110, 112]
        await wait_until(pilot, lambda: screen.wanted_table.row_count == 3)
        assert row(screen.wanted_table, "3")[:3] == ["1GHI789", "stolen car", OPERATOR]
        # Enter on a search-back read opens it.
        screen.searchback_reads.focus()
        await pilot.press("enter")
        assert isinstance(alpr_app.screen, ReadDetailScreen)
        assert alpr_app.screen.read.id == 101


async def test_a_plate_never_seen_says_so(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_hotlists(pilot)
        await fill_form(pilot, "9ZZZ999", "missing person", "30")
        await wait_until(pilot, lambda: screen.last_added is not None)
        assert hub.add_wanted_calls == [("9ZZZ999", "missing person", 30, OPERATOR)]
        assert "Not seen in the recent reads" in plain(screen.query_one("#searchback"))  # type: ignore[arg-type]
        assert not screen.searchback_reads.display


async def test_invalid_days_are_refused_before_the_hub(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        await open_hotlists(pilot)
        form = await fill_form(pilot, "1ABC234", "stolen", "101")
        assert alpr_app.screen is form
        assert "days must be a whole number from 1 to 100" in plain(form.query_one("#wanted-error"))  # type: ignore[arg-type]
        form.query_one("#wanted-days", Input).value = ""
        await pilot.press("0", "enter")
        assert alpr_app.screen is form
        assert hub.add_wanted_calls == []
        await pilot.press("escape")
        assert isinstance(alpr_app.screen, HotlistsScreen)


def test_parse_days() -> None:
    assert [parse_days(v) for v in ("1", " 100 ", "7")] == [1, 100, 7]
    assert [parse_days(v) for v in ("0", "101", "-3", "", "2.5", "x")] == [None] * 6


async def test_the_hubs_refusal_is_shown_in_the_form(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        await open_hotlists(pilot)
        form = await fill_form(pilot, "1", "stolen", None)
        await wait_until(pilot, lambda: bool(hub.add_wanted_calls))
        await wait_until(pilot, lambda: "too short" in plain(form.query_one("#wanted-error")))  # type: ignore[arg-type]
        assert alpr_app.screen is form  # what was typed is still there
        assert form.value("reason") == "stolen"


async def test_d_removes_the_selected_wanted_plate_after_a_yes(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_hotlists(pilot)
        await pilot.press("down", "d")  # second row: 1DEF4*6
        assert isinstance(alpr_app.screen, Confirm)
        await pilot.press("n")
        assert alpr_app.screen is screen and hub.remove_wanted_calls == []
        await pilot.press("d", "y")
        await wait_until(pilot, lambda: screen.wanted_table.row_count == 1)
        assert hub.remove_wanted_calls == [(2, OPERATOR)]
        assert row(screen.wanted_table, "1")[0] == "1GHI789"
