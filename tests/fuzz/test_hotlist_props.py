"""Hotlist files: generated AutoVu `;` and CSV files of good and bad lines, and raw bytes.

Contracts: `parse_text` gives a ParsedHotlist or only HotlistError; every line that is
neither blank nor a "#" comment is an entry or a rejection with its line number and a
reason; and the three paths a row can take (the numpy byte path, the columnar str pass,
the row-by-row parser) agree on every file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hub.hotlists as hotlists
from bench.fuzz.targets import run_hotlist
from hub.errors import HotlistError
from hub.hotlists import ParsedHotlist, parse_text
from tests.fuzz.props import BOUNDED

PLATES = ["1-ABC-234", "ABC123", "HH AB 1234", "1-AB?-23*", "", "A", "ABCDEFGHIJKLM",
          "ÄBC123", "ab-12-cd", "1ABC234", "**", " 1ABC234 "]
DATES = ["", "2026-01-01", "2026-12-31", "01/15/2026", "1/31/2026 10:00 PM", "2026-13-01",
         "2026-01-01T00:00Z", "x", "2026-02-01 10:00+02:00", "02/30/2026", "1/1/26",
         "1/1/99999999999999999999", "1/1/2026 99999999999999999999:00"]
CATEGORIES = ["Stolen", "Wanted", "", "Uninsured"]
STATES = ["BE", "nl", "", "US-CA"]
PRIORITIES = ["", "0", "100", "101", "-1", "abc", " 5 "]
COVERT = ["", "yes", "no", "maybe", "1", "Covert"]
ODD_LINES = ["", "   ", "#comment", "#Stolen;BE;1ABC234;;", "#x,1ABC234", "garbage", ";;",
             "a;b", "a;b;c;d;e;f;g;h", ",", "x,y,z,w"]
# Extra AutoVu columns and their values.
EXTRAS = ["", "VW", "blue"]

field = st.sampled_from
autovu_row = st.tuples(field(CATEGORIES), field(STATES), field(PLATES), field(DATES),
                       field(DATES), st.lists(field(EXTRAS), max_size=2))
CSV_COLUMNS = ["plate", "list", "category", "priority", "state", "effective", "expiry",
               "covert", "note"]
CSV_VALUES = {"plate": PLATES, "list": ["stolen", "", "wanted"], "category": CATEGORIES,
              "priority": PRIORITIES, "state": STATES, "effective": DATES, "expiry": DATES,
              "covert": COVERT, "note": EXTRAS}


@st.composite
def autovu_file(draw: Any) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append("Category;PlateState;PlateNumber;EffectiveDate;ExpiryDate;Make;Colour")
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(field(ODD_LINES)))
            continue
        cat, state, plate, eff, exp, extra = draw(autovu_row)
        lines.append(";".join([cat, state, plate, eff, exp, *extra]))
    end: str = draw(field(["\n", "\r\n"]))
    last: str = draw(field(["", end]))
    return end.join(lines) + last


@st.composite
def csv_file(draw: Any) -> str:
    columns = ["plate", *draw(st.lists(field(CSV_COLUMNS[1:]), unique=True, max_size=5))]
    columns = draw(st.permutations(columns))
    quote = draw(st.booleans())
    lines = [",".join(columns)]
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(field(ODD_LINES)))
            continue
        cells = [draw(field(CSV_VALUES[c])) for c in columns]
        if quote:
            cells = [f'"{c}"' if draw(st.booleans()) else c for c in cells]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def content_lines(text: str) -> int:
    """Lines the parser must account for: neither blank nor a "#" comment."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_accounting(text: str, header: bool) -> ParsedHotlist | None:
    try:
        parsed = parse_text(text, name="fuzz", source="fuzz.txt")
    except HotlistError as exc:
        assert str(exc).startswith("fuzz.txt")
        return None
    assert len(parsed.plates) + parsed.rejected == content_lines(text) - header
    assert all(r.reason for r in parsed.rejects)
    run_hotlist(text.encode())  # the fuzz target's checks of the entries
    return parsed


def _is_header(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()
                  and not line.startswith("#")), "")
    return first.startswith(("Category;", "plate,", "list,", "category,")) or (
        "," in first and "plate" in first.split(","))


@BOUNDED
@given(autovu_file())
def test_autovu_every_line_is_an_entry_or_a_reason(text: str) -> None:
    check_accounting(text, _is_header(text))


@BOUNDED
@given(csv_file())
def test_csv_every_line_is_an_entry_or_a_reason(text: str) -> None:
    check_accounting(text, True)


def _table(parsed: ParsedHotlist) -> tuple[Counter[str], tuple[Any, ...]]:
    """Entries as a multiset (the paths order them differently) and the rejects."""
    entries = Counter(repr(pair) for pair in zip(parsed.plates, parsed.attrs, strict=True))
    return entries, tuple(sorted((r.line, r.reason) for r in parsed.rejects))


def _every_row_alone(cols: list[list[str]], lay: Any, ctx: Any,
                     bad: set[int]) -> tuple[list[str], list[Any]]:
    """bulk_rows that vouches for no row: every row goes to the row-by-row parser."""
    n = len(cols[0])
    bad.update(range(n))
    return [""] * n, [None] * n


@BOUNDED
@given(autovu_file() | csv_file())
def test_the_three_paths_agree(text: str) -> None:
    outcomes = []
    with pytest.MonkeyPatch.context() as patch:
        for step in ("bytes", "columns", "rows"):
            if step == "columns":
                patch.setattr(hotlists, "bulk_bytes", lambda *args, **kwargs: None)
            elif step == "rows":
                patch.setattr(hotlists, "bulk_rows", _every_row_alone)
            try:
                outcomes.append(_table(parse_text(text, name="fuzz", source="fuzz.txt")))
            except HotlistError as exc:
                outcomes.append((Counter(), (str(exc),)))
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_a_commented_out_entry_is_no_entry() -> None:
    """Found by the accounting property: a full-width "#" line was loaded as an entry."""
    for text in ("Stolen;BE;2ABC234\n#Stolen;BE;1ABC234\n",
                 "list,plate\n#y,1ABC234\nx,2ABC234\n",
                 'list,plate\n#y,1ABC234\nx,"2ABC234"\n'):
        assert parse_text(text, name="n", source="s").plates == ("2ABC234",)


def test_mostly_short_lines_are_rejected_not_a_crash() -> None:
    """Found by fuzzing: the commonest width of 1 field made the bulk pass look for a plate
    column the rows lacked (IndexError)."""
    parsed = parse_text("Stolen;BE;1ABC234\nx\ny\n", name="n", source="s")
    assert parsed.plates == ("1ABC234",)
    assert [r.reason for r in parsed.rejects] == ["1 fields, need at least 3"] * 2


def test_carriage_return_inside_a_csv_field_ends_the_line() -> None:
    """Found by fuzzing: csv.Error ("new-line character seen in unquoted field") escaped."""
    parsed = parse_text('plate,note\n1ABC234,a\rb\n"2ABC234",c\n', name="n", source="s")
    # "b" is a line of its own, as str.splitlines and the AutoVu path see it.
    assert sorted(parsed.plates) == ["1ABC234", "2ABC234", "B"]


def test_a_date_of_huge_numbers_is_a_bad_date() -> None:
    """Found by fuzzing (atheris): datetime() raised OverflowError, not ValueError, on a
    US date with a 20-digit year, and it escaped the parser."""
    parsed = parse_text("Stolen;BE;1ABC234;1/1/99999999999999999999\nStolen;BE;2ABC234\n",
                        name="n", source="s")
    assert parsed.plates == ("2ABC234",)
    assert parsed.rejects[0].reason.startswith("bad date")


@BOUNDED
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    run_hotlist(data)
