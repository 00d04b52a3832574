"""`citywatch gps LOG --json` agrees with gpsd on every receiver log in tests/data/gps/.

Rules: tests/data/gps/README.md "How output is compared", implemented in gps_compare.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.drivers.gps_compare import Result, compare

DATA = Path(__file__).resolve().parent.parent / "data" / "gps"
ROOT = DATA.parent.parent.parent
LOGS = sorted(DATA.glob("*.log"))
_RESULTS: dict[str, tuple[Result, float]] = {}


def _command(path: Path) -> list[str]:
    """`citywatch gps LOG --json` once the lead has wired it, else its body directly."""
    try:
        from hub import cli

        with contextlib.redirect_stderr(io.StringIO()):
            cli.build_parser().parse_args(["gps", str(path), "--json"])
        return [sys.executable, "-m", "hub.cli", "gps", str(path), "--json"]
    except (SystemExit, Exception):
        pass
    return [sys.executable, "-c",
            "import sys; from hub.gps_command import run_gps; sys.exit(run_gps(sys.argv[1], True))",
            str(path)]


def run_citywatch_gps(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(_command(path), capture_output=True, text=True, timeout=30, cwd=ROOT)
    return proc, time.monotonic() - start


def test_there_are_logs() -> None:
    assert len(LOGS) >= 12


@pytest.mark.parametrize("log", LOGS, ids=[p.name for p in LOGS])
def test_agrees_with_gpsd(log: Path) -> None:
    proc, seconds = run_citywatch_gps(log)
    assert proc.returncode == 0, proc.stderr
    assert seconds < 10
    assert "Traceback" not in proc.stderr
    for line in proc.stdout.splitlines():
        assert next(iter(json.loads(line))) == "class"
    result = compare(proc.stdout, log.with_suffix(".log.chk").read_text(), log.read_bytes())
    _RESULTS[log.name] = (result, seconds)
    assert result.passes(), (result.matched, result.expected, result.extras, result.unmatched)


def test_print_agreement_table() -> None:
    """Runs after the parametrized tests: the per-log table (see it with -s)."""
    if not _RESULTS:
        pytest.skip("agreement tests did not run")
    rows = [f"{'log':36} {'matched':>9} {'%':>6} {'extras':>6} {'backed':>6} {'s':>5}"]
    for name, (r, s) in sorted(_RESULTS.items()):
        rows.append(f"{name:36} {r.matched:>4}/{r.expected:<4} {100 * r.ratio:6.1f} "
                    f"{r.extras:>6} {r.backed_unprinted:>6} {s:5.2f}")
    total_m = sum(r.matched for r, _ in _RESULTS.values())
    total_e = sum(r.expected for r, _ in _RESULTS.values())
    rows.append(f"{'total':36} {total_m:>4}/{total_e:<4}")
    print("\n" + "\n".join(rows))


def _shift(text: str, seconds: float) -> str:
    from datetime import datetime, timedelta
    out = []
    for line in text.splitlines():
        obj = json.loads(line)
        if "time" in obj:
            when = datetime.strptime(obj["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            obj["time"] = (when + timedelta(seconds=seconds)).strftime(
                "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.append(json.dumps(obj))
    return "\n".join(out)


def test_comparator_fails_shifted_and_wrong_output() -> None:
    log = DATA / "quectel.log"
    gpsd = log.with_suffix(".log.chk").read_text()
    ours = run_citywatch_gps(log)[0].stdout
    assert compare(ours, gpsd, log.read_bytes()).passes()
    shifted = compare(_shift(ours, 1.0), gpsd, log.read_bytes())
    assert not shifted.passes()
    moved = "\n".join(
        line.replace('"lat":-36.7459', '"lat":-36.7469') for line in ours.splitlines())
    assert compare(moved, gpsd, log.read_bytes()).matched < 5
    two_d = "\n".join(line.replace('"mode":3', '"mode":2') for line in ours.splitlines())
    assert not compare(two_d, gpsd, log.read_bytes()).passes()
    # A fix no sentence backs is an extra.
    fake = ours + '\n{"class":"TPV","mode":2,"time":"2020-10-07T05:00:00.000Z",' \
        '"lat":1.0,"lon":2.0}'
    assert compare(fake, gpsd, log.read_bytes()).extras == 1


def test_comparator_accepts_rollover_and_century() -> None:
    log = DATA / "bu353-glonass.log"
    gpsd = log.with_suffix(".log.chk").read_text()
    ours = run_citywatch_gps(log)[0].stdout
    rolled = _shift(ours, 1024 * 7 * 86400)
    assert compare(rolled, gpsd, log.read_bytes()).passes()
    century = ours.replace('"time":"2014-', '"time":"1914-')
    assert compare(century, gpsd, log.read_bytes()).passes()
    assert not compare(_shift(ours, 86400), gpsd, log.read_bytes()).passes()
