"""The soak's task-count hook of `citywatch scenario run` (hub/scenario_command.py)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from hub import scenario_command
from hub.scenario_command import TASK_LOG_ENV, log_task_counts


async def test_task_counts_are_appended_until_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "tasks.log"
    sampler = asyncio.create_task(log_task_counts(path, every_s=0.01))
    await asyncio.sleep(0.05)
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    lines = path.read_text().splitlines()
    assert len(lines) >= 2
    when, count = lines[0].split()
    assert float(when) > 0
    # At least this test's task and the sampler itself.
    assert int(count) >= 2


async def test_off_unless_the_environment_names_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(TASK_LOG_ENV, raising=False)
    assert scenario_command._start_task_log() is None
    monkeypatch.setenv(TASK_LOG_ENV, str(tmp_path / "t.log"))
    task = scenario_command._start_task_log()
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_unwritable_file_stops_the_sampler(tmp_path: Path) -> None:
    await asyncio.wait_for(log_task_counts(tmp_path / "missing" / "t.log", every_s=0.01), 1)
