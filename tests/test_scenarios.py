"""`citywatch scenario run --check` end to end: the shipped focused scenarios pass, a false
expectation fails and says why, the same seed gives the same report, a broken file exits 2.

Each run starts a simulated city and a hub in a child process (the real command line), so
these tests take tens of seconds each; the focused scenarios run at their own speed (10x).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
TINY = Path(__file__).parent / "data" / "scenarios" / "tiny_checked.toml"
FOCUSED = ("faults", "alpr", "gps", "quirks")
# A focused scenario plays 4-6 scenario minutes at 10x plus the last windows: about a
# minute; the limit only stops a hung run.
RUN_TIMEOUT_S = 240


def scenario_run(path: Path, *extra: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "scenario", "run", str(path), *extra,
         "--data-dir", str(tmp / "hub")],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO,
    )


def _failures(report: dict[str, Any]) -> str:
    return "\n".join(f"{e['id']}: {e['description']} -- {e['detail']}"
                     for e in report["expectations"] if not e["passed"])


@pytest.mark.parametrize("name", FOCUSED)
def test_focused_scenario_passes(name: str, tmp_path: Path) -> None:
    done = scenario_run(SCENARIOS / f"{name}.toml", "--check", "--json", tmp=tmp_path)
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert done.returncode == 0, _failures(report) + "\n" + done.stderr[-2000:]
    assert report["failed"] == 0 and report["passed"] == len(report["expectations"]) > 0
    assert all(e["ok"] for e in report["events"]), report["events"]


def _verdict_lines(text: str) -> list[str]:
    """PASS/FAIL lines without measured times (the latency at the end, "+3.4 s" offsets in
    a failure's detail): the only parts that may differ between runs."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip().startswith(("PASS", "FAIL"))]
    return [re.sub(r"[+]\d+(\.\d+)? s", "+T", re.sub(r"\s+\d+(\.\d+)? s$", "", line))
            for line in lines]


def _event_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\s*\d\d:\d\d:\d\d\s", line)]


def test_false_expectation_fails_the_same_way_twice(tmp_path: Path) -> None:
    first = scenario_run(TINY, "--check", tmp=tmp_path / "a")
    second = scenario_run(TINY, "--check", tmp=tmp_path / "b")
    for done in (first, second):
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]
        assert "Traceback" not in done.stderr
    lines = _verdict_lines(first.stdout)
    assert [line.split()[:2] for line in lines] == [
        ["PASS", "both-up"], ["PASS", "stall-seen"], ["FAIL", "never-black"],
        ["PASS", "other-untouched"],
    ], first.stdout
    failed = next(line for line in lines if line.startswith("FAIL"))
    assert "black" in failed and "stalled" in failed  # says what the hub saw instead
    assert _verdict_lines(second.stdout) == lines
    assert _event_lines(first.stdout) == _event_lines(second.stdout)
    assert len(_event_lines(first.stdout)) == 2  # the stall and its end


def test_without_check_a_failure_still_exits_zero(tmp_path: Path) -> None:
    done = scenario_run(TINY, "--json", tmp=tmp_path)
    report = json.loads(done.stdout)
    assert done.returncode == 0
    assert [e["id"] for e in report["expectations"] if not e["passed"]] == ["never-black"]
    assert [(e["id"], e["phase"], e["at"]) for e in report["events"]] == [
        ("stall", "start", "00:03:00"), ("stall", "end", "00:06:00")]


def test_broken_scenario_exits_2_with_its_location(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(TINY.read_text().replace('camera = "cam-001"\nfault = "stall"',
                                               'camera = "cam-009"\nfault = "stall"'))
    done = scenario_run(broken, "--check", tmp=tmp_path)
    assert done.returncode == 2
    assert re.search(r"broken\.toml:\d+: timeline\[0\]\.camera: unknown camera \"cam-009\"",
                     done.stderr), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_unknown_reason_is_an_invalid_scenario(tmp_path: Path) -> None:
    broken = tmp_path / "reason.toml"
    broken.write_text(TINY.read_text().replace('reason = "stalled"', 'reason = "stalld"'))
    done = scenario_run(broken, "--check", tmp=tmp_path)
    assert done.returncode == 2
    assert "stalld" in done.stderr and '"stalled"' in done.stderr, done.stderr
