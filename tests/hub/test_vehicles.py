"""Fix state machine and track ring of one vehicle, fed report objects directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.gps_model import SKY, TPV, DeviceEvent, DeviceState, FixMode
from hub.model import FixState, TrackPoint, VehicleConfig
from hub.store import TRACK_RETENTION, Store
from hub.vehicles import (
    STALE_AFTER_S,
    TRANSITIONS,
    FixEvent,
    VehicleTracker,
)

T0 = datetime(2025, 3, 14, 9, 30, 0, tzinfo=UTC)
CAR = VehicleConfig(id="combi-3", name="Combi 3", site="police", source="tcp://127.0.0.1:9")


def fix(s: float, lat: float = 50.93, lon: float = 5.338, speed: float = 10.0) -> TPV:
    return TPV(mode=FixMode.FIX_3D, time=T0 + timedelta(seconds=s), lat=lat, lon=lon,
               speed=speed, track=90.0)


def nofix(s: float) -> TPV:
    return TPV(mode=FixMode.NO_FIX, time=T0 + timedelta(seconds=s))


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_transition_table_is_complete() -> None:
    assert set(TRANSITIONS) == {(s, e) for s in FixState for e in FixEvent}


def test_lifecycle() -> None:
    tracker = VehicleTracker(CAR)
    assert tracker.status.state is FixState.NO_DEVICE
    up = tracker.on_report(DeviceEvent(DeviceState.PRESENT), at(0))
    assert up is not None and up.status.state is FixState.NO_FIX
    assert up.transition is not None and up.transition.old_state is FixState.NO_DEVICE

    up = tracker.on_report(fix(1), at(1))
    assert up is not None and up.status.state is FixState.FIX
    assert up.point == TrackPoint(at(1), 50.93, 5.338, 10.0, 90.0, 3)
    assert up.status.position == up.point and up.status.fix_seen_at == at(1)

    up = tracker.on_report(fix(2, lat=50.931), at(2))  # a new position: no transition
    assert up is not None and up.transition is None and up.point is not None
    assert tracker.on_report(SKY(), at(2.5)) is None

    assert tracker.check_stale(at(2 + STALE_AFTER_S)) is None  # exactly at the limit: not yet
    up = tracker.check_stale(at(2 + STALE_AFTER_S + 0.1))
    assert up is not None and up.status.state is FixState.STALE
    assert up.status.position is not None  # kept, with its age, never as a current fix
    assert tracker.check_stale(at(20)) is None  # announced once

    up = tracker.on_report(nofix(21), at(21))
    assert up is not None and up.status.state is FixState.NO_FIX
    assert tracker.on_report(nofix(22), at(22)) is None  # nothing new to show

    up = tracker.on_report(DeviceEvent(DeviceState.NO_DEVICE, "gone"), at(23))
    assert up is not None and up.status.state is FixState.NO_DEVICE
    assert tracker.check_stale(at(60)) is None  # a missing receiver does not go stale

    up = tracker.on_report(fix(61), at(61))  # back with a fix straight away
    assert up is not None and up.status.state is FixState.FIX
    assert [p.at for p in tracker.track()] == [at(1), at(2), at(61)]
    assert [p.at for p in tracker.track(since=at(2))] == [at(2), at(61)]


def test_silent_receiver_without_any_tpv_goes_stale() -> None:
    tracker = VehicleTracker(CAR)
    tracker.on_report(DeviceEvent(DeviceState.PRESENT), at(0))
    up = tracker.check_stale(at(STALE_AFTER_S + 1))
    assert up is not None and up.status.state is FixState.STALE


def test_ended_source_is_no_device() -> None:
    tracker = VehicleTracker(CAR)
    tracker.on_report(fix(0), at(0))
    up = tracker.on_report(DeviceEvent(DeviceState.ENDED), at(1))
    assert up is not None and up.status.state is FixState.NO_DEVICE
    assert up.status.detail == "source ended"


def test_ring_is_bounded_ordered_and_survives_clock_reset() -> None:
    tracker = VehicleTracker(CAR, ring_size=5)
    for s in range(10):
        tracker.on_report(fix(s), at(s))
    assert [p.at for p in tracker.track()] == [at(s) for s in range(5, 10)]
    # A slightly older epoch is dropped, not appended out of order.
    assert tracker.on_report(fix(8, lat=1.0), at(10)) is None
    assert tracker.track()[-1].at == at(9)
    # The same epoch again (RMC, then RMC+GGA) refines the last point.
    up = tracker.on_report(fix(9, lat=2.0), at(10))
    assert up is not None and up.point is not None and up.point.lat == 2.0
    assert [p.lat for p in tracker.track()][-2:] == [50.93, 2.0]
    # A receiver clock reset (a minute and more back) starts a new track.
    tracker.on_report(fix(-3600), at(11))
    assert [p.at for p in tracker.track()] == [at(-3600)]


def test_tpv_without_time_uses_arrival_time() -> None:
    tracker = VehicleTracker(CAR)
    up = tracker.on_report(TPV(mode=FixMode.FIX_2D, lat=1.0, lon=2.0), at(5))
    assert up is not None and up.point is not None and up.point.at == at(5)
    assert up.point.mode == 2


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    s = await Store.open(tmp_path)
    await s.upsert_vehicles([CAR])
    yield s  # type: ignore[misc]
    await s.close()


async def test_store_downsamples_to_one_point_per_second_and_purges(store: Store) -> None:
    kept = [
        await store.add_track_point(CAR.id, TrackPoint(at(i / 10), 50.0 + i, 5.0, 1.0, 0.0, 3))
        for i in range(35)  # 10 Hz for 3.5 s
    ]
    assert sum(kept) == 4  # 0.0, 1.0, 2.0, 3.0
    points = await store.track(CAR.id, at(0))
    assert [p.at for p in points] == [at(0), at(1), at(2), at(3)]
    assert points[1] == TrackPoint(at(1), 60.0, 5.0, 1.0, 0.0, 3)
    assert await store.track(CAR.id, at(1), until=at(3)) == points[1:3]
    # Retention: everything older than the cut goes, the rest stays.
    assert await store.purge_track_points(at(2)) == 2
    assert [p.at for p in await store.track(CAR.id, at(-10))] == [at(2), at(3)]
    assert TRACK_RETENTION == timedelta(days=7)


async def test_store_schema_has_vehicles_and_track_index(store: Store, tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(store.path)
    try:
        # Migration 2 added vehicles; later ones must not have dropped them.
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 2
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"vehicles", "track_points"} <= tables
        indexes = {r[1] for r in db.execute("PRAGMA index_list(track_points)")}
        assert "track_points_at" in indexes
    finally:
        db.close()
    assert [v.id for v in await store.vehicles()] == [CAR.id]


def test_vehicles_from_config_and_endpoints(tmp_path: Path) -> None:
    from hub.config import load_config
    from hub.endpoints_config import config_from_endpoints
    from hub.errors import ConfigError

    path = tmp_path / "hub.toml"
    path.write_text(
        '[[sites]]\nid = "police"\n\n'
        '[[cameras]]\nid = "m3"\nsite = "police"\nkind = "mobile"\n'
        'onvif = "http://10.0.0.3/onvif/device_service"\nusername = "a"\npassword = "b"\n\n'
        '[[vehicles]]\nid = "combi-3"\nname = "Combi 3"\nsite = "police"\n'
        'source = "/dev/ttyUSB0"\ncamera = "m3"\n'
    )
    config = load_config(path)
    assert config.vehicles == (
        VehicleConfig("combi-3", "Combi 3", "police", "/dev/ttyUSB0", camera="m3"),
    )
    path.write_text(
        '[[vehicles]]\nid = "v"\nsite = "x"\ncamera = "nope"\nspeed = 3\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "vehicles[0].source: required" in text
    assert "vehicles[0].camera: unknown camera 'nope'" in text
    assert "vehicles[0].speed: unknown key" in text

    endpoints = {
        "cameras": [{"id": "m3", "site": "police", "kind": "mobile", "onvif": "http://x/",
                     "username": "u", "password": "p"}],
        "gps": [
            {"id": "gps-3", "vehicle": "Combi 3", "device": "/tmp/sim/gps-3",
             "tcp": "tcp://127.0.0.1:4003", "camera": "m3", "receiver": "ublox", "rate_hz": 1},
            {"id": "gps-4", "tcp": "tcp://127.0.0.1:4004"},
        ],
    }
    config = config_from_endpoints(endpoints, "sim")
    assert config.vehicles == (
        VehicleConfig("gps-3", "Combi 3", "police", "/tmp/sim/gps-3", camera="m3"),
        VehicleConfig("gps-4", "gps-4", "police", "tcp://127.0.0.1:4004"),
    )
