"""tui/idle_gc.py: full collections only in a pause of the keys, at most every
GC_EVERY_S, at least every GC_FORCE_S; the interpreter's thresholds given back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.tui.conftest import FakeHub, wait_until
from tui.app import CitywatchApp
from tui.idle_gc import GC_EVERY_S, GC_FORCE_S, GC_IDLE_S, NO_AUTOMATIC_FULL, IdleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


class Recorded:
    """A started IdleCollector on a fake clock that records when it collected."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.runs: list[float] = []
        self.collector = IdleCollector(clock=self.clock,
                                       collect=lambda: self.runs.append(self.clock.now))
        self.collector.start()


@pytest.fixture
def recorded(thresholds: tuple[int, int, int]) -> Iterator[Recorded]:
    started = Recorded()
    yield started
    started.collector.stop()


def test_automatic_full_collections_off_while_started(
    thresholds: tuple[int, int, int]
) -> None:
    collector = IdleCollector(clock=Clock(), collect=lambda: None)
    collector.start()
    assert gc.get_threshold() == (thresholds[0], thresholds[1], NO_AUTOMATIC_FULL)
    collector.stop()
    assert gc.get_threshold() == thresholds


def test_collects_in_a_pause_at_most_every_gc_every_s(recorded: Recorded) -> None:
    clock, runs, collector = recorded.clock, recorded.runs, recorded.collector
    clock.now += GC_EVERY_S - 1
    assert not collector.check() and runs == []  # idle, but the last one is too recent
    clock.now += 1
    collector.key_pressed()
    assert not collector.check()  # due, but a key just came
    clock.now += GC_IDLE_S
    assert collector.check() and runs == [clock.now]
    clock.now += GC_IDLE_S
    assert not collector.check()  # the next one only GC_EVERY_S later


def test_collects_when_overdue_even_while_keys_keep_coming(recorded: Recorded) -> None:
    clock, runs, collector = recorded.clock, recorded.runs, recorded.collector
    start = clock.now
    while clock.now - start < GC_FORCE_S - 1:
        clock.now += 1
        collector.key_pressed()
        assert not collector.check()
    clock.now += 1
    collector.key_pressed()
    assert collector.check() and len(runs) == 1


def test_nothing_before_start_or_after_stop(thresholds: tuple[int, int, int]) -> None:
    clock = Clock()
    collector = IdleCollector(clock=clock, collect=lambda: pytest.fail("collected"))
    clock.now += GC_FORCE_S
    assert not collector.check()


async def test_the_app_runs_it_after_the_first_screen_and_gives_it_back(
    thresholds: tuple[int, int, int]
) -> None:
    app = CitywatchApp(FakeHub(), home="cameras")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: gc.get_threshold()[2] == NO_AUTOMATIC_FULL)
        before = app.idle_gc.last_key
        await pilot.press("down")
        assert app.idle_gc.last_key > before
    assert gc.get_threshold() == thresholds
