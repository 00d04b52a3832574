"""Health of one camera as an explicit state machine with hysteresis on failures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from hub.model import (
    CameraStatus,
    DeviceFacts,
    HealthReason,
    HealthState,
    HealthTransition,
)

# A single refused or timed-out poll is often a blip (switch reboot, busy camera):
# announce "down" only after this many failures in a row. Two keeps detection of a
# dead camera under ~10 s with the supervisor's poll interval and first backoff step.
FAILURES_BEFORE_DOWN = 2

# Failures that cannot be a blip: a wrong password stays wrong until someone acts.
IMMEDIATE_REASONS = frozenset({HealthReason.AUTH_FAILED})

# Every transition the engine may make; anything else is a bug.
ALLOWED_TRANSITIONS: frozenset[tuple[HealthState, HealthState]] = frozenset(
    {
        (HealthState.UNKNOWN, HealthState.OK),
        (HealthState.UNKNOWN, HealthState.DOWN),
        (HealthState.OK, HealthState.DOWN),
        (HealthState.DOWN, HealthState.OK),
        (HealthState.DOWN, HealthState.DOWN),  # same state, new reason (e.g. timeout → refused)
    }
)


@dataclass(frozen=True)
class Verdict:
    """Result of one observation: the new status and the transition it caused, if any."""

    status: CameraStatus
    transition: HealthTransition | None


class HealthTracker:
    """Turns a camera's stream of poll results into states and transitions."""

    def __init__(self, status: CameraStatus) -> None:
        self.status = status
        self._failures = 0

    def success(self, at: datetime, facts: DeviceFacts | None = None) -> Verdict:
        """The camera answered an authenticated call."""
        self._failures = 0
        new = replace(
            self.status,
            last_seen=at,
            facts=facts if facts is not None else self.status.facts,
        )
        return self._move(new, HealthState.OK, HealthReason.NONE, "", at)

    def failure(self, at: datetime, reason: HealthReason, detail: str) -> Verdict:
        """A poll failed with `reason`; `detail` is the credential-free error text."""
        self._failures += 1
        enough = self._failures >= FAILURES_BEFORE_DOWN or reason in IMMEDIATE_REASONS
        if not enough and self.status.state is not HealthState.UNKNOWN:
            # Keep the state but remember the last error for the detail view.
            self.status = replace(self.status, detail=detail)
            return Verdict(self.status, None)
        if not enough:
            return Verdict(self.status, None)
        return self._move(self.status, HealthState.DOWN, reason, detail, at)

    def _move(
        self,
        base: CameraStatus,
        state: HealthState,
        reason: HealthReason,
        detail: str,
        at: datetime,
    ) -> Verdict:
        old = self.status
        if old.state is state and old.reason is reason:
            self.status = replace(base, detail=detail)
            return Verdict(self.status, None)
        if (old.state, state) not in ALLOWED_TRANSITIONS:
            raise ValueError(f"{old.id}: illegal health transition {old.state} -> {state}")
        self.status = replace(base, state=state, reason=reason, detail=detail, changed_at=at)
        transition = HealthTransition(
            camera_id=old.id,
            at=at,
            old_state=old.state,
            new_state=state,
            reason=reason,
            detail=detail,
        )
        return Verdict(self.status, transition)
