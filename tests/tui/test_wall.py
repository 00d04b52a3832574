"""The camera wall: which cameras, keys and mouse, failures per tile, pacing within the
terminal byte budget (bytes counted as the app would write them), no fetching while
covered, and SVG snapshots."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import random
import time
from datetime import UTC, timedelta

import pytest
from PIL import Image
from rich.console import Console
from textual._compositor import CompositorUpdate
from textual.screen import Screen

from hub.errors import CameraActionError
from tests.tui.camera_hub import CameraHub
from tests.tui.conftest import T0, new_alert, wait_until
from tui.app import CitywatchApp
from tui.screens.wall import ALERTS, WallScreen, choose_cameras, latest_alert_cameras
from tui.wall_budget import WALL_BYTES_PER_S, TileSlot, WallPacer, redraw_cost
from tui.widgets.wall_tile import WallTile, age_caption

FAST = 10_000_000  # bytes/s: no pacing in the functional tests
HANGING = "cam-002"  # its snapshot never comes
REFUSING = "cam-004"  # the camera answers with an error


def noise_jpeg(seed: int = 7) -> bytes:
    """Every pixel differs: the worst case for the terminal (no cell merges with the next)."""
    rng = random.Random(seed)
    pixels = bytes(rng.randrange(256) for _ in range(320 * 180 * 3))
    img = Image.frombytes("RGB", (320, 180), pixels)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


NOISE = noise_jpeg()


class WallHub(CameraHub):
    """CameraHub plus a camera that hangs, one that refuses, and extra 'noise' cameras."""

    def __init__(self, noise_cameras: int = 0) -> None:
        super().__init__()
        base = self._cameras["cam-001"]
        for n in range(1, noise_cameras + 1):
            cid = f"cam-9{n:02d}"
            config = dataclasses.replace(base.config, id=cid, name=f"Noise {n}")
            self._cameras[cid] = dataclasses.replace(base, config=config)
        self.in_flight = 0
        self.peak_in_flight = 0  # most snapshot requests out at once
        self.delay = 0.0  # each answer takes this long

    async def camera_snapshot(self, camera_id: str) -> bytes:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await self._answer(camera_id)
        finally:
            self.in_flight -= 1

    async def _answer(self, camera_id: str) -> bytes:
        if camera_id == HANGING:
            self.snapshot_calls.append(camera_id)
            await asyncio.Event().wait()
        if camera_id == REFUSING:
            self.snapshot_calls.append(camera_id)
            raise CameraActionError("snapshot URI answered 503")
        if camera_id.startswith("cam-9"):
            self.snapshot_calls.append(camera_id)
            return NOISE
        return await super().camera_snapshot(camera_id)


class TerminalCounter:
    """Bytes the app would write to a truecolor terminal: the headless driver writes
    nothing, so each screen update is rendered here as App._display renders it (what
    bench/tui_scale_app.py's tmux pipe-pane counts on a real terminal)."""

    def __init__(self, app: CitywatchApp) -> None:
        self.console = Console(color_system="truecolor", file=io.StringIO(), force_terminal=True,
                               legacy_windows=False, safe_box=False)
        self.bytes = 0
        original = app._display

        def display(screen, renderable):  # type: ignore[no-untyped-def]
            if renderable is not None and not app._batch_count:
                if isinstance(renderable, CompositorUpdate):
                    self.bytes += len(renderable.render_segments(self.console).encode())
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]


def make_app(hub: CameraHub) -> CitywatchApp:
    return CitywatchApp(hub, title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
                        home="cameras")


def wall(app: CitywatchApp) -> WallScreen:
    assert isinstance(app.screen, WallScreen)
    return app.screen


def shown(screen: WallScreen) -> list[str | None]:
    return [tile.camera_id for tile in screen.shown_tiles] if screen.is_mounted else []


def tile_of(screen: WallScreen, camera_id: str) -> WallTile | None:
    return next((t for t in screen.shown_tiles if t.camera_id == camera_id), None)


def caption(screen: WallScreen, camera_id: str) -> str | None:
    tile = tile_of(screen, camera_id)
    return None if tile is None else tile.caption


# which cameras ------------------------------------------------------------------------


def test_latest_alert_cameras_are_distinct_newest_first() -> None:
    hub = CameraHub()
    alerts = list(hub._alerts.values())
    assert latest_alert_cameras(alerts) == ["cam-006", "cam-008", "cam-007"]
    statuses = {s.id: s for s in hub.cameras()}
    # No alerts: the worst cameras first (down, degraded, unknown, then ok).
    worst = choose_cameras(ALERTS, statuses, [], {})
    assert worst[:3] == ["cam-003", "cam-007", "cam-011"]  # by site within a state
    assert worst[3:5] == ["cam-009", "cam-008"]
    assert choose_cameras("ring", statuses, alerts, {}) == ["cam-006", "cam-007"]
    # The street counts too (and the site's name, state, model, as on the cameras screen).
    gate = statuses["cam-010"]
    statuses["cam-010"] = dataclasses.replace(
        gate, config=dataclasses.replace(gate.config, street="Kuringersteenweg 12"))
    assert choose_cameras("kuringer", statuses, alerts, {}) == ["cam-010"]
    assert choose_cameras("universiteit", statuses, alerts,
                          {"uhasselt": "Universiteit Hasselt"}) == ["cam-011", "cam-010"]
    assert choose_cameras("down", statuses, alerts, {}) == ["cam-011", "cam-003", "cam-007"]


async def test_alerts_source_follows_the_newest_alerts() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.alerts_loaded)
        app.push_screen(WallScreen(ALERTS, bytes_per_s=FAST))
        await wait_until(pilot, lambda: shown(wall(app))[:1] == ["cam-006"])
        screen = wall(app)
        assert shown(screen) == ["cam-006", "cam-008", "cam-007", None]
        assert screen.tiles[0].header == "▶ ✔ Ring R70 Noord ALPR · Politiezone LRH"  # selected
        assert screen.tiles[2].header == "✘ Ring R70 Zuid ALPR · Politiezone LRH"
        # A new alert at the campus gate: its camera comes first.
        alert = new_alert(50, "1-NEW-001", 90)
        read = dataclasses.replace(alert.read, camera_id="cam-010",
                                   at=T0 + timedelta(seconds=1))
        hub.push_alert(dataclasses.replace(alert, read=read, raised_at=read.at))
        await wait_until(pilot, lambda: shown(screen)[0] == "cam-010")
        assert shown(screen) == ["cam-010", "cam-006", "cam-008", "cam-007"]


async def test_grid_keys_change_the_tile_count_and_pages() -> None:
    app = make_app(CameraHub())
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(WallScreen("a", bytes_per_s=FAST))  # "a": most cameras match
        await pilot.pause()
        screen = wall(app)
        assert len(screen.cameras) > 9
        assert len([t for t in screen.tiles if t.display]) == 4
        assert shown(screen) == screen.cameras[:4]
        await pilot.press("3")
        assert len([t for t in screen.tiles if t.display]) == 9
        assert shown(screen) == screen.cameras[:9]
        await pilot.press("pagedown")
        assert screen.page == 1
        assert shown(screen)[: len(screen.cameras) - 9] == screen.cameras[9:]
        await pilot.press("2")
        assert len([t for t in screen.tiles if t.display]) == 4
        assert screen.cameras == sorted(screen.cameras,
                                        key=lambda c: (app.statuses[c].config.name.lower(), c))


async def test_filter_key_enter_keeps_esc_clears() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.alerts_loaded)
        app.push_screen(WallScreen(ALERTS, bytes_per_s=FAST))
        await pilot.pause()
        screen = wall(app)
        await pilot.press("slash", *"ring")
        assert shown(screen)[:2] == ["cam-006", "cam-007"]
        await pilot.press("enter")  # keeps the filter
        assert screen.source == "ring" and app.screen is screen
        await pilot.press("slash", *"campus", "escape")  # clears: back to "ring"
        assert screen.source == "ring"
        assert shown(screen)[:2] == ["cam-006", "cam-007"]
        await pilot.press("l")  # the latest alerts' cameras
        assert shown(screen)[:3] == ["cam-006", "cam-008", "cam-007"]


async def test_arrows_enter_open_the_selected_camera_and_esc_goes_back() -> None:
    from tui.screens.detail import CameraDetailScreen

    app = make_app(CameraHub())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(WallScreen("r", grid=3, bytes_per_s=FAST))
        await pilot.pause()
        screen = wall(app)
        await pilot.press("right", "down")  # row 1, column 1
        assert screen.selected == 4
        assert screen.tiles[4].has_class("-selected")
        assert screen.tiles[4].header.startswith("▶ ")
        expected = screen.tiles[4].camera_id
        assert expected is not None
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        assert app.screen.camera_id == expected  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, WallScreen))


async def test_click_selects_and_a_second_click_opens() -> None:
    from tui.screens.detail import CameraDetailScreen

    app = make_app(CameraHub())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(WallScreen("ring", bytes_per_s=FAST))
        await pilot.pause()
        screen = wall(app)
        await pilot.click("#tile-1", offset=(5, 3))
        assert screen.selected == 1
        assert not isinstance(app.screen, CameraDetailScreen)
        await pilot.click("#tile-1", offset=(5, 3))
        await wait_until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        assert app.screen.camera_id == "cam-007"  # type: ignore[attr-defined]


# failures -------------------------------------------------------------------------------


async def test_failing_cameras_show_why_while_the_others_draw() -> None:
    hub = WallHub(noise_cameras=4)
    hub.delay = 0.05
    app = make_app(hub)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        # Stad Hasselt: cam-001..005; 002 hangs, 003 is down, 004 refuses.
        app.push_screen(WallScreen("stad hasselt", grid=3, bytes_per_s=FAST,
                                   snapshot_timeout_s=0.3, max_in_flight=2))
        screen = wall(app)
        await wait_until(pilot, lambda: caption(screen, "cam-002") == "snapshot failed: timeout"
                         and (tile_of(screen, "cam-005") or screen).draws > 0)  # type: ignore[union-attr]
        assert caption(screen, "cam-003") == "camera down: unreachable"
        assert caption(screen, "cam-004") == "snapshot failed: snapshot URI answered 503"
        for camera_id in ("cam-001", "cam-005"):
            tile = tile_of(screen, camera_id)
            assert tile is not None and tile.image.picture_size == (320, 180)
            assert tile.caption == "09:30:00 · just now"
        assert "cam-003" not in hub.snapshot_calls  # a down camera is not asked
        assert hub.peak_in_flight == 2  # never more requests out than allowed


async def test_no_fetching_while_covered_and_after_leaving() -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(WallScreen("ring", bytes_per_s=FAST, min_interval_s=0.05))
        await wait_until(pilot, lambda: hub.snapshot_calls.count("cam-006") >= 2)
        screen = wall(app)
        app.push_screen(Screen())
        await pilot.pause()
        before = len(hub.snapshot_calls)
        await pilot.pause(0.6)
        assert len(hub.snapshot_calls) == before
        assert not screen.fetching
        app.pop_screen()
        await wait_until(pilot, lambda: len(hub.snapshot_calls) > before)
        app.pop_screen()  # leave the wall
        await pilot.pause()
        gone = len(hub.snapshot_calls)
        await pilot.pause(0.6)
        assert len(hub.snapshot_calls) == gone


# pacing ------------------------------------------------------------------------------------


# Picture areas (cells) of a tile: 3x3 at 80x24 and 200x60, 2x2 at 200x60 (dearer than
# the pacer's bucket).
TILE_AREAS = [(24, 4), (64, 16), (98, 26)]


@pytest.mark.parametrize("area", TILE_AREAS, ids=["80x24-3x3", "200x60-3x3", "200x60-2x2"])
def test_pacer_keeps_the_budget_round_robin_with_a_fake_clock(area: tuple[int, int]) -> None:
    now = [0.0]
    budget = WALL_BYTES_PER_S - 1_000
    pacer = WallPacer(budget, max_in_flight=3, min_interval_s=0.0, clock=lambda: now[0])
    cost = redraw_cost(*area)
    turns: list[int] = []
    for _ in range(600):  # 60 s in 0.1 s steps, every request answered at once
        turns += pacer.due([TileSlot(i, cost) for i in range(9)], 0)
        now[0] += 0.1
        assert pacer.charged <= budget * now[0]  # never ahead of the budget, from the start
    assert pacer.charged >= budget * 60 * 0.85
    assert turns == [i % 9 for i in range(len(turns))]  # round-robin


def test_pacer_never_exceeds_requests_in_flight_nor_fetches_busy_or_unwanted() -> None:
    pacer = WallPacer(1e9, max_in_flight=3, min_interval_s=0.0, clock=lambda: 1.0)
    pacer.tokens = pacer.capacity
    slots = [TileSlot(0, 10, busy=True), TileSlot(1, 10, wanted=False)] + [
        TileSlot(i, 10) for i in range(2, 9)]
    assert pacer.due(slots, in_flight=1) == [2, 3]
    assert pacer.due(slots, in_flight=3) == []


def test_age_caption_moves_in_steps() -> None:
    assert age_caption(T0, T0 + timedelta(seconds=4), UTC) == "09:30:00 · just now"
    assert age_caption(T0, T0 + timedelta(seconds=27), UTC) == "09:30:00 · 20 s ago"
    assert age_caption(T0, T0 + timedelta(minutes=3), UTC) == "09:30:00 · 3 min ago"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_wall_output_stays_within_the_byte_budget(size: tuple[int, int]) -> None:
    """Nine tiles of worst-case pictures, refreshed as fast as the budget allows."""
    hub = WallHub(noise_cameras=9)
    app = make_app(hub)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        counter = TerminalCounter(app)
        app.push_screen(WallScreen("noise", grid=3, min_interval_s=0.0))
        await pilot.pause()
        await pilot.pause()
        screen = wall(app)
        counter.bytes = 0  # from here on: the wall's own refreshes
        start = time.monotonic()
        await pilot.pause(4.0)
        elapsed = time.monotonic() - start
        rate = counter.bytes / elapsed
        draws = sum(t.draws for t in screen.shown_tiles)
        print(f"{size}: {counter.bytes} bytes in {elapsed:.1f} s = {rate:.0f} B/s, "
              f"{draws} pictures, charged {screen.pacer.charged}")
        assert rate <= WALL_BYTES_PER_S
        assert rate >= WALL_BYTES_PER_S * 0.3  # it does refresh, up to the budget
        assert draws >= 1


# SVG snapshots ------------------------------------------------------------------------------


def snapshot_app() -> CitywatchApp:
    return make_app(WallHub())


async def _wall_drawn(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    app.push_screen(WallScreen("stad hasselt", grid=3, bytes_per_s=FAST,
                               snapshot_timeout_s=0.2))
    await pilot.pause()
    screen = wall(app)
    await wait_until(pilot, lambda: all(
        t.draws or t.is_down() for t in screen.shown_tiles if t.camera_id is not None))
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_wall_screen(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(snapshot_app(), terminal_size=size, run_before=_wall_drawn)
