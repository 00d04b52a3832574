"""The short version of the long fuzz runs (bench/fuzz): every target, its seeds and a
fixed-seed burst of random mutants, well under a second each. Target: no crash."""

from __future__ import annotations

import pytest

from bench.fuzz.engine import Recorder, fuzz_random
from bench.fuzz.targets import TARGETS, Target, reason_key
from bench.fuzz.targets_rtsp import RTSP_TARGETS

# Per target: long enough for a few hundred inputs of the fast parsers and a few dozen
# scenario files; the whole file stays within seconds.
SECONDS_PER_TARGET = 0.5


@pytest.mark.parametrize("target", [*TARGETS, *RTSP_TARGETS], ids=lambda t: t.name)
def test_target_runs_without_crashes(target: Target) -> None:
    seeds = target.seeds()
    assert seeds, "a target without seeds fuzzes nothing"
    recorder = Recorder(target)
    fuzz_random(recorder, SECONDS_PER_TARGET, seed=10)
    assert recorder.crashes == 0, recorder.crash_kinds
    assert recorder.executions >= len(seeds)
    assert recorder.accepted + recorder.rejected == recorder.executions
    assert all(recorder.reasons)  # every rejection has a reason


def test_seeds_are_mostly_accepted() -> None:
    """The seeds are real inputs: most of each target's are taken whole, so mutants start
    from inputs that reach past the first checks."""
    for target in (*TARGETS, *RTSP_TARGETS):
        seeds = target.seeds()
        accepted = sum(not target.run(seed) for seed in seeds)
        assert accepted >= 1, target.name


def test_reason_keys_group_values() -> None:
    assert reason_key("bad date '2026-13-01' on line 7") == "bad date '…' on line N"
    assert reason_key("XML not well-formed: Start tag expected, '<' not found, line 1, "
                      "column 1") == "XML not well-formed (lxml syntax error)"
