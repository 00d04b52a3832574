"""A deterministic in-memory `HubClient` for the TUI tests."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image, ImageDraw

from hub.alpr_model import (
    ALERT_TRANSITIONS,
    Alert,
    AlertState,
    Hit,
    HotlistEntry,
    HotlistInfo,
    ImageKind,
    MatchKind,
    Read,
    ReadImage,
    RejectReason,
    WantedPlate,
)
from hub.errors import AlertTransitionError, SearchPatternError, WantedPlateError
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
from hub.plates import normalize
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


# ALPR ------------------------------------------------------------------------------------


def make_plate_jpeg() -> bytes:
    """A small deterministic plate crop: white plate, blue EU band, dark glyph bars."""
    img = Image.new("RGB", (96, 24), (40, 40, 40))
    draw = ImageDraw.Draw(img)
    draw.rectangle((2, 2, 93, 21), fill=(235, 235, 235), outline=(200, 20, 20))
    draw.rectangle((3, 3, 10, 20), fill=(20, 50, 160))
    for i in range(7):
        x = 15 + i * 11
        draw.rectangle((x, 6, x + 6, 17), fill=(150, 20, 20) if i % 3 == 0 else (20, 20, 20))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


PLATE_JPEG = make_plate_jpeg()
CROP = (ReadImage(ImageKind.CROP, path="reads/crop.jpg"),)

# id, plate as seen, seconds before T0, camera, confidence, country, geotag, unit
READS: list[tuple[int, str, int, str, float | None, str | None, str | None, str | None]] = [
    (101, "1-GHI-789", 20, "cam-006", 0.97, "BE", "fixed", None),
    (102, "1-ABC-234", 40, "cam-006", 0.94, "BE", "fixed", None),
    (103, "2-QRS-391", 120, "cam-008", 0.81, "BE", "interpolated", "combi-1"),
    (104, "1-A8C-234", 300, "cam-007", 0.62, "BE", "fixed", None),
    (105, "1-TUV-654", 600, "cam-006", 0.91, "BE", "fixed", None),
    (106, "1-KLM-002", 1800, "cam-008", 0.88, "BE", "extrapolated", "combi-1"),
    (107, "1-ABD-555", 2400, "cam-006", 0.90, "BE", "fixed", None),
    (108, "1-ABE-101", 3000, "cam-007", None, None, "fixed", None),
    (109, "HX-12-AB", 3600, "cam-008", 0.77, "NL", "stale", "combi-1"),
    (110, "1-GHI-789", 7200, "cam-007", 0.95, "BE", "fixed", None),
    (111, "1-DEF-456", 9000, "cam-006", 0.89, "BE", "fixed", None),
    (112, "1-GHI-789", 86400, "cam-008", 0.72, "BE", "no fix", "combi-1"),
    (113, "HH-AB-1234", 90000, "cam-006", 0.93, "DE", "fixed", None),
]

# Fixed ALPR cameras stand where the cameras table says; the patrol car reports positions.
CAMERA_POSITIONS = {"cam-006": (50.936, 5.344), "cam-007": (50.937, 5.345)}


def make_reads() -> list[Read]:
    reads = []
    for rid, plate, ago, cam, conf, country, geotag, unit in READS:
        lat, lon = CAMERA_POSITIONS.get(cam, (50.9301 + rid / 10000, 5.3381))
        if geotag == "no fix":
            lat = lon = None  # type: ignore[assignment]
        reads.append(
            Read(
                id=rid,
                plate=plate,
                normalized=normalize(plate),
                at=T0 - timedelta(seconds=ago),
                camera_id=cam,
                source="citywatch",
                confidence=conf,
                country=country,
                unit=unit,
                lat=lat,
                lon=lon,
                geotag=geotag,
                direction="north" if rid % 2 else "south",
                images=CROP if rid != 108 else (),
                received_at=T0 - timedelta(seconds=ago - 1),
            )
        )
    return reads


STOLEN = HotlistEntry("1ABC234", "stolen", "vehicle", 90, state="BE")
UNINSURED_WILD = HotlistEntry("2QRS3*1", "uninsured", "insurance", 40)
UNINSURED_TUV = HotlistEntry("1TUV654", "uninsured", "insurance", 40)
INTEL = HotlistEntry("1TUV654", "intel", "observation", 70, covert=True)
EXPIRED = HotlistEntry("1KLM002", "expired", "registration", 20)
WANTED_ENTRY = HotlistEntry(
    "1GHI789", "wanted", "hit and run Kuringersteenweg", 90, extra=(("wanted_id", "1"),)
)

# id, read id, hit, other hits, state, seconds before T0, duplicates, actor
ALERTS: list[tuple[int, int, Hit, tuple[Hit, ...], AlertState, int, int, str]] = [
    (1, 101, Hit(WANTED_ENTRY, MatchKind.EXACT), (), AlertState.NEW, 20, 0, ""),
    (2, 102, Hit(STOLEN, MatchKind.EXACT), (), AlertState.NEW, 40, 2, ""),
    (3, 104, Hit(STOLEN, MatchKind.LOOKALIKE, 1), (), AlertState.ACKNOWLEDGED, 300, 0, "jan"),
    (
        4,
        105,
        Hit(INTEL, MatchKind.EXACT),
        (Hit(UNINSURED_TUV, MatchKind.EXACT),),
        AlertState.NEW,
        600,
        0,
        "",
    ),
    (5, 103, Hit(UNINSURED_WILD, MatchKind.WILDCARD, 1), (), AlertState.NEW, 120, 0, ""),
    (6, 106, Hit(EXPIRED, MatchKind.EXACT), (), AlertState.ACKNOWLEDGED, 1800, 1, "an"),
]
OPEN_STATES = frozenset({AlertState.NEW, AlertState.ACKNOWLEDGED})


def alert_order(alert: Alert) -> tuple[int, float, int]:
    """Highest priority first, then newest."""
    return (-alert.priority, -alert.raised_at.timestamp(), -alert.id)


def make_alerts(reads: dict[int, Read]) -> list[Alert]:
    alerts = []
    for aid, rid, hit, others, state, ago, dups, actor in ALERTS:
        raised = T0 - timedelta(seconds=ago)
        alerts.append(
            Alert(
                id=aid,
                read=reads[rid],
                hit=hit,
                state=state,
                raised_at=raised,
                updated_at=raised + timedelta(seconds=5 if actor else 0),
                other_hits=others,
                duplicates=dups,
                actor=actor,
            )
        )
    return alerts


def new_alert(aid: int, plate: str, priority: int, ago: int = 0, covert: bool = False) -> Alert:
    """An alert for a plate nobody has seen yet (tests push it as a live change)."""
    read = Read(
        id=1000 + aid,
        plate=plate,
        normalized=normalize(plate),
        at=T0 - timedelta(seconds=ago),
        camera_id="cam-006",
        source="citywatch",
        confidence=0.9,
        country="BE",
        geotag="fixed",
        images=CROP,
    )
    entry = HotlistEntry(normalize(plate), "stolen", "vehicle", priority, covert=covert)
    return Alert(aid, read, Hit(entry, MatchKind.EXACT), AlertState.NEW, read.at, read.at)


def make_wanted() -> list[WantedPlate]:
    return [
        WantedPlate(
            1, "1GHI789", "hit and run Kuringersteenweg", "an",
            T0 - timedelta(hours=1), T0 + timedelta(days=7, hours=-1),
        ),
        WantedPlate(
            2, "1DEF4*6", "witness call, partial plate", "jan",
            T0 - timedelta(hours=3), T0 + timedelta(days=2, hours=-3),
        ),
    ]


def make_hotlists() -> list[HotlistInfo]:
    loaded = T0 - timedelta(hours=2)
    return [
        HotlistInfo("stolen", 125034, False, "hotlists/stolen.txt", loaded, 3),
        HotlistInfo("uninsured", 48211, False, "hotlists/uninsured.csv", loaded, 0),
        HotlistInfo("intel", 312, True, "hotlists/intel.txt", loaded, 0),
        HotlistInfo("expired", 9021, False, "hotlists/expired.csv", loaded, 12),
    ]


# Fewer literal characters than this cannot use the trigram index (the real hub's rule
# may differ; the TUI only shows the hub's message).
MIN_FRAGMENT = 3


def plate_pattern(pattern: str) -> re.Pattern[str]:
    """`*` any run, `?` one character, otherwise a fragment anywhere."""
    text = normalize(pattern, keep_wildcards=True)
    literal = text.replace("*", "").replace("?", "")
    wild = text != literal
    if len(literal) < (2 if wild else MIN_FRAGMENT):
        raise SearchPatternError(
            f"pattern {pattern.strip()!r} is too short for the index"
        )
    if not wild:
        return re.compile(re.escape(text))
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$")


class FakeHub:
    """Implements `hub.client.HubClient` in memory; tests push changes with `set_state`."""

    def __init__(self) -> None:
        self._sites = list(SITES)
        self._cameras = {row[0]: make_status(row) for row in CAMERAS}
        self._history = {cid: make_history(s) for cid, s in self._cameras.items()}
        self.queue: asyncio.Queue[CameraStatus | None] = asyncio.Queue()
        self.removal_queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.history_calls: list[str] = []
        self.fail_history = False
        self._vehicles = {row[0]: make_vehicle(i, row) for i, row in enumerate(VEHICLES)}
        self._tracks = {
            row[0]: make_track(i, row[3], row[4]) for i, row in enumerate(VEHICLES)
        }
        self.vehicle_queue: asyncio.Queue[VehicleStatus | None] = asyncio.Queue()
        self.track_calls: list[str] = []
        # ALPR: state, and every call the TUI made (tests assert on them).
        self._reads = {read.id: read for read in make_reads()}
        self._alerts = {alert.id: alert for alert in make_alerts(self._reads)}
        self._wanted = {w.id: w for w in make_wanted()}
        self._next_wanted = max(self._wanted) + 1
        self._hotlists = make_hotlists()
        self.alert_queue: asyncio.Queue[Alert | None] = asyncio.Queue()
        self.alert_calls: list[str] = []
        self.transition_calls: list[tuple[int, AlertState, str, RejectReason | None, str]] = []
        self.search_calls: list[str] = []
        self.search_delays: dict[str, float] = {}  # pattern -> seconds (stale-result tests)
        self.image_calls: list[tuple[int, ImageKind]] = []
        self.add_wanted_calls: list[tuple[str, str, int, str]] = []
        self.remove_wanted_calls: list[tuple[int, str]] = []
        self._ticks = 0  # transitions happen at T0 + n seconds: no wall clock

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

    async def camera_removals(self) -> AsyncIterator[str]:
        while True:
            camera_id = await self.removal_queue.get()
            if camera_id is None:
                return
            yield camera_id

    def remove_camera(self, camera_id: str) -> None:
        """The camera leaves the hub (a partner revoked its grant)."""
        del self._cameras[camera_id]
        self.removal_queue.put_nowait(camera_id)

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

    # ALPR --------------------------------------------------------------------------------

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        self.alert_calls.append("alerts")
        shown = [a for a in self._alerts.values() if not open_only or a.state in OPEN_STATES]
        return sorted(shown, key=alert_order)[:limit]

    async def alert_changes(self) -> AsyncIterator[Alert]:
        while True:
            alert = await self.alert_queue.get()
            if alert is None:
                return
            yield alert

    async def transition_alert(
        self,
        alert_id: int,
        to: AlertState,
        actor: str,
        reason: RejectReason | None = None,
        text: str = "",
    ) -> Alert:
        self.transition_calls.append((alert_id, to, actor, reason, text))
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise AlertTransitionError(f"alert {alert_id} is unknown")
        if to not in ALERT_TRANSITIONS[alert.state]:
            raise AlertTransitionError(
                f"alert {alert_id} is {alert.state.value}: cannot become {to.value}"
            )
        if to is AlertState.REJECTED and reason is None:
            raise AlertTransitionError("a reject needs a reason")
        self._ticks += 1
        new = dataclasses.replace(
            alert,
            state=to,
            actor=actor,
            reason=reason,
            reason_text=text,
            updated_at=T0 + timedelta(seconds=self._ticks),
        )
        self._alerts[alert_id] = new
        self.alert_queue.put_nowait(new)
        return new

    async def search_reads(
        self,
        pattern: str,
        since: datetime | None = None,
        camera_id: str | None = None,
        limit: int = 100,
    ) -> list[Read]:
        self.search_calls.append(pattern)
        delay = self.search_delays.get(pattern)
        if delay:
            await asyncio.sleep(delay)
        wanted = plate_pattern(pattern)
        found = [
            r
            for r in self._reads.values()
            if wanted.search(r.normalized)
            and (since is None or r.at >= since)
            and (camera_id is None or r.camera_id == camera_id)
        ]
        return sorted(found, key=lambda r: r.at, reverse=True)[:limit]

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        self.image_calls.append((read_id, kind))
        read = self._reads.get(read_id)
        if read is None or read.image(kind) is None:
            return None
        return PLATE_JPEG

    async def wanted(self) -> list[WantedPlate]:
        return sorted(self._wanted.values(), key=lambda w: w.created_at, reverse=True)

    async def add_wanted(
        self, plate: str, reason: str, days: int, actor: str
    ) -> tuple[WantedPlate, list[Read]]:
        self.add_wanted_calls.append((plate, reason, days, actor))
        text = normalize(plate, keep_wildcards=True).replace("?", "*")
        if len(text.replace("*", "")) < 2:
            raise WantedPlateError(f"plate {plate!r} is empty or too short")
        if not 1 <= days <= 100:
            raise WantedPlateError(f"a wanted plate lasts 1-100 days, not {days}")
        wanted = WantedPlate(
            id=self._next_wanted,
            plate=text,
            reason=reason,
            created_by=actor,
            created_at=T0,
            expires_at=T0 + timedelta(days=days),
        )
        self._next_wanted += 1
        self._wanted[wanted.id] = wanted
        one = re.compile("^" + ".".join(re.escape(part) for part in text.split("*")) + "$")
        seen = [r for r in self._reads.values() if one.match(r.normalized)]
        return wanted, sorted(seen, key=lambda r: r.at, reverse=True)

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        self.remove_wanted_calls.append((wanted_id, actor))
        if self._wanted.pop(wanted_id, None) is None:
            raise WantedPlateError(f"wanted plate {wanted_id} is unknown")

    def hotlists(self) -> list[HotlistInfo]:
        return list(self._hotlists)

    # test controls ---------------------------------------------------------------------

    def push_alert(self, alert: Alert) -> None:
        self._alerts[alert.id] = alert
        self.alert_queue.put_nowait(alert)

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
        self.alert_queue.put_nowait(None)


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
def app(hub: FakeHub) -> CitywatchApp:
    return CitywatchApp(hub, home="cameras", title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0)


OPERATOR = "tester"


@pytest.fixture
def alpr_app(hub: FakeHub) -> CitywatchApp:
    """The app with a known operator name (the actor of every transition)."""
    return CitywatchApp(
        hub, home="cameras", title="citywatch", tz=UTC, tick=0.1, clock=lambda: T0,
        operator=OPERATOR
    )


async def wait_until(pilot, condition, seconds: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    """Pause until `condition()` holds (workers and ticks run meanwhile); fail on timeout."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached in time")
