"""The health engine's rules: what each side (ONVIF, stream) finds wrong, and since when.

A rule turns observations into `Finding`s: a reason, the state it calls for (DOWN or
DEGRADED), a credential-free detail, the problem's onset (`since`, as early as the
evidence shows it) and the moment it is confirmed (onset + the hysteresis of its state).
The engine (hub/health.py) combines the findings of both sides into one state.

References for "low" (documented in docs/config.md as well):

- Frame rate: the ONVIF profile's frame-rate limit when the camera states one (what the
  camera was configured to deliver; a learned baseline would hide a camera that never
  delivered), else the rate learned from the first healthy windows, always at least the
  absolute floor `min_fps`.
- Bit rate: the rate learned from the first healthy windows (median), then following
  slow changes (day/night) with a 10 min time constant, frozen while it is judged low.
  Not the ONVIF bit-rate limit: with variable bit rate a static scene legitimately sits
  far below it. Before the baseline is learned only the floor `min_bitrate_kbps` applies.
- Keyframes: `keyframe_factor` times the learned usual interval, or `keyframe_max_s`
  while none is known.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from drivers.errors import (
    StreamAuthError,
    StreamError,
    StreamProtocolError,
    StreamRefused,
    StreamTimeout,
)
from drivers.stream import FROZEN_KEYFRAMES, StreamEvent, StreamEventKind, StreamSample, looks_black
from hub.health_thresholds import HealthThresholds
from hub.model import HealthReason, HealthSide, HealthState, SampledProfile, StreamMetrics

R = HealthReason


@dataclass(frozen=True)
class _Outage:
    """The stream is not flowing: why, since when (its onset), and when it ended."""

    reason: HealthReason
    detail: str
    since: datetime
    ended: datetime | None = None

# A stream that the server ends again this soon after it came back has not recovered:
# the new outage keeps the first one's onset (only for drops - "no data" - not for a
# refusal or a stall, which are steady states of their own), so a stream that
# disconnects every few seconds (each gap shorter than down_after_s) still goes down,
# once, instead of staying "ok".
# 30 s spans several reconnect cycles of the stream supervisor's 1-3 s backoff.
OUTAGE_MERGE_S = 30.0
# Such a repeated outage ends only after the stream has flowed this long without a
# drop; otherwise every cycle would read as a recovery (flapping ok/down). 6 s is longer
# than a reconnect cycle of the supervisor (1-3 s backoff plus the open), so a stream that
# keeps being cut stays down; a slower cycle shows as flapping (hub/health.py) instead.
# Longer holds kept recovery above the 10 s target after a disconnect (15 s: p95 16.9 s).
REPEAT_STABLE_S = 6.0

# Which state each reason calls for. Black and frozen are DOWN, not DEGRADED: a camera
# exists to show what happens, and a black or frozen picture shows nothing - a frozen
# one is worse than none, because the operator believes it is live. Low fps, low bit rate
# and missing keyframes still show the scene, poorly: DEGRADED.
STATE_OF: dict[HealthReason, HealthState] = {
    **dict.fromkeys(
        (R.AUTH_FAILED, R.UNREACHABLE, R.TIMEOUT, R.REFUSED, R.PROTOCOL_ERROR, R.NO_DATA,
         R.STALLED, R.BLACK, R.FROZEN),
        HealthState.DOWN,
    ),
    **dict.fromkeys((R.NO_KEYFRAMES, R.LOW_FPS, R.LOW_BITRATE), HealthState.DEGRADED),
}

# How bad a state is; the worse finding wins.
SEVERITY: dict[HealthState, int] = {
    HealthState.UNKNOWN: -1,
    HealthState.OK: 0,
    HealthState.DEGRADED: 1,
    HealthState.DOWN: 2,
}

# Among findings of the same severity the first reason here is reported: the most basic
# cause first (no login, no connection, no data, then bad pictures), and the frame rate
# before the bit rate it drags down. On a tie, ONVIF's finding comes before the stream's.
REASON_ORDER: tuple[HealthReason, ...] = (
    R.AUTH_FAILED, R.UNREACHABLE, R.TIMEOUT, R.REFUSED, R.PROTOCOL_ERROR, R.NO_DATA,
    R.STALLED, R.BLACK, R.FROZEN, R.NO_KEYFRAMES, R.LOW_FPS, R.LOW_BITRATE,
)

STREAM_ERROR_REASONS: dict[type[StreamError], HealthReason] = {
    StreamRefused: R.REFUSED,
    StreamAuthError: R.AUTH_FAILED,
    StreamTimeout: R.TIMEOUT,
    StreamProtocolError: R.PROTOCOL_ERROR,
}

# Failures that cannot be a blip: a wrong password stays wrong until someone acts.
ONVIF_IMMEDIATE = frozenset({R.AUTH_FAILED})
# Confirmed ONVIF failures during which the stream is not sampled: the host is gone or
# hangs, and hammering it with RTSP reconnects tells nothing new.
PAUSING_REASONS = frozenset({R.UNREACHABLE, R.TIMEOUT})

# A learned baseline follows slow changes (day and night light) with this time constant.
BASELINE_TAU_S = 600.0


@dataclass(frozen=True)
class Finding:
    """One problem one side sees now."""

    side: HealthSide
    state: HealthState  # DOWN or DEGRADED
    reason: HealthReason
    detail: str  # credential-free
    since: datetime  # onset, as early as the evidence shows it
    confirmed_at: datetime  # from then on it may change the camera's state

    def confirmed(self, now: datetime) -> bool:
        return now >= self.confirmed_at

    @property
    def rank(self) -> tuple[int, int, int]:
        """Sort key: higher is worse."""
        return (SEVERITY[self.state], -REASON_ORDER.index(self.reason),
                1 if self.side is HealthSide.ONVIF else 0)


def held(side: HealthSide, reason: HealthReason, detail: str, since: datetime,
         t: HealthThresholds) -> Finding:
    """A finding confirmed once it has lasted the hysteresis of the state it calls for."""
    state = STATE_OF[reason]
    hold = t.down_after_s if state is HealthState.DOWN else t.degraded_after_s
    return Finding(side, state, reason, detail, since, since + timedelta(seconds=hold))


def stream_reason(error: StreamError | None) -> HealthReason:
    for cls, reason in STREAM_ERROR_REASONS.items():
        if isinstance(error, cls):
            return reason
    return R.PROTOCOL_ERROR


class OnvifRule:
    """ONVIF side: failed polls in a row, from the first failure on."""

    def __init__(self) -> None:
        self.failures = 0
        self.seen_ok = False  # at least one authenticated answer since the hub started
        self._since: datetime | None = None
        self._counted_at: datetime | None = None  # enough failures (or auth) to confirm
        self._reason = R.NONE
        self._detail = ""

    def success(self) -> None:
        self.failures = 0
        self.seen_ok = True
        self._since = self._counted_at = None

    def failure(self, at: datetime, reason: HealthReason, detail: str, limit: int) -> None:
        if self.failures == 0:
            self._since = at
        self.failures += 1
        self._reason, self._detail = reason, detail
        if self._counted_at is None and (self.failures >= limit or reason in ONVIF_IMMEDIATE):
            self._counted_at = at

    @property
    def pausing(self) -> bool:
        """Confirmed unreachable/hanging: the stream should not be sampled now."""
        return self._counted_at is not None and self._reason in PAUSING_REASONS

    def finding(self, t: HealthThresholds) -> Finding | None:
        if self._since is None:
            return None
        found = held(HealthSide.ONVIF, self._reason, self._detail, self._since, t)
        if self._counted_at is not None and self._counted_at < found.confirmed_at:
            found = Finding(found.side, found.state, found.reason, found.detail, found.since,
                            self._counted_at)
        return found


class Baseline:
    """A camera's usual value: the median of its first clean windows, then a slow average."""

    def __init__(self, windows: int) -> None:
        self._windows = windows
        self._first: list[float] = []
        self.value: float | None = None

    def add(self, value: float, window_s: float) -> None:
        if self.value is None:
            self._first.append(value)
            if len(self._first) >= self._windows:
                self.value = statistics.median(self._first)
        else:
            self.value += (value - self.value) * min(1.0, window_s / BASELINE_TAU_S)


class StreamRules:
    """Stream side: connection outages (events) and picture/rate rules (samples)."""

    def __init__(self, t: HealthThresholds) -> None:
        self.t = t
        self.running = False  # the stream side has an opinion (a sampler runs)
        self.profile: SampledProfile | None = None
        self.metrics: StreamMetrics | None = None
        self._fps_base = Baseline(t.baseline_windows)
        self._bitrate_base = Baseline(t.baseline_windows)
        self._keyframe_base = Baseline(t.baseline_windows)
        self._outage: _Outage | None = None
        # Onset and end of the last outage that ended (see OUTAGE_MERGE_S).
        self._last_outage: _Outage | None = None  # the last one that ended (has `ended`)
        self._repeated = False  # the current outage merged with an earlier one
        self._stable_after: datetime | None = None  # a repeated outage ends then, if flowing
        self._reset_session(None)

    def _reset_session(self, at: datetime | None) -> None:
        self._flow_since = at  # packets (re)started: CONNECTED or RECOVERED
        self._last_keyframe_at: datetime | None = None
        self._last_keyframe_interval: float | None = None
        self._since: dict[HealthReason, datetime] = {}  # picture and rate rules now true
        self._detail: dict[HealthReason, str] = {}

    def set_profile(self, profile: SampledProfile | None) -> None:
        """The stream to sample (from ONVIF facts); a new stream learns new baselines."""
        if (profile and profile.uri) != (self.profile and self.profile.uri):
            n = self.t.baseline_windows
            self._fps_base, self._bitrate_base, self._keyframe_base = (
                Baseline(n), Baseline(n), Baseline(n))
        self.profile = profile

    @property
    def expected_fps(self) -> tuple[float | None, str]:
        if self.profile is not None and self.profile.fps:
            return self.profile.fps, "ONVIF"
        return self._fps_base.value, "usual"

    def stop(self) -> None:
        """The sampler stopped (paused, or no stream): no opinion until it runs again."""
        self.running = False
        self._outage = None
        self._last_outage = None
        self._repeated = False
        self._stable_after = None
        self.metrics = None
        self._reset_session(None)

    # -- events ----------------------------------------------------------------------

    def event(self, at: datetime, event: StreamEvent) -> None:
        self.running = True
        kind = event.kind
        if kind is StreamEventKind.CONNECTED:
            self._end_outage(at)
            self._reset_session(at)
        elif kind is StreamEventKind.STALLED:
            onset = at - timedelta(seconds=self.t.stall_after_s)  # the last packet
            if self._flow_since is not None:
                onset = max(onset, self._flow_since)
            self._set_outage(onset, R.STALLED, event.detail)
        elif kind is StreamEventKind.RECOVERED:
            if self._outage is not None and self._outage.reason is R.STALLED:
                self._end_outage(at)
            self._flow_since = at
        elif kind is StreamEventKind.ENDED:
            self._set_outage(at, R.NO_DATA, event.detail or "the server ended the stream")
        else:
            self._set_outage(at, stream_reason(event.error), event.detail)

    def _set_outage(self, at: datetime, reason: HealthReason, detail: str) -> None:
        """An outage keeps its onset while its cause changes (ended -> refused ...), and
        across a recovery shorter than OUTAGE_MERGE_S."""
        self._stable_after = None
        last = self._last_outage
        if self._outage is not None:
            since = self._outage.since
            if reason is not R.NO_DATA:
                # A drop that turned into a refusal (or a stall, a black picture ...) is a
                # steady state of its own, not a stream that keeps being cut: it recovers
                # like one, without the REPEAT_STABLE_S hold.
                self._repeated = False
        elif (last is not None and last.ended is not None and reason is R.NO_DATA
              and last.reason is R.NO_DATA
              and (at - last.ended).total_seconds() < OUTAGE_MERGE_S):
            since = last.since
            back_for = (at - last.ended).total_seconds()
            detail = f"{detail} (again, {back_for:.0f} s after it came back)"
            self._repeated = True
        else:
            since = at
        self._outage = _Outage(reason, detail, since)

    def _end_outage(self, at: datetime) -> None:
        if self._outage is None:
            return
        if self._repeated:
            # Not over until the stream has stayed up for a while (REPEAT_STABLE_S).
            if self._stable_after is None:
                self._stable_after = at + timedelta(seconds=REPEAT_STABLE_S)
                return
            if at < self._stable_after:
                return
        self._last_outage = replace(self._outage, ended=at)
        self._outage = None
        self._repeated = False
        self._stable_after = None

    # -- samples ---------------------------------------------------------------------

    def sample(self, at: datetime, s: StreamSample) -> None:
        self.running = True
        expected, _ = self.expected_fps
        self.metrics = StreamMetrics(
            at=at, fps=s.fps, bitrate_kbps=s.bitrate_kbps,
            keyframe_interval_s=s.keyframe_interval_s, luma_mean=s.luma_mean,
            frozen=s.frozen, expected_fps=expected,
            baseline_bitrate_kbps=self._bitrate_base.value,
        )
        if s.packets == 0:
            return  # nothing to judge: the stall watchdog speaks for missing packets
        # Packets flow. A stall ends only with the watchdog's RECOVERED: a window can hold
        # a frame that arrived just before the stall began.
        if self._outage is not None and self._outage.reason is not R.STALLED:
            self._end_outage(at)
        if self._flow_since is None:
            self._flow_since = at
        if s.keyframes:
            self._last_keyframe_at = at
        if s.keyframe_interval_s:
            self._keyframe_base.add(s.keyframe_interval_s, s.window_s)
            self._last_keyframe_interval = s.keyframe_interval_s
        black = looks_black(s.luma_mean, s.luma_std)
        self._judge(at, R.BLACK, black,
                    f"black picture (luma {s.luma_mean or 0:.0f} of 255, "
                    f"spread {s.luma_std or 0:.0f})")
        frozen = s.frozen is True and not black
        if frozen and R.FROZEN not in self._since:
            # The flag means the last FROZEN_KEYFRAMES decoded keyframes were identical:
            # the picture froze when the first of them was decoded.
            step = max(self._keyframe_base.value or s.keyframe_interval_s or 0.0,
                       self.t.pixel_interval_s)
            onset = at - timedelta(seconds=(FROZEN_KEYFRAMES - 1) * step)
            self._since[R.FROZEN] = max(onset, self._flow_since)
        self._judge(at, R.FROZEN, frozen,
                    f"frozen picture ({FROZEN_KEYFRAMES} identical keyframes)")
        fps = s.fps if s.fps is not None else s.packets / s.window_s
        low_fps = self._low_fps(at, fps)
        low_bitrate = self._low_bitrate(at, s.bitrate_kbps or 0.0)
        if not (black or frozen or low_fps or low_bitrate):
            self._fps_base.add(fps, s.window_s)
            if s.bitrate_kbps is not None:
                self._bitrate_base.add(s.bitrate_kbps, s.window_s)

    def _low_fps(self, at: datetime, fps: float) -> bool:
        t = self.t
        expected, source = self.expected_fps
        limit = max(t.min_fps, t.low_fps_ratio * (expected or 0.0))
        low = t.low_fps_ratio > 0 and fps < limit
        ref = f"expected {expected:g} ({source})" if expected else f"floor {t.min_fps:g}"
        self._judge(at, R.LOW_FPS, low, f"{fps:.1f} fps, {ref}")
        return low

    def _low_bitrate(self, at: datetime, kbps: float) -> bool:
        t = self.t
        usual = self._bitrate_base.value
        limit = max(t.min_bitrate_kbps, t.low_bitrate_ratio * (usual or 0.0))
        low = t.low_bitrate_ratio > 0 and kbps < limit
        ref = f"usual {usual:.0f}" if usual else f"floor {t.min_bitrate_kbps:g}"
        self._judge(at, R.LOW_BITRATE, low, f"{kbps:.0f} kbit/s, {ref}")
        return low

    def _judge(self, at: datetime, reason: HealthReason, true: bool, detail: str) -> None:
        """Remember since when a picture/rate rule has been true (and its latest detail)."""
        if true:
            self._since.setdefault(reason, at)
            self._detail[reason] = detail
        else:
            self._since.pop(reason, None)
            self._detail.pop(reason, None)

    # -- verdict ---------------------------------------------------------------------

    def findings(self, now: datetime) -> list[Finding]:
        if not self.running:
            return []
        side, t = HealthSide.STREAM, self.t
        found: list[Finding] = []
        if self._outage is not None:
            reason, detail, since = self._outage.reason, self._outage.detail, self._outage.since
            found.append(held(side, reason, detail, since, t))
        else:
            found.extend(held(side, reason, self._detail[reason], since, t)
                         for reason, since in self._since.items())
            missing = self._missing_keyframes(now)
            if missing is not None:
                found.append(missing)
        return found

    def _missing_keyframes(self, now: datetime) -> Finding | None:
        t = self.t
        if not t.keyframe_factor or self._flow_since is None:
            return None
        ref = max(self._last_keyframe_at or self._flow_since, self._flow_since)
        # An encoder's GOP is steady: until the baseline is learned, the last interval seen
        # is a fair guess (keyframe_factor leaves room for one odd one).
        usual = self._keyframe_base.value or self._last_keyframe_interval
        limit = t.keyframe_factor * usual if usual else t.keyframe_max_s
        age = (now - ref).total_seconds()
        if age <= limit:
            return None
        # The problem began when the first keyframe was due and did not come.
        since = ref + timedelta(seconds=usual if usual else limit)
        how = f"usual every {usual:.1f} s" if usual else f"limit {limit:g} s"
        return held(HealthSide.STREAM, R.NO_KEYFRAMES, f"no keyframe for {age:.1f} s ({how})",
                    since, t)
