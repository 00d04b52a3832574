"""bench/soak.py --real-minutes: the scenario copy differs only in its duration."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.soak import stretched

HASSELT = Path(__file__).resolve().parents[2] / "scenarios" / "hasselt.toml"


def test_the_stretched_copy_changes_the_duration_only(tmp_path: Path) -> None:
    copy = stretched(HASSELT, 36000, tmp_path)
    original = tomllib.loads(HASSELT.read_text())
    changed = tomllib.loads(copy.read_text())
    assert original["scenario"]["duration"] == "1h"
    assert changed["scenario"]["duration"] == "36000s"
    changed["scenario"]["duration"] = original["scenario"]["duration"]
    assert changed == original
