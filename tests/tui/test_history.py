"""Pure tests of the health strip: timeline, bucketing, text, and the live memory."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hub.model import HealthReason, HealthState, HealthTransition
from tests.tui.conftest import CAMERAS, make_status
from tui.format import fps_label, kbps_label
from tui.history import (
    RecentStates,
    aligned_end,
    axis_text,
    bucket_states,
    strip_text,
    timeline,
    worst,
)

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OK, DEG, DOWN, UNK = (
    HealthState.OK,
    HealthState.DEGRADED,
    HealthState.DOWN,
    HealthState.UNKNOWN,
)


def t(minutes_ago: float, old: HealthState, new: HealthState) -> HealthTransition:
    at = NOW - timedelta(minutes=minutes_ago)
    return HealthTransition("cam", at, old, new, HealthReason.NONE, "")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_worst_state_wins() -> None:
    assert worst([OK, UNK, DEG]) is DEG
    assert worst([OK, DOWN, DEG]) is DOWN
    # Unknown is no verdict: the ok that follows a start-up wins the bucket.
    assert worst([UNK, OK]) is OK
    assert worst([UNK]) is UNK
    assert worst([]) is None


def test_start_up_unknown_does_not_hide_the_first_verdict() -> None:
    points = [(ago(3), UNK), (ago(2.9), OK)]
    assert bucket_states(points, now=NOW, span=HOUR, cells=6)[-1] is OK
    points = [(ago(3), UNK), (ago(2.9), DOWN)]
    assert bucket_states(points, now=NOW, span=HOUR, cells=6)[-1] is DOWN


def test_timeline_is_oldest_first_and_current_extends_it() -> None:
    newest_first = [t(10, OK, DOWN), t(50, UNK, OK)]
    assert timeline(newest_first) == [(ago(50), OK), (ago(10), DOWN)]
    # The current state changed after the history was read: it is appended.
    assert timeline(newest_first, DEG, ago(2))[-1] == (ago(2), DEG)
    # Same change as the newest transition: nothing to add.
    assert timeline(newest_first, DOWN, ago(10)) == [(ago(50), OK), (ago(10), DOWN)]
    # No history at all: the current state since it changed.
    assert timeline([], OK, ago(30)) == [(ago(30), OK)]


def test_timeline_accepts_naive_utc_times() -> None:
    naive = HealthTransition("cam", ago(5).replace(tzinfo=None), OK, DOWN, HealthReason.NONE, "")
    assert timeline([naive]) == [(ago(5), DOWN)]


def test_buckets_before_the_first_point_have_no_data() -> None:
    states = bucket_states([(ago(30), OK)], now=NOW, span=HOUR, cells=6)
    assert states == [None, None, None, OK, OK, OK]


def test_current_state_extends_to_now() -> None:
    states = bucket_states([(ago(120), OK), (ago(25), DOWN)], now=NOW, span=HOUR, cells=6)
    assert states == [OK, OK, OK, DOWN, DOWN, DOWN]  # 25 min ago falls in [-30, -20)


def test_state_spanning_buckets_and_worst_wins_within_one() -> None:
    points = [
        (ago(90), OK),
        (ago(55), DEG),  # bucket 0 (-60..-50): ok then degraded → degraded
        (ago(38), OK),  # degraded also covers bucket 1 and the start of bucket 2
        (ago(15), DOWN),  # a 1-minute outage in bucket 4 (-20..-10)
        (ago(14), OK),
    ]
    states = bucket_states(points, now=NOW, span=HOUR, cells=6)
    assert states == [DEG, DEG, DEG, OK, DOWN, OK]


def test_a_change_on_a_boundary_starts_the_next_bucket() -> None:
    states = bucket_states([(ago(90), OK), (ago(40), DOWN)], now=NOW, span=HOUR, cells=6)
    assert states == [OK, OK, DOWN, DOWN, DOWN, DOWN]
    # A state that ended exactly when the window starts is not in it.
    states = bucket_states([(ago(90), DOWN), (ago(60), OK)], now=NOW, span=HOUR, cells=6)
    assert states == [OK] * 6


def test_an_instant_spike_still_shows() -> None:
    points = [(ago(90), OK), (ago(33), DOWN), (ago(33), OK)]
    states = bucket_states(points, now=NOW, span=HOUR, cells=6)
    assert states == [OK, OK, DOWN, OK, OK, OK]


def test_changes_in_our_future_count_as_now() -> None:
    # The hub's clock runs ahead of ours: its newest change must still show.
    points = [(ago(90), OK), (NOW + timedelta(seconds=3), DOWN)]
    assert bucket_states(points, now=NOW, span=HOUR, cells=6)[-1] is DOWN


def test_older_history_only_before_the_window() -> None:
    states = bucket_states([(ago(600), DOWN), (ago(300), OK)], now=NOW, span=HOUR, cells=4)
    assert states == [OK] * 4
    assert bucket_states([], now=NOW, span=HOUR, cells=3) == [None, None, None]


def test_buckets_stay_on_the_clock() -> None:
    six = timedelta(minutes=6)
    assert aligned_end(NOW, six) == NOW  # on a boundary: the bucket that just ended
    assert aligned_end(NOW + timedelta(seconds=1), six) == NOW + six
    assert aligned_end(NOW + timedelta(minutes=5, seconds=59), six) == NOW + six
    # The same strip for the whole bucket: a state change 1 s into it shows at once.
    end = aligned_end(NOW + timedelta(seconds=90), six)
    points = [(ago(120), OK), (NOW + timedelta(seconds=1), DEG)]
    assert bucket_states(points, now=end, span=HOUR, cells=10)[-2:] == [OK, DEG]


def test_strip_and_axis_text() -> None:
    strip = strip_text([None, OK, DEG, DOWN, UNK])
    assert strip.plain == "·▁▄█?"
    axis = axis_text(timedelta(hours=24), 48)
    assert len(axis.plain) == 48
    assert axis.plain.startswith("-24h") and axis.plain.endswith("now")
    assert "-18h" in axis.plain and "-6h" in axis.plain
    assert axis.plain.index("-12h") == 24  # over the cell it names
    short = axis_text(HOUR, 12)
    assert short.plain.startswith("-60m") and short.plain.endswith("now")


def test_recent_states_observe_and_seed() -> None:
    status = make_status(next(row for row in CAMERAS if row[0] == "cam-007"))
    recent = RecentStates()
    assert recent.observe(status, NOW)
    assert not recent.observe(status, NOW)  # same state: nothing new
    up = dataclasses.replace(status, state=OK, changed_at=NOW + timedelta(minutes=1))
    assert recent.observe(up, NOW)
    assert [s for _, s in recent.points("cam-007")] == [DOWN, OK]
    # History from before we watched goes in front, without repeating states.
    assert status.changed_at is not None
    before = status.changed_at - timedelta(hours=1)
    recent.seed("cam-007", [t(0, DOWN, OK), HealthTransition("cam-007", before, UNK, OK,
                                                              HealthReason.NONE, "")])
    assert [s for _, s in recent.points("cam-007")] == [OK, DOWN, OK]
    assert recent.changed_since(NOW) == ["cam-007"]
    assert recent.changed_since(NOW + HOUR) == []


def test_stream_numbers_are_compact() -> None:
    status = make_status(next(row for row in CAMERAS if row[0] == "cam-005"))
    assert fps_label(status.stream) == "25.0"
    assert kbps_label(status.stream) == "12.3M"
    assert fps_label(None) == kbps_label(None) == "—"
    assert status.stream is not None
    small = dataclasses.replace(status.stream, fps=120.0, bitrate_kbps=96.4)
    assert fps_label(small) == "120" and kbps_label(small) == "96"
    huge = dataclasses.replace(status.stream, bitrate_kbps=131072.0)
    assert kbps_label(huge) == "131M"
