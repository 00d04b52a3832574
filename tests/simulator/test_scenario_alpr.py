"""The `[alpr]` scenario section: the shipped Hasselt units, defaults, and every mistake
reported as file:line: field: message."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.model import CameraKind
from simulator.scenario import load_scenario, parse_scenario
from simulator.scenario_alpr import (
    DEFAULT_COUNTRIES,
    DEFAULT_QUEUE,
    FIRST_SENDER_ID,
    AlprSpec,
)

ROOT = Path(__file__).resolve().parents[2]
HASSELT = ROOT / "scenarios" / "hasselt.toml"
SMALL_TEXT = (ROOT / "scenarios" / "small.toml").read_text(encoding="utf-8")
MARK = "# <-"


def test_hasselt_alpr_units() -> None:
    sc = load_scenario(HASSELT)
    units = sc.alpr.units
    fixed = [u for u in units if not u.mobile]
    mobile = [u for u in units if u.mobile]
    assert len(fixed) == 4
    for u in fixed:
        cam = sc.camera(u.camera)
        assert cam.kind is CameraKind.FIXED and "R70" in cam.name, cam
    assert sorted(u.vehicle or "" for u in mobile) == sorted(v.id for v in sc.vehicles)
    for u in mobile:
        assert u.camera == sc.vehicle(u.vehicle or "").camera
    assert set(Counter(u.format for u in units)) == {"citywatch", "openalpr",
                                                     "platerecognizer", "onvif"}
    # Plates as ONVIF events come from fixed ring-road cameras only.
    events = [u for u in units if u.format == "onvif"]
    assert 1 <= len(events) <= 2 and all(u in fixed for u in events)
    assert sc.alpr.event_cameras == tuple(u.camera for u in events)
    assert len({u.format for u in fixed}) >= 3, "fixed units stay mixed"
    assert any(u.multipart for u in units)
    senders = [u.sender_id for u in units]
    assert len(set(senders)) == len(senders)
    assert sum(s for _, s in sc.alpr.traffic.countries) == pytest.approx(1.0)
    assert sc.alpr.hotlist is not None and sc.alpr.hotlist.generated >= 1000


def test_no_alpr_section_gives_an_empty_spec() -> None:
    assert parse_scenario(SMALL_TEXT).alpr == AlprSpec()


def test_defaults_and_derived_sender_ids() -> None:
    text = SMALL_TEXT + """
[[alpr.unit]]
id = "a"
camera = "centre-001"
format = "citywatch"

[[alpr.unit]]
id = "b"
camera = "centre-002"
format = "openalpr"
sender_id = 1001

[[alpr.unit]]
id = "c"
vehicle = "combi-1"
format = "platerecognizer"
"""
    alpr = parse_scenario(text).alpr
    a, b, c = alpr.units
    # Derived ids take the free numbers from FIRST_SENDER_ID in file order (b took 1001).
    free = [n for n in range(FIRST_SENDER_ID, FIRST_SENDER_ID + 10) if n != 1001]
    assert (a.sender_id, b.sender_id, c.sender_id) == (free[0], 1001, free[1])
    assert a.reads_per_minute == 10.0 and a.queue == DEFAULT_QUEUE and not a.multipart
    assert (c.vehicle, c.camera) == ("combi-1", "combi-001")
    assert alpr.traffic.countries == DEFAULT_COUNTRIES
    assert alpr.hotlist is None
    assert parse_scenario(text).alpr == alpr, "deterministic"


def test_onvif_unit_on_a_fixed_camera() -> None:
    text = SMALL_TEXT + """
[[alpr.unit]]
id = "ev"
camera = "centre-003"
format = "onvif"
reads_per_minute = 12

[[alpr.unit]]
id = "http"
camera = "centre-001"
format = "openalpr"
"""
    alpr = parse_scenario(text).alpr
    ev, http = alpr.units
    assert (ev.format, ev.camera, ev.vehicle, ev.reads_per_minute) == (
        "onvif", "centre-003", None, 12.0)
    assert (ev.sender_id, http.sender_id) == (FIRST_SENDER_ID, FIRST_SENDER_ID + 1)
    assert alpr.event_cameras == ("centre-003",)


def test_traffic_and_hotlist_values() -> None:
    text = SMALL_TEXT + """
[alpr.traffic]
misread_share = 0.3
hotlist_share = 0
countries = { BE = 0.5, NL = 0.5 }
population = 12
hourly = [1, 1, 1, 1, 1, 1, 2, 3, 3, 2, 1, 1, 1, 1, 1, 1, 2, 3, 3, 2, 1, 1, 1, 0]

[alpr.hotlist]
plates = ["1-abc-234", "AC-LR 1212"]
generated = { size = 7, file = "list.csv" }
"""
    alpr = parse_scenario(text).alpr
    t = alpr.traffic
    assert (t.misread_share, t.hotlist_share, t.population) == (0.3, 0.0, 12)
    assert t.countries == (("BE", 0.5), ("NL", 0.5))
    assert t.rate_factor(7) == 3.0 and t.rate_factor(23) == 0.0
    assert alpr.hotlist is not None
    assert alpr.hotlist.plates == ("1-ABC-234", "AC-LR 1212")
    assert (alpr.hotlist.generated, alpr.hotlist.file) == (7, "list.csv")


UNIT = '[[alpr.unit]]\nid = "u1"\ncamera = "centre-001"\nformat = "citywatch"\n'
CASES = [
    ("unknown-camera", '[[alpr.unit]]\nid = "u1"\ncamera = "centre-009" # <-\n'
     'format = "citywatch"\n', "alpr.unit[0].camera", 'unknown camera "centre-009"'),
    ("unknown-vehicle", '[[alpr.unit]]\nid = "u1"\nvehicle = "combi-2" # <-\n'
     'format = "citywatch"\n', "alpr.unit[0].vehicle", 'unknown vehicle "combi-2"'),
    ("unknown-format", '[[alpr.unit]]\nid = "u1"\ncamera = "centre-001"\n'
     'format = "hikvision" # <-\n', "alpr.unit[0].format", "must be one of"),
    ("rate-zero", UNIT + "reads_per_minute = 0 # <-\n", "alpr.unit[0].reads_per_minute",
     "must be a number of reads above 0"),
    ("rate-string", UNIT + 'reads_per_minute = "fast" # <-\n',
     "alpr.unit[0].reads_per_minute", 'got "fast"'),
    ("mobile-camera-as-fixed", '[[alpr.unit]]\nid = "u1"\ncamera = "combi-001" # <-\n'
     'format = "citywatch"\n', "alpr.unit[0].camera", 'put the unit on its car with '
     'vehicle = "combi-1"'),
    ("both-mounts", '[[alpr.unit]] # <-\nid = "u1"\ncamera = "centre-001"\n'
     'vehicle = "combi-1"\nformat = "citywatch"\n', "alpr.unit[0]", "not both"),
    ("no-mount", '[[alpr.unit]] # <-\nid = "u1"\nformat = "citywatch"\n', "alpr.unit[0]",
     'needs "camera"'),
    ("missing-format", '[[alpr.unit]] # <-\nid = "u1"\ncamera = "centre-001"\n',
     "alpr.unit[0].format", "required key is missing"),
    ("unknown-key", UNIT + "speed = 3 # <-\n", "alpr.unit[0].speed", "unknown key"),
    ("duplicate-id", UNIT + '[[alpr.unit]]\nid = "u1" # <-\ncamera = "centre-003"\n'
     'format = "citywatch"\n', "alpr.unit[1].id", 'duplicate ALPR unit id "u1"'),
    ("two-units-one-camera", UNIT + '[[alpr.unit]]\nid = "u2"\ncamera = "centre-001" # <-\n'
     'format = "citywatch"\n', "alpr.unit[1].camera", "already has the ALPR unit"),
    ("duplicate-sender", UNIT + "sender_id = 5\n" + '[[alpr.unit]]\nid = "u2"\n'
     'camera = "centre-002"\nformat = "openalpr"\nsender_id = 5 # <-\n',
     "alpr.unit[1].sender_id", "sender id 5 is also used"),
    ("sender-negative", UNIT + "sender_id = -4 # <-\n", "alpr.unit[0].sender_id",
     "must be an integer from 1"),
    ("onvif-on-vehicle", '[[alpr.unit]]\nid = "u1"\nvehicle = "combi-1"\n'
     'format = "onvif" # <-\n', "alpr.unit[0].format",
     'an "onvif" unit publishes plate events on a fixed camera'),
    ("onvif-on-mobile-camera", '[[alpr.unit]]\nid = "u1"\ncamera = "combi-001" # <-\n'
     'format = "onvif"\n', "alpr.unit[0].camera",
     'camera "combi-001" is mobile: an "onvif" unit publishes on a fixed camera'),
    ("onvif-multipart", '[[alpr.unit]]\nid = "u1"\ncamera = "centre-001"\n'
     'format = "onvif"\nmultipart = true # <-\n', "alpr.unit[0].multipart",
     'only a "platerecognizer" unit posts multipart'),
    ("multipart-wrong-format", UNIT + "multipart = true # <-\n", "alpr.unit[0].multipart",
     'only a "platerecognizer" unit posts multipart'),
    ("queue-zero", UNIT + "queue = 0 # <-\n", "alpr.unit[0].queue", "must be an integer"),
    ("misread-share", "[alpr.traffic]\nmisread_share = 1.5 # <-\n",
     "alpr.traffic.misread_share", "must be a share from 0 to 1, got 1.5"),
    ("hotlist-share", "[alpr.traffic]\nhotlist_share = -0.1 # <-\n",
     "alpr.traffic.hotlist_share", "must be a share from 0 to 1"),
    ("country-unknown", "[alpr.traffic]\ncountries = { BE = 0.9, XX = 0.1 } # <-\n",
     "alpr.traffic.countries.XX", "unknown country"),
    ("country-share", "[alpr.traffic]\ncountries = { BE = 1.2 } # <-\n",
     "alpr.traffic.countries.BE", "must be a share from 0 to 1"),
    ("country-sum", "[alpr.traffic]\ncountries = { BE = 0.5, NL = 0.2 } # <-\n",
     "alpr.traffic.countries", "must add up to 1"),
    ("hourly-length", "[alpr.traffic]\nhourly = [1, 2] # <-\n", "alpr.traffic.hourly",
     "24 rate factors"),
    ("population", "[alpr.traffic]\npopulation = 0 # <-\n", "alpr.traffic.population",
     "must be an integer from 1"),
    ("hotlist-plate", '[alpr.hotlist]\nplates = ["1-ABC-234", "??"] # <-\n',
     "alpr.hotlist.plates[1]", 'got "??"'),
    ("hotlist-size", "[alpr.hotlist]\ngenerated = { size = 0 } # <-\n",
     "alpr.hotlist.generated.size", "must be an integer from 1"),
    ("hotlist-file", '[alpr.hotlist]\ngenerated = { size = 5, file = "x.txt" } # <-\n',
     "alpr.hotlist.generated.file", 'ending in ".csv"'),
    ("hotlist-empty", "[alpr.hotlist] # <-\nplates = []\n", "alpr.hotlist", "names no plates"),
    ("alpr-key", "[alpr]\nunits = 3 # <-\n", "alpr.units", 'did you mean "unit"'),
]


@pytest.mark.parametrize(("snippet", "field", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_invalid_alpr_section(tmp_path: Path, snippet: str, field: str, message: str) -> None:
    text = SMALL_TEXT + "\n" + snippet
    line = next(i for i, s in enumerate(text.splitlines(), 1) if MARK in s)
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    found = [p for p in info.value.problems if p.field == field]
    assert found, str(info.value)
    assert found[0].line == line and found[0].file == str(path), str(info.value)
    assert message in found[0].message, found[0].message
    assert str(found[0]).startswith(f"{path}:{line}: {field}: ")


def test_vehicle_without_camera(tmp_path: Path) -> None:
    text = SMALL_TEXT.replace('camera = "combi-001"\n', "", 1) + (
        '\n[[alpr.unit]]\nid = "u1"\nvehicle = "combi-1" # <-\nformat = "citywatch"\n')
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.toml")
    (problem,) = info.value.problems
    assert problem.field == "alpr.unit[0].vehicle" and "carries no camera" in problem.message
    assert problem.line == next(i for i, s in enumerate(text.splitlines(), 1) if MARK in s)
