"""The README's screenshots are the SVG snapshots of the TUI tests, byte for byte: when a
screen changes, its snapshot is updated and this test says which screenshot to copy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "tests" / "tui" / "__snapshots__"
# docs/img/<name> -> the snapshot it is a copy of.
SCREENSHOTS = {
    "overview-80x24.svg": "test_overview/test_overview_snapshot[80x24].svg",
    "overview-160x48.svg": "test_overview/test_overview_snapshot[160x48].svg",
    "alerts-80x24.svg": "test_snapshots/test_alerts_screen[80x24].svg",
}


@pytest.mark.parametrize("name", sorted(SCREENSHOTS))
def test_screenshot_is_the_current_snapshot(name: str) -> None:
    shot = ROOT / "docs" / "img" / name
    snapshot = SNAPSHOTS / SCREENSHOTS[name]
    assert shot.read_bytes() == snapshot.read_bytes(), (
        f"docs/img/{name} is out of date: cp '{snapshot.relative_to(ROOT)}' docs/img/{name}"
    )


def test_readme_shows_the_overview_and_the_alerts() -> None:
    shown = set(re.findall(r"\]\((docs/img/[^)]+\.svg)\)", (ROOT / "README.md").read_text()))
    assert {"docs/img/overview-80x24.svg", "docs/img/alerts-80x24.svg"} <= shown
    for path in shown:
        assert (ROOT / path).is_file(), path
