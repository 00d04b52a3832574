"""Strict NMEA parsing, epochs, gpsd JSON shape, and property tests on hostile input."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gps import TPV, FixMode, NmeaEpochAssembler, parse_stream
from drivers.nmea import frame

RMC = "GPRMC,120001.00,A,5055.8420,N,00520.2680,E,6.64,271.0,150624,,,A"
GGA = "GPGGA,120001.00,5055.8420,N,00520.2680,E,1,08,0.9,41.0,M,47.0,M,,"
GOOD = [frame(GGA), frame(RMC)]


def fixes(lines: list[bytes]) -> list[TPV]:
    return [r for r in parse_stream(lines) if isinstance(r, TPV) and r.has_fix]


def accounted(asm: NmeaEpochAssembler) -> int:
    s = asm.stats
    return s.sentences + s.ignored + s.rejected + s.comments + s.blank


def test_good_epoch_gives_gpsd_tpv() -> None:
    tpvs = fixes(GOOD)
    last = tpvs[-1]
    assert last.mode == FixMode.FIX_3D
    assert last.time == dt.datetime(2024, 6, 15, 12, 0, 1, tzinfo=dt.UTC)
    assert abs(last.lat - (50 + 55.842 / 60)) < 1e-9  # type: ignore[operator]
    assert abs(last.lon - (5 + 20.268 / 60)) < 1e-9  # type: ignore[operator]
    j = last.as_gpsd()
    assert list(j)[:4] == ["class", "mode", "time", "lat"]
    assert j["time"] == "2024-06-15T12:00:01.000Z"
    assert j["speed"] == round(6.64 * 0.514444, 3)
    assert j["track"] == 271.0 and j["altMSL"] == 41.0 and j["altHAE"] == 88.0
    assert j["lat"] == round(50 + 55.842 / 60, 9)


def test_gga_before_any_date_is_untimed_then_rmc_dates_it() -> None:
    tpvs = fixes(GOOD)
    assert tpvs[0].time is None and tpvs[-1].time is not None


def test_new_time_starts_new_epoch_and_midnight_rolls_date() -> None:
    lines = [frame("GPRMC,235959.00,A,5055.8420,N,00520.2680,E,0.0,0.0,311224,,,A"),
             frame("GPGGA,000000.00,5055.8420,N,00520.2680,E,1,08,0.9,41.0,M,47.0,M,,")]
    times = [t.time for t in fixes(lines)]
    assert times == [dt.datetime(2024, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                     dt.datetime(2025, 1, 1, 0, 0, 0, tzinfo=dt.UTC)]


def test_date_comment_sets_century_and_zda_sets_date() -> None:
    lines = [b"# Date: 1999-01-01", frame(RMC.replace("150624", "150698"))]
    assert fixes(lines)[-1].time.year == 1998  # type: ignore[union-attr]
    zda = [frame("GPZDA,120001.00,15,06,2024,00,00"), frame(GGA)]
    assert fixes(zda)[-1].time == dt.datetime(2024, 6, 15, 12, 0, 1, tzinfo=dt.UTC)


def test_gps_week_rollover_against_reference() -> None:
    asm = NmeaEpochAssembler(reference=dt.date(2019, 6, 1))
    out = [r for r in parse_stream([frame(RMC.replace("150624", "220899"))], assembler=asm)]
    assert isinstance(out[-1], TPV) and out[-1].time is not None
    assert out[-1].time.date() == dt.date(2019, 4, 7)


def test_doubled_dollar_and_spliced_line() -> None:
    asm = NmeaEpochAssembler()
    assert fixes([b"$" + GOOD[1]])
    out = list(parse_stream([b"$GPGGA,120001$" + GOOD[1].rstrip()], assembler=asm))
    assert any(isinstance(r, TPV) and r.has_fix for r in out)
    assert asm.stats.reasons == {"no checksum (truncated)": 1}


def test_quality_zero_gga_and_void_rmc_are_no_fix() -> None:
    assert not fixes([frame(GGA.replace(",1,08,", ",0,08,"))])
    assert not fixes([frame(RMC.replace(",A,5055", ",V,5055"))])


def test_gsa_2d_with_gga_altitude_stays_3d() -> None:
    lines = [*GOOD, frame("GPGSA,A,2,01,02,03,04,05,06,07,,,,,,1.4,1.1,0.8")]
    assert fixes(lines)[-1].mode == FixMode.FIX_3D


def test_gsa_no_fix_ends_fix() -> None:
    lines = [*GOOD, frame("GPGSA,A,1,,,,,,,,,,,,,,,")]
    out = [r for r in parse_stream(lines) if isinstance(r, TPV)]
    assert out[-1].mode == FixMode.NO_FIX and not out[-1].has_fix
    assert out[-1].as_gpsd() == {"class": "TPV", "mode": 1,
                                 "time": "2024-06-15T12:00:01.000Z"}


def _reject(line: bytes) -> str:
    asm = NmeaEpochAssembler()
    out = list(parse_stream([line], assembler=asm))
    assert not any(isinstance(r, TPV) and r.has_fix for r in out)
    assert asm.stats.rejected == 1, asm.stats
    return next(iter(asm.stats.reasons))


def test_rejections_are_counted_with_reasons() -> None:
    body = RMC
    assert _reject(frame(body)[:-4] + b"00\r\n") == "bad checksum"
    assert _reject(b"$" + body.encode()) == "no checksum (truncated)"
    assert _reject(frame(body.replace("5055.8420", "9155.8420"))) == "RMC bad position"
    assert _reject(frame(body.replace("5055.8420", "5075.8420"))) == "RMC bad position"
    assert _reject(frame(body.replace("120001.00", "250001.00"))) == "RMC bad time (time)"
    assert _reject(frame(body.replace("150624", "310224"))) == "RMC bad date (date)"
    assert _reject(frame(body.replace("GPRMC", "XXRMC"))) == "unknown talker"
    assert _reject(frame(body)[:20] + b"\x00" + frame(body)[20:]) == "NUL"
    assert _reject(frame(body.replace(",A*", "") + "," * 40)) == "overlong"
    assert _reject(b"garbage\r\n") == "garbage"
    assert _reject(frame(body + ",X,Y,Z")) == "RMC bad field count"
    assert _reject(frame(body.replace("271.0", "371.0"))).startswith("RMC out of range")


def test_proprietary_and_unsupported_are_ignored_and_comments_skipped() -> None:
    asm = NmeaEpochAssembler()
    list(parse_stream([frame("PSTMVER,1.2"), frame("GPTXT,01,01,02,HELLO"),
                       b"# comment", b"", frame(RMC)], assembler=asm))
    s = asm.stats
    assert (s.ignored, s.comments, s.blank, s.sentences, s.rejected) == (2, 1, 1, 1, 0)
    assert s.lines == 5 and s.fixes == 1


# ------------------------------------------------------------------------ property tests

def _valid_sentences() -> list[bytes]:
    return [frame(GGA), frame(RMC), frame("GPGLL,5055.8420,N,00520.2680,E,120001.00,A,A"),
            frame("GNGNS,120001.00,5055.8420,N,00520.2680,E,AA,08,0.9,41.0,47.0,,,S"),
            frame("GPVTG,271.0,T,,M,6.64,N,12.3,K,A"),
            frame("GPGSA,A,3,01,02,03,04,,,,,,,,,1.4,1.1,0.8")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    asm = NmeaEpochAssembler()
    out = list(parse_stream(chunks, assembler=asm))
    assert not any(isinstance(r, TPV) and r.has_fix for r in out)
    assert asm.stats.lines == len(chunks)
    assert accounted(asm) >= len(chunks)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=string.printable.replace("\n", ""), max_size=120),
                max_size=10))
def test_random_printable_lines_never_raise(lines: list[str]) -> None:
    asm = NmeaEpochAssembler()
    list(parse_stream([line.encode() for line in lines], assembler=asm))
    assert asm.stats.lines == len(lines)
    assert accounted(asm) >= len(lines)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_valid_sentences()), st.data())
def test_one_corrupted_character_never_gives_a_fix(sentence: bytes, data: st.DataObject) -> None:
    body = sentence.rstrip(b"\r\n")
    i = data.draw(st.integers(1, len(body) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != body[i]))
    corrupted = body[:i] + bytes([new]) + body[i + 1:]
    asm = NmeaEpochAssembler()
    out = list(parse_stream([corrupted + b"\r\n"], assembler=asm))
    assert not any(isinstance(r, TPV) and r.has_fix for r in out)
    assert accounted(asm) >= 1


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_valid_sentences()), st.sampled_from(_valid_sentences()), st.data())
def test_spliced_and_truncated_never_raise(a: bytes, b: bytes, data: st.DataObject) -> None:
    a, b = a.rstrip(b"\r\n"), b.rstrip(b"\r\n")
    cut = data.draw(st.integers(0, len(a) - 1))
    start = data.draw(st.integers(1, len(b)))
    line = a[:cut] + b[start:]  # truncated a, spliced onto a tail of b (no "$")
    asm = NmeaEpochAssembler()
    out = list(parse_stream([line], assembler=asm))
    # XOR checksums cannot see every splice (a doubled "00" cancels out); what must never
    # happen is a fix other than the one the receiver sent.
    truth = {(t.time, t.lat, t.lon) for t in fixes([frame(GGA), frame(RMC)])}
    for r in out:
        if isinstance(r, TPV) and r.has_fix:
            assert (r.time, r.lat, r.lon) in truth | {(None, r.lat, r.lon)}
            assert (r.lat, r.lon) == (fixes([frame(RMC)])[0].lat, fixes([frame(RMC)])[0].lon)
    assert asm.stats.lines == 1 and accounted(asm) >= 1
