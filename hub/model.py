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
    DOWN = "down"


class HealthReason(enum.StrEnum):
    """Why a camera is in its state; NONE while it is ok."""

    NONE = ""
    STARTING = "starting"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth failed"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol error"


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

    @property
    def id(self) -> str:
        return self.config.id


@dataclass(frozen=True)
class HealthTransition:
    """One change of a camera's state, kept as history with its cause."""

    camera_id: str
    at: datetime
    old_state: HealthState
    new_state: HealthState
    reason: HealthReason
    detail: str
