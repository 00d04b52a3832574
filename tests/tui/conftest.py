"""A deterministic in-memory `HubClient` for the TUI tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.model import (
    CameraConfig,
    CameraKind,
    CameraStatus,
    DeviceFacts,
    FixState,
    HealthReason,
    HealthState,
    HealthTransition,
    SampledProfile,
    Site,
    StreamMetrics,
    TrackPoint,
    VehicleConfig,
    VehicleStatus,
)
from tui.app import CitywatchApp

T0 = datetime(2025, 3, 14, 9, 30, 0, tzinfo=UTC)
SECRET = "s3cr3t-pass"

SITES = [
    Site("city", "Stad Hasselt"),
    Site("police", "Politiezone LRH"),
    Site("uhasselt", "Universiteit Hasselt"),
]

OK, DOWN, UNKNOWN = HealthState.OK, HealthState.DOWN, HealthState.UNKNOWN
DEGRADED = HealthState.DEGRADED
R = HealthReason

# id, name, site, kind, manufacturer, model, state, reason, detail, seconds before T0
CAMERAS: list[tuple[str, str, str, CameraKind, str, str, HealthState, HealthReason, str, int]] = [
    ("cam-001", "Grote Markt", "city", CameraKind.FIXED, "AXIS", "P1448-LE", OK, R.NONE, "", 2),
    (
        "cam-002",
        "Kolonel Dusartplein",
        "city",
        CameraKind.FIXED,
        "Hikvision",
        "DS-2CD2386G2-IU",
        OK,
        R.NONE,
        "",
        3,
    ),
    (
        "cam-003",
        "Havermarkt",
        "city",
        CameraKind.FIXED,
        "Dahua",
        "IPC-HFW5442E",
        DOWN,
        R.UNREACHABLE,
        "connect to 10.1.0.3:80 timed out",
        420,
    ),
    (
        "cam-004",
        "Dumping site Kempische Steenweg",
        "city",
        CameraKind.TEMPORARY,
        "Dahua",
        "IPC-HDBW3441R",
        OK,
        R.NONE,
        "",
        5,
    ),
    (
        "cam-005",
        "Station Hasselt north entrance bus platform 7",
        "city",
        CameraKind.FIXED,
        "Bosch",
        "FLEXIDOME IP starlight 8000i",
        OK,
        R.NONE,
        "",
        4,
    ),
    (
        "cam-006",
        "Ring R70 Noord ALPR",
        "police",
        CameraKind.FIXED,
        "AXIS",
        "Q1700-LE",
        OK,
        R.NONE,
        "",
        1,
    ),
    (
        "cam-007",
        "Ring R70 Zuid ALPR",
        "police",
        CameraKind.FIXED,
        "AXIS",
        "Q1700-LE",
        DOWN,
        R.AUTH_FAILED,
        "ter:NotAuthorized",
        900,
    ),
    ("cam-008", "Patrol car 12", "police", CameraKind.MOBILE, "", "", UNKNOWN, R.STARTING, "", -1),
    (
        "cam-009",
        "Genkersteenweg",
        "police",
        CameraKind.FIXED,
        "Hanwha",
        "XNO-6120R",
        DEGRADED,
        R.LOW_FPS,
        "stream: 3.1 fps, expected 25",
        6,
    ),
    (
        "cam-010",
        "Campus Diepenbeek gate",
        "uhasselt",
        CameraKind.FIXED,
        "Vivotek",
        "IB9389-EH",
        OK,
        R.NONE,
        "",
        7,
    ),
    (
        "cam-011",
        "Agoralaan parking",
        "uhasselt",
        CameraKind.FIXED,
        "Vivotek",
        "FD9389-HV",
        DOWN,
        R.STALLED,
        "stream: no packets for 12.4 s",
        3600,
    ),
    (
        "cam-012",
        "Martelarenlaan",
        "police",
        CameraKind.TEMPORARY,
        "Hikvision",
        "DS-2CD2T47G2",
        OK,
        R.NONE,
        "",
        8,
    ),
]


# Latest stream sample: fps, kbit/s, keyframe interval, luma, frozen, seconds before T0,
# expected fps, baseline kbit/s. No entry: no sample yet (never reached, or not sampled).
StreamRow = tuple[
    float | None, float | None, float | None, float | None, bool | None, int, float, float
]
STREAMS: dict[str, StreamRow] = {
    "cam-001": (25.0, 4096.0, 2.0, 121.0, False, 2, 25.0, 4000.0),
    "cam-002": (30.0, 6144.0, 2.0, 98.0, False, 3, 30.0, 6000.0),
    "cam-004": (12.5, 1024.0, 4.0, 64.0, False, 5, 12.5, 1000.0),
    "cam-005": (25.0, 12288.0, 1.0, 133.0, False, 4, 25.0, 12000.0),
    "cam-006": (50.0, 8192.0, 1.0, 87.0, False, 1, 50.0, 8000.0),
    "cam-009": (3.1, 512.0, 4.0, 110.0, False, 6, 25.0, 1900.0),  # degraded: low fps
    "cam-010": (15.0, 2048.0, 2.0, 140.0, False, 7, 15.0, 2000.0),
    "cam-011": (None, None, None, None, None, 3600, 25.0, 3000.0),  # down: stalled
}
# Healthy cameras have been up since then (the first transition of their history).
FIRST_CONTACT = T0 - timedelta(hours=20)


def make_stream(camera_id: str) -> StreamMetrics | None:
    row = STREAMS.get(camera_id)
    if row is None:
        return None
    fps, kbps, gop, luma, frozen, ago, expected, baseline = row
    return StreamMetrics(
        T0 - timedelta(seconds=ago), fps, kbps, gop, luma, frozen, expected, baseline
    )


def make_status(row: tuple) -> CameraStatus:  # type: ignore[type-arg]
    cid, name, site, kind, maker, model, state, reason, detail, ago = row
    n = int(cid[-3:])
    config = CameraConfig(
        id=cid,
        name=name,
        site=site,
        kind=kind,
        onvif_url=f"http://admin:{SECRET}@127.0.0.1:{8000 + n}/onvif/device_service",
        username="admin",
        password=SECRET,
        street=name if kind is not CameraKind.MOBILE else "",
        lat=50.93 + n / 1000 if kind is not CameraKind.MOBILE else None,
        lon=5.338 + n / 1000 if kind is not CameraKind.MOBILE else None,
    )
    facts = None
    if maker:
        facts = DeviceFacts(
            manufacturer=maker,
            model=model,
            firmware=f"{n}.4.{n * 3}",
            serial=f"SN{n:06d}",
            hardware_id=f"HW-{n:03d}",
            clock_offset_s=0.4 if n != 7 else 7215.0,
            profiles=(
                "Profile_1: main 2688x1520 H264",
                "Profile_2: sub 640x360 H264",
            ),
            stream_uri=f"rtsp://admin:{SECRET}@127.0.0.1:{9000 + n}/Streaming/Channels/101",
            snapshot_uri=f"http://127.0.0.1:{8000 + n}/onvif/snapshot.jpg",
            services=(
                "http://www.onvif.org/ver10/device/wsdl",
                "http://www.onvif.org/ver10/media/wsdl",
                "http://www.onvif.org/ver10/events/wsdl",
            ),
            sampled=SampledProfile(
                "Profile_2", f"rtsp://127.0.0.1:{9000 + n}/sub", 640, 360, 25.0, 1024
            )
            if cid in STREAMS
            else None,
        )
    last_seen = None if ago < 0 else T0 - timedelta(seconds=ago)
    if state is OK:
        changed_at = FIRST_CONTACT
    else:
        changed_at = T0 - timedelta(seconds=max(ago, 0) + 60)
    return CameraStatus(
        config=config,
        state=state,
        reason=reason,
        detail=detail,
        last_seen=last_seen,
        changed_at=changed_at,
        facts=facts,
        stream=make_stream(cid),
    )


def make_history(status: CameraStatus) -> list[HealthTransition]:
    """Newest first: started unknown, came up; a camera in trouble now had a poor
    picture 9 h ago and was down for 5 min 1.5 h ago before its current spell."""
    cid = status.id
    items = []
    if status.state is not UNKNOWN:
        items.append(HealthTransition(cid, FIRST_CONTACT, UNKNOWN, OK, R.NONE, "first contact"))
    if status.state in (DOWN, DEGRADED):
        assert status.changed_at is not None
        poor, down = T0 - timedelta(hours=9), T0 - timedelta(hours=1, minutes=30)
        items += [
            HealthTransition(cid, poor, OK, DEGRADED, R.LOW_BITRATE, "212 kbit/s, expected 1024"),
            HealthTransition(cid, poor + timedelta(minutes=40), DEGRADED, OK, R.NONE, "recovered"),
            HealthTransition(cid, down, OK, DOWN, R.STALLED, "no RTP packets for 12.0 s"),
            HealthTransition(cid, down + timedelta(minutes=5), DOWN, OK, R.NONE, "recovered"),
            HealthTransition(
                cid, status.changed_at, OK, status.state, status.reason, status.detail
            ),
        ]
    return list(reversed(items))


# Patrol cars: id, name, state, seconds since the last fix arrived (-1: never), km/h.
VEHICLES: list[tuple[str, str, FixState, float, float]] = [
    ("combi-1", "Combi 1", FixState.FIX, 0.4, 43.0),
    ("combi-2", "Combi 2", FixState.STALE, 8.0, 30.0),
    ("combi-3", "Combi 3", FixState.NO_FIX, 125.0, 0.0),
    ("combi-4", "Combi 4", FixState.NO_DEVICE, -1, 0.0),
]

# Each car drives along part of the R70 ring (clockwise waypoints), one point per 10 s.
RING = [
    (50.9360, 5.3375), (50.9352, 5.3420), (50.9322, 5.3452), (50.9288, 5.3440),
    (50.9262, 5.3392), (50.9278, 5.3318), (50.9318, 5.3302), (50.9342, 5.3332),
]


def make_track(index: int, ago: float, kmh: float) -> list[TrackPoint]:
    """A deterministic track: 13 points between ring waypoints, the last `ago` s ago."""
    if ago < 0:
        return []
    start = index * 2
    points = []
    for k in range(13):
        a = RING[(start + k // 4) % len(RING)]
        b = RING[(start + k // 4 + 1) % len(RING)]
        f = (k % 4) / 4
        at = T0 - timedelta(seconds=ago + (12 - k) * 10)
        lat, lon = a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])
        points.append(TrackPoint(at, lat, lon, kmh / 3.6, 90.0, 3))
    return points


def make_vehicle(index: int, row: tuple[str, str, FixState, float, float]) -> VehicleStatus:
    vid, name, state, ago, kmh = row
    track = make_track(index, ago, kmh)
    config = VehicleConfig(vid, name, "police", f"/dev/serial/{vid}", camera="cam-008"
                           if index == 0 else None)
    return VehicleStatus(
        config=config,
        state=state,
        detail=state.value,
        position=track[-1] if track else None,
        fix_seen_at=T0 - timedelta(seconds=ago) if ago >= 0 else None,
        changed_at=T0 - timedelta(seconds=60),
    )


class FakeHub:
    """Implements `hub.client.HubClient` in memory; tests push changes with `set_state`."""

    def __init__(self) -> None:
        self._sites = list(SITES)
        self._cameras = {row[0]: make_status(row) for row in CAMERAS}
        self._history = {cid: make_history(s) for cid, s in self._cameras.items()}
        self.queue: asyncio.Queue[CameraStatus | None] = asyncio.Queue()
        self.history_calls: list[str] = []
        self.fail_history = False
        self._vehicles = {row[0]: make_vehicle(i, row) for i, row in enumerate(VEHICLES)}
        self._tracks = {
            row[0]: make_track(i, row[3], row[4]) for i, row in enumerate(VEHICLES)
        }
        self.vehicle_queue: asyncio.Queue[VehicleStatus | None] = asyncio.Queue()
        self.track_calls: list[str] = []

    # HubClient -------------------------------------------------------------------------

    def sites(self) -> list[Site]:
        return list(self._sites)

    def cameras(self) -> list[CameraStatus]:
        return list(self._cameras.values())

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self._cameras.get(camera_id)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        self.history_calls.append(camera_id)
        if self.fail_history:
            raise ConnectionError("hub unreachable")
        return self._history.get(camera_id, [])[:limit]

    async def changes(self) -> AsyncIterator[CameraStatus]:
        while True:
            status = await self.queue.get()
            if status is None:
                return
            yield status

    def vehicles(self) -> list[VehicleStatus]:
        return list(self._vehicles.values())

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        return self._vehicles.get(vehicle_id)

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        self.track_calls.append(vehicle_id)
        return [p for p in self._tracks.get(vehicle_id, []) if p.at >= since]

    async def vehicle_changes(self) -> AsyncIterator[VehicleStatus]:
        while True:
            status = await self.vehicle_queue.get()
            if status is None:
                return
            yield status

    # test controls ---------------------------------------------------------------------

    def push_vehicle(self, status: VehicleStatus) -> None:
        self._vehicles[status.id] = status
        self.vehicle_queue.put_nowait(status)

    def push(self, status: CameraStatus) -> None:
        self._cameras[status.id] = status
        self.queue.put_nowait(status)

    def set_state(
        self,
        camera_id: str,
        state: HealthState,
        reason: HealthReason = R.NONE,
        detail: str = "",
        at: datetime | None = None,
    ) -> CameraStatus:
        """Change a camera's state, record the transition and publish it."""
        old = self._cameras[camera_id]
        at = at or T0 + timedelta(seconds=30)
        new = dataclasses.replace(
            old,
            state=state,
            reason=reason,
            detail=detail,
            changed_at=at,
            last_seen=old.last_seen if state is DOWN else at,
        )
        self._history[camera_id].insert(
            0, HealthTransition(camera_id, at, old.state, state, reason, detail)
        )
        self.push(new)
        return new

    def close(self) -> None:
        self.queue.put_nowait(None)
        self.vehicle_queue.put_nowait(None)


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
def app(hub: FakeHub) -> CitywatchApp:
    return CitywatchApp(hub, title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0)
