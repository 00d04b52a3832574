"""Domain objects of the simulated city, shared by the scenario loader and the devices."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CameraKind(enum.StrEnum):
    """The "triangle" of a city camera network."""

    FIXED = "fixed"
    TEMPORARY = "temporary"
    MOBILE = "mobile"


class CameraFault(enum.StrEnum):
    """Faults a simulated ONVIF camera can be switched into at run time."""

    OFFLINE = "offline"  # port closed: connection refused
    WRONG_PASSWORD = "wrong_password"  # the camera's password was changed behind our back
    SLOW = "slow"  # every answer takes several seconds


@dataclass(frozen=True)
class VendorIdentity:
    """What a camera says about itself in GetDeviceInformation and its scopes."""

    manufacturer: str
    model: str
    firmware: str
    hardware_id: str


@dataclass(frozen=True)
class StreamProfile:
    """One media profile of a camera (resolution, frame rate, codec)."""

    token: str
    name: str
    width: int
    height: int
    fps: int
    encoding: str = "H264"  # "H264" | "H265" | "JPEG"
    bitrate_kbps: int = 2048


@dataclass(frozen=True)
class CameraSpec:
    """Everything needed to run one simulated camera, derived from a scenario."""

    id: str
    name: str
    site: str
    kind: CameraKind
    street: str
    lat: float
    lon: float
    vendor: VendorIdentity
    username: str
    password: str
    profiles: tuple[StreamProfile, ...]
    # Faults active from the start ("a few cameras configured broken").
    faults: frozenset[CameraFault] = field(default_factory=frozenset)
    # Seconds the camera's own clock is off from the virtual clock (real cameras drift).
    clock_offset_s: float = 0.0
    # Extra delay per answer while the SLOW fault is on.
    slow_delay_s: float = 4.0
