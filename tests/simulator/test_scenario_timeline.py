"""The `[[timeline]]` and `[[expect]]` sections and dated hotlist entries: values and
defaults of every kind, and every mistake reported as file:line: field: message."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hub.hotlists import parse_file
from simulator.alpr_plates import PlateTraffic
from simulator.errors import ScenarioError
from simulator.scenario import Scenario, load_scenario, parse_scenario
from simulator.scenario_alpr import NAMED_LIST, HotlistEntrySpec
from simulator.scenario_timeline import REBOOT_S, STREAM_FAULTS
from simulator.stream_faults import StreamFault
from simulator.timeline_model import (
    Anchor,
    EventKind,
    ExpectKind,
    FaultEvent,
    GpsEvent,
    MoveEvent,
    PlateEvent,
    RebootEvent,
    WantedEvent,
)

MARK = "# <-"
# A tiny city of its own (the shipped small.toml may grow a timeline): 4 city cameras
# (3 fixed, 1 temporary), a police car with a mobile camera, two ALPR units; 10 minutes.
BASE = """\
[scenario]
name = "Timeline test"
seed = 7
start = 2026-03-02T08:00:00Z
duration = "10m"
bounds = { lat = [50.90, 50.96], lon = [5.30, 5.38] }

[[sites]]
id = "city"
name = "Stad"
kind = "city"

[[sites]]
id = "police"
name = "Politie"
kind = "police"

[[camera_groups]]
id = "centre"
site = "city"
kind = "fixed"
count = 3
streets = ["Grote Markt"]
password = "pw"

[[camera_groups]]
id = "dump"
site = "city"
kind = "temporary"
positions = [{ street = "Runkstersteenweg", lat = 50.918, lon = 5.3245 }]
password = "pw"

[[camera_groups]]
id = "combi"
site = "police"
kind = "mobile"
count = 1
streets = ["Kempische Steenweg"]
password = "pw"

[[vehicles]]
id = "combi-1"
site = "police"
camera = "combi-001"
route = "centre"
receiver = { profile = "ublox" }

[[alpr.unit]]
id = "u-centre"
camera = "centre-001"
format = "citywatch"

[[alpr.unit]]
id = "u-combi"
vehicle = "combi-1"
format = "openalpr"

[alpr.hotlist]
plates = ["1-ABC-234"]
"""

ALL_KINDS = """
[[timeline]]
id = "stall-1"
at = "00:01:00"
kind = "fault"
camera = "centre-002"
fault = "stall"
duration = "2m"

[[timeline]]
at = "90s"
kind = "fault"
camera = "centre-003"
fault = "wrong_password"

[[timeline]]
id = "boot"
at = 120
kind = "reboot"
camera = "centre-001"
duration = "45s"

[[timeline]]
id = "tunnel"
at = "3m"
kind = "gps"
vehicle = "combi-1"
fault = "outage"
duration = "30s"

[[timeline]]
id = "pass"
at = "4m"
kind = "plate"
unit = "u-combi"
plate = "1-abc-234"
seen = "1-A8C-234"
confidence = 0.7
country = "BE"

[[timeline]]
id = "relocate"
at = "5m"
kind = "move"
camera = "dump-001"
to = { lat = 50.94, lon = 5.36, street = "Putvennestraat" }
duration = "2m"

[[timeline]]
id = "officer"
at = "00:06:00"
kind = "wanted"
plate = "1-WNT-777"
reason = "burglary in Kiewit"
days = 3
"""


def _parse(extra: str, base: str = BASE) -> Scenario:
    return parse_scenario(base + extra, "t.toml")


def _marked_line(text: str) -> int:
    return next(i for i, s in enumerate(text.splitlines(), 1) if MARK in s)


# --- valid timelines ----------------------------------------------------------------------


def test_every_event_kind_with_its_values() -> None:
    sc = _parse(ALL_KINDS)
    lines = (BASE + ALL_KINDS).splitlines()
    assert sc.timeline == (
        FaultEvent("stall-1", 60.0, sc.timeline[0].line, "centre-002", "stall", 120.0),
        FaultEvent("timeline-2", 90.0, sc.timeline[1].line, "centre-003", "wrong_password"),
        RebootEvent("boot", 120.0, sc.timeline[2].line, "centre-001", 45.0),
        GpsEvent("tunnel", 180.0, sc.timeline[3].line, "combi-1", "outage", 30.0),
        PlateEvent("pass", 240.0, sc.timeline[4].line, "u-combi", "1-ABC-234", "1-A8C-234",
                   0.7, "BE"),
        MoveEvent("relocate", 300.0, sc.timeline[5].line, "dump-001", 50.94, 5.36,
                  "Putvennestraat", 120.0),
        WantedEvent("officer", 360.0, sc.timeline[6].line, "1-WNT-777", "burglary in Kiewit",
                    3),
    )
    assert [e.kind for e in sc.timeline] == [
        EventKind.FAULT, EventKind.FAULT, EventKind.REBOOT, EventKind.GPS, EventKind.PLATE,
        EventKind.MOVE, EventKind.WANTED]
    # Each event's line is its [[timeline]] header.
    for e in sc.timeline:
        assert e.line is not None and lines[e.line - 1] == "[[timeline]]"
    assert all(isinstance(e.at_s, float) for e in sc.timeline)
    assert sc.expectations == ()


def test_timeline_keeps_file_order() -> None:
    text = """
[[timeline]]
at = "5m"
kind = "wanted"
plate = "1-AAA-111"
reason = "late"

[[timeline]]
at = "1m"
kind = "wanted"
plate = "1-BBB-222"
reason = "early"
"""
    sc = _parse(text)
    assert [(e.id, e.at_s) for e in sc.timeline] == [("timeline-1", 300.0), ("timeline-2", 60.0)]


def test_event_defaults() -> None:
    text = """
[[timeline]]
at = "1m"
kind = "plate"
unit = "u-centre"
plate = "1-ABC-234"

[[timeline]]
at = "2m"
kind = "wanted"
plate = "1-WNT-777"
reason = "x"

[[timeline]]
at = "3m"
kind = "move"
camera = "dump-001"
to = { lat = 50.93, lon = 5.33 }

[[timeline]]
at = "4m"
kind = "gps"
vehicle = "combi-1"
fault = "unplug"
"""
    plate, wanted, move, gps = _parse(text).timeline
    assert isinstance(plate, PlateEvent) and isinstance(wanted, WantedEvent)
    assert isinstance(move, MoveEvent) and isinstance(gps, GpsEvent)
    assert [e.id for e in (plate, wanted, move, gps)] == [
        "timeline-1", "timeline-2", "timeline-3", "timeline-4"]
    assert (plate.seen, plate.confidence, plate.country) == (None, 0.92, None)
    assert wanted.days == 1
    assert (move.duration_s, move.street) == (60.0, None)
    assert gps.duration_s is None


REBOOTS = "".join(
    f'\n[[timeline]]\nid = "r{n}"\nat = "{n}m"\nkind = "reboot"\ncamera = "centre-001"\n'
    for n in range(1, 7))


def _reboot_s(extra: str, base: str = BASE) -> list[float]:
    events = _parse(extra, base).timeline
    assert all(isinstance(e, RebootEvent) for e in events)
    return [e.duration_s for e in events if isinstance(e, RebootEvent)]


def test_reboot_duration_is_drawn_from_seed_and_id() -> None:
    first, again = _reboot_s(REBOOTS), _reboot_s(REBOOTS)
    other = _reboot_s(REBOOTS, BASE.replace("seed = 7", "seed = 8"))
    assert first == again
    assert all(REBOOT_S[0] <= s <= REBOOT_S[1] for s in first + other), (first, other)
    assert first != other
    assert len(set(first)) > 1, "each event draws its own"
    # Adding an event in front does not change the others' draws (drawn per id).
    extra = '\n[[timeline]]\nid = "r0"\nat = "30s"\nkind = "reboot"\ncamera = "centre-002"\n'
    assert _reboot_s(extra + REBOOTS)[1:] == first


def test_stream_fault_names_agree_with_the_simulator() -> None:
    assert {*STREAM_FAULTS, "offline"} == {f.value for f in StreamFault}


# --- valid expectations -------------------------------------------------------------------


EXPECTS = """
[[expect]]
id = "stall-seen"
kind = "camera"
after = "stall-1"
within = "10s"
camera = "centre-002"
state = "down"
reason = "stalled"

[[expect]]
kind = "camera"
after = "stall-1.end"
within = 30
camera = "centre-002"
state = "ok"

[[expect]]
kind = "cameras"
within = "2m"
state = "ok"
site = "city"
at_least = 4

[[expect]]
kind = "vehicle"
after = "tunnel.end"
within = "10s"
vehicle = "combi-1"
state = "no fix"

[[expect]]
kind = "alert"
after = "pass"
within = "2s"
plate = "1-abc-234"
list = "wanted"

[[expect]]
kind = "no_alert"
at = "00:07:00"
plate = "1-WNT-777"

[[expect]]
kind = "read"
after = "boot.end"
within = "3s"
plate = "1-ABC-234"
camera = "combi-001"
"""


def test_every_expectation_kind_with_its_values() -> None:
    sc = _parse(ALL_KINDS + EXPECTS)
    ex = sc.expectations
    assert [e.id for e in ex] == ["stall-seen", "expect-2", "expect-3", "expect-4",
                                  "expect-5", "expect-6", "expect-7"]
    assert [e.kind for e in ex] == [ExpectKind.CAMERA, ExpectKind.CAMERA, ExpectKind.CAMERAS,
                                    ExpectKind.VEHICLE, ExpectKind.ALERT, ExpectKind.NO_ALERT,
                                    ExpectKind.READ]
    cam, back, many, veh, alert, quiet, read = ex
    assert (cam.anchor, cam.within_s, cam.camera, cam.state, cam.reason) == (
        Anchor("stall-1"), 10.0, "centre-002", "down", "stalled")
    assert (back.anchor, back.within_s, back.reason) == (Anchor("stall-1", end=True), 30.0, None)
    assert (many.anchor, many.state, many.site, many.at_least) == (Anchor(), "ok", "city", 4)
    assert (veh.anchor, veh.vehicle, veh.state) == (Anchor("tunnel", end=True), "combi-1",
                                                   "no fix")
    assert (alert.plate, alert.list, alert.within_s) == ("1-ABC-234", "wanted", 2.0)
    assert (quiet.anchor, quiet.within_s, quiet.plate) == (Anchor(at_s=420.0), None,
                                                          "1-WNT-777")
    assert (read.anchor, read.camera, read.plate) == (Anchor("boot", end=True), "combi-001",
                                                      "1-ABC-234")
    assert read.list is None and read.vehicle is None and read.at_least is None
    lines = (BASE + ALL_KINDS + EXPECTS).splitlines()
    assert all(lines[e.line - 1] == "[[expect]]" for e in ex if e.line is not None)
    assert [a.anchor.describe() for a in (cam, back, many, quiet)] == [
        "after stall-1", "after stall-1.end", "after the start", "after 00:07:00"]


# --- mistakes -------------------------------------------------------------------------------


def _fault(extra: str = "", camera: str = "centre-002", fault: str = "stall") -> str:
    return (f'[[timeline]]\nid = "stall-1"\nat = "1m"\nkind = "fault"\ncamera = "{camera}"\n'
            f'fault = "{fault}"\n' + extra)


PLATE = '[[timeline]]\nid = "p1"\nat = "1m"\nkind = "plate"\nunit = "u-centre"\n'
MOVE = '[[timeline]]\nat = "1m"\nkind = "move"\ncamera = "dump-001"\n'


def _expect(body: str, head: str = "[[expect]]\n") -> str:
    return _fault('duration = "1m"\n') + PLATE + 'plate = "1-ABC-234"\n' + head + body


CASES = [
    # [[timeline]]
    ("bad-kind", '[[timeline]]\nat = "1m"\nkind = "explode" # <-\n', "timeline[0].kind",
     'must be one of "fault", "reboot", "gps", "plate", "move", "wanted", got "explode"'),
    ("missing-kind", '[[timeline]] # <-\nat = "1m"\n', "timeline[0].kind",
     "required key is missing"),
    ("missing-at", '[[timeline]] # <-\nkind = "reboot"\ncamera = "centre-001"\n',
     "timeline[0].at", "required key is missing"),
    ("unknown-key", _fault('colour = "red" # <-\n'), "timeline[0].colour", "unknown key"),
    ("key-of-other-kind", _fault('plate = "1-ABC-234" # <-\n'), "timeline[0].plate",
     'does not apply to a "fault" event (its keys: id, at, kind, camera, fault, duration)'),
    ("missing-camera", '[[timeline]] # <-\nat = "1m"\nkind = "fault"\nfault = "stall"\n',
     "timeline[0].camera", "required key is missing"),
    ("unknown-camera", _fault().replace('"centre-002"', '"centre-0002" # <-'),
     "timeline[0].camera", 'unknown camera "centre-0002"; did you mean "centre-002"?'),
    ("unknown-vehicle", '[[timeline]]\nat = "1m"\nkind = "gps"\nvehicle = "combi-2" # <-\n'
     'fault = "outage"\n', "timeline[0].vehicle",
     'unknown vehicle "combi-2"; did you mean "combi-1"? (vehicles: combi-1)'),
    ("unknown-unit", '[[timeline]]\nat = "1m"\nkind = "plate"\nunit = "u-centr" # <-\n'
     'plate = "1-ABC-234"\n', "timeline[0].unit",
     'unknown ALPR unit "u-centr"; did you mean "u-centre"? (ALPR units: u-centre, u-combi)'),
    ("at-beyond-end", _fault().replace('at = "1m"', 'at = "00:10:00" # <-'), "timeline[0].at",
     '"00:10:00" is not before the end of the scenario (00:10:00)'),
    ("at-garbage", _fault().replace('at = "1m"', 'at = "soon" # <-'), "timeline[0].at",
     'must be a time from the start such as "00:05:00"'),
    ("at-negative", _fault().replace('at = "1m"', "at = -5 # <-"), "timeline[0].at",
     "got -5"),
    ("fault-ends-after", _fault().replace('at = "1m"', 'at = "9m"') + 'duration = "2m" # <-\n',
     "timeline[0].duration",
     "the fault ends at 00:11:00, after the end of the scenario (00:10:00)"),
    ("move-default-ends-after", MOVE.replace('at = "1m"', 'at = "9m30s" # <-')
     + "to = { lat = 50.93, lon = 5.33 }\n", "timeline[0].at",
     "the move ends at 00:10:30 (its default duration is 60 s)"),
    ("duration-zero", _fault('duration = "0s" # <-\n'), "timeline[0].duration",
     'must be a duration longer than zero such as "2m", got "0s"'),
    ("duration-negative", _fault("duration = -30 # <-\n"), "timeline[0].duration",
     "must be a duration longer than zero"),
    ("reboot-duration-zero", '[[timeline]]\nat = "1m"\nkind = "reboot"\ncamera = "centre-001"'
     "\nduration = 0 # <-\n", "timeline[0].duration", "longer than zero"),
    ("move-fixed-camera", MOVE.replace('"dump-001"', '"centre-001" # <-')
     + "to = { lat = 50.93, lon = 5.33 }\n", "timeline[0].camera",
     'camera "centre-001" is fixed: only a temporary camera is moved'),
    ("move-outside-bounds", MOVE + "to = { lat = 51.5, lon = 5.33 } # <-\n",
     "timeline[0].to.lat", "51.5 is outside the scenario bounds"),
    ("move-missing-to", MOVE.replace("[[timeline]]", "[[timeline]] # <-"), "timeline[0].to",
     "required key is missing"),
    ("move-to-key", MOVE + "to = { lat = 50.93, lon = 5.33, height = 3 } # <-\n",
     "timeline[0].to.height", "unknown key"),
    ("fault-name-of-gps", _fault(fault="outage").replace('"outage"', '"outage" # <-'),
     "timeline[0].fault", 'got "outage": that is a fault of a kind = "gps" event'),
    ("gps-fault-of-camera", '[[timeline]]\nat = "1m"\nkind = "gps"\nvehicle = "combi-1"\n'
     'fault = "stall" # <-\n', "timeline[0].fault",
     'must be one of "outage", "jump", "corrupt", "unplug", got "stall": that is a fault'),
    ("fault-unknown", _fault(fault="stal").replace('"stal"', '"stal" # <-'),
     "timeline[0].fault", 'got "stal"; did you mean "stall"?'),
    ("duplicate-id", _fault() + '[[timeline]]\nid = "stall-1" # <-\nat = "2m"\n'
     'kind = "reboot"\ncamera = "centre-001"\n', "timeline[1].id",
     'duplicate timeline event id "stall-1" (first defined at line '),
    ("default-id-taken", '[[timeline]]\nid = "timeline-2"\nat = "1m"\nkind = "reboot"\n'
     'camera = "centre-001"\n[[timeline]] # <-\nat = "2m"\nkind = "reboot"\n'
     'camera = "centre-002"\n', "timeline[1].id", 'duplicate timeline event id "timeline-2"'),
    ("bad-id", _fault().replace('id = "stall-1"', 'id = "Stall 1" # <-'), "timeline[0].id",
     "must be an id of lowercase letters"),
    ("plate-bad", PLATE + 'plate = "??" # <-\n', "timeline[0].plate",
     "must be a plate of letters and digits"),
    ("confidence", PLATE + 'plate = "1-ABC-234"\nconfidence = 1.5 # <-\n',
     "timeline[0].confidence", "must be a number above 0 and up to 1, got 1.5"),
    ("confidence-zero", PLATE + 'plate = "1-ABC-234"\nconfidence = 0 # <-\n',
     "timeline[0].confidence", "got 0"),
    ("country", PLATE + 'plate = "1-ABC-234"\ncountry = "bel" # <-\n', "timeline[0].country",
     "ISO 3166 alpha-2"),
    ("wanted-no-reason", '[[timeline]] # <-\nat = "1m"\nkind = "wanted"\nplate = "1-A-1"\n',
     "timeline[0].reason", "required key is missing"),
    ("wanted-days", '[[timeline]]\nat = "1m"\nkind = "wanted"\nplate = "1-AB-1"\n'
     'reason = "r"\ndays = 0 # <-\n', "timeline[0].days", "must be an integer from 1 to 100"),
    # [[expect]]
    ("expect-unknown-after", 'kind = "alert"\nafter = "stal-1" # <-\nwithin = "2s"\n'
     'plate = "1-ABC-234"\n', "expect[0].after",
     'unknown timeline event "stal-1"; did you mean "stall-1"? (events: x, stall-1, p1)'),
    ("expect-end-of-plate", 'kind = "alert"\nafter = "p1.end" # <-\nwithin = "2s"\n'
     'plate = "1-ABC-234"\n', "expect[0].after", 'timeline event "p1" has no end'),
    ("expect-end-of-open-fault", 'kind = "camera"\nafter = "x.end" # <-\nwithin = "2s"\n'
     'camera = "centre-001"\nstate = "ok"\n', "expect[0].after", 'timeline event "x" has no end'),
    ("expect-at-and-after", 'kind = "no_alert"\nat = "1m"\nafter = "p1" # <-\n'
     'plate = "1-ABC-234"\n', "expect[0].after", 'give either "after"'),
    ("expect-at-beyond", 'kind = "no_alert"\nat = "20m" # <-\nplate = "1-ABC-234"\n',
     "expect[0].at", "is not before the end of the scenario"),
    ("expect-within-missing", 'kind = "camera"\ncamera = "centre-001"\nstate = "ok"\n',
     "expect[0].within", "required key is missing"),
    ("expect-within-zero", 'kind = "alert"\nwithin = "0s" # <-\nplate = "1-ABC-234"\n',
     "expect[0].within", "longer than zero"),
    ("expect-state-of-vehicle", 'kind = "camera"\nwithin = "5s"\ncamera = "centre-001"\n'
     'state = "fix" # <-\n', "expect[0].state",
     'must be one of "ok", "degraded", "down", "unknown", got "fix"'),
    ("expect-state-of-camera", 'kind = "vehicle"\nwithin = "5s"\nvehicle = "combi-1"\n'
     'state = "down" # <-\n', "expect[0].state",
     'must be one of "fix", "no fix", "stale", "no device", got "down"'),
    ("expect-at-least-too-many", 'kind = "cameras"\nwithin = "5s"\nstate = "ok"\n'
     'site = "city"\nat_least = 6 # <-\n', "expect[0].at_least",
     'is 6 but site "city" has 4 cameras'),
    ("expect-at-least-all", 'kind = "cameras"\nwithin = "5s"\nstate = "ok"\n'
     "at_least = 6 # <-\n", "expect[0].at_least", "is 6 but the scenario has 5 cameras"),
    ("expect-at-least-zero", 'kind = "cameras"\nwithin = "5s"\nstate = "ok"\n'
     "at_least = 0 # <-\n", "expect[0].at_least", "must be an integer of 1 or more"),
    ("expect-unknown-site", 'kind = "cameras"\nwithin = "5s"\nstate = "ok"\n'
     'site = "cty" # <-\nat_least = 1\n', "expect[0].site", 'unknown site "cty"'),
    ("expect-unknown-camera", 'kind = "camera"\nwithin = "5s"\ncamera = "centre-9" # <-\n'
     'state = "ok"\n', "expect[0].camera", 'unknown camera "centre-9"'),
    ("expect-unknown-vehicle", 'kind = "vehicle"\nwithin = "5s"\nvehicle = "van" # <-\n'
     'state = "fix"\n', "expect[0].vehicle", 'unknown vehicle "van"'),
    ("expect-key-of-other-kind", 'kind = "alert"\nwithin = "5s"\nplate = "1-ABC-234"\n'
     'state = "ok" # <-\n', "expect[0].state", 'does not apply to a "alert" expectation'),
    ("expect-unknown-kind", 'kind = "alarm" # <-\n', "expect[0].kind",
     'got "alarm"; did you mean "alert"?'),
    ("expect-read-camera-without-unit", 'kind = "read"\nwithin = "5s"\nplate = "1-ABC-234"\n'
     'camera = "centre-002" # <-\n', "expect[0].camera",
     'camera "centre-002" has no ALPR unit (units are on: centre-001, combi-001)'),
    ("expect-reason-empty", 'kind = "camera"\nwithin = "5s"\ncamera = "centre-001"\n'
     'state = "down"\nreason = "" # <-\n', "expect[0].reason", "must be a non-empty string"),
    ("expect-duplicate-id", 'id = "e"\nkind = "no_alert"\nplate = "1-ABC-234"\n'
     '[[expect]]\nid = "e" # <-\nkind = "no_alert"\nplate = "1-ABC-235"\n', "expect[1].id",
     'duplicate expectation id "e"'),
]
# The open fault "x" for expect-end-of-open-fault.
_OPEN = '[[timeline]]\nid = "x"\nat = "1m"\nkind = "fault"\ncamera = "centre-001"\nfault = "slow"\n'


def _case_text(snippet: str, field: str) -> str:
    if not field.startswith("expect"):
        return BASE + "\n" + snippet
    head = "[[expect]] # <-\n" if MARK not in snippet else "[[expect]]\n"
    return BASE + "\n" + _OPEN + _expect(snippet, head)


@pytest.mark.parametrize(("snippet", "field", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_invalid_timeline_or_expect(tmp_path: Path, snippet: str, field: str,
                                    message: str) -> None:
    text = _case_text(snippet, field)
    line = _marked_line(text)
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    found = [p for p in info.value.problems if p.field == field]
    assert found, str(info.value)
    assert found[0].line == line, str(info.value)
    assert message in found[0].message, found[0].message
    assert str(found[0]).startswith(f"{path}:{line}: {field}: "), str(found[0])


def test_duplicate_id_names_the_first_definition() -> None:
    text = BASE + _fault() + _fault().replace('at = "1m"', 'at = "2m"')
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    (problem,) = info.value.problems
    first = text.splitlines().index("[[timeline]]") + 1
    assert problem.message == (
        f'duplicate timeline event id "stall-1" (first defined at line {first})')


def test_an_invalid_event_is_reported_once_not_again_by_its_anchors() -> None:
    # The event names an unknown camera; expectations after it (and its end) stay quiet.
    text = BASE + _fault('duration = "1m"\n', camera="nowhere") + _expect_after("stall-1.end") \
        + _expect_after("stall-1")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    assert [p.field for p in info.value.problems] == ["timeline[0].camera"]


def test_an_anchor_to_a_bad_id_is_not_reported_twice() -> None:
    text = BASE + _fault().replace('"stall-1"', '"Stall 1"') + _expect_after("Stall 1")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    assert [p.field for p in info.value.problems] == ["timeline[0].id"]


def test_invalid_alpr_section_does_not_make_units_unknown() -> None:
    text = BASE.replace('format = "openalpr"', 'format = "morse"') + PLATE.replace(
        '"u-centre"', '"u-combi"') + 'plate = "1-ABC-234"\n'
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    assert [p.field for p in info.value.problems] == ["alpr.unit[1].format"]


def test_all_problems_at_once_in_line_order() -> None:
    text = BASE + _fault('duration = "0s"\n', camera="nope") + _expect_after("nothing")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    assert [p.field for p in info.value.problems] == [
        "timeline[0].camera", "timeline[0].duration", "expect[0].after"]
    lines = [p.line or 0 for p in info.value.problems]
    assert lines == sorted(lines)


def _expect_after(anchor: str) -> str:
    return (f'[[expect]]\nkind = "camera"\nafter = "{anchor}"\nwithin = "5s"\n'
            'camera = "centre-001"\nstate = "ok"\n')


# --- dated hotlist entries ---------------------------------------------------------------


ENTRIES = """
[[alpr.hotlist.entries]]
plate = "1-exp-001"
list = "stolen"
category = "stolen vehicle"
priority = 80
effective = 2026-01-01
expiry = 2026-03-01
covert = false

[[alpr.hotlist.entries]]
plate = "1-NEW-002"
effective = 2026-04-01T10:00:00+02:00

[[alpr.hotlist.entries]]
plate = "1-CVT-003"
list = "covert-ops"
covert = true
expiry = "2026-12-31"
"""


def _with_generated(size: int) -> str:
    return BASE.replace('plates = ["1-ABC-234"]',
                        f'plates = ["1-ABC-234"]\ngenerated = {{ size = {size} }}')


def test_hotlist_entries_values_and_defaults() -> None:
    sc = _parse(ENTRIES)
    assert sc.alpr.hotlist is not None
    exp, new, cvt = sc.alpr.hotlist.entries
    assert exp == HotlistEntrySpec("1-EXP-001", "stolen", "stolen vehicle", 80,
                                   date(2026, 1, 1), date(2026, 3, 1), False)
    name, category, priority = NAMED_LIST
    assert new == HotlistEntrySpec(
        "1-NEW-002", name, category, priority,
        datetime(2026, 4, 1, 10, tzinfo=timezone(timedelta(hours=2))), None, False)
    assert (cvt.list, cvt.covert, cvt.expiry, cvt.priority) == (
        "covert-ops", True, date(2026, 12, 31), priority)
    assert sc.alpr.hotlist.plates == ("1-ABC-234",)


def test_hotlist_file_with_entries_loads_in_the_hub(tmp_path: Path) -> None:
    sc = _parse(ENTRIES, _with_generated(20))
    traffic = PlateTraffic(sc.alpr, sc.seed)
    path = traffic.write_hotlist(tmp_path / "hotlist.csv")
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == "plate,list,category,priority,effective,expiry,covert"
    parsed = parse_file(path, name="sim")
    assert parsed.rejected == 0 and len(parsed) == 1 + 20 + 3
    by_plate = {e.plate: e for e in parsed.entries()}
    exp = by_plate["1EXP001"]
    assert (exp.list, exp.category, exp.priority, exp.covert) == (
        "stolen", "stolen vehicle", 80, False)
    assert exp.effective == datetime(2026, 1, 1, tzinfo=UTC)
    # A date-only expiry is the end of that day, as the hub reads it.
    assert exp.expiry is not None and exp.expiry.date() == date(2026, 3, 1)
    assert exp.expiry > datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    new = by_plate["1NEW002"]
    assert new.effective == datetime(2026, 4, 1, 8, tzinfo=UTC) and new.expiry is None
    assert (new.list, new.priority) == ("scenario", 90)
    assert by_plate["1CVT003"].covert is True
    named = by_plate["1ABC234"]
    assert (named.effective, named.expiry, named.covert) == (None, None, False)
    assert sum(e.effective is None and e.expiry is None for e in parsed.entries()) == 21


def test_traffic_never_draws_dated_entries() -> None:
    sc = _parse(ENTRIES, _with_generated(5))
    sc = dataclass_replace_share(sc, 1.0)
    traffic = PlateTraffic(sc.alpr, sc.seed)
    assert len(traffic.hotlist) == 1 + 5 + 3
    rng = random.Random(3)
    drawn = {traffic.draw(rng)[0].text for _ in range(300)}
    assert drawn == {r.plate.text for r in traffic.hotlist[:6]}
    # Entries alone: the traffic has nothing hotlisted to draw.
    only = _parse(ENTRIES, BASE.replace('plates = ["1-ABC-234"]', ""))
    only = dataclass_replace_share(only, 1.0)
    t2 = PlateTraffic(only.alpr, only.seed)
    assert len(t2.hotlist) == 3 and t2.drawn_hotlist == ()
    assert not any(t2.draw(rng)[1] for _ in range(100))


def dataclass_replace_share(sc: Scenario, share: float) -> Scenario:
    traffic = dataclasses.replace(sc.alpr.traffic, hotlist_share=share)
    return dataclasses.replace(sc, alpr=dataclasses.replace(sc.alpr, traffic=traffic))


def test_hotlist_without_entries_keeps_four_columns(tmp_path: Path) -> None:
    sc = _parse("")
    path = PlateTraffic(sc.alpr, sc.seed).write_hotlist(tmp_path / "h.csv")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "plate,list,category,priority", "1-ABC-234,scenario,named,90"]


HOTLIST_CASES = [
    ("bad-date", 'entries = [{ plate = "1-A-1", expiry = "soon" }] # <-\n',
     "alpr.hotlist.entries[0].expiry", 'must be a date such as 2026-03-01'),
    ("naive-datetime", 'entries = [{ plate = "1-A-1", effective = 2026-03-01T08:00:00 }] # <-\n',
     "alpr.hotlist.entries[0].effective", "with a UTC offset"),
    ("expiry-before", 'entries = [{ plate = "1-A-1", effective = 2026-03-02, '
     "expiry = 2026-03-01 }] # <-\n", "alpr.hotlist.entries[0].expiry",
     "2026-03-01 is before the effective date 2026-03-02"),
    ("priority", 'entries = [{ plate = "1-A-1", priority = 101 }] # <-\n',
     "alpr.hotlist.entries[0].priority", "must be an integer from 0 to 100"),
    ("no-plate", "entries = [{ list = \"x\" }] # <-\n", "alpr.hotlist.entries[0].plate",
     "required key is missing"),
    ("unknown-key", 'entries = [{ plate = "1-A-1", expires = 2026-01-01 }] # <-\n',
     "alpr.hotlist.entries[0].expires", 'did you mean "expiry"?'),
    ("covert", 'entries = [{ plate = "1-A-1", covert = "yes" }] # <-\n',
     "alpr.hotlist.entries[0].covert", "must be true or false"),
    ("duplicate-named", 'entries = [{ plate = "1abc234" }] # <-\n',
     "alpr.hotlist.entries[0].plate", 'plate "1ABC234" is already on the hotlist at line'),
    ("not-array", 'entries = { plate = "1-A-1" } # <-\n', "alpr.hotlist.entries",
     "must be an array"),
]


@pytest.mark.parametrize(("snippet", "field", "message"), [c[1:] for c in HOTLIST_CASES],
                         ids=[c[0] for c in HOTLIST_CASES])
def test_invalid_hotlist_entries(snippet: str, field: str, message: str) -> None:
    text = BASE + snippet
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "t.toml")
    found = [p for p in info.value.problems if p.field == field]
    assert found, str(info.value)
    assert found[0].line == _marked_line(text), str(info.value)
    assert message in found[0].message, found[0].message


def test_scenario_without_the_new_sections() -> None:
    sc = _parse("")
    assert (sc.timeline, sc.expectations) == ((), ())
    assert sc.alpr.hotlist is not None and sc.alpr.hotlist.entries == ()
