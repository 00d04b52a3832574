"""Maintenance per camera: shown instead of the state, failures still in the history, no
outage in the counts, expiry back to the real state, kept across a restart, audited."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.core import Hub
from hub.errors import CameraActionError
from hub.health import MAINTENANCE_MAX, TICK_S, HealthEngine
from hub.health_thresholds import HealthThresholds
from hub.local_client import LocalHubClient
from hub.model import (
    CameraConfig,
    CameraKind,
    CameraStatus,
    HealthReason,
    HealthState,
    Maintenance,
    Site,
)
from hub.scenario_verdict import CAMERA_STATES
from hub.supervisor import SupervisorTiming
from simulator.model import CameraFault
from simulator.onvif_camera import SimulatedCamera
from tests.conftest import StartCamera, make_spec
from tui.widgets.summary import count_states

S, R = HealthState, HealthReason
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FAST = SupervisorTiming(poll_interval_s=0.2, backoff_steps_s=(0.1, 0.3), jitter=0.0,
                        call_timeout_s=2.0)
SITES = [Site("centrum", "Centrum")]


def config_for(camera: SimulatedCamera) -> CameraConfig:
    spec = camera.spec
    return CameraConfig(id=spec.id, name=spec.name, site=spec.site, kind=CameraKind.FIXED,
                        onvif_url=camera.onvif_url, username=spec.username,
                        password=spec.password)


async def wait_for(hub: Hub, camera_id: str, pred: Callable[[CameraStatus], bool],
                   within_s: float = 10) -> CameraStatus:
    changes = hub.feed.subscribe()
    status = hub.camera(camera_id)
    assert status is not None
    if pred(status):
        return status
    async with asyncio.timeout(within_s):
        async for status in changes:
            if status.id == camera_id and pred(status):
                return status
    raise AssertionError(f"{camera_id}: feed closed before the state was reached")


async def audit_rows(hub: Hub) -> list[tuple[str, str, str, str]]:
    def work(conn: object) -> list[tuple[str, str, str, str]]:
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT actor, action, target, detail FROM audit ORDER BY id").fetchall()
        return [tuple(r) for r in rows]

    return await hub.store.run(work)


# -- the engine ---------------------------------------------------------------------------


def test_the_engine_judges_underneath_and_expires(camera_config: CameraConfig) -> None:
    engine = HealthEngine(CameraStatus(config=camera_config), HealthThresholds())
    engine.onvif_success(T0)
    until = T0 + timedelta(minutes=30)
    verdict = engine.set_maintenance(Maintenance(T0, until, "new lens", "tech"))
    assert verdict.transition is None and verdict.store
    assert (verdict.status.state, verdict.status.shown_state) == (S.OK, S.MAINTENANCE)
    engine.onvif_failure(T0 + timedelta(seconds=10), R.UNREACHABLE, "no route to host")
    down = engine.onvif_failure(T0 + timedelta(seconds=11), R.UNREACHABLE, "no route to host")
    assert down.transition is not None and down.transition.new_state is S.DOWN  # recorded
    assert down.status.shown_state is S.MAINTENANCE
    assert engine.tick(until - timedelta(seconds=1)) is None
    expired = engine.tick(until)
    assert expired is not None and expired.store  # the store forgets it too
    assert expired.status.maintenance is None
    assert expired.status.shown_state is S.DOWN  # the real state, at once


def test_maintenance_is_in_the_scenario_vocabulary() -> None:
    assert "maintenance" in CAMERA_STATES


# -- the hub ------------------------------------------------------------------------------


async def test_an_outage_in_maintenance_is_recorded_but_not_counted(
    start_camera: StartCamera, tmp_path: Path
) -> None:
    camera = await start_camera(make_spec())
    cam_id = camera.spec.id
    hub = await Hub.open(SITES, [config_for(camera)], tmp_path, FAST, stream_health=False)
    await hub.start()
    client = LocalHubClient(hub)
    try:
        await wait_for(hub, cam_id, lambda s: s.state is S.OK)
        until = datetime.now(UTC) + timedelta(minutes=30)
        status = await client.set_maintenance(cam_id, until, " replacing the lens ", "tech-jan")
        assert (status.state, status.shown_state) == (S.OK, S.MAINTENANCE)
        assert status.maintenance is not None
        assert (status.maintenance.until, status.maintenance.reason,
                status.maintenance.actor) == (until, "replacing the lens", "tech-jan")
        now_shown = client.camera(cam_id)
        assert now_shown is not None and now_shown.maintenance == status.maintenance

        await camera.set_fault(CameraFault.OFFLINE, True)
        down = await wait_for(hub, cam_id, lambda s: s.state is S.DOWN)
        assert (down.shown_state, down.reason) == (S.MAINTENANCE, R.UNREACHABLE)
        total, by_site = count_states(hub.cameras())
        assert (total[S.DOWN], total[S.MAINTENANCE]) == (0, 1)
        assert by_site["centrum"][S.DOWN] == 0
        history = await client.history(cam_id)
        assert (history[0].old_state, history[0].new_state) == (S.OK, S.DOWN)

        cleared = await client.clear_maintenance(cam_id, "tech-jan")
        assert cleared.maintenance is None and cleared.shown_state is S.DOWN
        assert await hub.store.maintenance() == {}
        assert await audit_rows(hub) == [
            ("tech-jan", "camera.maintenance", f"camera:{cam_id}", "replacing the lens"),
            ("tech-jan", "camera.maintenance_end", f"camera:{cam_id}", ""),
        ]
    finally:
        await hub.stop()


async def test_maintenance_expires_back_to_the_real_state(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    config = CameraConfig(id="ghost", name="Ghost", site="centrum", kind=CameraKind.FIXED,
                          onvif_url=f"http://127.0.0.1:{unused_tcp_port}/onvif/device_service",
                          username="admin", password="x")
    hub = await Hub.open(SITES, [config], tmp_path, FAST, stream_health=False)
    await hub.start()
    try:
        await wait_for(hub, "ghost", lambda s: s.state is S.DOWN)
        loop = asyncio.get_running_loop()
        until = datetime.now(UTC) + timedelta(seconds=1)
        status = await hub.set_maintenance("ghost", until, "switch swap", "tech")
        assert status.shown_state is S.MAINTENANCE
        t0 = loop.time()
        back = await wait_for(hub, "ghost", lambda s: s.maintenance is None, 5)
        assert loop.time() - t0 <= 1 + 2 * TICK_S + 0.5
        assert back.shown_state is S.DOWN
        assert await hub.store.maintenance() == {}  # stored before it was published
    finally:
        await hub.stop()


async def test_maintenance_survives_a_restart(tmp_path: Path, camera_config: CameraConfig
                                              ) -> None:
    other = CameraConfig(id="cam-2", name="Two", site="city", kind=CameraKind.FIXED,
                         onvif_url="http://127.0.0.1:9/onvif/device_service",
                         username="admin", password="x")
    hub = await Hub.open(SITES, [camera_config, other], tmp_path, stream_health=False)
    now = datetime.now(UTC)
    kept = await hub.set_maintenance(camera_config.id, now + timedelta(hours=4), "mast work",
                                     "tech")
    await hub.set_maintenance(other.id, now + timedelta(seconds=0.3), "quick look", "tech")
    await hub.stop()
    await asyncio.sleep(0.4)  # the second one has expired meanwhile

    again = await Hub.open(SITES, [camera_config, other], tmp_path, stream_health=False)
    try:
        restored = again.camera(camera_config.id)
        assert restored is not None
        assert restored.maintenance == kept.maintenance
        assert restored.shown_state is S.MAINTENANCE and restored.state is S.UNKNOWN
        two = again.camera(other.id)
        assert two is not None and two.maintenance is None
    finally:
        await again.stop()


@pytest.mark.parametrize(
    ("camera_id", "after", "reason", "message"),
    [
        ("nope", timedelta(hours=1), "x", "unknown camera"),
        ("city-fixed-001", timedelta(seconds=-1), "x", "not in the future"),
        ("city-fixed-001", MAINTENANCE_MAX + timedelta(hours=1), "x", "at most 7 days"),
        ("city-fixed-001", timedelta(hours=1), "  ", "a reason is needed"),
    ],
)
async def test_unusable_requests_are_refused(
    tmp_path: Path, camera_config: CameraConfig, camera_id: str, after: timedelta,
    reason: str, message: str,
) -> None:
    hub = await Hub.open(SITES, [camera_config], tmp_path, stream_health=False)
    try:
        with pytest.raises(CameraActionError, match=message):
            await hub.set_maintenance(camera_id, datetime.now(UTC) + after, reason, "tech")
        status = hub.camera(camera_config.id)
        assert status is not None and status.maintenance is None
        assert await audit_rows(hub) == []
    finally:
        await hub.stop()


def test_camera_json_shows_maintenance_and_flapping_without_the_password() -> None:
    from hub.api_json import camera_json
    from hub.model import (
        CameraConfig,
        CameraKind,
        CameraStatus,
        HealthReason,
        HealthState,
        Maintenance,
    )

    since = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    config = CameraConfig("cam-9", "Kolonel Dusartplein", "police", CameraKind.FIXED,
                          "http://127.0.0.1:1/onvif/device_service", "lrh", "s3cret-pw")
    status = CameraStatus(
        config, HealthState.DOWN, HealthReason.STALLED,
        maintenance=Maintenance(since, since + timedelta(hours=2), "lens cleaning", "tech1"),
        flaps_per_hour=5, flapping=True,
    )
    body = camera_json(status)
    assert (body["state"], body["shown_state"], body["reason"]) == ("down", "maintenance",
                                                                     "stalled")
    assert body["maintenance"] == {"since": "2026-03-02T10:00:00+00:00",
                                   "until": "2026-03-02T12:00:00+00:00",
                                   "reason": "lens cleaning", "actor": "tech1"}
    assert (body["flaps_per_hour"], body["flapping"]) == (5, True)
    assert "s3cret-pw" not in repr(body)
    assert camera_json(dataclasses.replace(status, maintenance=None))["shown_state"] == "down"
