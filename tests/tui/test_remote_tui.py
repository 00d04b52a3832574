"""The TUI on a RemoteHubClient (`citywatch tui --connect`): a real hub on the small
simulated city behind its API; the cameras screen, the alert queue, the link indicator
through a hub restart, and a role that may not see alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.alpr_model import AlertState
from hub.model import HealthState
from hub.remote_client import RemoteHubClient
from hub.remote_tui import remote_title, run_remote_tui
from tests.hub.test_remote_client import (  # noqa: F401  (world is a fixture)
    TOKEN,
    RemoteWorld,
    eventually,
    settled,
    world,
)
from tests.tui.conftest import wait_until
from tests.tui.test_app import SIZE, summary_of, table_of
from tui.app import CitywatchApp
from tui.screens.alerts import AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.widgets.alert_table import AlertTable

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
    return CitywatchApp(client, title=remote_title(client.url), tick=0.1, operator="ann")


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
