"""The operator's flows, counted in keystrokes from the overview (the home), as issue 11
asks: a named camera's snapshot in <= 2 keys after typing its name, the newest alert
acknowledged in 1, an alert accepted or rejected with a reason in <= 3, Esc back out of
every screen. Typed text (a name) is not counted; every other key is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen

from hub.alpr_model import Alert, AlertState, RejectReason
from tests.tui.camera_hub import CameraHub
from tests.tui.conftest import OPERATOR, T0, FakeHub, wait_until
from tests.tui.test_palette import type_in_palette
from tui.app import CitywatchApp
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import HelpScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.map import MapScreen
from tui.screens.overview import OverviewScreen
from tui.screens.reads import ReadsScreen
from tui.screens.wall import WallScreen
from tui.widgets.camera_panel import CameraPanel
from tui.widgets.reason_picker import ReasonPicker

# The numbers.
SNAPSHOT_KEYS = 2  # after typing the camera's name
ACK_KEYS = 1
TRIAGE_KEYS = 3


class Keys:
    """Presses keys through the pilot and counts them; typed text is not counted."""

    def __init__(self, pilot: Pilot[None]) -> None:
        self.pilot = pilot
        self.count = 0

    async def press(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)

    async def palette(self, text: str, first: str) -> None:
        """Ctrl+P (one key), then `text` typed until the first hit starts with `first`."""
        self.count += 1
        app = self.pilot.app
        assert isinstance(app, CitywatchApp)
        await type_in_palette(self.pilot, app, text, first)

    async def open_top_alert(self) -> Alert:
        """`a` from the overview: the alert queue, its top alert selected."""
        await self.press("a")
        screen = self.pilot.app.screen
        assert isinstance(screen, AlertsScreen)
        top = screen.current_alert()
        assert top is not None
        return top


def make_app(hub: FakeHub) -> CitywatchApp:
    return CitywatchApp(hub, title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
                        operator=OPERATOR)


async def at_home(pilot: Pilot[None]) -> OverviewScreen:
    app = pilot.app
    assert isinstance(app, CitywatchApp)
    await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.alerts_loaded)
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    return screen


def newest_new(app: CitywatchApp) -> int:
    new = [a for a in app.alerts.values() if a.state is AlertState.NEW]
    return max(new, key=lambda a: (a.raised_at, a.id)).id


@pytest.mark.parametrize("start", [(), ("a",), ("m",)], ids=["overview", "alerts", "map"])
async def test_a_named_cameras_snapshot_in_two_keys_after_typing(start: tuple[str, ...]) -> None:
    hub = CameraHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await at_home(pilot)
        await pilot.press(*start)  # wherever the operator happens to be
        keys = Keys(pilot)
        await keys.palette("dusart", "✔ Kolonel Dusartplein")
        await keys.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CameraDetailScreen))
        screen = app.screen
        assert isinstance(screen, CameraDetailScreen) and screen.camera_id == "cam-002"
        panel = screen.query_one(CameraPanel)
        await wait_until(pilot, lambda: panel.snapshot.image.ready)
        assert hub.snapshot_calls[:1] == ["cam-002"]
        assert keys.count <= SNAPSHOT_KEYS


@pytest.mark.parametrize("start", [(), ("c",), ("a",), ("w",)],
                         ids=["overview", "cameras", "alerts", "hotlists"])
async def test_the_newest_alert_acknowledged_in_one_key(start: tuple[str, ...]) -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await at_home(pilot)
        await pilot.press(*start)
        await pilot.pause()
        newest = newest_new(app)
        keys = Keys(pilot)
        await keys.press("A")
        await wait_until(pilot, lambda: app.alerts[newest].state is AlertState.ACKNOWLEDGED)
        assert hub.transition_calls == [(newest, AlertState.ACKNOWLEDGED, OPERATOR, None, "")]
        assert keys.count == ACK_KEYS


async def test_accept_the_top_alert_from_home_in_two_keys() -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await at_home(pilot)
        keys = Keys(pilot)
        top = await keys.open_top_alert()
        await keys.press("y")
        await wait_until(pilot, lambda: app.alerts[top.id].state is AlertState.ACCEPTED)
        assert hub.transition_calls[-1][:3] == (top.id, AlertState.ACCEPTED, OPERATOR)
        assert keys.count <= TRIAGE_KEYS


@pytest.mark.parametrize(("digit", "reason"), [("1", RejectReason.MISREAD),
                                               ("4", RejectReason.DUPLICATE)])
async def test_reject_the_top_alert_with_a_reason_from_home_in_three_keys(
    digit: str, reason: RejectReason
) -> None:
    hub = FakeHub()
    app = make_app(hub)
    async with app.run_test(size=(80, 24)) as pilot:
        await at_home(pilot)
        keys = Keys(pilot)
        top = await keys.open_top_alert()
        await keys.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonPicker))
        await keys.press(digit)
        await wait_until(pilot, lambda: app.alerts[top.id].state is AlertState.REJECTED)
        assert hub.transition_calls[-1] == (top.id, AlertState.REJECTED, OPERATOR, reason, "")
        assert app.alerts[top.id].reason is reason
        assert keys.count <= TRIAGE_KEYS


# Each path: the keys that open it from the overview, and the screen it ends on.
PATHS: list[tuple[tuple[str, ...], Callable[[Screen[None]], bool]]] = [
    (("c",), lambda s: isinstance(s, CamerasScreen)),
    (("c", "enter"), lambda s: isinstance(s, CameraDetailScreen)),
    (("a",), lambda s: isinstance(s, AlertsScreen)),
    (("a", "enter"), lambda s: isinstance(s, AlertDetailScreen)),
    (("a", "r"), lambda s: isinstance(s, ReasonPicker)),
    (("m",), lambda s: isinstance(s, MapScreen)),
    (("f",), lambda s: isinstance(s, ReadsScreen)),
    (("w",), lambda s: isinstance(s, HotlistsScreen)),
    (("v",), lambda s: isinstance(s, WallScreen)),
    (("question_mark",), lambda s: isinstance(s, HelpScreen)),
    (("ctrl+p",), lambda s: isinstance(s, CommandPalette)),
    (("enter",), lambda s: isinstance(s, CameraDetailScreen)),  # a worst camera
]


@pytest.mark.parametrize(("keys", "reached"), PATHS, ids=[" ".join(k) for k, _ in PATHS])
async def test_esc_backs_out_of_every_screen_one_at_a_time(
    keys: tuple[str, ...], reached: Callable[[Screen[None]], bool]
) -> None:
    app = make_app(CameraHub())
    async with app.run_test(size=(80, 24)) as pilot:
        home = await at_home(pilot)
        await pilot.press(*keys)
        await wait_until(pilot, lambda: reached(app.screen))
        depth = len(app.screen_stack)
        presses = Keys(pilot)
        while app.screen is not home and presses.count < depth:
            before = app.screen
            await presses.press("escape")
            await wait_until(pilot, lambda b=before: app.screen is not b)
        assert app.screen is home
        assert presses.count == depth - 1  # one Esc per screen, none wasted
