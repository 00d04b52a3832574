"""NMEA 0183 sentences as three common receiver families write them.

    rx = NmeaReceiver(ReceiverProfile(ReceiverKind.UBLOX, 5), key="42:combi-1")
    for line in rx.frames(Epoch(time, lat, lon, alt, speed, course, fix=True, full=True)):
        ...  # b"$GNRMC,080000.00,A,5055.84200,N,00520.26800,E,...*5C\\r\\n"

Dialects (what gpsd and our driver must both cope with):
- ublox   u-blox M9, NMEA 4.10: GN talker for RMC/VTG/GGA/GSA/GLL, one GSA per constellation
          (system id), GSV per constellation GP/GL/GA/GB with signal id; time hhmmss.ss;
          lat/lon with 5 decimals of minutes.
- sirf    SiRFstar III, NMEA 3.0: GP only, GGA/GSA/GSV/RMC at 1 Hz; time hhmmss.sss; 4
          decimals.
- quectel Quectel L76 (MTK), NMEA 4.1: GP/GL talkers, RMC/VTG/GGA/GSA/GSV/GLL/ZDA, RMC with
          the 4.1 navigational status field; 4 decimals.
Without a fix (tunnel) every receiver keeps its clock: RMC status V, GGA quality 0, empty
position fields, no satellites. GSA/GSV come once per second, whatever the rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from drivers.nmea import TALKERS, frame
from simulator.model import ReceiverKind, ReceiverProfile

KNOTS_PER_MPS = 3600 / 1852
GEOID_SEP_M = 47.0  # EGM96 geoid above the WGS84 ellipsoid at Hasselt

# Constellation talker -> (first NMEA sat id, last, visible count range, GSA system id,
# NMEA 4.10 GSV signal id).
_CONSTELLATIONS: dict[str, tuple[int, int, tuple[int, int], int, int]] = {
    "GP": (1, 32, (9, 12), 1, 1),  # GPS L1 C/A
    "GL": (65, 96, (6, 8), 2, 1),  # GLONASS L1 OF
    "GA": (1, 36, (6, 9), 3, 7),  # Galileo E1
    "GB": (1, 37, (4, 7), 4, 1),  # BeiDou B1I
}


@dataclass(frozen=True)
class _Dialect:
    talker: str  # of RMC/GGA/VTG/GLL/ZDA (and GSA for single-system receivers)
    systems: tuple[str, ...]  # constellations tracked, GSV talkers in output order
    time_decimals: int
    coord_decimals: int
    nmea41: bool  # RMC nav status, GSA system id, GSV signal id
    sentences: tuple[str, ...]  # per epoch, in output order


DIALECTS: dict[ReceiverKind, _Dialect] = {
    ReceiverKind.UBLOX: _Dialect("GN", ("GP", "GL", "GA", "GB"), 2, 5, True,
                                 ("RMC", "VTG", "GGA", "GSA", "GSV", "GLL")),
    ReceiverKind.SIRF: _Dialect("GP", ("GP",), 3, 4, False, ("GGA", "GSA", "GSV", "RMC")),
    ReceiverKind.QUECTEL: _Dialect("GP", ("GP", "GL"), 3, 4, True,
                                   ("RMC", "VTG", "GGA", "GSA", "GSV", "GLL", "ZDA")),
}
assert all(t in TALKERS for d in DIALECTS.values() for t in (d.talker, *d.systems))


@dataclass(frozen=True)
class Epoch:
    """One measurement epoch: where the receiver is, and whether it has a fix."""

    time: datetime  # UTC, on the receiver's epoch grid
    lat: float
    lon: float
    alt_m: float
    speed_mps: float
    course_deg: float
    fix: bool = True
    full: bool = True  # also write GSA/GSV (once a second)


@dataclass(frozen=True)
class Satellite:
    system: str  # GSV talker
    prn: int
    elevation: int
    azimuth: int
    snr: int

    @property
    def used(self) -> bool:
        return self.elevation >= 10 and self.snr >= 25


class Sky:
    """Satellites in view, with stable ids, drifting slowly across the sky."""

    def __init__(self, systems: tuple[str, ...], key: str) -> None:
        rng = random.Random(f"citywatch-sky:{key}")
        self._sats: list[tuple[str, int, float, float, float, float]] = []
        for system in systems:
            first, last, (lo, hi), _, _ = _CONSTELLATIONS[system]
            for prn in sorted(rng.sample(range(first, last + 1), rng.randint(lo, hi))):
                self._sats.append((system, prn, rng.uniform(8, 80), rng.uniform(0, 360),
                                   rng.uniform(0, 2 * math.pi), rng.uniform(-3, 3)))

    def at(self, t: float) -> list[Satellite]:
        """Satellites at `t` seconds (any epoch): a few degrees an hour, SNR wobbling."""
        out = []
        for system, prn, elev0, az0, phase, bias in self._sats:
            elev = min(89.0, max(1.0, elev0 + 6 * math.sin(2 * math.pi * t / 21600 + phase)))
            az = (az0 + t * 0.004) % 360
            snr = 18 + elev * 0.35 + bias + 2.5 * math.sin(t / 23 + phase)
            out.append(Satellite(system, prn, round(elev), round(az) % 360, round(snr)))
        return out


def format_lat(lat: float, decimals: int) -> tuple[str, str]:
    """("ddmm.mmmmm", "N"|"S")."""
    return _format_coord(abs(lat), 2, decimals), "N" if lat >= 0 else "S"


def format_lon(lon: float, decimals: int) -> tuple[str, str]:
    """("dddmm.mmmmm", "E"|"W")."""
    return _format_coord(abs(lon), 3, decimals), "E" if lon >= 0 else "W"


def _format_coord(value: float, deg_digits: int, decimals: int) -> str:
    deg = int(value)
    minutes = round((value - deg) * 60, decimals)
    if minutes >= 60:  # 59.999996 rounds up: carry into the degrees
        deg, minutes = deg + 1, 0.0
    return f"{deg:0{deg_digits}d}{minutes:0{3 + decimals}.{decimals}f}"


def format_time(t: datetime, decimals: int) -> str:
    frac = f"{t.microsecond / 1e6:.{decimals}f}"[1:]  # ".25"
    return f"{t:%H%M%S}{frac}"


class NmeaReceiver:
    """Sentence generator of one receiver; stateless apart from its (seeded) sky."""

    def __init__(self, profile: ReceiverProfile, key: str) -> None:
        self.profile = profile
        self.dialect = DIALECTS[profile.kind]
        self.sky = Sky(self.dialect.systems, key)

    def frames(self, e: Epoch) -> list[bytes]:
        """Framed sentences ($...*CS\\r\\n) of one epoch."""
        return [frame(body) for body in self.sentences(e)]

    def sentences(self, e: Epoch) -> list[str]:
        """Sentence bodies (between "$" and "*") of one epoch, in the receiver's order."""
        sats = self.sky.at(e.time.timestamp()) if e.fix else []
        used = [s for s in sats if s.used]
        out: list[str] = []
        for kind in self.dialect.sentences:
            if kind in ("GSA", "GSV") and not e.full:
                continue
            out.extend(getattr(self, f"_{kind.lower()}")(e, sats, used))
        return out

    # --- one method per sentence type: (epoch, satellites in view, used) -> bodies

    def _common(self, e: Epoch) -> tuple[str, str, str, str, str]:
        d = self.dialect
        lat, ns = format_lat(e.lat, d.coord_decimals)
        lon, ew = format_lon(e.lon, d.coord_decimals)
        return format_time(e.time, d.time_decimals), lat, ns, lon, ew

    def _rmc(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        d = self.dialect
        hms, lat, ns, lon, ew = self._common(e)
        date = f"{e.time:%d%m%y}"
        tail = ",V" if d.nmea41 else ""  # 4.1 navigational status: V = no warning status
        if not e.fix:
            return [f"{d.talker}RMC,{hms},V,,,,,,,{date},,,N{tail}"]
        # u-blox writes knots with 3 decimals, SiRF and MTK with 2.
        places = 3 if self.profile.kind is ReceiverKind.UBLOX else 2
        spd = f"{e.speed_mps * KNOTS_PER_MPS:.{places}f}"
        return [f"{d.talker}RMC,{hms},A,{lat},{ns},{lon},{ew},{spd},{e.course_deg:.2f},"
                f"{date},,,A{tail}"]

    def _vtg(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        t = self.dialect.talker
        if not e.fix:
            return [f"{t}VTG,,,,,,,,,N"]
        kn, kmh = e.speed_mps * KNOTS_PER_MPS, e.speed_mps * 3.6
        return [f"{t}VTG,{e.course_deg:.2f},T,,M,{kn:.3f},N,{kmh:.3f},K,A"]

    def _gga(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        d = self.dialect
        hms, lat, ns, lon, ew = self._common(e)
        # SiRF appends a DGPS station id of 0000; the others leave both DGPS fields empty.
        dgps = ",0000" if self.profile.kind is ReceiverKind.SIRF else ","
        if not e.fix:
            return [f"{d.talker}GGA,{hms},,,,,0,00,,,M,,M,{dgps}"]
        n = min(len(used), 12)
        count = str(n) if self.profile.kind is ReceiverKind.QUECTEL else f"{n:02d}"
        return [f"{d.talker}GGA,{hms},{lat},{ns},{lon},{ew},1,{count},{_hdop(n):.2f},"
                f"{e.alt_m:.1f},M,{GEOID_SEP_M:.1f},M,{dgps}"]

    def _gsa(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        d = self.dialect
        n = min(len(used), 12)
        hdop = _hdop(n)
        dops = f"{hdop * 1.6:.2f},{hdop:.2f},{hdop * 1.3:.2f}" if e.fix else ",,"
        mode = "3" if e.fix else "1"
        multi = len(d.systems) > 1
        out = []
        for system in d.systems:
            ids = [f"{s.prn:02d}" for s in used if s.system == system][:12]
            ids += [""] * (12 - len(ids))
            talker = "GN" if multi and d.talker == "GN" else system if multi else d.talker
            sysid = f",{_CONSTELLATIONS[system][3]}" if d.nmea41 else ""
            out.append(f"{talker}GSA,A,{mode},{','.join(ids)},{dops}{sysid}")
            if not multi:
                break
        return out

    def _gsv(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        d = self.dialect
        out = []
        for system in d.systems:
            mine = [s for s in sats if s.system == system]
            signal = f",{_CONSTELLATIONS[system][4]}" if d.nmea41 else ""
            total = max(1, math.ceil(len(mine) / 4))
            for k in range(total):
                chunk = mine[4 * k: 4 * k + 4]
                body = "".join(f",{s.prn:02d},{s.elevation:02d},{s.azimuth:03d},{s.snr:02d}"
                               for s in chunk)
                out.append(f"{system}GSV,{total},{k + 1},{len(mine):02d}{body}{signal}")
        return out

    def _gll(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        d = self.dialect
        hms, lat, ns, lon, ew = self._common(e)
        if not e.fix:
            return [f"{d.talker}GLL,,,,,{hms},V,N"]
        return [f"{d.talker}GLL,{lat},{ns},{lon},{ew},{hms},A,A"]

    def _zda(self, e: Epoch, sats: list[Satellite], used: list[Satellite]) -> list[str]:
        d = self.dialect
        hms = format_time(e.time, d.time_decimals)
        return [f"{d.talker}ZDA,{hms},{e.time:%d},{e.time:%m},{e.time:%Y},00,00"]


def _hdop(used: int) -> float:
    """Plausible horizontal dilution for this many satellites in use."""
    return 99.99 if used < 4 else round(max(0.6, 3.2 / math.sqrt(used)), 2)
