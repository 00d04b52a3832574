"""Scenario TOML: the shipped scenarios with values replaced, lines dropped or repeated, and
random text.

Contract: `parse_scenario` gives a Scenario or only ScenarioError, whose every problem
names the file and says what is wrong; a problem about a field is located on a line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.fuzz.targets import run_scenario
from simulator.errors import ScenarioError
from simulator.scenario import Scenario, parse_scenario
from tests.fuzz.props import BOUNDED

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SOURCES = [(SCENARIOS / name).read_text() for name in ("small.toml", "faults.toml",
                                                         "gps.toml", "alpr.toml")]
ASSIGNMENT = re.compile(r"^(\s*[\w.\"-]+\s*=\s*)(.+)$")

scalars = (
    st.integers(-(2**63), 2**63 - 1).map(str)
    | st.floats(allow_nan=True).map(lambda f: "nan" if f != f else repr(f).replace(
        "inf", "inf"))
    | st.text(max_size=12).map(json.dumps)  # a JSON string is a TOML basic string
    | st.sampled_from(["true", "false", "2026-03-02T08:00:00Z", "2026-03-02", "08:00:00",
                       '"10m"', '"-1s"', '"1h30m"', '"00:03:00"', '"hikvision"', '"city"',
                       '"centre-002"', '"offline"', "0", "-1", "1e999", '""'])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]")
    | st.lists(st.tuples(st.sampled_from(["lat", "lon", "to", "cameras", "width", "at",
                                          "kind", "street", "x"]), inner),
               max_size=3, unique_by=lambda kv: kv[0]).map(
        lambda kvs: "{ " + ", ".join(f"{k} = {v}" for k, v in kvs) + " }"),
    max_leaves=5,
)


def check(text: str) -> Scenario | None:
    try:
        return parse_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        lines = text.count("\n") + 2
        for problem in exc.problems:
            assert problem.file == "fuzz.toml" and problem.message, problem
            assert problem.line is None or 1 <= problem.line <= lines, problem
            if problem.field and "missing" not in problem.message:
                assert problem.line is not None, problem  # a field in the file has a line
            assert str(problem).startswith("fuzz.toml")
        return None


@st.composite
def mutated(draw: Any) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        match = ASSIGNMENT.match(lines[index])
        action = draw(st.integers(0, 9))
        if match and action < 7:  # a value replaced: valid TOML, odd content
            lines[index] = match[1] + draw(values)
        elif action < 8:
            del lines[index]
        elif action < 9:
            lines.insert(index, lines[index])
        else:
            lines.insert(index, draw(st.text(max_size=20)))
    return "\n".join(lines) + "\n"


@BOUNDED
@given(mutated())
def test_mutated_scenarios(text: str) -> None:
    check(text)


@BOUNDED
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    assert check(text) is None or text.strip()


@BOUNDED
@given(st.sampled_from(SOURCES), st.data())
def test_scenarios_cut_anywhere(source: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(source)))
    check(source[:cut])
    run_scenario(source[:cut].encode())


def test_the_shipped_scenarios_load() -> None:
    for source in SOURCES:
        scenario = check(source)
        assert scenario is not None and scenario.cameras


def test_a_list_where_an_id_goes_is_a_located_problem() -> None:
    """Found by fuzzing: `site`, `camera` of a vehicle or fault given as an array or table
    raised TypeError (unhashable) instead of a ScenarioError."""
    source = SOURCES[0]
    for old, new in (('site = "police"\ncamera = "combi-001"',
                      'site = ["police"]\ncamera = ["combi-001"]'),
                     ('camera = "centre-002"', "camera = [1]"),
                     ('site = "city"\nkind = "fixed"', 'site = {a = 1}\nkind = "fixed"')):
        assert old in source
        assert check(source.replace(old, new, 1)) is None
