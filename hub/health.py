"""Health of one camera: an explicit state machine over what ONVIF and the stream show.

Inputs: ONVIF polls (`onvif_success` / `onvif_failure`, from hub/supervisor.py), stream
samples and events (`stream_sample` / `stream_event` / `stream_stopped`, from
hub/stream_supervisor.py) and a clock (`tick`, from the hub every TICK_S). The rules in
hub/health_rules.py turn them into findings, each with its onset; this module decides:

- Worse: the worst *confirmed* finding (it has lasted `down_after_s` for a DOWN reason,
  `degraded_after_s` for a DEGRADED one, from its onset) sets the state at once.
- Better: when every active finding, confirmed or not, has been better than the state
  for `ok_after_s`, the state moves to the worst of them (OK when there is none). So a
  fault gives exactly one change, and its end one more.
- Same state, another confirmed reason wins (DOWN "no data" -> DOWN "unreachable"): a
  transition within the state, so the history says why the camera is down now.
- From UNKNOWN, OK is immediate on the first ONVIF answer; problems still need confirming.

Flapping: every outage (OK -> DEGRADED/DOWN) is counted over a sliding hour; with
`flapping_per_hour` of them the status says `flapping`, until fewer than
`flapping_clear_per_hour` remain (hysteresis). A restarted hub seeds the count from the
stored history (`seed_flaps`). Maintenance (`set_maintenance`) changes nothing here but
the status's `maintenance`, which the clock clears at its expiry: the state underneath is
judged and stored as always.

Both sides: the worse finding wins; on equal severity the more basic reason
(health_rules.REASON_ORDER), then ONVIF before the stream. The detail names the side
("stream: no packets for 2.1 s") and any problem of the other side ("; also onvif timeout").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from drivers.stream import StreamEvent, StreamSample
from hub.health_rules import SEVERITY, Finding, OnvifRule, StreamRules
from hub.health_thresholds import (
    DEFAULT_THRESHOLDS,
    FAILURES_BEFORE_DOWN,
    FLAP_WINDOW_S,
    HealthThresholds,
)
from hub.model import (
    CameraStatus,
    DeviceFacts,
    HealthReason,
    HealthSide,
    HealthState,
    HealthTransition,
    Maintenance,
    SampledProfile,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "FAILURES_BEFORE_DOWN",
    "MAINTENANCE_MAX",
    "TICK_S",
    "HealthEngine",
    "Verdict",
    "maintenance_problem",
]

# How often the hub re-evaluates every camera, for rules that mature with time alone
# (a stall confirmed 3 s after the last packet, recovery held 4 s): the engine's
# resolution. Half a second keeps the 5 s stall target with margin and costs ~20 us a
# camera.
TICK_S = 0.5

S = HealthState

# The longest maintenance one request may set: a week covers waiting for a spare part; a
# camera out for longer should be taken out of the configuration, not silenced, and a
# typo ("24d" for "24h") must not hide a camera for a month.
MAINTENANCE_MAX = timedelta(days=7)
# Longest maintenance reason kept (a short note, shown in one line of the detail view).
MAINTENANCE_REASON_MAX = 200


def maintenance_problem(now: datetime, until: datetime, reason: str) -> str | None:
    """Why a maintenance request cannot be taken, or None when it can."""
    if until.tzinfo is None:
        return "the end time needs a time zone"
    if until <= now:
        return "the end time is not in the future"
    if until - now > MAINTENANCE_MAX + timedelta(minutes=1):  # a minute of slack: clocks
        return f"maintenance lasts at most {MAINTENANCE_MAX.days} days"
    if not reason.strip():
        return "a reason is needed (it is audited)"
    if len(reason) > MAINTENANCE_REASON_MAX:
        return f"the reason is longer than {MAINTENANCE_REASON_MAX} characters"
    return None

# Every transition the engine may make; anything else is a bug. Same-state transitions
# are reason changes (DOWN "no data" -> DOWN "refused"); OK has no reason to change.
ALLOWED_TRANSITIONS: frozenset[tuple[HealthState, HealthState]] = frozenset(
    {
        (S.UNKNOWN, S.OK),
        (S.UNKNOWN, S.DEGRADED),
        (S.UNKNOWN, S.DOWN),
        (S.OK, S.DEGRADED),
        (S.OK, S.DOWN),
        (S.DEGRADED, S.OK),
        (S.DEGRADED, S.DOWN),
        (S.DEGRADED, S.DEGRADED),
        (S.DOWN, S.OK),
        (S.DOWN, S.DEGRADED),
        (S.DOWN, S.DOWN),
    }
)


@dataclass(frozen=True)
class Verdict:
    """Result of one observation: the new status and the transition it caused, if any."""

    status: CameraStatus
    transition: HealthTransition | None
    # Worth writing to the store: ONVIF polls (last_seen, facts) and every transition;
    # not a stream sample that only brings new numbers (one per window per camera).
    store: bool = True


class HealthEngine:
    """Turns one camera's ONVIF polls and stream observations into states and transitions."""

    def __init__(
        self, status: CameraStatus, thresholds: HealthThresholds = DEFAULT_THRESHOLDS
    ) -> None:
        self.status = status
        self.thresholds = thresholds
        self._onvif = OnvifRule()
        self._stream = StreamRules(thresholds)
        self._better_since: datetime | None = None
        self._flaps: deque[datetime] = deque()  # onsets of the outages in the last hour

    @property
    def stream_paused(self) -> bool:
        """ONVIF says the camera is unreachable (or hangs): do not sample its stream now."""
        return self._onvif.pausing

    @property
    def sampled(self) -> SampledProfile | None:
        """The stream to sample, from the last full ONVIF read; None before one."""
        return self._stream.profile

    # -- ONVIF side --------------------------------------------------------------------

    def onvif_success(self, at: datetime, facts: DeviceFacts | None = None) -> Verdict:
        """The camera answered an authenticated call (`facts` after a full read)."""
        self._onvif.success()
        if facts is not None:
            self._stream.set_profile(facts.sampled)
        self.status = replace(
            self.status, last_seen=at, facts=facts if facts is not None else self.status.facts
        )
        return self._verdict(at)

    def onvif_failure(self, at: datetime, reason: HealthReason, detail: str) -> Verdict:
        """A poll failed with `reason`; `detail` is the credential-free error text."""
        self._onvif.failure(at, reason, detail, self.thresholds.onvif_failures)
        return self._verdict(at)

    # -- stream side -------------------------------------------------------------------

    def stream_sample(self, at: datetime, sample: StreamSample) -> Verdict:
        self._stream.sample(at, sample)
        self.status = replace(self.status, stream=self._stream.metrics)
        return self._verdict(at, store_always=False)

    def stream_event(self, at: datetime, event: StreamEvent) -> Verdict:
        self._stream.event(at, event)
        return self._verdict(at, store_always=False)

    def stream_stopped(self, at: datetime) -> Verdict:
        """Sampling stopped (paused, no stream URI): the stream side has no opinion."""
        self._stream.stop()
        self.status = replace(self.status, stream=None)
        return self._verdict(at, store_always=False)

    # -- clock -------------------------------------------------------------------------

    def tick(self, at: datetime) -> Verdict | None:
        """Re-evaluate at `at`; a verdict only when the status changed: the state (or
        reason), an expired maintenance, the flap count as outages leave the hour."""
        transition = self._evaluate(at)
        expired = self._expire_maintenance(at)
        flaps = self._count_flaps(at)
        if transition is None and not expired and not flaps:
            return None
        # The flap count is derived from the history: not worth a write of its own.
        return Verdict(self.status, transition, store=transition is not None or expired)

    # -- maintenance and flapping ------------------------------------------------------

    def set_maintenance(self, maintenance: Maintenance | None) -> Verdict:
        """Put the camera in maintenance (or end it, with None); the state is unchanged."""
        self.status = replace(self.status, maintenance=maintenance)
        return Verdict(self.status, None)

    def _expire_maintenance(self, now: datetime) -> bool:
        maintenance = self.status.maintenance
        if maintenance is None or now < maintenance.until:
            return False
        self.status = replace(self.status, maintenance=None)
        return True

    def seed_flaps(self, onsets: Iterable[datetime], now: datetime) -> None:
        """Outages the store remembers (a restarted hub): counted as if seen live."""
        self._flaps = deque(sorted(t for t in onsets if t <= now))
        self._count_flaps(now)

    def _count_flaps(self, now: datetime) -> bool:
        """Forget outages older than the window; set or clear `flapping` with hysteresis.
        True if the status changed."""
        cutoff = now - timedelta(seconds=FLAP_WINDOW_S)
        flaps = self._flaps
        while flaps and flaps[0] <= cutoff:
            flaps.popleft()
        count, status, t = len(flaps), self.status, self.thresholds
        flapping = status.flapping
        if count >= t.flapping_per_hour:
            flapping = True
        elif count < t.flapping_clear_per_hour:
            flapping = False
        if (count, flapping) == (status.flaps_per_hour, status.flapping):
            return False
        self.status = replace(status, flaps_per_hour=count, flapping=flapping)
        return True

    # -- the state machine -------------------------------------------------------------

    def _verdict(self, at: datetime, *, store_always: bool = True) -> Verdict:
        transition = self._evaluate(at)
        return Verdict(self.status, transition, store_always or transition is not None)

    def findings(self, now: datetime) -> list[Finding]:
        """Every problem either side sees now, confirmed or not."""
        onvif = self._onvif.finding(self.thresholds)
        return ([onvif] if onvif is not None else []) + self._stream.findings(now)

    def _evaluate(self, now: datetime) -> HealthTransition | None:
        findings = self.findings(now)
        worst_confirmed = max((f for f in findings if f.confirmed(now)), key=_rank, default=None)
        worst_active = max(findings, key=_rank, default=None)
        state = self.status.state
        if state is S.UNKNOWN:
            if worst_confirmed is not None:
                return self._move(_pick(findings, worst_confirmed), findings, now)
            if not findings and self._onvif.seen_ok:
                return self._move(None, findings, now)
            return None
        level = SEVERITY[state]
        if worst_confirmed is not None and SEVERITY[worst_confirmed.state] > level:
            self._better_since = None
            return self._move(_pick(findings, worst_confirmed), findings, now)
        if _level(worst_active) < level:
            if self._better_since is None:
                self._better_since = now
            if (now - self._better_since).total_seconds() >= self.thresholds.ok_after_s:
                self._better_since = None
                return self._move(worst_active, findings, now)
            return None
        self._better_since = None
        transition = self._same_state(findings, now)
        if transition is None:
            self._refresh_detail(findings, worst_active)
        return transition

    def _same_state(self, findings: list[Finding], now: datetime) -> HealthTransition | None:
        """The state holds; show another reason if a more basic one is confirmed, or if the
        shown one is gone while the state is still confirmed by another."""
        status = self.status
        level = SEVERITY[status.state]
        same = [f for f in findings if SEVERITY[f.state] == level]
        pick = max(same, key=_rank, default=None)
        if pick is None or (pick.reason, pick.side) == (status.reason, status.side):
            return None
        shown = next((f for f in same if (f.reason, f.side) == (status.reason, status.side)), None)
        if pick.confirmed(now) or (shown is None and any(f.confirmed(now) for f in same)):
            return self._move(pick, findings, now)
        return None

    def _refresh_detail(self, findings: list[Finding], worst_active: Finding | None) -> None:
        """Holding the state: show the latest words for its reason (or a pending problem)."""
        status = self.status
        current = next(
            (f for f in findings if (f.reason, f.side) == (status.reason, status.side)), None
        )
        if current is not None:
            detail = _detail(current, findings)
        elif status.state is S.OK:
            # Not (yet) confirmed: keep the last error visible without changing the state.
            detail = _detail(worst_active, findings) if worst_active is not None else ""
        else:
            return
        if detail != status.detail:
            self.status = replace(status, detail=detail)

    def _move(
        self, finding: Finding | None, findings: list[Finding], at: datetime
    ) -> HealthTransition:
        """Enter the state `finding` calls for (OK for None), with its reason and side."""
        old = self.status
        state = finding.state if finding is not None else S.OK
        reason = finding.reason if finding is not None else HealthReason.NONE
        side = finding.side if finding is not None else HealthSide.NONE
        detail = _detail(finding, findings) if finding is not None else ""
        if (old.state, state) not in ALLOWED_TRANSITIONS:
            raise ValueError(f"{old.id}: illegal health transition {old.state} -> {state}")
        self.status = replace(
            old, state=state, reason=reason, detail=detail, side=side, changed_at=at
        )
        if old.state is S.OK and state in (S.DEGRADED, S.DOWN):
            self._flaps.append(at)
            self._count_flaps(at)
        return HealthTransition(
            camera_id=old.id,
            at=at,
            old_state=old.state,
            new_state=state,
            reason=reason,
            detail=detail,
            side=side,
        )


def _rank(finding: Finding) -> tuple[int, int, int]:
    return finding.rank


def _pick(findings: list[Finding], confirmed: Finding) -> Finding:
    """The reason to show for the state `confirmed` calls for: the most basic problem at
    that severity, confirmed or not - an ONVIF "unreachable" one poll old explains a
    confirmed stream "refused" better, and saves a second transition a moment later."""
    same = [f for f in findings if f.state is confirmed.state]
    return max(same, key=_rank)


def _level(finding: Finding | None) -> int:
    return SEVERITY[finding.state] if finding is not None else SEVERITY[S.OK]


def _detail(finding: Finding, findings: list[Finding]) -> str:
    """'stream: no packets for 2.1 s', plus the other side's worst problem if it has one."""
    text = f"{finding.side.value}: {finding.detail}" if finding.detail else finding.side.value
    others = [f for f in findings if f.side is not finding.side]
    if others:
        other = max(others, key=_rank)
        text += f"; also {other.side.value} {other.reason.value}"
    return text
