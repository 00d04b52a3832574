"""The TUI on a RemoteHubClient (`citywatch tui --connect`): a real hub on the small
simulated city behind its API; every screen shows what it shows over a LocalHubClient of
the same hub (operator and admin tokens), the link indicator through a hub restart, and a
role that may not see alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from hub.alpr_model import AlertState
from hub.auth import Role, TokenStore
from hub.client import HubClient
from hub.errors import ApiAuthError
from hub.model import HealthState
from hub.remote_client import RemoteHubClient
from hub.remote_tui import remote_title, run_remote_tui
from tests.hub.test_remote_client import (  # noqa: F401  (world is a fixture)
    OFFLINE_FROM_START,
    TOKEN,
    RemoteWorld,
    eventually,
    settled,
    world,
)
from tests.tui.conftest import wait_until
from tests.tui.test_app import SIZE, go_to, plain, summary_of, table_of
from tui.app import CitywatchApp
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.map import MapScreen
from tui.screens.reads import ReadsScreen
from tui.widgets.alert_table import AlertTable
from tui.widgets.wanted_form import WantedForm

CAMERA_IDS = {"centre-001", "centre-002", "centre-003", "dump-001"}  # of small.toml's six


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The encoded-video cache the hub tests share (see tests/hub/conftest.py)."""
    path = tmp_path_factory.getbasetemp() / "citywatch-video"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
async def remote(world: RemoteWorld) -> AsyncIterator[RemoteHubClient]:  # noqa: F811
    await eventually(lambda: settled(world.local.cameras()))
    yield await world.client()


def make_app(client: RemoteHubClient) -> CitywatchApp:
    return CitywatchApp(client, home="cameras", title=remote_title(client.url), tick=0.1,
                        operator="ann")


def state_of(app: CitywatchApp, camera_id: str) -> str:
    return table_of(app).get_cell(camera_id, "state").plain


async def test_cameras_screen_and_alert_queue_over_the_api(
    world: RemoteWorld, remote: RemoteHubClient  # noqa: F811
) -> None:
    assert world.hub is not None
    await asyncio.wait_for(world.hub.plates._hotlists_ready.wait(), 10)
    app = make_app(remote)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, CamerasScreen)
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 6)
        assert CAMERA_IDS <= {str(row.key.value) for row in table.ordered_rows}
        assert "down" in state_of(app, "centre-002")
        assert app.sub_title == f"connected to {remote.url}"
        assert summary_of(app).startswith(f"citywatch @ 127.0.0.1:{world.port}")
        assert TOKEN not in summary_of(app)

        answer = await world.post_read("1ABC234")
        [alert_id] = answer["reads"][0]["alerts"]
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        queue = app.screen.query_one(AlertTable)
        await wait_until(pilot, lambda: queue.row_ids() == [alert_id], seconds=5)
        await pilot.press("k")  # acknowledge, as the operator at this console
        stored = world.local

        async def acknowledged() -> bool:
            return [a.state for a in await stored.alerts()] == [AlertState.ACKNOWLEDGED]

        for _ in range(100):
            if await acknowledged():
                break
            await pilot.pause(0.05)
        assert await acknowledged()


async def test_the_tui_shows_the_link_and_survives_a_hub_restart(
    world: RemoteWorld, remote: RemoteHubClient  # noqa: F811
) -> None:
    app = make_app(remote)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 6)
        await world.stop_hub()
        await wait_until(pilot, lambda: "hub unreachable — reconnecting" in app.sub_title,
                         seconds=5)
        assert "reconnecting" in summary_of(app)  # the title on the summary line says it
        await world.fault("centre-001", "offline", True)  # while the hub is away

        await world.start_hub()
        await wait_until(pilot, lambda: app.sub_title == f"connected to {remote.url}",
                         seconds=5)
        await wait_until(pilot, lambda: "down" in state_of(app, "centre-001"), seconds=15)
        assert table_of(app).row_count == 6
        assert "reconnecting" not in summary_of(app)
        status = remote.camera("centre-001")
        assert status is not None and status.state is HealthState.DOWN


async def test_a_technician_gets_a_notice_not_a_crash_for_alerts(
    world: RemoteWorld,  # noqa: F811
) -> None:
    remote = await world.client(world.technician_token)
    app = make_app(remote)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.alerts_loaded)
        notices = [n.message for n in app._notifications]
        assert any("may not see alerts" in m for m in notices), notices
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        assert app.screen.query_one(AlertTable).row_ids() == []
        assert len(app.statuses) == 6  # cameras are a technician's business: all there


async def test_run_remote_tui_refuses_a_wrong_token_in_one_line(
    world: RemoteWorld, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    assert await run_remote_tui(world.url, "wrong-token") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused the token" in err and "wrong-token" not in err
    await world.stop_hub()
    assert await run_remote_tui(f"http://127.0.0.1:{world.port}", TOKEN) == 1
    err = capsys.readouterr().err
    assert err.startswith("citywatch: hub http://127.0.0.1:") and "unreachable" in err


# Parity: every screen over --connect shows what it shows on the hub's own machine ----------

WIDE = (160, 50)  # every column of every table shown, the detail screen in its wide layout
DETAIL_CAMERA = "centre-001"
SEARCH_FRAGMENT = "ABC"
# Lines that differ by when they were drawn, not by which client drew them: the last
# poll's time and its detail (a slow answer on a busy machine), the stream sample's age.
AGING = ("last seen", "detail", "sample")


def rows_of(table: DataTable) -> list[list[str]]:  # type: ignore[type-arg]
    """Every row of a table, as the plain text of its cells."""
    return [[getattr(c, "plain", str(c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


def lines_of(widget: Static, leave_out: tuple[str, ...] = AGING) -> list[str]:
    """A panel's lines, without those whose label says they age by themselves."""
    return [line.rstrip() for line in plain(widget).splitlines()
            if line.strip() and not line.strip().startswith(leave_out)]


@dataclass
class Shown:
    """What the TUI showed on each screen (plain text, what ages by itself left out)."""

    cameras: dict[str, list[str]] = field(default_factory=dict)  # id -> name..reason
    detail: dict[str, list[str]] = field(default_factory=dict)  # panel -> lines
    history: list[list[str]] = field(default_factory=list)
    snapshot: tuple[int, int] | None = None
    map_title: str = ""
    vehicles: list[str] = field(default_factory=list)
    trails: dict[str, int] = field(default_factory=dict)
    alerts: list[list[str]] = field(default_factory=list)
    alert: list[str] = field(default_factory=list)
    alert_image: tuple[tuple[int, int] | None, str] = (None, "")
    reads: list[list[str]] = field(default_factory=list)
    reads_message: str = ""
    hotlists: list[list[str]] = field(default_factory=list)
    wanted: list[list[str]] = field(default_factory=list)


def app_on(client: HubClient) -> CitywatchApp:
    return CitywatchApp(client, home="cameras", title="citywatch", tz=UTC, tick=0.1, operator="ann")


async def look_at_every_screen(client: HubClient, world: RemoteWorld) -> Shown:  # noqa: F811
    """Walk the TUI on `client` through every screen with keys, as an operator does."""
    shown = Shown()
    app = app_on(client)
    async with app.run_test(size=WIDE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 6 and settled(
            list(app.statuses.values())), seconds=5)
        stable = ("name", "site", "kind", "model", "state", "reason")
        shown.cameras = {cid: [table.get_cell(cid, col).plain for col in stable]
                         for cid in table.row_ids()}

        await go_to(pilot, app, DETAIL_CAMERA)
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, CameraDetailScreen)
        # The remote list shape has no firmware: it fills in from the detail route.
        await wait_until(pilot, lambda: detail.history_loaded and detail.status.facts is not None
                         and detail.status.facts.firmware != ""
                         and detail.camera_panel.snapshot.ready, seconds=8)
        await pilot.pause()  # the panels show the status the screen holds
        shown.detail = {name: lines_of(detail.query_one(f"#detail-{name}", Static))
                        for name in ("title", "status", "stream", "facts", "config")}
        shown.history = rows_of(detail.query_one("#history", DataTable))
        shown.snapshot = detail.camera_panel.snapshot.image.picture_size
        await pilot.press("escape")

        await pilot.press("m")
        screen = app.screen
        assert isinstance(screen, MapScreen)
        await wait_until(pilot, lambda: screen.tracks_loaded and screen.table.row_count > 0)
        local = world.local
        # The patrol car drives on between the two walks: its row must match the hub now.
        await wait_until(pilot, lambda: all(
            (vehicle := local.vehicle(row[0])) is not None
            and row[1].endswith(vehicle.state.value)
            for row in ((str(k.value), rows_of(screen.table)[i][1])
                        for i, k in enumerate(screen.table.rows))), seconds=5)
        title = plain(screen.query_one("#map-title", Static))  # fix counts: the car drives
        shown.map_title = f"{title.split('●')[0].strip()} · {title.rpartition('·')[2].strip()}"
        shown.vehicles = [row[0] for row in rows_of(screen.table)]
        shown.trails = {vid: int(bool(points)) for vid, points in app.trails.items()}
        await pilot.press("escape")

        await pilot.press("a")
        queue = app.screen
        assert isinstance(queue, AlertsScreen)
        alerts = queue.query_one(AlertTable)
        await wait_until(pilot, lambda: app.alerts_loaded and alerts.row_count > 0)
        shown.alerts = rows_of(alerts)
        await pilot.press("enter")
        alert = app.screen
        assert isinstance(alert, AlertDetailScreen)
        await wait_until(pilot, lambda: alert.image.ready)
        shown.alert = lines_of(alert.query_one("#alert-info", Static))
        shown.alert_image = (alert.image.picture_size, alert.image.message)
        await pilot.press("escape", "escape")

        await pilot.press("f")
        reads = app.screen
        assert isinstance(reads, ReadsScreen)
        await pilot.press(*SEARCH_FRAGMENT)
        await wait_until(pilot, lambda: reads.pattern == SEARCH_FRAGMENT)
        shown.reads = rows_of(reads.table)
        shown.reads_message = plain(reads.message).strip()
        await pilot.press("escape")

        await pilot.press("w")
        lists = app.screen
        assert isinstance(lists, HotlistsScreen)
        await wait_until(pilot, lambda: lists.wanted_loaded)
        shown.hotlists = rows_of(lists.query_one("#hotlists", DataTable))
        shown.wanted = rows_of(lists.wanted_table)
    return shown


@dataclass(frozen=True)
class WantedShown:
    """The hotlists screen after adding a wanted plate with its form."""

    searchback: str
    searchback_reads: list[list[str]]
    wanted: list[list[str]]


async def add_wanted_with_keys(client: HubClient, plate: str, reason: str) -> WantedShown:
    app = app_on(client)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 6)
        await pilot.press("w")
        screen = app.screen
        assert isinstance(screen, HotlistsScreen)
        await wait_until(pilot, lambda: screen.wanted_loaded)
        await pilot.press("n")
        assert isinstance(app.screen, WantedForm)
        await pilot.press(*plate, "enter", *reason, "enter", "enter")  # days: the default
        await wait_until(pilot, lambda: screen.last_added is not None, seconds=5)
        await wait_until(pilot, lambda: any(row[1] == reason for row in rows_of(
            screen.wanted_table)), seconds=5)
        return WantedShown(plain(screen.query_one("#searchback", Static)),
                           rows_of(screen.searchback_reads), rows_of(screen.wanted_table))


async def client_with_new_token(world: RemoteWorld, role: Role) -> RemoteHubClient:  # noqa: F811
    """A client on a token created now (the hub reads its token store every 0.5 s)."""
    token = TokenStore(world.data_dir).create(f"{role.value}-ann", role)
    async with asyncio.timeout(5):
        while True:
            try:
                return await world.client(token)
            except ApiAuthError:  # not read yet
                await asyncio.sleep(0.1)


def assert_same_screens(there: Shown, here: Shown) -> None:
    assert there.cameras == here.cameras
    # The hub never hands out camera addresses: the ONVIF URL is the one difference.
    assert [line for line in there.detail["config"] if "ONVIF URL" not in line] == \
        [line for line in here.detail["config"] if "ONVIF URL" not in line]
    assert {k: v for k, v in there.detail.items() if k != "config"} == \
        {k: v for k, v in here.detail.items() if k != "config"}
    assert (there.snapshot, there.history) == (here.snapshot, here.history)
    assert (there.map_title, there.vehicles, there.trails) == \
        (here.map_title, here.vehicles, here.trails)
    assert (there.alerts, there.alert, there.alert_image) == \
        (here.alerts, here.alert, here.alert_image)
    assert (there.reads, there.reads_message) == (here.reads, here.reads_message)
    assert (there.hotlists, there.wanted) == (here.hotlists, here.wanted)


async def test_every_screen_over_the_api_shows_what_the_local_tui_shows(
    world: RemoteWorld,  # noqa: F811
) -> None:
    assert world.hub is not None
    await eventually(lambda: settled(world.local.cameras()))
    await asyncio.wait_for(world.hub.plates._hotlists_ready.wait(), 10)
    await world.post_read("1ABC234")  # one read, one alert on the stolen list
    here = await look_at_every_screen(world.local, world)
    # What the local TUI shows is worth comparing with: every screen has its content.
    assert len(here.cameras) == 6 and "down" in here.cameras[OFFLINE_FROM_START][4]
    facts = "\n".join(here.detail["facts"])
    local = world.local.camera(DETAIL_CAMERA)
    assert local is not None and local.facts is not None and local.facts.firmware
    for shown in (local.facts.firmware, local.facts.serial, *local.facts.profiles,
                  *local.facts.services, "stream URI", "clock offset"):
        assert shown in facts
    assert here.snapshot is not None and here.history
    assert here.vehicles == ["Combi 1"] and "6 cameras" in here.map_title
    assert len(here.alerts) == 1 and "1ABC234" in " ".join(here.alerts[0])
    assert any("stolen" in line for line in here.alert)
    assert [r[1] for r in here.reads] == ["1ABC234"]
    assert [h[0] for h in here.hotlists] == ["national"] and here.wanted == []

    operator = await client_with_new_token(world, Role.OPERATOR)
    admin = await world.client()  # the bootstrap token: admin
    for remote in (operator, admin):
        assert_same_screens(await look_at_every_screen(remote, world), here)

    # Wanted plates added over the API: the search-back shows where they were seen.
    for remote, plate in ((operator, "1ABC2*4"), (admin, "1AB*234")):
        reason = f"added on {plate}"
        added = await add_wanted_with_keys(remote, plate, reason)
        assert f"{plate} is wanted. Seen once:" in added.searchback
        assert [row[1] for row in added.searchback_reads] == ["1ABC234"]
        assert [row[0] for row in added.wanted] == [w.plate for w in await world.local.wanted()]
        assert [plate, reason] in [row[:2] for row in added.wanted]
    assert {w.plate for w in await world.local.wanted()} == {"1ABC2*4", "1AB*234"}
