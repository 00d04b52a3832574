"""Domain model of the hub: sites, cameras and their health."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class CameraKind(enum.StrEnum):
    """Fixed, temporary (moved to trouble spots for weeks) or mobile (on a patrol car)."""

    FIXED = "fixed"
    TEMPORARY = "temporary"
    MOBILE = "mobile"


class HealthState(enum.StrEnum):
    """Health of one camera as the hub judges it."""

    UNKNOWN = "unknown"
    OK = "ok"
    DEGRADED = "degraded"  # answers and streams, but the picture or stream is poor
    DOWN = "down"
    # Shown only (CameraStatus.shown_state), never judged: the engine keeps the real state
    # of a camera in maintenance underneath, and its history records real states.
    MAINTENANCE = "maintenance"


class HealthReason(enum.StrEnum):
    """Why a camera is in its state; NONE while it is ok."""

    NONE = ""
    STARTING = "starting"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth failed"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol error"
    # Stream health (RTSP/RTP, drivers/stream.py); see hub/health.py for which is which.
    REFUSED = "refused"  # the RTSP server refused the stream
    STALLED = "stalled"  # connection open, no packets
    FROZEN = "frozen"  # identical pictures
    BLACK = "black"
    LOW_FPS = "low fps"
    LOW_BITRATE = "low bitrate"
    NO_KEYFRAMES = "no keyframes"
    NO_DATA = "no data"  # the stream ended (server closed it) and no new one flows yet


class HealthSide(enum.StrEnum):
    """Which check found a camera's problem: its ONVIF service or its video stream."""

    NONE = ""
    ONVIF = "onvif"
    STREAM = "stream"


@dataclass(frozen=True)
class Site:
    """An organisation that owns cameras (city, police, a partner)."""

    id: str
    name: str


@dataclass(frozen=True)
class CameraConfig:
    """A camera the hub should watch: where to reach it and how to log in."""

    id: str
    name: str
    site: str
    kind: CameraKind
    onvif_url: str
    username: str
    password: str = field(repr=False)  # never in logs or reprs
    street: str = ""
    lat: float | None = None
    lon: float | None = None
    group: str = ""  # camera group (scenario/config); selects health thresholds


@dataclass(frozen=True)
class SampledProfile:
    """The media profile whose stream the hub samples for health: the cheapest H.264 one."""

    token: str
    uri: str
    width: int | None
    height: int | None
    fps: float | None  # the encoder's frame-rate limit (ONVIF), None if not said
    bitrate_kbps: int | None  # the encoder's bit-rate limit (ONVIF), None if not said


@dataclass(frozen=True)
class DeviceFacts:
    """What the camera told us over ONVIF."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str
    clock_offset_s: float | None
    profiles: tuple[str, ...]  # "token: name WxH codec"
    stream_uri: str | None
    snapshot_uri: str | None
    services: tuple[str, ...]  # namespaces from GetServices/GetCapabilities
    sampled: SampledProfile | None = None  # stream the health engine samples, if any


@dataclass(frozen=True)
class Maintenance:
    """A camera taken out of the alarms by a technician until `until` (UTC): its failures
    are still judged and stored, but it shows as in maintenance and counts as no outage."""

    since: datetime
    until: datetime
    reason: str
    actor: str


@dataclass(frozen=True)
class CameraStatus:
    """Current state of one camera as shown to operators."""

    config: CameraConfig
    state: HealthState = HealthState.UNKNOWN
    reason: HealthReason = HealthReason.STARTING
    detail: str = ""  # last error text, credential-free
    last_seen: datetime | None = None
    changed_at: datetime | None = None
    facts: DeviceFacts | None = None
    stream: StreamMetrics | None = None  # latest stream-health sample, None before one
    side: HealthSide = HealthSide.NONE  # which check the reason comes from
    maintenance: Maintenance | None = None  # set while in maintenance (until it expires)
    # Outages (ok -> degraded/down) in the last hour, and whether that makes the camera
    # flapping (hub/health.py; set and cleared with hysteresis).
    flaps_per_hour: int = 0
    flapping: bool = False

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def shown_state(self) -> HealthState:
        """What operators see and count: MAINTENANCE while in maintenance, else the state."""
        return HealthState.MAINTENANCE if self.maintenance is not None else self.state


@dataclass(frozen=True)
class StreamMetrics:
    """What the stream sampler measured over its latest window (drivers/stream.py)."""

    at: datetime  # end of the window (UTC)
    fps: float | None
    bitrate_kbps: float | None
    keyframe_interval_s: float | None
    luma_mean: float | None = None  # of the last decoded keyframe
    frozen: bool | None = None
    expected_fps: float | None = None  # what low fps is judged against (hub/health_rules.py)
    baseline_bitrate_kbps: float | None = None  # what low bit rate is judged against


@dataclass(frozen=True)
class HealthTransition:
    """One change of a camera's state, kept as history with its cause."""

    camera_id: str
    at: datetime
    old_state: HealthState
    new_state: HealthState
    reason: HealthReason
    detail: str
    side: HealthSide = HealthSide.NONE  # ONVIF or stream: which check saw the cause


# Patrol cars -------------------------------------------------------------------------


class FixState(enum.StrEnum):
    """What the hub knows about a vehicle's position (transitions: hub/vehicles.py)."""

    NO_DEVICE = "no device"  # receiver unplugged, unreachable, or not yet opened
    NO_FIX = "no fix"  # receiver talks but has no position (tunnel, cold start)
    FIX = "fix"  # a current 2D/3D position
    STALE = "stale"  # the receiver went silent: the last position is getting old


@dataclass(frozen=True)
class Vehicle:
    """A patrol car as operators know it: who it is and which ALPR camera rides on it."""

    id: str
    name: str
    site: str
    camera: str | None = None  # id of the mobile camera on this car


@dataclass(frozen=True)
class VehicleConfig:
    """A vehicle the hub follows, and where its GPS receiver is read from."""

    id: str
    name: str
    site: str
    source: str  # serial/pty path, "tcp://host:port", log file (see drivers/gps.py)
    camera: str | None = None

    @property
    def vehicle(self) -> Vehicle:
        return Vehicle(id=self.id, name=self.name, site=self.site, camera=self.camera)


@dataclass(frozen=True)
class TrackPoint:
    """One fix of a vehicle: GPS time (UTC), WGS84 degrees, m/s, degrees true, gpsd mode."""

    at: datetime
    lat: float
    lon: float
    speed: float | None = None
    track: float | None = None
    mode: int = 2  # gpsd TPV mode: 2 = 2D, 3 = 3D


@dataclass(frozen=True)
class VehicleStatus:
    """Current fix state and position of one vehicle as shown to operators."""

    config: VehicleConfig
    state: FixState = FixState.NO_DEVICE
    detail: str = ""  # why (device error text, "no TPV for 3.2 s", ...)
    position: TrackPoint | None = None  # last fix (kept while stale/no fix, with its age)
    fix_seen_at: datetime | None = None  # hub clock (UTC) when that fix arrived
    changed_at: datetime | None = None  # hub clock of the last state change

    @property
    def id(self) -> str:
        return self.config.id

    def fix_age_s(self, now: datetime) -> float | None:
        """Seconds since the last fix arrived, on the hub's clock; None if never."""
        if self.fix_seen_at is None:
            return None
        return max(0.0, (now - self.fix_seen_at).total_seconds())


@dataclass(frozen=True)
class FixTransition:
    """One change of a vehicle's fix state, with its cause."""

    vehicle_id: str
    at: datetime
    old_state: FixState
    new_state: FixState
    detail: str
