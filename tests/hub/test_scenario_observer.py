"""The scenario observer keeps one entry per change the judge can tell apart: a camera's
stream samples and a vehicle's GPS fixes (published every few seconds for a whole run)
do not pile up (issue 10, the soak's RSS growth)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hub.model import FixState, HealthReason, HealthState, StreamMetrics, TrackPoint
from hub.scenario_observer import HubObserver
from tests.hub.test_scenario_verdict import T0, W0, Clock, FakeClient, _until, cam, veh

UPDATES = 500  # a few minutes of stream samples of one camera at 10x


async def test_stream_samples_of_an_unchanged_camera_are_not_kept() -> None:
    client = FakeClient()
    client.camera_list = [cam("c1", HealthState.OK)]
    clock = Clock(T0)
    observer = HubObserver(client, monotonic=clock, wall=lambda: W0)
    await observer.start()
    ok = cam("c1", HealthState.OK)
    for i in range(UPDATES):
        metrics = StreamMetrics(at=W0 + timedelta(seconds=i), fps=24.0 + i % 3,
                                bitrate_kbps=800.0 + i, keyframe_interval_s=2.0)
        client.camera_q.put_nowait(replace(ok, stream=metrics, detail=f"sample {i}"))
    clock.t = T0 + 5.0
    down = cam("c1", HealthState.DOWN, HealthReason.STALLED)
    client.camera_q.put_nowait(down)
    await _until(lambda: client.camera_q.empty())
    await _until(lambda: observer.cameras["c1"][-1].item.state is HealthState.DOWN)
    await observer.stop()
    history = observer.cameras["c1"]
    assert [(s.real, s.item.state) for s in history] == [
        (T0, HealthState.OK), (T0 + 5.0, HealthState.DOWN)]


async def test_maintenance_and_site_count_as_changes() -> None:
    client = FakeClient()
    client.camera_list = [cam("c1", HealthState.OK)]
    observer = HubObserver(client, monotonic=Clock(T0), wall=lambda: W0)
    await observer.start()
    client.camera_q.put_nowait(cam("c1", HealthState.OK, site="partner"))
    client.camera_q.put_nowait(cam("c1", HealthState.OK, HealthReason.LOW_FPS, site="partner"))
    await _until(lambda: len(observer.cameras["c1"]) == 3)
    await observer.stop()
    assert [s.item.config.site for s in observer.cameras["c1"]] == ["city", "partner", "partner"]


async def test_gps_fixes_of_a_vehicle_in_the_same_state_are_not_kept() -> None:
    client = FakeClient()
    client.vehicle_list = [veh(FixState.FIX)]
    observer = HubObserver(client, monotonic=Clock(T0), wall=lambda: W0)
    await observer.start()
    fix = veh(FixState.FIX)
    for i in range(UPDATES):
        point = TrackPoint(at=W0 + timedelta(seconds=i), lat=50.93 + i * 1e-5, lon=5.33)
        client.vehicle_q.put_nowait(replace(fix, position=point))
    client.vehicle_q.put_nowait(veh(FixState.STALE))
    await _until(lambda: client.vehicle_q.empty())
    await _until(lambda: observer.vehicles["combi-1"][-1].item.state is FixState.STALE)
    await observer.stop()
    assert [s.item.state for s in observer.vehicles["combi-1"]] == [FixState.FIX, FixState.STALE]
