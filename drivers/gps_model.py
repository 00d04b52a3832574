"""Reports of the GPS driver, shaped like gpsd's JSON (same field names and units)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class FixMode(enum.IntEnum):
    """gpsd's TPV mode."""

    UNKNOWN = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3


@dataclass(frozen=True)
class TPV:
    """Time-position-velocity report of one fix epoch (gpsd ``"class":"TPV"``).

    Units as gpsd: degrees, metres, m/s, degrees true. None = not known this epoch.
    """

    mode: FixMode
    time: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    alt_hae: float | None = None  # gpsd "altHAE"
    alt_msl: float | None = None  # gpsd "altMSL" (and legacy "alt")
    speed: float | None = None  # m/s over ground
    track: float | None = None  # degrees true
    climb: float | None = None  # m/s
    status: int | None = None  # gpsd status: 2 DGPS, 3 RTK fixed, 4 RTK float, ...
    eph: float | None = None  # horizontal error estimate, metres
    epv: float | None = None  # vertical error estimate, metres
    magvar: float | None = None
    geoid_sep: float | None = None  # gpsd "geoidSep"
    # Which talker/sentences fed this epoch, for diagnosis.
    sources: tuple[str, ...] = ()

    @property
    def has_fix(self) -> bool:
        return self.mode >= FixMode.FIX_2D and self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class Satellite:
    """One satellite of a SKY report."""

    prn: int
    gnssid: int | None
    svid: int | None
    el: float | None
    az: float | None
    ss: float | None
    used: bool


@dataclass(frozen=True)
class SKY:
    """Satellites in view and dilutions of precision (gpsd ``"class":"SKY"``)."""

    time: datetime | None = None
    satellites: tuple[Satellite, ...] = ()
    hdop: float | None = None
    vdop: float | None = None
    pdop: float | None = None
    used: int | None = None  # gpsd "uSat"


class DeviceState(enum.StrEnum):
    """Whether the receiver is there at all."""

    PRESENT = "present"
    NO_DEVICE = "no device"  # unplugged, vanished, connection refused
    ENDED = "ended"  # end of a log file or stdin


@dataclass(frozen=True)
class DeviceEvent:
    """The source appeared, vanished or ended."""

    state: DeviceState
    detail: str = ""


@dataclass
class ParseStats:
    """Counts a user can check: every rejection is counted with its reason."""

    lines: int = 0
    sentences: int = 0  # accepted, checksummed, understood
    ignored: int = 0  # valid but not used (proprietary, unsupported types)
    rejected: int = 0
    fixes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


Report = TPV | SKY | DeviceEvent
