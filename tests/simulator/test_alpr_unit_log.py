"""An ALPR unit remembers the truth of its latest reads only (issue 10: a log of every
read grew the soak's RSS for its whole hour)."""

from __future__ import annotations

from datetime import timedelta

from simulator.alpr_unit import LOG_SIZE
from tests.simulator.test_alpr_unit import START, _spec, _unit

MAX_LOG = 1_000  # ~0.5 MB of reads per unit


def test_the_read_log_keeps_the_latest_reads_only() -> None:
    unit = _unit(_spec())
    reads = [unit.next_read(START + timedelta(seconds=i)) for i in range(MAX_LOG + 500)]
    assert len(unit.log) == LOG_SIZE <= MAX_LOG
    assert list(unit.log) == reads[-LOG_SIZE:]
