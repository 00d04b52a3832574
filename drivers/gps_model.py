"""Reports of the GPS driver, shaped like gpsd's JSON (same field names and units)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def gpsd_time(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds, as gpsd prints it."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _put(out: dict[str, Any], key: str, value: float | None, digits: int) -> None:
    if value is not None:
        out[key] = round(value, digits)


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

    def as_gpsd(self) -> dict[str, Any]:
        """gpsd JSON TPV (``"class"`` first; gpsd names, units and decimals)."""
        out: dict[str, Any] = {"class": "TPV", "mode": int(self.mode)}
        if self.status is not None and self.status != 1:
            out["status"] = self.status
        if self.time is not None:
            out["time"] = gpsd_time(self.time)
        if self.has_fix:
            _put(out, "lat", self.lat, 9)
            _put(out, "lon", self.lon, 9)
            if self.mode >= FixMode.FIX_3D:
                _put(out, "altHAE", self.alt_hae, 4)
                _put(out, "altMSL", self.alt_msl, 4)
                _put(out, "alt", self.alt_msl, 4)
        _put(out, "epv", self.epv, 3)
        _put(out, "track", self.track, 4)
        _put(out, "magvar", self.magvar, 1)
        _put(out, "speed", self.speed, 3)
        _put(out, "climb", self.climb, 3)
        _put(out, "geoidSep", self.geoid_sep, 3)
        _put(out, "eph", self.eph, 3)
        return out


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

    def as_gpsd(self) -> dict[str, Any]:
        """gpsd JSON SKY (``"class"`` first)."""
        out: dict[str, Any] = {"class": "SKY"}
        if self.time is not None:
            out["time"] = gpsd_time(self.time)
        _put(out, "hdop", self.hdop, 2)
        _put(out, "pdop", self.pdop, 2)
        _put(out, "vdop", self.vdop, 2)
        if self.satellites:
            out["nSat"] = len(self.satellites)
        if self.used is not None:
            out["uSat"] = self.used
        if self.satellites:
            sats = []
            for sat in self.satellites:
                one: dict[str, Any] = {"PRN": sat.prn}
                if sat.gnssid is not None:
                    one["gnssid"] = sat.gnssid
                if sat.svid is not None:
                    one["svid"] = sat.svid
                _put(one, "az", sat.az, 1)
                _put(one, "el", sat.el, 1)
                _put(one, "ss", sat.ss, 1)
                one["used"] = sat.used
                sats.append(one)
            out["satellites"] = sats
        return out


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
    fixes: int = 0  # TPVs with a fix
    comments: int = 0  # "#" lines of a log
    blank: int = 0  # empty lines
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def ignore(self, reason: str) -> None:
        self.ignored += 1
        self.ignored_reasons[reason] = self.ignored_reasons.get(reason, 0) + 1


Report = TPV | SKY | DeviceEvent
