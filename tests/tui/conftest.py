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
    HealthReason,
    HealthState,
    HealthTransition,
    Site,
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
        OK,
        R.NONE,
        "",
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
        R.TIMEOUT,
        "GetProfiles: no answer in 10 s",
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
        )
    last_seen = None if ago < 0 else T0 - timedelta(seconds=ago)
    return CameraStatus(
        config=config,
        state=state,
        reason=reason,
        detail=detail,
        last_seen=last_seen,
        changed_at=T0 - timedelta(seconds=max(ago, 0) + 60),
        facts=facts,
    )


def make_history(status: CameraStatus) -> list[HealthTransition]:
    """Newest first: started unknown, came up, and (if down now) went down."""
    start = T0 - timedelta(hours=2)
    up = T0 - timedelta(hours=1, minutes=30)
    items = []
    if status.state is not UNKNOWN:
        items.append(HealthTransition(status.id, start, UNKNOWN, OK, R.NONE, "first contact"))
    if status.state is DOWN:
        assert status.changed_at is not None
        items.append(HealthTransition(status.id, up, OK, DOWN, R.TIMEOUT, "stream stalled 12 s"))
        items.append(
            HealthTransition(status.id, up + timedelta(minutes=5), DOWN, OK, R.NONE, "recovered")
        )
        items.append(
            HealthTransition(status.id, status.changed_at, OK, DOWN, status.reason, status.detail)
        )
    return list(reversed(items))


class FakeHub:
    """Implements `hub.client.HubClient` in memory; tests push changes with `set_state`."""

    def __init__(self) -> None:
        self._sites = list(SITES)
        self._cameras = {row[0]: make_status(row) for row in CAMERAS}
        self._history = {cid: make_history(s) for cid, s in self._cameras.items()}
        self.queue: asyncio.Queue[CameraStatus | None] = asyncio.Queue()
        self.history_calls: list[str] = []
        self.fail_history = False

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

    # test controls ---------------------------------------------------------------------

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


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
def app(hub: FakeHub) -> CitywatchApp:
    return CitywatchApp(hub, title="citywatch", tz=UTC, tick=0.1)
