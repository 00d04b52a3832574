"""Hotlist parsing: both formats, strict per-line rejects, dates, BOM/CRLF, garbage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.errors import HotlistError
from hub.hotlists import HotlistFormat, load_hotlist, parse_date, parse_file, parse_text

DATA = Path(__file__).resolve().parent.parent / "data" / "hotlists"


def test_autovu_with_header_keeps_good_lines_and_counts_bad_ones() -> None:
    parsed = parse_file(DATA / "autovu_header.txt", name="stolen", priority=70)
    assert parsed.format is HotlistFormat.AUTOVU
    assert list(parsed.plates) == ["1ABC234", "1XYZ999", "XX999X", "ABC123", "1AB*23*"]
    assert parsed.rejected == 3
    assert [(r.line, r.reason.split()[0]) for r in parsed.rejects] == [
        (7, "empty"), (8, "bad"), (9, "expiry")]
    first = parsed.entry(0)
    assert first.category == "Stolen" and first.state == "BE" and first.priority == 70
    assert first.effective == datetime(2026, 1, 1, tzinfo=UTC)
    # A date-only expiry lasts the whole day.
    assert first.expiry == datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert first.extra == (("Make", "VW"), ("Colour", "blue"))
    nl = parsed.entry(2)
    assert nl.effective == datetime(2026, 1, 15, tzinfo=UTC)
    assert nl.expiry == datetime(2026, 1, 31, 22, 0, tzinfo=UTC)
    assert parsed.entry(3).state is None and parsed.entry(1).expiry is None


def test_autovu_crlf_without_header() -> None:
    parsed = parse_file(DATA / "autovu_crlf.txt", name="x")
    assert list(parsed.plates) == ["1ABC234", "HHAB1234", "AB123CD"]
    assert [e.state for e in parsed.entries()] == ["BE", "DE", "FR"]
    assert parsed.rejected == 0


def test_csv_with_bom_priority_covert_and_extra_columns() -> None:
    parsed = parse_file(DATA / "csv_bom.csv", name="imported")
    assert parsed.format is HotlistFormat.CSV
    entries = list(parsed.entries())
    assert [e.plate for e in entries] == ["1ABC234", "HHAB1234"]
    assert entries[0].list == "stolen" and entries[0].priority == 80
    assert entries[0].extra == (("note", "seen at Grote Markt"),)
    assert entries[1].list == "imported" and entries[1].covert is True
    assert sorted(r.line for r in parsed.rejects) == [4, 5]
    assert any("outside 0..100" in r.reason for r in parsed.rejects)


def test_list_covert_applies_to_every_entry() -> None:
    parsed = parse_text("plate,covert\n1ABC234,no\n", name="c", source="s", covert=True)
    assert parsed.entry(0).covert is True


@pytest.mark.parametrize("name", ["garbage.png", "letter.txt"])
def test_not_a_hotlist_names_file_and_line(name: str) -> None:
    with pytest.raises(HotlistError, match=rf"{name}: line \d+: not a hotlist"):
        parse_file(DATA / name, name="x")


def test_all_lines_bad_is_an_error_with_the_first_reason() -> None:
    with pytest.raises(HotlistError, match="line 1: empty plate"):
        parse_text("Stolen;BE;;;\nStolen;BE;--;;\n", name="x", source="f")


def test_empty_and_missing_files() -> None:
    with pytest.raises(HotlistError, match="empty"):
        parse_text("\n\n", name="x", source="f")
    with pytest.raises(HotlistError, match="cannot read"):
        parse_file(DATA / "does-not-exist.txt", name="x")


def test_wildcards_question_mark_and_too_few_known() -> None:
    parsed = parse_text("A;BE;1-AB?-234;;\nA;BE;**1;;\nA;BE;1ABCDEFGHIJK;;\n", name="x",
                        source="f")
    assert list(parsed.plates) == ["1AB*234"]
    reasons = [r.reason for r in parsed.rejects]
    assert "too few known" in reasons[0] and "longer than" in reasons[1]


def test_bulk_and_line_paths_agree_on_mixed_widths() -> None:
    lines = [f"S;BE;1-AAA-{i:03d};2026-01-01;2026-12-31;" for i in range(200)]
    lines[50] = "S;BE;1-BBB-050;2026-01-01"  # short row: parsed on its own
    lines[60] = "S;BE;1-CCC-060;2026-02-30;;"  # bad date in the bulk rows
    parsed = parse_text("\n".join(lines), name="x", source="f")
    assert len(parsed) == 199 and parsed.rejected == 1
    assert parsed.rejects[0].line == 61
    assert "1BBB050" in parsed.plates and "1CCC060" not in parsed.plates


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
    ("2026-01-31T10:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),
    ("2026-01-31T10:00:00Z", datetime(2026, 1, 31, 10, tzinfo=UTC)),
    ("2026-01-31T10:00:00+01:00", datetime(2026, 1, 31, 9, tzinfo=UTC)),
    ("01/31/2026", datetime(2026, 1, 31, tzinfo=UTC)),
    ("1/31/2026 10:05", datetime(2026, 1, 31, 10, 5, tzinfo=UTC)),
    ("1/31/2026 12:30:00 AM", datetime(2026, 1, 31, 0, 30, tzinfo=UTC)),
    ("", None),
])
def test_dates(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["31/01/2026", "2026-02-30", "1/31/26", "1/31/2026 13:00 PM",
                                  "tomorrow"])
def test_bad_dates_reject_the_line(text: str) -> None:
    parsed = parse_text(f"S;BE;1ABC234;{text};\nS;BE;1ABC235;;\n", name="x", source="f")
    assert len(parsed) == 1 and parsed.rejects[0].line == 1


async def test_load_hotlist_runs_in_a_thread() -> None:
    parsed = await load_hotlist(DATA / "autovu_crlf.txt", name="x")
    assert len(parsed) == 3
