from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.health import FAILURES_BEFORE_DOWN, HealthEngine
from hub.health_thresholds import DEFAULT_THRESHOLDS
from hub.model import CameraConfig, CameraStatus, HealthReason, HealthState

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def tracker(camera_config: CameraConfig) -> HealthEngine:
    return HealthEngine(CameraStatus(config=camera_config))


def test_starts_unknown_and_first_success_is_ok(tracker: HealthEngine) -> None:
    assert tracker.status.state is HealthState.UNKNOWN
    verdict = tracker.onvif_success(at(1))
    assert verdict.status.state is HealthState.OK
    assert verdict.status.last_seen == at(1)
    assert verdict.transition is not None
    assert (verdict.transition.old_state, verdict.transition.new_state) == (
        HealthState.UNKNOWN,
        HealthState.OK,
    )


def test_down_only_after_consecutive_failures(tracker: HealthEngine) -> None:
    tracker.onvif_success(at(0))
    for i in range(FAILURES_BEFORE_DOWN - 1):
        verdict = tracker.onvif_failure(at(1 + i), HealthReason.UNREACHABLE, "connection refused")
        assert verdict.transition is None
        assert verdict.status.state is HealthState.OK
    verdict = tracker.onvif_failure(at(10), HealthReason.UNREACHABLE, "connection refused")
    assert verdict.status.state is HealthState.DOWN
    assert verdict.status.reason is HealthReason.UNREACHABLE
    assert verdict.status.changed_at == at(10)
    assert verdict.transition is not None
    assert verdict.transition.detail == "onvif: connection refused"


def test_success_between_failures_resets_the_count(tracker: HealthEngine) -> None:
    tracker.onvif_success(at(0))
    for i in range(FAILURES_BEFORE_DOWN * 3):
        tracker.onvif_failure(at(2 * i + 1), HealthReason.TIMEOUT, "timed out")
        tracker.onvif_success(at(2 * i + 2))
    assert tracker.status.state is HealthState.OK


def test_auth_failure_is_down_at_once(tracker: HealthEngine) -> None:
    tracker.onvif_success(at(0))
    verdict = tracker.onvif_failure(at(1), HealthReason.AUTH_FAILED, "NotAuthorized")
    assert verdict.status.state is HealthState.DOWN
    assert verdict.status.reason is HealthReason.AUTH_FAILED


def test_reason_change_while_down_is_a_transition_but_repeats_are_not(
    tracker: HealthEngine,
) -> None:
    for i in range(FAILURES_BEFORE_DOWN):
        tracker.onvif_failure(at(i), HealthReason.TIMEOUT, "timed out")
    assert tracker.status.reason is HealthReason.TIMEOUT
    repeat = tracker.onvif_failure(at(5), HealthReason.TIMEOUT, "timed out again")
    assert repeat.transition is None
    assert repeat.status.detail == "onvif: timed out again"
    changed = tracker.onvif_failure(at(6), HealthReason.UNREACHABLE, "refused")
    assert changed.transition is not None
    assert changed.transition.old_state is HealthState.DOWN
    assert changed.status.reason is HealthReason.UNREACHABLE


def test_recovery_clears_reason(tracker: HealthEngine) -> None:
    tracker.onvif_failure(at(0), HealthReason.AUTH_FAILED, "NotAuthorized")
    held = tracker.onvif_success(at(3))
    assert held.transition is None  # recovery is held for ok_after_s
    assert tracker.tick(at(3 + DEFAULT_THRESHOLDS.ok_after_s - 0.1)) is None
    verdict = tracker.tick(at(3 + DEFAULT_THRESHOLDS.ok_after_s))
    assert verdict is not None
    assert verdict.status.state is HealthState.OK
    assert verdict.status.reason is HealthReason.NONE
    assert verdict.status.detail == ""
    assert verdict.transition is not None
    assert verdict.transition.old_state is HealthState.DOWN
