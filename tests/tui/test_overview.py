"""The overview (home screen): live counts per site, worst cameras, the alert ticker,
app-wide keys (A, Esc, ctrl+t), hit toasts, and SVG snapshots."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, timedelta

import pytest
from textual.pilot import Pilot

from hub.alpr_model import AlertState
from hub.model import HealthReason, HealthState, Maintenance
from tests.tui.conftest import OPERATOR, T0, FakeHub, new_alert, wait_until
from tui.app import SEARCH_KEY, CitywatchApp
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import KEYS, HelpScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.map import MapScreen
from tui.screens.overview import OverviewScreen
from tui.screens.reads import ReadsScreen
from tui.widgets.overview_toasts import HitToaster, hit_severity, hit_toast

OK, DOWN, DEGRADED, UNKNOWN = (HealthState.OK, HealthState.DOWN, HealthState.DEGRADED,
                               HealthState.UNKNOWN)
MAINT = HealthState.MAINTENANCE


def make_app(hub: FakeHub | None = None) -> CitywatchApp:
    return CitywatchApp(hub or FakeHub(), home="overview", title="citywatch", tz=UTC,
                        tick=0.1, clock=lambda: T0, operator=OPERATOR)


async def overview(pilot: Pilot[None]) -> OverviewScreen:
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, OverviewScreen)
    await wait_until(pilot, lambda: screen.shown and pilot.app.alerts_loaded  # type: ignore[attr-defined]
                     and screen.alert_list.option_count > 0)
    return screen


def texts(lines: list) -> list[str]:  # type: ignore[type-arg]
    return [line.plain.rstrip() for line in lines]


def hit_toasts(app: CitywatchApp) -> list:  # type: ignore[type-arg]
    return [n for n in app._notifications if "hit" in n.title]


def test_the_overview_is_the_default_home() -> None:
    assert CitywatchApp(FakeHub()).home == "overview"
    with pytest.raises(ValueError, match="home must be one of"):
        CitywatchApp(FakeHub(), home="wall")


async def test_counts_per_site_follow_the_statuses() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        lines = texts(screen.sites_panel.lines)
        #                 ✔   ▲   ✘   ?   ⚒   ↯
        assert lines[1].split() == ["city", "4", "0", "1", "0", "0", "0"]
        assert lines[2].split() == ["police", "2", "1", "1", "1", "0", "0"]
        assert lines[3].split() == ["uhasselt", "1", "0", "1", "0", "0", "0"]
        assert "12 cameras ✔ 7 ▲ 1 ✘ 3 ? 1" in str(screen.query_one("#overview-title").render())
        # A camera goes down, another into maintenance, a third flaps.
        hub.set_state("cam-001", DOWN, HealthReason.STALLED, "no packets")
        maint = Maintenance(T0, T0 + timedelta(hours=1), "lens cleaning", "an")
        hub.push(dataclasses.replace(hub.camera("cam-010"), maintenance=maint))  # type: ignore[arg-type]
        hub.push(dataclasses.replace(hub.camera("cam-006"), flapping=True, flaps_per_hour=7))  # type: ignore[arg-type]
        await wait_until(pilot, lambda: texts(screen.sites_panel.lines)[1].split()[3] == "2")
        await wait_until(pilot, lambda: texts(screen.sites_panel.lines)[3].split()[5] == "1")
        lines = texts(screen.sites_panel.lines)
        assert lines[1].split() == ["city", "3", "0", "2", "0", "0", "0"]
        assert lines[2].split() == ["police", "2", "1", "1", "1", "0", "1"]
        assert lines[3].split() == ["uhasselt", "0", "0", "1", "0", "1", "0"]


async def test_counts_catch_up_after_the_overview_was_covered() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        await pilot.press("c")
        assert isinstance(app.screen, CamerasScreen)
        hub.set_state("cam-002", DOWN, HealthReason.UNREACHABLE)
        await wait_until(pilot, lambda: app.statuses["cam-002"].state is DOWN)
        await pilot.pause(0.3)
        assert texts(screen.sites_panel.lines)[1].split()[3] == "1"  # covered: not drawn
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.pause()
        assert texts(screen.sites_panel.lines)[1].split()[3] == "2"
        assert "cam-002" in screen.worst_list.keys


async def test_worst_cameras_down_first_longest_first_with_reasons() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        worst = screen.worst_list
        assert worst.keys == ["cam-011", "cam-007", "cam-003", "cam-009"]
        lines = texts(worst.lines)
        assert lines[0].startswith("✘ Agoralaan parking") and "stalled" in lines[0]
        assert "61 min" in lines[0]
        assert "auth failed" in lines[1] and "16 min" in lines[1]
        assert "unreachable" in lines[2]
        assert lines[3].startswith("▲ Genkersteenweg") and "low fps 3/25" in lines[3]
        assert worst.border_subtitle == "3 down · 1 degraded"
        # A new reason for one camera (same spell): only its line is replaced.
        patched = worst.patched
        since = hub.camera("cam-009").changed_at  # type: ignore[union-attr]
        hub.set_state("cam-009", DEGRADED, HealthReason.LOW_BITRATE, at=since)
        await wait_until(pilot, lambda: "low bitrate" in texts(worst.lines)[3])
        assert worst.patched == patched + 1
        # Recovered: it leaves the list; a newly down camera comes after the longer ones.
        hub.set_state("cam-009", OK)
        hub.set_state("cam-001", DOWN, HealthReason.STALLED, at=T0 - timedelta(minutes=10))
        await wait_until(pilot, lambda: "cam-009" not in worst.keys)
        assert worst.keys == ["cam-011", "cam-007", "cam-001", "cam-003"]


async def test_enter_on_a_worst_camera_opens_its_detail() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        assert screen.worst_list.has_focus
        await pilot.press("down", "enter")
        detail = app.screen
        assert isinstance(detail, CameraDetailScreen)
        assert detail.camera_id == "cam-007"
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_click_on_a_worst_camera_or_an_alert_opens_it() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        # y=0 is the panel's border: the lines start at y=1.
        assert await pilot.click(screen.worst_list, offset=(4, 2))
        await wait_until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        assert app.screen.camera_id == "cam-007"  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert await pilot.click(screen.alert_list, offset=(4, 1))
        await wait_until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        assert app.screen.alert_id == 1  # type: ignore[attr-defined]


async def test_ticker_shows_a_new_alert_and_enter_opens_it() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        ticker = screen.alert_list
        assert ticker.keys[:3] == ["1", "2", "5"]  # newest first
        assert ticker.border_title == "Alerts  ● 4 new"
        hub.push_alert(new_alert(50, "1-NEW-999", 90))
        await wait_until(pilot, lambda: ticker.keys[0] == "50")
        first = texts(ticker.lines)[0]
        assert "1-NEW-999" in first and "90" in first and "stolen" in first
        assert "Ring R70" in first  # the camera
        assert ticker.border_title == "Alerts  ● 5 new"
        # Tab (or →) to the ticker, Enter opens the alert.
        await pilot.press("tab")
        assert ticker.has_focus
        await pilot.press("enter")
        assert isinstance(app.screen, AlertDetailScreen)
        assert app.screen.alert_id == 50
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("left")
        assert screen.worst_list.has_focus
        await pilot.press("right")
        assert ticker.has_focus


async def test_shift_a_acknowledges_the_newest_new_alert_in_one_key() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        await pilot.press("A")
        await wait_until(pilot, lambda: app.alerts[1].state is AlertState.ACKNOWLEDGED)
        assert hub.transition_calls == [(1, AlertState.ACKNOWLEDGED, OPERATOR, None, "")]
        assert app.alerts[1].actor == OPERATOR
        assert any("#1 1-GHI-789" in n.message for n in app._notifications)
        await wait_until(pilot, lambda: screen.alert_list.border_title == "Alerts  ● 3 new")
        assert texts(screen.alert_list.lines)[0].split()[1] == "◐"
        # From any screen: the map; the next newest new one (alert 2).
        await pilot.press("m")
        assert isinstance(app.screen, MapScreen)
        await pilot.press("A")
        await wait_until(pilot, lambda: len(hub.transition_calls) == 2)
        assert hub.transition_calls[1][:2] == (2, AlertState.ACKNOWLEDGED)


async def test_shift_a_says_so_when_nothing_is_new_and_is_text_in_an_input() -> None:
    hub = FakeHub()
    for alert in list(hub._alerts.values()):
        hub._alerts[alert.id] = dataclasses.replace(alert, state=AlertState.ACKNOWLEDGED)
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(pilot)
        await pilot.press("A")
        await pilot.pause()
        assert any(n.message == "No new alerts." for n in app._notifications)
        hub.push_alert(new_alert(60, "1-XYZ-123", 40))
        await wait_until(pilot, lambda: 60 in app.alerts)
        await pilot.press(SEARCH_KEY)
        assert isinstance(app.screen, ReadsScreen)
        await pilot.press("A")  # typed into the search box
        await pilot.pause(0.2)
        assert hub.transition_calls == []


@pytest.mark.parametrize(
    ("keys", "screen_type"),
    [
        pytest.param(("c",), CamerasScreen, id="cameras"),
        pytest.param(("a",), AlertsScreen, id="alerts"),
        pytest.param(("m",), MapScreen, id="map"),
        pytest.param((SEARCH_KEY,), ReadsScreen, id="reads"),
        pytest.param(("w",), HotlistsScreen, id="hotlists"),
        pytest.param(("enter",), CameraDetailScreen, id="detail"),
    ],
)
async def test_escape_returns_to_the_overview(keys: tuple[str, ...], screen_type: type) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        await pilot.press(*keys)
        assert isinstance(app.screen, screen_type)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")  # the overview is the bottom: nothing happens
        assert app.screen is screen and len(app.screen_stack) == 1


async def test_escape_on_cameras_clears_the_filter_first() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        await pilot.press("c", "slash", *"ring", "enter")
        cameras = app.screen
        assert isinstance(cameras, CamerasScreen) and cameras.filter_text == "ring"
        await pilot.press("escape")
        assert app.screen is cameras and cameras.filter_text == ""
        await pilot.press("escape")
        assert app.screen is screen
        # The cameras screen is kept: c shows the same one again.
        await pilot.press("c")
        assert app.screen is cameras


async def test_ctrl_t_switches_between_dark_and_light() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("c", "ctrl+t")  # from any screen
        assert app.theme == "textual-dark"


async def test_a_burst_of_100_alerts_gives_at_most_two_toasts() -> None:
    hub = FakeHub()
    app = make_app(hub)
    clock = [1000.0]
    async with app.run_test(size=(80, 24)) as pilot:
        await overview(pilot)
        app.hit_toasts = HitToaster(app._toast, app.camera_name, now=lambda: clock[0])
        for n in range(100):
            hub.push_alert(new_alert(200 + n, f"1-BUR-{n:03d}", 30 + n % 60, ago=-n))
        await wait_until(pilot, lambda: all(200 + n in app.alerts for n in range(100)))
        await pilot.pause(0.3)
        toasts = hit_toasts(app)
        assert len(toasts) == 1  # the first one at once, the others held
        assert "1-BUR-000" in toasts[0].message and "PRIORITY 30" in toasts[0].message
        clock[0] += 2.5  # the throttle's interval has passed: one summary
        await wait_until(pilot, lambda: len(hit_toasts(app)) == 2)
        await pilot.pause(0.3)
        toasts = hit_toasts(app)
        assert len(toasts) == 2
        assert "+98 more" in toasts[1].message
        assert "PRIORITY 89" in toasts[1].message  # the most urgent leads
        assert toasts[1].severity == "error"
        # Loaded at start (not live): no toast for those six.
        assert not any("1-GHI-789" in t.message for t in toasts)


def test_hit_toast_says_covert_and_severity_follows_priority() -> None:
    covert = new_alert(70, "1-COV-001", 70, covert=True)
    title, message = hit_toast(covert, [], lambda camera_id: "Ring R70 Noord ALPR")
    assert "covert" in title
    assert message.splitlines() == ["1-COV-001  ◆ stolen/vehicle  PRIORITY 70",
                                    "Ring R70 Noord ALPR"]
    assert (hit_severity(90), hit_severity(80), hit_severity(60), hit_severity(10)) == (
        "error", "error", "warning", "information")
    shown: list[tuple[str, str, str]] = []
    now = [0.0]
    toaster = HitToaster(lambda t, m, s: shown.append((t, m, s)), str, now=lambda: now[0])
    toaster.add(new_alert(1, "1-AAA-111", 20))
    toaster.add(new_alert(2, "1-BBB-222", 90, covert=True))
    toaster.add(new_alert(3, "1-CCC-333", 50))
    toaster.flush()
    assert len(shown) == 1 and toaster.pending == 2
    now[0] = 2.0
    toaster.flush()
    assert len(shown) == 2 and toaster.pending == 0
    title, message, severity = shown[1]
    assert "covert" in title and "1-BBB-222" in message and "+1 more" in message
    assert severity == "error"


async def test_question_mark_shows_the_help_and_esc_closes_it() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await overview(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen is screen


def test_help_lists_the_overview_and_app_keys() -> None:
    sections = dict(KEYS)
    overview_keys = [key for key, _ in sections["Overview (home)"]]
    for key in ("c", "a", "m", "f", "w", "q"):
        assert key in overview_keys
    anywhere = [key for key, _ in sections["Anywhere"]]
    assert {"A", "Esc", "Ctrl+T"} <= set(anywhere)


# Snapshots ------------------------------------------------------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def _settled(theme_keys: tuple[str, ...] = ()) -> Callable:  # type: ignore[type-arg]
    async def run_before(pilot: Pilot[None]) -> None:
        screen = await overview(pilot)
        await wait_until(pilot, lambda: screen.wanted_count is not None)
        if theme_keys:
            await pilot.press(*theme_keys)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_overview_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=size, run_before=_settled())


def test_overview_snapshot_light(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_settled(("ctrl+t",)))
