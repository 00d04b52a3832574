"""Group validated NMEA sentences into fix epochs and make TPV/SKY reports, like gpsd.

An epoch is a time of day: the first timed sentence (RMC, GGA, GLL, GNS, ZDA) with a new
time starts a new one; untimed sentences (GSA, VTG, GSV) join the open epoch. After every
sentence that adds to the epoch a TPV of the epoch so far is reported, as gpsd does.

The mode rules are gpsd's (drivers/driver_nmea0183.c), so that the driver agrees with it:
GGA gives 2D, or 3D with an altitude and >= 4 satellites, and no fix with < 3 satellites or
a repeated time; RMC keeps a previous 3D fix; GSA sets the mode, but a 2D after a 3D fix with
altitude does not downgrade it; an RMC NMEA 4.1 navigational status is not looked at.
Stricter than gpsd: a GGA needs quality > 0 and every value must be in range (see
gps_parse).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from drivers.gps_model import SKY, TPV, FixMode, ParseStats, Satellite
from drivers.gps_parse import Sentence, TimeOfDay, frame_piece, split_line

KNOTS_TO_MPS = 0.514444  # gpsd's constant
GPS_ROLLOVER = dt.timedelta(weeks=1024)
_DATE_COMMENT = re.compile(rb"#\s*Date:\s*(\d{4})-(\d\d)-(\d\d)")
# gpsd status from GGA quality.
_GGA_STATUS = {1: 1, 2: 2, 3: 9, 4: 3, 5: 4, 6: 5, 7: 7, 8: 8}
_FAA_STATUS = {"A": 1, "D": 2, "E": 5, "F": 4, "R": 3, "P": 2, "M": 8, "S": 8}
_FIX_KINDS = frozenset({"RMC", "GGA", "GLL", "GNS", "GSA", "VTG", "ZDA"})
# NMEA 4.1 GSA system id -> u-blox gnssid used in gpsd SKY reports.
_SYSTEM_GNSS = {1: 0, 2: 6, 3: 2, 4: 3, 5: 5}


@dataclass
class _Epoch:
    tod: TimeOfDay | None = None
    mode: int = 0
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    geoid_sep: float | None = None
    speed: float | None = None
    track: float | None = None
    magvar: float | None = None
    status: int | None = None
    sources: list[str] = field(default_factory=list)


def satellite_id(talker: str, nmea_id: int, system: int | None = None) -> tuple[int, int, int]:
    """(gpsd PRN, gnssid, svid) of an NMEA satellite number."""
    gnss = _SYSTEM_GNSS.get(system or 0)
    if gnss is None:
        gnss = {"GL": 6, "GA": 2, "GB": 3, "BD": 3, "QZ": 5}.get(talker)
    if gnss is None:  # GP / GN: by number range
        if nmea_id <= 32:
            return nmea_id, 0, nmea_id
        if nmea_id <= 64:
            return nmea_id, 1, nmea_id + 87
        if nmea_id <= 96:
            return nmea_id, 6, nmea_id - 64
        if 193 <= nmea_id <= 199:
            return nmea_id, 5, nmea_id - 192
        if 301 <= nmea_id <= 336:
            return nmea_id, 2, nmea_id - 300
        if 401 <= nmea_id <= 437:
            return nmea_id, 3, nmea_id - 400
        return nmea_id, 0, nmea_id
    if gnss == 6:
        svid = nmea_id - 64 if nmea_id > 64 else nmea_id
        return 64 + svid, 6, svid
    if gnss == 2:
        svid = nmea_id - 300 if nmea_id > 300 else nmea_id
        return 300 + svid, 2, svid
    if gnss == 3:
        svid = nmea_id - 400 if nmea_id > 400 else (nmea_id - 200 if nmea_id > 200 else nmea_id)
        return 400 + svid, 3, svid
    if gnss == 5:
        svid = nmea_id - 192 if nmea_id > 192 else nmea_id
        return 192 + svid, 5, svid
    return nmea_id, gnss, nmea_id


class NmeaEpochAssembler:
    """Feed raw lines (bytes, line end optional); get TPV/SKY reports back."""

    def __init__(self, *, century: int = 2000, reference: dt.date | None = None) -> None:
        self.stats = ParseStats()
        self.century = century
        self.reference = reference  # for GPS week rollover; None: trust receiver dates
        self.date: dt.date | None = None
        self._last_hour: int | None = None
        self.epoch = _Epoch()
        self.prev = _Epoch()
        self._ctx = self.epoch  # gpsd's "current fix" while a sentence is decoded
        self._sats_used: list[tuple[int, int]] = []
        self._last_kind = ""
        self._last_gsa_talker = ""
        self._seen_other_gsa = False
        self._last_gga: tuple[str, int | None] | None = None
        self._latched = False
        self._sky: list[Satellite] = []
        self._gsv_pending: list[tuple[int, int, int, float | None, float | None, float | None]]
        self._gsv_pending = []
        self._dops: dict[str, float | None] = {"hdop": None, "pdop": None, "vdop": None}

    # ----------------------------------------------------------------- lines and framing
    def feed(self, line: bytes) -> list[TPV | SKY]:
        self.stats.lines += 1
        line = line.rstrip(b"\r\n")
        if not line.strip():
            self.stats.blank += 1
            return []
        if line.startswith(b"#"):
            self.stats.comments += 1
            m = _DATE_COMMENT.match(line)
            if m:
                year = int(m[1])
                self.century = year // 100 * 100
                try:
                    self.reference = dt.date(year, int(m[2]), int(m[3]))
                except ValueError:
                    pass
            return []
        out: list[TPV | SKY] = []
        for raw in split_line(line):
            piece = frame_piece(raw)
            if piece.rejected is not None:
                self.stats.reject(piece.rejected)
                self._last_kind = ""
            elif piece.ignored is not None:
                self.stats.ignore(piece.ignored)
                self._last_kind = ""
            elif piece.sentence is not None:
                self.stats.sentences += 1
                out.extend(self._sentence(piece.sentence))
        for report in out:
            if isinstance(report, TPV) and report.has_fix:
                self.stats.fixes += 1
        return out

    # ----------------------------------------------------------------- epochs and time
    def _start(self, tod: TimeOfDay | None) -> None:
        """A timed sentence: a new time of day (or no time) opens a new epoch."""
        self._ctx = self.epoch
        cur = self.epoch.tod
        if tod is not None and cur is not None and abs(tod.ms_of_day - cur.ms_of_day) <= 10:
            return
        if tod is not None and self.date is not None and self._last_hour is not None:
            if tod.hour < self._last_hour:  # midnight
                self.date += dt.timedelta(days=1)
        self._last_hour = tod.hour if tod is not None else self._last_hour
        self.prev = self.epoch
        self.epoch = _Epoch(tod=tod)

    def _set_date(self, year: int, month: int, day: int) -> None:
        try:
            date = dt.date(year, month, day)
        except ValueError:
            return
        if self.reference is not None:
            while date < self.reference - GPS_ROLLOVER / 2:
                date += GPS_ROLLOVER
        self.date = date

    def _set_ddmmyy(self, yy: int, month: int, day: int) -> None:
        if self.date is not None and self.date.year % 100 == 99 and yy == 0:
            self.century += 100
        year = self.century + yy
        if year >= 2080:
            year -= 100
        self._set_date(year, month, day)

    def _time(self) -> dt.datetime | None:
        tod = self.epoch.tod
        if tod is None or self.date is None:
            return None
        return dt.datetime(
            self.date.year, self.date.month, self.date.day, tod.hour, tod.minute,
            min(tod.second, 59), tod.millisecond * 1000, tzinfo=dt.UTC,
        )

    def _set_mode(self, mode: int) -> None:
        """gpsd: do not downgrade a held 3D fix with altitude to 2D."""
        ctx = self._ctx
        if (ctx.mode == 3 and mode != 1
                and (self.prev.alt is not None or self.epoch.alt is not None)):
            mode = 3
        self.epoch.mode = mode

    # ----------------------------------------------------------------- sentences
    def _sentence(self, s: Sentence) -> list[TPV | SKY]:
        f = s.fields
        out: list[TPV | SKY] = []
        handler = getattr(self, "_" + s.kind.lower())
        handler(s.talker, f)
        if s.kind != "GSA":
            self._last_gsa_talker = ""
        if s.kind in _FIX_KINDS:
            self.epoch.sources.append(s.talker + s.kind)
            out.append(self._tpv())
        if s.kind == "GSV" and f["number"] == f["total"]:
            out.append(self._sky_report())
        self._last_kind = s.kind
        return out

    def _gga(self, talker: str, f: dict[str, Any]) -> None:
        tod: TimeOfDay | None = f["time"]
        key = (talker, tod.ms_of_day if tod else None)
        self._latched = self._last_gga == key
        self._last_gga = key
        self._start(tod)
        ep = self.epoch
        quality = f["quality"]
        if quality:
            ep.status = _GGA_STATUS.get(quality)
        if f["hdop"] is not None:
            self._dops["hdop"] = f["hdop"]
        if self._latched or not quality or f["pos"] is None:
            self._set_mode(1)
            return
        ep.lat, ep.lon = f["pos"]
        sats = f["sats"] or 0
        mode = 2
        if f["alt"] is not None:
            ep.alt = f["alt"]
            ep.geoid_sep = f["geoid_sep"]
            if sats >= 4:
                mode = 3
        if sats < 3:
            mode = 1
        self._set_mode(mode)

    def _rmc(self, talker: str, f: dict[str, Any]) -> None:
        tod = f["time"]
        self._start(tod)
        ep = self.epoch
        if f["status"] not in ("A", "D"):
            if tod is None or f["date"] is None:
                self.date = None  # gpsd forgets the date on an empty RMC
            self._set_mode(1)
            return
        if f["date"] is not None:
            self._set_ddmmyy(*f["date"])
        if f["pos"] is None:
            self._set_mode(1)
            return
        ep.lat, ep.lon = f["pos"]
        mode = 3 if self.prev.mode == 3 else 2
        if len(self._sats_used) > 3 or self._ctx.alt is not None or ep.alt is not None:
            mode = 3
        self._set_mode(mode)
        if f["speed_kn"] is not None:
            ep.speed = f["speed_kn"] * KNOTS_TO_MPS
        if f["track"] is not None:
            ep.track = f["track"]
        if f["magvar"] is not None and f["magvar_dir"] is not None and f["magvar"] > 0.09:
            ep.magvar = f["magvar"] if f["magvar_dir"] == "E" else -f["magvar"]
        ep.status = _FAA_STATUS.get(f["faa"] or "A", 1) if f["status"] == "A" else 2

    def _gll(self, talker: str, f: dict[str, Any]) -> None:
        self._start(f["time"])
        ep = self.epoch
        if f["status"] != "A" or f["faa"] == "N" or f["pos"] is None:
            self._set_mode(1)
            return
        ep.lat, ep.lon = f["pos"]
        if self._ctx.alt is not None or ep.alt is not None or len(self._sats_used) > 3:
            mode = 3
        elif self._ctx.mode < 2 or self.prev.alt is None:
            mode = 2
        else:
            mode = max(self._ctx.mode, 2)
        self._set_mode(mode)

    def _gns(self, talker: str, f: dict[str, Any]) -> None:
        self._start(f["time"])
        ep = self.epoch
        modes = f["modes"]
        if modes is None or modes[0] == "N":
            self._set_mode(1)
            return
        if f["nav_status"] in ("U", "V"):
            return
        if f["pos"] is None:
            self._set_mode(1)
            return
        ep.lat, ep.lon = f["pos"]
        mode = 2
        if f["alt"] is not None:
            ep.alt = f["alt"]
            ep.geoid_sep = f["geoid_sep"]
            if (f["sats"] or 0) > 3:
                mode = 3
        self._set_mode(mode)

    def _gsa(self, talker: str, f: dict[str, Any]) -> None:
        if self._latched:
            return  # gpsd: the last GGA repeated its time; do not trust this GSA
        self._ctx = self.epoch
        last = self._last_gsa_talker
        if not last or (last == talker and talker != "GN"):
            self._sats_used = []
        self._last_gsa_talker = talker
        if talker != "GP":
            self._seen_other_gsa = True
        system = int(f["system"]) if f["system"] is not None else None
        for prn in f["prns"]:
            _, gnss, svid = satellite_id(talker, prn, system)
            self._sats_used.append((gnss, svid))
        for name in ("hdop", "pdop", "vdop"):
            if f[name] is not None and f[name] < 99.0:
                self._dops[name] = f[name]
        if f["mode"] is not None and not (talker == "GP" and self._seen_other_gsa):
            self._set_mode(f["mode"])

    def _vtg(self, talker: str, f: dict[str, Any]) -> None:
        if f["track"] is None or f["speed_kn"] is None or f["faa"] in ("E", "N"):
            return
        self.epoch.track = f["track"]
        self.epoch.speed = f["speed_kn"] * KNOTS_TO_MPS

    def _zda(self, talker: str, f: dict[str, Any]) -> None:
        self._start(f["time"])
        if None not in (f["year"], f["month"], f["day"]):
            self.century = f["year"] // 100 * 100
            self._set_date(f["year"], f["month"], f["day"])

    def _gst(self, talker: str, f: dict[str, Any]) -> None:
        return

    def _gsv(self, talker: str, f: dict[str, Any]) -> None:
        if f["number"] == 1 and self._last_kind != "GSV":
            self._gsv_pending = []
        for prn, el, az, ss in f["sats"]:
            self._gsv_pending.append((*satellite_id(talker, prn), el, az, ss))

    # ----------------------------------------------------------------- reports
    def _tpv(self) -> TPV:
        ep = self.epoch
        mode = FixMode(max(ep.mode, 1)) if ep.mode <= 3 else FixMode.NO_FIX
        fix = mode >= FixMode.FIX_2D and ep.lat is not None
        alt_msl = ep.alt if fix and mode == FixMode.FIX_3D else None
        alt_hae = None
        if alt_msl is not None and ep.geoid_sep is not None:
            alt_hae = alt_msl + ep.geoid_sep
        return TPV(
            mode=mode if fix or mode < FixMode.FIX_2D else FixMode.NO_FIX,
            time=self._time(),
            lat=ep.lat if fix else None,
            lon=ep.lon if fix else None,
            alt_hae=alt_hae,
            alt_msl=alt_msl,
            speed=ep.speed if fix else None,
            track=ep.track if fix else None,
            status=ep.status if fix else None,
            magvar=ep.magvar if fix else None,
            geoid_sep=ep.geoid_sep if fix else None,
            sources=tuple(ep.sources),
        )

    def _sky_report(self) -> SKY:
        used = set(self._sats_used)
        sats = tuple(
            Satellite(prn=prn, gnssid=gnss, svid=svid, el=el, az=az, ss=ss,
                      used=(gnss, svid) in used)
            for prn, gnss, svid, el, az, ss in self._gsv_pending
        )
        return SKY(time=self._time(), satellites=sats, hdop=self._dops["hdop"],
                   vdop=self._dops["vdop"], pdop=self._dops["pdop"],
                   used=len(self._sats_used))


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut arbitrary byte chunks into lines ending at LF (a lone CR also ends one)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        yield from lines
    if buf:
        yield buf


def parse_stream(lines: Iterable[bytes], *, assembler: NmeaEpochAssembler | None = None
                 ) -> Iterator[TPV | SKY]:
    """Synchronous core: raw lines in, TPV/SKY reports out. Never raises for bad data."""
    asm = assembler or NmeaEpochAssembler()
    for line in lines:
        yield from asm.feed(line)
