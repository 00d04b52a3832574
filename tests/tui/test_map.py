"""The map screen: m opens it, vehicles with their fix state, live updates, snapshots."""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from hub.model import FixState, TrackPoint
from tests.tui.conftest import T0, FakeHub
from tui.app import CitywatchApp
from tui.screens.cameras import CamerasScreen
from tui.screens.map import MapScreen, build_scene
from tui.widgets.braille import BrailleCanvas, Scene, draw

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def make_app(hub: FakeHub | None = None) -> CitywatchApp:
    return CitywatchApp(hub or FakeHub(), home="cameras", title="citywatch", tz=UTC, tick=0.1,
                        clock=lambda: T0)


async def open_map(pilot: Pilot[None]) -> MapScreen:
    await pilot.pause()
    await pilot.press("m")
    screen = pilot.app.screen
    assert isinstance(screen, MapScreen)
    for _ in range(100):
        if screen.tracks_loaded:
            break
        await pilot.pause(0.02)
    await pilot.pause()
    return screen


def row_texts(table: DataTable, key: str) -> list[str]:  # type: ignore[type-arg]
    return [str(cell) for cell in table.get_row(key)]


async def test_m_opens_the_map_with_vehicles_and_escape_goes_back() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_map(pilot)
        table = screen.table
        assert table.row_count == 4
        assert row_texts(table, "combi-1") == ["Combi 1", "● fix", "43 km/h", "0.4 s"]
        assert row_texts(table, "combi-2") == ["Combi 2", "◌ stale", "—", "8.0 s"]
        assert row_texts(table, "combi-3") == ["Combi 3", "○ no fix", "—", "2 min"]
        assert row_texts(table, "combi-4") == ["Combi 4", "✘ no device", "—", "never"]
        assert sorted(hub.track_calls) == ["combi-1", "combi-2", "combi-3", "combi-4"]
        # Trails came from the hub's track history.
        assert len(app.trails["combi-1"]) == 13
        text = "\n".join(strip.text for strip in draw(screen.canvas.scene, 60, 15))
        assert "Combi 1" in text and "Combi 4" not in text  # never had a fix: list only
        await pilot.press("escape")
        assert isinstance(app.screen, CamerasScreen)


async def test_vehicle_change_updates_list_and_map_on_the_tick() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_map(pilot)
        draws = screen.canvas.draws
        old = hub.vehicle("combi-4")
        assert old is not None
        pos = TrackPoint(T0, 50.9307, 5.3378, 12.5, 180.0, 3)
        for i in range(5):  # a burst: coalesced into one update per tick
            hub.push_vehicle(dataclasses.replace(
                old, state=FixState.FIX, position=dataclasses.replace(
                    pos, at=T0 + timedelta(seconds=i)), fix_seen_at=T0))
        for _ in range(50):
            await pilot.pause(0.02)
            if str(screen.table.get_cell("combi-4", "fix")) == "● fix":
                break
        assert row_texts(screen.table, "combi-4") == ["Combi 4", "● fix", "45 km/h", "0.0 s"]
        await pilot.pause(0.25)
        assert 1 <= screen.canvas.draws - draws <= 3
        assert len(app.trails["combi-4"]) == 5
        markers = {m.label for m in screen.canvas.scene.markers}
        assert "Combi 4" in markers


async def test_map_changes_while_hidden_are_caught_up() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_map(pilot)
        await pilot.press("escape")
        old = hub.vehicle("combi-2")
        assert old is not None
        hub.push_vehicle(dataclasses.replace(old, state=FixState.NO_DEVICE))
        await pilot.pause(0.3)
        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, MapScreen)
        await pilot.pause()
        assert str(screen.table.get_cell("combi-2", "fix")) == "✘ no device"


def test_scene_without_anything_is_only_the_ring() -> None:
    scene = build_scene([], {}, [])
    assert scene.box is not None and not scene.markers and not scene.dots
    lines = draw(scene, 20, 5)
    assert len(lines) == 5 and all(strip.cell_length == 20 for strip in lines)
    assert any(ch != " " for strip in lines for ch in strip.text)
    assert [s.text for s in draw(Scene(box=None), 4, 2)] == ["    ", "    "]


def test_braille_dots() -> None:
    from tui.widgets.braille import _Grid

    grid = _Grid(2, 1)
    for x, y in ((0, 0), (1, 3), (2, 1)):
        grid.dot(x, y, "", 1)
    grid.dot(9, 9, "", 1)  # outside: ignored
    assert [s.text for s in grid.strips()] == ["\u2881\u2802"]
    assert isinstance(BrailleCanvas(), BrailleCanvas)


@pytest.mark.parametrize("size", SIZES)
def test_map_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await open_map(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_open_hits_are_drawn_where_their_read_was_taken() -> None:
    from dataclasses import replace

    from hub.alpr_model import AlertState
    from tests.tui.conftest import new_alert

    alert = new_alert(1, "1-HOT-999", 90)
    placed = replace(alert, read=replace(alert.read, lat=50.93, lon=5.34))
    handled = replace(placed, id=2, state=AlertState.REJECTED)
    unplaced = replace(alert, id=3, read=replace(alert.read, lat=None, lon=None))
    scene = build_scene([], {}, [], [placed, handled, unplaced])
    assert [(m.lat, m.lon, m.glyph, m.label) for m in scene.markers] == [
        (50.93, 5.34, "!", "1-HOT-999")]
