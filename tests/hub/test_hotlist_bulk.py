"""The byte path (bulk_bytes) must give exactly what the str path gives, and hand every
irregular file back to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import hub.hotlists as hotlists
from hub.hotlist_bulk import Context, Layout, bulk_bytes
from hub.hotlists import ParsedHotlist, parse_text

AUTOVU_HEADER = "Category;PlateState;PlateNumber;EffectiveDate;ExpiryDate;\n"
LAYOUT = Layout(width=6, plate=2, category=0, state=1, effective=3, expiry=4,
                extra=((5, "field6"),))


def _str_path(text: str, monkeypatch: pytest.MonkeyPatch, **kw: object) -> ParsedHotlist:
    with monkeypatch.context() as patch:
        patch.setattr(hotlists, "bulk_bytes", lambda *a, **k: None)
        return parse_text(text, name="n", source="s", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    AUTOVU_HEADER + "".join(f"Stolen;{c};{p};2026-0{1 + i % 9}-01;2027-12-31;\n"
                            for i, (p, c) in enumerate([("1abc234", "be"), ("AB12CD", "NL"),
                                                        ("M1234", "DE"), ("ZZ9", ""),
                                                        ("1ABC234", "BE")] * 30)),
    "Stolen;BE;1ABC234\nStolen;BE;1ABC235\nWanted;;XYZ999\n",  # no header, 3 fields
    "plate,list,priority,covert,state\n1ABC234,a,5,yes,be\nXY12,b,,no,\nQQ1234,a,100,,NL",
    AUTOVU_HEADER + "S;BE;ABC123;1/31/2026;2/1/2026 10:00 PM;\nS;BE;ABD123;1/31/2026 10:00;;\n",
    # priorities with more distinct values than the compare scan takes: numbered by sort
    "plate,list,priority\n" + "".join(f"P{i:05d},l{i % 7},{i % 101}\n" for i in range(600)),
])
def test_byte_path_equals_str_path(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []

    def spy(*args: object, **kwargs: object) -> object:
        result = bulk_bytes(*args, **kwargs)  # type: ignore[arg-type]
        taken.append(result is not None)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(hotlists, "bulk_bytes", spy)
        fast = parse_text(text, name="n", source="s")
    assert taken == [True]  # the byte path parsed it, not the str path
    slow = _str_path(text, monkeypatch)
    assert fast.plates == slow.plates
    assert fast.attrs == slow.attrs
    assert (fast.rejected, fast.format) == (slow.rejected, slow.format)
    assert len(fast) >= 2


@pytest.mark.parametrize("body", [
    "Stolen;BE;1ABC234;;;\nStolen;BE;1ABC235;;\n",  # a short line
    "Stolen;BE;1-ABC-234;;;\n",  # separators in the plate: the str path strips them
    "Stolen;BE;1AB*234;;;\n",  # wildcard
    "Stolen;BE;ABCDEFGHIJK;;;\n",  # too long
    "Stolen;BE;;;;\n",  # empty plate
    "Stolen;BE;1ABC234;2026-13-01;;\n",  # bad date
    "Stolen;BE;1ABC234;2027-01-01;2026-01-01;\n",  # expiry before effective
    "Stolen;BE;1ABC234;;;note\n",  # extra field in use
    "Stolen;BE;1ABC234;;;\r\n",  # CR LF
    "Stolen;BÉ;1ABC234;;;\n",  # not ASCII
    "Stolen;" + "x" * 40 + ";1ABC234;;;\n",  # a field too long to pack
])
def test_irregular_rows_go_to_the_str_path(body: str) -> None:
    assert bulk_bytes(body, ";", 6, LAYOUT, Context("n", False, 50)) is None


def test_byte_path_result() -> None:
    body = "Stolen;be;1abc234;2026-01-01;;\nWanted;NL;AB12CD;;2026-12-31;\n"
    result = bulk_bytes(body, ";", 6, LAYOUT, Context("n", False, 50))
    assert result is not None
    plates, attrs = result
    assert plates == ["1ABC234", "AB12CD"]
    assert attrs[0] == ("n", "Stolen", 50, "BE", datetime(2026, 1, 1, tzinfo=UTC), None,
                        False, ())
    assert attrs[1][1] == "Wanted" and attrs[1][4] is None
    assert attrs[1][5] == datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_rejects_still_reported_when_a_file_is_irregular() -> None:
    text = AUTOVU_HEADER + "Stolen;BE;1ABC234;;;\nStolen;BE;1ABC235;bad;;\nStolen;BE;X;;\n"
    parsed = parse_text(text, name="n", source="s")
    assert parsed.plates == ("1ABC234", "X")
    assert parsed.rejected == 1 and parsed.rejects[0].line == 3
