"""The scenario report: exact text, JSON shape, and the same lines for the same run."""

from __future__ import annotations

import json
from dataclasses import replace

from hub.scenario_report import format_duration, report_json, report_text
from hub.scenario_verdict import Verdict
from simulator.timeline_model import (
    Anchor,
    AppliedEvent,
    Expectation,
    ExpectKind,
    FaultEvent,
    GpsEvent,
    MoveEvent,
    Phase,
    PlateEvent,
    RebootEvent,
    WantedEvent,
)

STALL = FaultEvent(id="stall-1", at_s=300.0, line=3, camera="city-centre-012", fault="stall",
                   duration_s=120.0)
PLATE = PlateEvent(id="plate-1", at_s=330.0, line=9, unit="alpr-r70", plate="1-ABC-234",
                   seen="1-A8C-234", confidence=0.9)
WANTED = WantedEvent(id="wanted-1", at_s=310.0, line=15, plate="1-ABC-234",
                     reason="stolen in Genk", days=3)


def _applied(offset: float = 0.0) -> list[AppliedEvent]:
    """The phases as carried out; `offset` shifts every real time (another run)."""
    return [  # in the order the player reported them, not all by plan
        AppliedEvent(STALL, Phase.START, 300.0, 1030.0 + offset, detail="stall on 2 streams"),
        AppliedEvent(PLATE, Phase.START, 330.0, 1033.2 + offset),
        AppliedEvent(WANTED, Phase.START, 310.0, 1031.0 + offset, ok=False,
                     detail="hub refused: plate too short"),
        AppliedEvent(STALL, Phase.END, 420.0, 1042.1 + offset),
    ]


SEEN = Expectation(id="stall-seen", kind=ExpectKind.CAMERA, line=20,
                   anchor=Anchor(event="stall-1"), within_s=10.0, camera="city-centre-012",
                   state="down", reason="stalled")
ALERT = Expectation(id="alert-1", kind=ExpectKind.ALERT, line=27,
                    anchor=Anchor(event="plate-1"), within_s=5.0, plate="1-ABC-234",
                    list="wanted")


def _verdicts(latency: float = 3.71, offset: str = "+1.3") -> list[Verdict]:
    return [
        Verdict(SEEN, True, latency, "down (stalled) at +3.7 s"),
        Verdict(ALERT, False, None,
                f"no alert for 1-ABC-234 on wanted within 5 s; seen: alert #4 on stolen at "
                f"{offset} s"),
    ]


def _real_at(at_s: float) -> float:
    return 1000.0 + at_s / 10


def test_report_text_exact() -> None:
    text = report_text("genk-demo", 42, 10.0, _applied(), _verdicts(), checked=True)
    assert text.splitlines() == [
        "scenario genk-demo  seed 42  speed 10",
        "",
        "events",
        "  00:05:00  stall-1      fault stall on city-centre-012 (2m)",
        "  00:05:10  wanted-1     wanted 1-ABC-234 for 3 days: stolen in Genk"
        "  FAILED: hub refused: plate too short",
        "  00:05:30  plate-1      plate 1-ABC-234 at alpr-r70 read as 1-A8C-234 (0.90)",
        "  00:07:00  stall-1.end  fault stall off on city-centre-012",
        "",
        "expectations",
        "  PASS  stall-seen  camera city-centre-012 down (stalled) within 10 s after stall-1"
        "  3.7 s",
        "  FAIL  alert-1     alert for 1-ABC-234 on wanted within 5 s after plate-1"
        " — no alert for 1-ABC-234 on wanted within 5 s; seen: alert #4 on stolen at +1.3 s",
        "",
        "2 expectations: 1 passed, 1 failed",
    ]
    unchecked = report_text("genk-demo", 42, 10.0, _applied(), _verdicts(), checked=False)
    assert unchecked.splitlines()[-1] == "2 expectations: 1 passed, 1 failed (not checked)"


def test_report_text_same_lines_for_the_same_run() -> None:
    one = report_text("s", 7, 30.0, _applied(), _verdicts(3.71, "+1.3"), checked=True)
    two = report_text("s", 7, 30.0, _applied(55.5), _verdicts(9.02, "+2.9"), checked=True)
    lines1, lines2 = one.splitlines(), two.splitlines()
    assert len(lines1) == len(lines2)
    expectations = lines1.index("expectations")
    assert lines1[:expectations] == lines2[:expectations]  # header and every event line
    for a, b in zip(lines1[expectations:], lines2[expectations:], strict=True):
        if a.startswith("  PASS"):
            assert a.rsplit("  ", 1)[0] == b.rsplit("  ", 1)[0]
            assert a.endswith("3.7 s") and b.endswith("9.0 s")
        elif a.startswith("  FAIL"):
            assert a.split(" — ")[0] == b.split(" — ")[0]
        else:
            assert a == b
    assert "1055" not in two and "1030" not in one  # no real times


def test_report_json_shape() -> None:
    data = report_json("genk-demo", 42, 10.0, _applied(), _verdicts(), checked=True,
                       real_at=_real_at)
    json.dumps(data)  # serialisable as is
    assert {k: data[k] for k in ("scenario", "seed", "speed", "passed", "failed")} == {
        "scenario": "genk-demo", "seed": 42, "speed": 10.0, "passed": 1, "failed": 1,
    }
    assert [(e["id"], e["phase"], e["at"]) for e in data["events"]] == [
        ("stall-1", "start", "00:05:00"), ("wanted-1", "start", "00:05:10"),
        ("plate-1", "start", "00:05:30"), ("stall-1", "end", "00:07:00"),
    ]
    assert data["events"][0] == {
        "at": "00:05:00", "at_s": 300.0, "id": "stall-1", "kind": "fault", "phase": "start",
        "ok": True, "description": "fault stall on city-centre-012 (2m)",
        "detail": "stall on 2 streams", "late_s": 0.0,
    }
    assert data["events"][1]["ok"] is False
    assert data["events"][1]["detail"] == "hub refused: plate too short"
    assert data["events"][2]["late_s"] == 0.2  # 1033.2 vs planned 1033.0
    assert data["events"][3]["late_s"] == 0.1
    assert data["expectations"] == [
        {"id": "stall-seen", "kind": "camera",
         "description": "camera city-centre-012 down (stalled) within 10 s after stall-1",
         "passed": True, "latency_s": 3.71, "detail": "down (stalled) at +3.7 s"},
        {"id": "alert-1", "kind": "alert",
         "description": "alert for 1-ABC-234 on wanted within 5 s after plate-1",
         "passed": False, "latency_s": None,
         "detail": "no alert for 1-ABC-234 on wanted within 5 s; seen: alert #4 on stolen "
                   "at +1.3 s"},
    ]
    without = report_json("genk-demo", 42, 10.0, _applied(), [], checked=False)
    assert all(e["late_s"] is None for e in without["events"])
    assert (without["passed"], without["failed"], without["expectations"]) == (0, 0, [])


def test_event_descriptions() -> None:
    reboot = RebootEvent(id="r", at_s=60.0, line=1, camera="cam-1", duration_s=27.0)
    gps = GpsEvent(id="g", at_s=60.0, line=1, vehicle="combi-1", fault="outage")
    move = MoveEvent(id="m", at_s=60.0, line=1, camera="tmp-1", lat=50.91, lon=5.33,
                     street="Putvennestraat", duration_s=60.0)
    applied = [AppliedEvent(reboot, Phase.START, 60.0, 1.0),
               AppliedEvent(gps, Phase.START, 61.0, 1.0),
               AppliedEvent(move, Phase.START, 62.0, 1.0),
               AppliedEvent(move, Phase.END, 122.0, 1.0),
               AppliedEvent(reboot, Phase.END, 5400.0, 1.0),
               AppliedEvent(replace(WANTED, days=1), Phase.START, 5401.0, 1.0)]
    events = report_text("s", 1, 1.0, applied, [], checked=True).splitlines()[3:9]
    assert events == [
        "  00:01:00  r         reboot cam-1 (27s)",
        "  00:01:01  g         gps outage on combi-1",
        "  00:01:02  m         move tmp-1 to Putvennestraat (50.91000, 5.33000) (1m)",
        "  00:02:02  m.end     tmp-1 set up at Putvennestraat (50.91000, 5.33000)",
        "  01:30:00  r.end     cam-1 back from reboot",
        "  01:30:01  wanted-1  wanted 1-ABC-234 for 1 day: stolen in Genk",
    ]
    assert format_duration(120) == "2m" and format_duration(5430) == "1h30m30s"
    assert format_duration(27.4) == "27s" and format_duration(0) == "0s"
