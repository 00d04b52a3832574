"""Scenario files: the shipped ones load as written, expansion is deterministic, and every
kind of mistake is reported as file:line: field: message, all of them at once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from simulator.errors import ScenarioError, SimulatorError
from simulator.model import CameraFault, CameraKind, CameraQuirk
from simulator.scenario import STREETS, SiteKind, load_scenario, parse_duration, parse_scenario
from simulator.vendors import VENDOR_PROFILES

ROOT = Path(__file__).resolve().parents[2]
HASSELT = ROOT / "scenarios" / "hasselt.toml"
SMALL = ROOT / "scenarios" / "small.toml"
BOX_LAT, BOX_LON = (50.90, 50.96), (5.30, 5.38)


# --- the shipped scenarios --------------------------------------------------------------


def test_hasselt_counts_per_site_and_kind() -> None:
    sc = load_scenario(HASSELT)
    assert sc.name == "Hasselt"
    assert sc.seed == 42
    assert sc.start.isoformat() == "2026-03-02T08:00:00+00:00"
    assert sc.duration_s == 3600
    assert sc.speed == 1.0
    per_site = Counter(c.site for c in sc.cameras)
    assert per_site == {
        "city": 130, "police": 100, "uhasselt": 8, "handelaars": 8,
        "kuringen": 4, "runkst": 4, "kiewit": 4,
    }
    assert 230 <= len(sc.cameras) <= 260
    per_kind = Counter((c.site, c.kind) for c in sc.cameras)
    assert per_kind[("city", CameraKind.FIXED)] == 116
    assert per_kind[("city", CameraKind.TEMPORARY)] == 14
    assert per_kind[("police", CameraKind.FIXED)] == 80
    assert per_kind[("police", CameraKind.TEMPORARY)] == 12
    assert per_kind[("police", CameraKind.MOBILE)] == 8
    assert {s.id: s.kind for s in sc.sites} == {
        "city": SiteKind.CITY, "police": SiteKind.POLICE, "uhasselt": SiteKind.PARTNER,
        "handelaars": SiteKind.PARTNER, "kuringen": SiteKind.PARTNER,
        "runkst": SiteKind.PARTNER, "kiewit": SiteKind.PARTNER,
    }


def test_hasselt_broken_cameras_and_grants() -> None:
    sc = load_scenario(HASSELT)
    broken = {c.id: c.faults for c in sc.cameras if c.faults}
    assert broken == {
        "city-centre-007": {CameraFault.OFFLINE},
        "city-ring-012": {CameraFault.WRONG_PASSWORD},
        "police-fixed-033": {CameraFault.SLOW},
        "city-temp-004": {CameraFault.WRONG_PASSWORD},
        "kuringen-fixed-002": {CameraFault.OFFLINE},
    }
    granted = {c.id for c in sc.granted_to("police")}
    assert "uhasselt-campus-004" in granted and "uhasselt-campus-005" not in granted
    assert {"runkst-fixed-001", "runkst-fixed-002"} <= granted
    assert "runkst-fixed-003" not in granted
    assert all(c.site != "police" for c in sc.granted_to("police"))
    assert sc.granted_to("uhasselt") == ()


def test_hasselt_cameras_are_plausible() -> None:
    sc = load_scenario(HASSELT)
    ids = [c.id for c in sc.cameras]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z-]+-\d{3}", i) for i in ids)
    names = [c.name for c in sc.cameras]
    assert len(set(names)) == len(names), "camera names are unique"
    assert sc.camera("city-alpr-001").name == "ALPR R70 Kempische Steenweg"
    assert sc.camera("police-combi-003").name == "Combi 3 ALPR"
    assert re.fullmatch(r"[A-Z][\w\s'-]+ \d+", sc.camera("city-centre-001").name)
    for c in sc.cameras:
        assert BOX_LAT[0] <= c.lat <= BOX_LAT[1], c
        assert BOX_LON[0] <= c.lon <= BOX_LON[1], c
        assert c.street in STREETS
        assert c.profiles and c.profiles[0].token == "profile_1"
        assert any(c.vendor in p.models for p in VENDOR_PROFILES.values())
    assert sc.camera("runkst-fixed-001").clock_offset_s == 3600
    # Vendors rotate: a group with several vendors uses all of them.
    centre = {c.vendor.manufacturer for c in sc.cameras_of("city") if c.id.startswith("city-c")}
    assert centre == {"HIKVISION", "AXIS", "Bosch"}


def test_small_scenario() -> None:
    sc = load_scenario(SMALL)
    assert len(sc.cameras) == 6
    assert [c.id for c in sc.cameras] == [
        "centre-001", "centre-002", "centre-003", "dump-001", "combi-001", "uhasselt-001",
    ]
    assert sc.camera("centre-002").faults == {CameraFault.OFFLINE}
    assert [c.id for c in sc.cameras if c.faults] == ["centre-002"]
    assert sc.camera("dump-001").kind is CameraKind.TEMPORARY
    assert (sc.camera("dump-001").lat, sc.camera("dump-001").lon) == (50.918, 5.3245)
    assert sc.camera("combi-001").kind is CameraKind.MOBILE
    assert [c.id for c in sc.granted_to("police")] == ["uhasselt-001"]
    assert sc.duration_s == 600


def test_same_seed_same_city_other_seed_other_city(tmp_path: Path) -> None:
    a, b = load_scenario(HASSELT), load_scenario(HASSELT)
    assert a.cameras == b.cameras
    assert a == b
    other = tmp_path / "other.toml"
    other.write_text(HASSELT.read_text().replace("seed = 42", "seed = 43", 1))
    c = load_scenario(other)
    assert [x.id for x in c.cameras] == [x.id for x in a.cameras]
    assert c.cameras != a.cameras
    moved = sum((x.lat, x.lon) != (y.lat, y.lon) for x, y in zip(a.cameras, c.cameras, strict=True))
    assert moved > 150  # explicit positions stay, generated ones move


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200), ("90m", 5400), ("45s", 45), ("01:30:00", 5400), ("1h30m", 5400),
     ("1h 30m 15s", 5415), (600, 600), ("0.5h", 1800)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 hours", "90x", "1:5:00", "", "30m1h", "h", "1h1h", True])
def test_bad_durations(text: str | bool) -> None:
    assert parse_duration(text) is None


# --- invalid scenarios: one mistake each, exact location and wording ---------------------

BASE = """\
[scenario]
name = "T"
seed = 1
start = 2026-03-02T08:00:00Z
duration = "10m"

[[sites]]
id = "city"
name = "City"
kind = "city"

[[camera_groups]]
id = "cam"
site = "city"
kind = "fixed"
count = 2
password = "pw"
"""

POLICE = '\n[[sites]]\nid = "police"\nname = "Police"\nkind = "police"\n'  # lines 19-22
BOUNDS = 'duration = "10m"\nbounds = {lat = [50.90, 50.96], lon = [5.30, 5.38]}'

# (id, replacements in BASE, text appended, expected "line: field: message" parts)
CASES: list[tuple[str, dict[str, str], str, str]] = [
    ("count-word", {"count = 2": 'count = "ten"'}, "",
     '16: camera_groups[0].count: must be a positive integer, got "ten"'),
    ("count-zero", {"count = 2": "count = 0"}, "",
     "16: camera_groups[0].count: must be a positive integer, got 0"),
    ("count-float", {"count = 2": "count = 2.5"}, "",
     "16: camera_groups[0].count: must be a positive integer, got 2.5"),
    ("speed-high", {'duration = "10m"': 'duration = "10m"\nspeed = 120'}, "",
     "6: scenario.speed: must be a number from 1 to 60, got 120"),
    ("speed-low", {'duration = "10m"': 'duration = "10m"\nspeed = 0.5'}, "",
     "6: scenario.speed: must be a number from 1 to 60, got 0.5"),
    ("speed-bool", {'duration = "10m"': 'duration = "10m"\nspeed = true'}, "",
     "6: scenario.speed: must be a number from 1 to 60, got true"),
    ("duration", {'duration = "10m"': 'duration = "2 hours"'}, "",
     '5: scenario.duration: must be a duration such as "2h", "90m", "45s", "1h30m" or '
     '"01:30:00", got "2 hours"'),
    ("duration-zero", {'duration = "10m"': 'duration = "0s"'}, "",
     '5: scenario.duration: must be longer than zero, got "0s"'),
    ("start-naive", {"08:00:00Z": "08:00:00"}, "",
     "4: scenario.start: must include a UTC offset, e.g. 2026-03-02T08:00:00Z, "
     "got 2026-03-02T08:00:00"),
    ("start-date", {"2026-03-02T08:00:00Z": "2026-03-02"}, "",
     "4: scenario.start: must be a date and time such as 2026-03-02T08:00:00Z, got 2026-03-02"),
    ("unknown-key", {'password = "pw"': 'password = "pw"\ncuont = 3'}, "",
     '18: camera_groups[0].cuont: unknown key; did you mean "count"?'),
    ("unknown-scenario-key", {'name = "T"': 'name = "T"\nsped = 2'}, "",
     '3: scenario.sped: unknown key; did you mean "speed"?'),
    ("unknown-section", {}, '\n[traffic]\nreads_per_minute = 5\n',
     "19: traffic: unknown key"),
    ("missing-key", {'password = "pw"\n': ""}, "",
     "12: camera_groups[0].password: required key is missing"),
    ("unknown-vendor", {'password = "pw"': 'password = "pw"\nvendors = ["axis", "hikvison"]'},
     "", '18: camera_groups[0].vendors[1]: unknown vendor "hikvison"; did you mean "hikvision"?'),
    ("unknown-quirk", {'password = "pw"': 'password = "pw"\nquirks = ["nat_xaddr", "digest_onyl"]'},
     "", '18: camera_groups[0].quirks[1]: unknown quirk "digest_onyl"; did you mean '
     '"digest_only"?'),
    ("quirks-not-array", {'password = "pw"': 'password = "pw"\nquirks = "h265_only"'},
     "", '18: camera_groups[0].quirks: must be an array of quirk names ("naive_time", '),
    ("vendor-and-vendors",
     {'password = "pw"': 'password = "pw"\nvendor = "axis"\nvendors = ["axis"]'}, "",
     '19: camera_groups[0].vendors: give either "vendor" or "vendors", not both'),
    ("unknown-site", {'site = "city"': 'site = "town"'}, "",
     '14: camera_groups[0].site: unknown site "town" (sites: city)'),
    ("bad-site-kind", {'kind = "city"': 'kind = "town"'}, "",
     '10: sites[0].kind: must be one of "city", "police", "partner", got "town"'),
    ("bad-camera-kind", {'kind = "fixed"': 'kind = "drone"'}, "",
     '15: camera_groups[0].kind: must be one of "fixed", "temporary", "mobile", got "drone"'),
    ("bad-id", {'id = "cam"': 'id = "Cam 1"'}, "",
     "13: camera_groups[0].id: must be an id of lowercase letters"),
    ("duplicate-site", {}, '\n[[sites]]\nid = "city"\nname = "Again"\nkind = "city"\n',
     '20: sites[1].id: duplicate site id "city" (first defined at line 7)'),
    ("duplicate-group", {},
     '\n[[camera_groups]]\nid = "cam"\nsite = "city"\nkind = "fixed"\ncount = 1\npassword = "x"\n',
     '20: camera_groups[1].id: duplicate camera group id "cam" (first defined at line 12)'),
    ("lat-range", {'password = "pw"': 'password = "pw"\npositions = [{lat = 95.0, lon = 5.33}]'},
     "", "18: camera_groups[0].positions[0].lat: must be a latitude between -90 and 90, got 95.0"),
    ("lon-range", {'password = "pw"': 'password = "pw"\npositions = [\n  {lat = 50.93, lon = 5.33},'
                   '\n  {lat = 50.93, lon = -181},\n]'},
     "", "20: camera_groups[0].positions[1].lon: must be a longitude between -180 and 180"),
    ("out-of-bounds", {'duration = "10m"': BOUNDS,
                       'password = "pw"': 'password = "pw"\narea = {lat = [50.85, 50.95], '
                       'lon = [5.31, 5.33]}'},
     "", "19: camera_groups[0].area.lat[0]: 50.85 is outside the scenario bounds "
     "(lat 50.9..50.96, lon 5.3..5.38)"),
    ("area-min-max", {'password = "pw"': 'password = "pw"\narea = {lat = [50.95, 50.91], '
                      'lon = [5.31, 5.33]}'},
     "", "18: camera_groups[0].area.lat: min must be less than max, got [50.95, 50.91]"),
    ("unknown-street", {'password = "pw"': 'password = "pw"\nstreets = ["Grote Mark"]'}, "",
     '18: camera_groups[0].streets[0]: unknown street "Grote Mark"; did you mean "Grote Markt"?'),
    ("street-out-of-bounds", {'duration = "10m"': BOUNDS,
                              'password = "pw"': 'password = "pw"\nstreets = ["Agoralaan"]'},
     "", '19: camera_groups[0].streets[0]: street "Agoralaan" lies outside the scenario bounds'),
    ("area-and-streets", {'password = "pw"': 'password = "pw"\nstreets = ["Grote Markt"]\n'
                          'area = {lat = [50.91, 50.95], lon = [5.31, 5.33]}'}, "",
     '19: camera_groups[0].area: give either "area" or "streets", not both'),
    ("stream-fps", {'password = "pw"': 'password = "pw"\nstream = {width = 1920, fps = 0}'}, "",
     "18: camera_groups[0].stream.fps: must be an integer from 1 to 60, got 0"),
    ("stream-codec", {'password = "pw"': 'password = "pw"\n[camera_groups.stream]\n'
                      'codec = "MPEG2"'}, "",
     '19: camera_groups[0].stream.codec: must be one of "H264", "H265", "JPEG", got "MPEG2"'),
    ("stream-key", {'password = "pw"': 'password = "pw"\nstream = {widht = 1920}'}, "",
     '18: camera_groups[0].stream.widht: unknown key; did you mean "width"?'),
    ("name-template", {'password = "pw"': 'password = "pw"\nname = "Cam {nr}"'}, "",
     '18: camera_groups[0].name: unknown placeholder "{nr}" in name template'),
    ("count-vs-positions", {'password = "pw"': 'password = "pw"\npositions = [{lat = 50.93, '
                            'lon = 5.33}, {lat = 50.931, lon = 5.331}, '
                            '{lat = 50.932, lon = 5.332}]'},
     "", "16: camera_groups[0].count: is 2 but 3 positions are given"),
    ("fault-camera", {}, '\n[[faults]]\ncamera = "cam-009"\nfault = "offline"\n',
     '20: faults[0].camera: unknown camera "cam-009"; did you mean "cam-002"?'),
    ("fault-kind", {}, '\n[[faults]]\ncamera = "cam-001"\nfault = "exploded"\n',
     '21: faults[0].fault: must be one of "offline", "wrong_password", "slow", got "exploded"'),
    ("fault-duplicate", {},
     '\n[[faults]]\ncamera = "cam-001"\nfault = "slow"\n'
     '\n[[faults]]\ncamera = "cam-001"\nfault = "slow"\n',
     '23: faults[1]: fault "slow" of camera "cam-001" is already set at line 19'),
    ("grant-unknown-site", {'kind = "city"': 'kind = "city"\ngrants = [{to = "polce", '
                            'cameras = ["cam-*"]}]'}, "",
     '11: sites[0].grants[0].to: unknown site "polce" (sites: city)'),
    ("grant-self",
     {'kind = "city"': 'kind = "city"\ngrants = [{to = "city", cameras = ["cam-*"]}]'},
     "", '11: sites[0].grants[0].to: a site cannot grant to itself ("city")'),
    ("grant-no-match", {'kind = "city"': 'kind = "city"\ngrants = [\n  {to = "police", '
                        'cameras = ["cam-001", "cma-*"]},\n]'}, POLICE,
     '12: sites[0].grants[0].cameras[1]: "cma-*" matches no camera of site "city"'),
    ("grant-key", {'kind = "city"': 'kind = "city"\ngrants = [{to = "police", cams = ["x"]}]'},
     POLICE, '11: sites[0].grants[0].cams: unknown key; did you mean "cameras"?'),
]


@pytest.mark.parametrize(("replace", "append", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_scenario(tmp_path: Path, replace: dict[str, str], append: str,
                          expected: str) -> None:
    text = BASE
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "bad.toml"
    path.write_text(text + append)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"{path}:{expected}") for line in lines), "\n".join(lines)
    assert len(info.value.problems) == len(lines)


def test_quirks_go_to_the_camera_specs() -> None:
    text = BASE.replace('password = "pw"', 'password = "pw"\nquirks = ["digest_only", "h265_only"]',
                        1)
    sc = parse_scenario(text, "quirks.toml")
    for cam in sc.cameras:
        assert cam.quirks == {CameraQuirk.DIGEST_ONLY, CameraQuirk.H265_ONLY}
        # H265_ONLY: the profiles the camera advertises (and streams) are H.265.
        assert cam.profiles and {p.encoding for p in cam.profiles} == {"H265"}
    plain = parse_scenario(BASE, "base.toml")
    assert all(c.quirks == frozenset() for c in plain.cameras)
    assert {p.encoding for c in plain.cameras for p in c.profiles} == {"H264"}


def test_shipped_quirks_scenario_has_one_group_per_quirk() -> None:
    sc = load_scenario(ROOT / "scenarios" / "quirks.toml")
    have = {q for c in sc.cameras for q in c.quirks}
    assert have >= {CameraQuirk.NAIVE_TIME, CameraQuirk.DIGEST_ONLY, CameraQuirk.NAT_XADDR,
                    CameraQuirk.WRONG_PORT_XADDR, CameraQuirk.GETCAPABILITIES_FAILS,
                    CameraQuirk.H265_ONLY, CameraQuirk.SNAPSHOT_STALL}


def test_base_snippet_is_valid() -> None:
    sc = parse_scenario(BASE, "base.toml")
    assert [c.id for c in sc.cameras] == ["cam-001", "cam-002"]
    assert sc.speed == 1.0 and sc.duration_s == 600


def test_message_names_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "bad.toml").write_text(BASE.replace("count = 2", 'count = "ten"'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(Path("scenarios/bad.toml"))
    assert str(info.value) == (
        'scenarios/bad.toml:16: camera_groups[0].count: must be a positive integer, got "ten"'
    )
    problem = info.value.problems[0]
    assert (problem.file, problem.line, problem.field) == (
        "scenarios/bad.toml", 16, "camera_groups[0].count"
    )


def test_all_problems_are_reported_in_line_order(tmp_path: Path) -> None:
    text = (BASE.replace('duration = "10m"', 'duration = "soon"')
            .replace('kind = "fixed"', 'kind = "drone"')
            .replace("count = 2", "count = -1"))
    text += '\n[[faults]]\ncamera = "nope-001"\nfault = "offline"\n'
    path = tmp_path / "many.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [(p.line, p.field) for p in info.value.problems] == [
        (5, "scenario.duration"),
        (15, "camera_groups[0].kind"),
        (16, "camera_groups[0].count"),
        (20, "faults[0].camera"),
    ]
    assert isinstance(info.value, SimulatorError)


def test_missing_sections(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("# nothing\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [p.field for p in info.value.problems] == ["scenario", "sites", "camera_groups"]
    assert all("required key is missing" in p.message for p in info.value.problems)


def test_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text(BASE.replace('name = "T"', 'name = "T'))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: TOML syntax error at column ")
    assert "\n" not in message


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.toml"
    path.write_text(BASE.replace("count = 2", "count = 2\ncount = 3"))
    with pytest.raises(ScenarioError, match=r"dup\.toml:17: TOML syntax error"):
        load_scenario(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.toml: cannot read scenario: No such file"):
        load_scenario(tmp_path / "nope.toml")


def test_positions_and_generated_cameras_mix() -> None:
    text = BASE.replace(
        "count = 2",
        'count = 3\nname = "Cam {n} {street}"\n'
        'positions = [{street = "Grote Markt", lat = 50.9307, lon = 5.3378, name = "Markt"},'
        " {lat = 50.9290, lon = 5.3390}]",
    )
    sc = parse_scenario(text, "mix.toml")
    a, b, c = sc.cameras
    assert (a.name, a.street, a.lat, a.lon) == ("Markt", "Grote Markt", 50.9307, 5.3378)
    assert b.street in STREETS and b.name == f"Cam 2 {b.street}"
    assert c.name.startswith("Cam 3 ")
