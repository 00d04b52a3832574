"""Strict NMEA 0183 framing and field parsing: one table of sentence type -> field layout.

A raw line is cut at every ``$`` (receivers splice a new sentence onto a cut-off one; gpsd
resynchronises at ``$`` the same way), each piece is framed (``$``, checksum required and
correct, printable ASCII only, length), then its fields are parsed with the layout of its
sentence type. Every value is checked (latitude <= 90, minutes < 60, real dates, ...): a
sentence with one bad field is rejected whole, with a reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from drivers.nmea import MAX_LINE_LENGTH, TALKERS, checksum

# Sentence types the driver understands. Anything else with a good checksum is counted as
# ignored (for example GPTXT), like proprietary $P... sentences.
SUPPORTED = frozenset({"RMC", "GGA", "GSA", "GSV", "VTG", "GLL", "ZDA", "GNS", "GST"})


class Reject(Exception):
    """A sentence or field failed validation; ``reason`` is what stats count."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TimeOfDay:
    hour: int
    minute: int
    second: int
    millisecond: int

    @property
    def ms_of_day(self) -> int:
        return ((self.hour * 60 + self.minute) * 60 + self.second) * 1000 + self.millisecond


@dataclass(frozen=True)
class Sentence:
    """A framed, checksummed, fully validated sentence."""

    talker: str
    kind: str
    fields: dict[str, Any]
    raw: str
    nfields: int


@dataclass(frozen=True)
class Piece:
    """One candidate sentence cut from a line: either a sentence, or ignored/rejected."""

    sentence: Sentence | None = None
    ignored: str | None = None  # reason it is valid but unused
    rejected: str | None = None  # reason it is invalid


# ---------------------------------------------------------------------------------------
# Field parsers: "" -> None, a good value -> its value, anything else raises Reject.

_FLOAT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)\Z")
_INT = re.compile(r"\d+\Z")
_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d{1,9}))?\Z")
_LAT = re.compile(r"(\d{1,2})(\d\d\.\d+)\Z")
_LON = re.compile(r"(\d{1,3})(\d\d\.\d+)\Z")

Parser = Callable[[str], Any]


def _float(lo: float | None = None, hi: float | None = None) -> Parser:
    def parse(text: str) -> float | None:
        if text == "":
            return None
        if not _FLOAT.match(text):
            raise Reject("not a number")
        value = float(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise Reject("out of range")
        return value

    return parse


def _int(lo: int = 0, hi: int | None = None) -> Parser:
    def parse(text: str) -> int | None:
        if text == "":
            return None
        if not _INT.match(text):
            raise Reject("not an integer")
        value = int(text)
        if value < lo or (hi is not None and value > hi):
            raise Reject("out of range")
        return value

    return parse


def _chars(allowed: str) -> Parser:
    def parse(text: str) -> str | None:
        if text == "":
            return None
        if len(text) != 1 or text not in allowed:
            raise Reject("bad flag")
        return text

    return parse


def _mode_string(text: str) -> str | None:
    """GNS mode indicator: one letter per GNSS."""
    if text == "":
        return None
    if not (1 <= len(text) <= 8) or any(c not in "ADEFMNPRS" for c in text):
        raise Reject("bad mode")
    return text


def _any(text: str) -> str | None:
    return text or None


def parse_time(text: str) -> TimeOfDay | None:
    if text == "":
        return None
    m = _TIME.match(text)
    if not m:
        raise Reject("bad time")
    hour, minute, second = int(m[1]), int(m[2]), int(m[3])
    if hour > 23 or minute > 59 or second > 60:  # 60: leap second
        raise Reject("bad time")
    frac = m[4] or "0"
    millisecond = int(frac.ljust(3, "0")[:3])
    return TimeOfDay(hour, minute, second, millisecond)


def parse_ddmmyy(text: str) -> tuple[int, int, int] | None:
    """RMC date as (2-digit year, month, day); the century is the assembler's business."""
    if text == "":
        return None
    if len(text) != 6 or not text.isdigit():
        raise Reject("bad date")
    day, month, yy = int(text[0:2]), int(text[2:4]), int(text[4:6])
    try:
        dt.date(2000 + yy, month, day)  # leap years: 2000-2099 and 1900-1999 agree but 1900
    except ValueError:
        raise Reject("bad date") from None
    return yy, month, day


def _coordinate(pattern: re.Pattern[str], limit: float, value: str, hemi: str,
                plus: str, minus: str) -> float | None:
    if value == "" and hemi == "":
        return None
    m = pattern.match(value)
    if not m or hemi not in (plus, minus):
        raise Reject("bad position")
    degrees, minutes = int(m[1]), float(m[2])
    if minutes >= 60.0:
        raise Reject("bad position")
    result = degrees + minutes / 60.0
    if result > limit:
        raise Reject("bad position")
    return -result if hemi == minus else result


def _position(fields: list[str], at: int) -> tuple[float, float] | None:
    lat = _coordinate(_LAT, 90.0, fields[at], fields[at + 1], "N", "S")
    lon = _coordinate(_LON, 180.0, fields[at + 2], fields[at + 3], "E", "W")
    if (lat is None) != (lon is None):
        raise Reject("bad position")
    return None if lat is None or lon is None else (lat, lon)


# ---------------------------------------------------------------------------------------
# The protocol table: sentence type -> (allowed field counts, [(name, parser)...]).
# Field counts exclude the address field. "pos" is a 4-field latitude/longitude group.

POS = "pos"
_DEG = _float(0.0, 360.0)
_DOP = _float(0.0, 100.0)
_SPEED = _float(0.0, 100000.0)

Layout = list[tuple[str, Parser | str]]

TABLE: dict[str, tuple[frozenset[int], Layout]] = {
    "RMC": (
        frozenset({11, 12, 13}),
        [("time", parse_time), ("status", _chars("AVD")), ("pos", POS),
         ("speed_kn", _SPEED), ("track", _DEG), ("date", parse_ddmmyy),
         ("magvar", _float(0.0, 180.0)), ("magvar_dir", _chars("EW")),
         ("faa", _chars("ADEFMNPRSCUV")), ("nav_status", _chars("ADEFMNSCUV"))],
    ),
    "GGA": (
        frozenset({14}),
        [("time", parse_time), ("pos", POS), ("quality", _int(0, 9)),
         ("sats", _int(0, 99)), ("hdop", _DOP), ("alt", _float(-10000.0, 1e6)),
         ("alt_unit", _chars("M")), ("geoid_sep", _float(-1000.0, 1000.0)),
         ("sep_unit", _chars("M")), ("dgps_age", _float(0.0)), ("dgps_station", _any)],
    ),
    "GLL": (
        frozenset({6, 7}),
        [("pos", POS), ("time", parse_time), ("status", _chars("AV")),
         ("faa", _chars("ADEFMNPRS"))],
    ),
    "GNS": (
        frozenset({12, 13}),
        [("time", parse_time), ("pos", POS), ("modes", _mode_string), ("sats", _int(0, 99)),
         ("hdop", _DOP), ("alt", _float(-10000.0, 1e6)),
         ("geoid_sep", _float(-1000.0, 1000.0)), ("dgps_age", _float(0.0)),
         ("dgps_station", _any), ("nav_status", _chars("SCUV"))],
    ),
    "VTG": (
        frozenset({8, 9}),
        [("track", _DEG), ("track_unit", _chars("T")), ("mag_track", _DEG),
         ("mag_unit", _chars("M")), ("speed_kn", _SPEED), ("kn_unit", _chars("N")),
         ("speed_kmh", _SPEED), ("kmh_unit", _chars("K")), ("faa", _chars("ADEFMNPRS"))],
    ),
    "ZDA": (
        frozenset({6}),
        [("time", parse_time), ("day", _int(1, 31)), ("month", _int(1, 12)),
         ("year", _int(1980, 2200)), ("tz_h", _any), ("tz_m", _any)],
    ),
    "GST": (
        frozenset({8}),
        [("time", parse_time)] + [(f"v{i}", _float()) for i in range(7)],
    ),
}


def _parse_gsa(fields: list[str]) -> dict[str, Any]:
    # 17 fields (NMEA <= 4.0) or 18 (4.1 system id; some receivers put a float there).
    if len(fields) not in (17, 18):
        raise Reject("bad field count")
    out: dict[str, Any] = {
        "selection": _chars("AM")(fields[0]),
        "mode": _int(1, 3)(fields[1]),
        "prns": [p for p in (_int(1, 999)(f) for f in fields[2:14]) if p is not None],
        "pdop": _DOP(fields[14]),
        "hdop": _DOP(fields[15]),
        "vdop": _DOP(fields[16]),
        "system": _float()(fields[17]) if len(fields) == 18 else None,
    }
    return out


def _parse_gsv(fields: list[str]) -> dict[str, Any]:
    if len(fields) < 3 or (len(fields) - 3) % 4 not in (0, 1) or len(fields) > 3 + 16 + 1:
        raise Reject("bad field count")
    total, number = _int(1, 99)(fields[0]), _int(1, 99)(fields[1])
    if total is None or number is None or number > total:
        raise Reject("bad GSV part")
    sats = []
    for i in range(3, len(fields) - 3, 4):
        prn = _int(0, 999)(fields[i])
        el = _float(-90.0, 90.0)(fields[i + 1])
        az = _float(0.0, 360.0)(fields[i + 2])
        ss = _float(0.0, 99.0)(fields[i + 3])
        if prn:
            sats.append((prn, el, az, ss))
    signal = fields[-1] if (len(fields) - 3) % 4 == 1 else ""
    return {
        "total": total,
        "number": number,
        "in_view": _int(0, 999)(fields[2]),
        "sats": sats,
        "signal": _any(signal),
    }


def parse_fields(kind: str, fields: list[str]) -> dict[str, Any]:
    """Typed, validated fields of one sentence type (raises Reject)."""
    if kind == "GSA":
        return _parse_gsa(fields)
    if kind == "GSV":
        return _parse_gsv(fields)
    counts, layout = TABLE[kind]
    if len(fields) not in counts:
        raise Reject("bad field count")
    out: dict[str, Any] = {}
    i = 0
    for name, parser in layout:
        if i >= len(fields):
            out[name] = None
            continue
        if parser == POS:
            out[name] = _position(fields, i)
            i += 4
        else:
            assert callable(parser)
            try:
                out[name] = parser(fields[i])
            except Reject as exc:
                raise Reject(f"{exc.reason} ({name})") from None
            i += 1
    return out


# ---------------------------------------------------------------------------------------
# Framing.

_ALLOWED = frozenset(range(0x20, 0x7F))


def frame_piece(piece: bytes) -> Piece:
    """Validate one ``$...*HH`` candidate (no line end) and parse it."""
    if not piece.startswith(b"$"):
        return Piece(rejected="garbage")
    if len(piece) + 2 > MAX_LINE_LENGTH:
        return Piece(rejected="overlong")
    if b"\x00" in piece:
        return Piece(rejected="NUL")
    if any(b not in _ALLOWED for b in piece):
        return Piece(rejected="bad character")
    text = piece.decode("ascii")
    star = text.find("*")
    if star < 0:
        return Piece(rejected="no checksum (truncated)")
    body, given = text[1:star], text[star + 1 :]
    if len(given) != 2 or any(c not in "0123456789ABCDEFabcdef" for c in given):
        return Piece(rejected="malformed checksum (spliced)")
    if checksum(body) != given.upper():
        return Piece(rejected="bad checksum")
    address, _, rest = body.partition(",")
    if address.startswith("P"):
        return Piece(ignored="proprietary")
    if len(address) != 5 or not address.isalnum() or not address.isupper():
        return Piece(rejected="bad address field")
    talker, kind = address[:2], address[2:]
    if talker not in TALKERS:
        return Piece(rejected="unknown talker")
    if kind not in SUPPORTED:
        return Piece(ignored="unsupported sentence")
    fields = rest.split(",") if "," in body else []
    try:
        parsed = parse_fields(kind, fields)
    except Reject as exc:
        return Piece(rejected=f"{kind} {exc.reason}")
    return Piece(sentence=Sentence(talker, kind, parsed, text, len(fields)))


def split_line(line: bytes) -> Iterator[bytes]:
    """Candidate sentences in one line (line end removed): cut at every ``$``.

    A doubled ``$$`` start (ST Teseo) yields nothing for the empty first ``$``. Text before
    the first ``$`` is yielded as is, to be rejected as garbage.
    """
    start = 0
    while True:
        nxt = line.find(b"$", start + 1)
        piece = line[start:] if nxt < 0 else line[start:nxt]
        if not (piece == b"$" and nxt >= 0):  # "$$": the first "$" is a doubled start
            yield piece
        if nxt < 0:
            return
        start = nxt
