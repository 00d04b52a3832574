"""NMEA: what tests/drivers/test_gps_parse.py does not reach - sentences with a correct
checksum and random fields, so every field parser of every supported sentence type meets
odd values (random bytes and single corruptions rarely pass the checksum).

Contract: every line is accounted for (sentence, ignored, or rejected with a reason), no
exception, and a fix has a position in range and an aware time.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.fuzz.targets import run_nmea
from drivers.gps import TPV, NmeaEpochAssembler, parse_stream
from drivers.gps_parse import SUPPORTED, TABLE
from drivers.nmea import frame
from tests.fuzz.props import BOUNDED

FIELD_VALUES = ["", "A", "V", "N", "S", "E", "W", "M", "T", "K", "0", "1", "2", "3", "08",
                "120001.00", "235959.99", "240000", "5055.8420", "9000.0000", "00520.2680",
                "18000.0001", "150624", "290224", "310224", "6.64", "-1", "1e3", "nan",
                "271.0", "2024", "99", "A*", "$"]
# Printable ASCII as a receiver sends it, less the framing characters.
CHARS = "".join(c for c in string.printable if c not in "$*,\r\n\t\x0b\x0c")
field = st.sampled_from(FIELD_VALUES) | st.text(CHARS, max_size=10)


# Field counts each type takes (drivers.gps_parse.TABLE, GSA and GSV): drawn from these,
# a sentence gets past the count check to the field parsers.
COUNTS = {kind: sorted(counts) for kind, (counts, _) in TABLE.items()} | {
    "GSA": [17, 18], "GSV": [3, 7, 11, 15, 19, 4, 8]}
VALID = [
    "GPRMC,120001.00,A,5055.8420,N,00520.2680,E,6.64,271.0,150624,,,A",
    "GPGGA,120001.00,5055.8420,N,00520.2680,E,1,08,0.9,41.0,M,47.0,M,,",
    "GPGLL,5055.8420,N,00520.2680,E,120001.00,A,A",
    "GNGNS,120001.00,5055.8420,N,00520.2680,E,AA,08,0.9,41.0,47.0,,,S",
    "GPVTG,271.0,T,,M,6.64,N,12.3,K,A",
    "GPGSA,A,3,01,02,03,04,,,,,,,,,1.4,1.1,0.8",
    "GPZDA,120001.00,15,06,2024,00,00",
    "GPGSV,1,1,02,01,40,083,46,02,17,308,41",
]


@st.composite
def sentence(draw: Any) -> bytes:
    if draw(st.booleans()):  # a real sentence with one to three fields replaced
        fields = draw(st.sampled_from(VALID)).split(",")
        for _ in range(draw(st.integers(1, 3))):
            fields[draw(st.integers(1, len(fields) - 1))] = draw(field)
        return frame(",".join(fields))
    talker = draw(st.sampled_from(["GP", "GN", "GL", "GA", "GB", "BD", "QZ", "XX"]))
    kind = draw(st.sampled_from([*sorted(SUPPORTED), "TXT", "GRS"]))
    count = draw(st.sampled_from(COUNTS.get(kind, [5])) | st.integers(0, 22))
    fields = draw(st.lists(field, min_size=count, max_size=count))
    return frame(",".join([talker + kind, *fields]))


@BOUNDED
@given(st.lists(sentence(), min_size=1, max_size=8))
def test_checksummed_random_fields(lines: list[bytes]) -> None:
    asm = NmeaEpochAssembler()
    out = list(parse_stream(lines, assembler=asm))
    s = asm.stats
    assert s.lines == len(lines)
    assert s.sentences + s.ignored + s.rejected >= len(lines)
    assert sum(s.reasons.values()) == s.rejected and all(s.reasons)
    for report in out:
        if isinstance(report, TPV) and report.has_fix:
            assert report.lat is not None and -90 <= report.lat <= 90
            assert report.lon is not None and -180 <= report.lon <= 180
            assert report.time is None or report.time.utcoffset() == dt.timedelta(0)
    run_nmea(b"\n".join(lines))
