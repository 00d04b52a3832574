"""The health engine on an injected clock: every reason, hysteresis, both sides combined."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from drivers.errors import StreamAuthError, StreamRefused
from drivers.stream import StreamEvent, StreamEventKind, StreamSample
from hub.health import ALLOWED_TRANSITIONS, TICK_S, HealthEngine, Verdict
from hub.health_thresholds import HealthThresholds
from hub.model import (
    CameraConfig,
    CameraStatus,
    DeviceFacts,
    HealthReason,
    HealthSide,
    HealthState,
    HealthTransition,
    SampledProfile,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TH = HealthThresholds()  # the defaults: down 3 s, degraded 10 s, ok 4 s, stall 2 s
FPS, KBPS, GOP_S, WINDOW = 10.0, 250.0, 2.0, 2.0
Down, Degraded, Ok = HealthState.DOWN, HealthState.DEGRADED, HealthState.OK


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def facts(fps: float | None = FPS) -> DeviceFacts:
    sampled = SampledProfile("sub", "rtsp://127.0.0.1:8554/cam/sub", 320, 180, fps, 256)
    return DeviceFacts("Acme", "X1", "1.0", "SN1", "hw", 0.0, ("sub: sub 320x180 H264",),
                       "rtsp://127.0.0.1:8554/cam/main", None, (), sampled)


def sample(at_s: float, *, fps: float | None = FPS, kbps: float | None = KBPS,
           keyframes: int = 1, luma: float | None = 117.0, std: float | None = 38.0,
           frozen: bool | None = False, packets: int | None = None) -> StreamSample:
    count = packets if packets is not None else int((fps or 0) * WINDOW)
    return StreamSample(at=t(at_s), window_s=WINDOW, packets=count, fps=fps, bitrate_kbps=kbps,
                        keyframe_interval_s=GOP_S if keyframes else None, keyframes=keyframes,
                        max_gap_s=0.1, luma_mean=luma, luma_std=std, frozen=frozen)


class Script:
    """Feeds an engine in time order, ticking every TICK_S like the hub, and keeps transitions."""

    def __init__(self, camera: CameraConfig, thresholds: HealthThresholds = TH) -> None:
        self.engine = HealthEngine(CameraStatus(config=camera), thresholds)
        self.now = 0.0  # time of the last tick
        self.transitions: list[HealthTransition] = []

    def _take(self, verdict: Verdict | None) -> None:
        if verdict is not None and verdict.transition is not None:
            assert (verdict.transition.old_state, verdict.transition.new_state) in \
                ALLOWED_TRANSITIONS
            self.transitions.append(verdict.transition)

    def until(self, seconds: float) -> None:
        """Every hub tick up to `seconds` (ticks fall on multiples of TICK_S)."""
        while self.now + TICK_S <= seconds + 1e-9:
            self.now += TICK_S
            self._take(self.engine.tick(t(self.now)))

    def onvif_ok(self, at_s: float, with_facts: DeviceFacts | None = None) -> None:
        self.until(at_s)
        self._take(self.engine.onvif_success(t(at_s), with_facts))

    def onvif_fail(self, at_s: float, reason: HealthReason, detail: str = "refused") -> None:
        self.until(at_s)
        self._take(self.engine.onvif_failure(t(at_s), reason, detail))

    def event(self, at_s: float, kind: StreamEventKind, detail: str = "",
              error: Exception | None = None) -> None:
        self.until(at_s)
        self._take(self.engine.stream_event(t(at_s), StreamEvent(kind, detail, error)))  # type: ignore[arg-type]

    def samples(self, start_s: float, end_s: float, **kwargs: object) -> None:
        """One sample every WINDOW seconds in [start_s, end_s)."""
        at = start_s
        while at < end_s - 1e-9:
            self.until(at)
            self._take(self.engine.stream_sample(t(at), sample(at, **kwargs)))  # type: ignore[arg-type]
            at += WINDOW

    def states(self) -> list[tuple[HealthState, HealthReason]]:
        return [(x.new_state, x.reason) for x in self.transitions]

    @property
    def status(self) -> CameraStatus:
        return self.engine.status


def healthy(camera: CameraConfig, thresholds: HealthThresholds = TH,
            profile_fps: float | None = FPS) -> Script:
    """A camera answering ONVIF, streaming normally from t=0 to t=20 (baselines learned)."""
    run = Script(camera, thresholds)
    run.onvif_ok(0.0, facts(profile_fps))
    run.event(0.5, StreamEventKind.CONNECTED, "h264 320x180 10 fps")
    run.samples(2.0, 21.0)
    assert run.states() == [(Ok, HealthReason.NONE)]
    return run


def test_stall_down_from_the_last_packet_and_back_after_the_hold(
    camera_config: CameraConfig,
) -> None:
    run = healthy(camera_config)
    # Last packet at ~21 s; the sampler's watchdog says so 2 s (stall_after_s) later.
    run.event(23.1, StreamEventKind.STALLED, "no packets for 2.0 s (connection open)")
    run.until(23.9)
    assert run.status.state is Ok  # not yet down_after_s since the last packet
    run.until(24.5)
    assert run.states()[-1] == (Down, HealthReason.STALLED)
    down = run.transitions[-1]
    assert down.side is HealthSide.STREAM and down.detail.startswith("stream: no packets")
    assert (down.at - t(21.1)).total_seconds() <= TH.down_after_s + TICK_S
    run.samples(25.0, 29.0, packets=0, fps=None, kbps=None, keyframes=0)  # still stalled
    run.event(30.0, StreamEventKind.RECOVERED, "packets again after 9.0 s")
    run.samples(31.0, 45.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.STALLED),
                            (Ok, HealthReason.NONE)]
    back = run.transitions[-1]
    assert TH.ok_after_s <= (back.at - t(30.0)).total_seconds() <= TH.ok_after_s + TICK_S
    assert back.side is HealthSide.NONE and run.status.detail == ""


def test_a_blip_shorter_than_down_after_s_changes_nothing(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.event(23.0, StreamEventKind.STALLED, "no packets for 2.0 s")
    run.event(23.5, StreamEventKind.RECOVERED, "packets again")  # a 2.5 s gap in all
    run.samples(25.0, 31.0)
    run.samples(31.0, 33.0, luma=3.0, std=1.0)  # one black window
    run.samples(33.0, 37.0)
    run.samples(37.0, 41.0, fps=2.0, kbps=40.0)  # 4 s of low fps: below degraded_after_s
    run.samples(41.0, 61.0)
    assert run.states() == [(Ok, HealthReason.NONE)]


def test_black_is_down_once_and_recovers_once(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    # A black picture: the bit rate collapses too, the keyframes are identical (frozen).
    run.samples(22.0, 24.0, luma=0.0, std=0.0, kbps=140.0)
    run.samples(24.0, 40.0, luma=0.0, std=0.0, kbps=2.0, frozen=True)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.BLACK)]
    assert (run.transitions[-1].at - t(22.0)).total_seconds() <= TH.down_after_s + TICK_S
    assert "luma 0" in run.status.detail
    run.samples(40.0, 60.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.BLACK),
                            (Ok, HealthReason.NONE)]


def test_freeze_is_one_change_although_the_bit_rate_drops_first(
    camera_config: CameraConfig,
) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 26.0, kbps=20.0, frozen=False)  # pixel check still collecting
    run.samples(26.0, 40.0, kbps=20.0, frozen=True)  # 3 identical keyframes
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.FROZEN)]
    # Onset backdated to the first identical keyframe: down as soon as the flag comes.
    assert run.transitions[-1].at == t(26.0)
    run.samples(40.0, 60.0)
    assert run.states()[-1] == (Ok, HealthReason.NONE)
    assert len(run.transitions) == 3


def test_refused_keeps_the_onset_of_the_outage(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.event(21.5, StreamEventKind.ENDED, "the server ended the stream")
    refused = StreamRefused("rtsp://operator:***@127.0.0.1/cam/sub: refused (RTSP 5xx)")
    for at in (22.7, 25.0, 28.0, 31.0):
        run.event(at, StreamEventKind.ERROR, refused.message, refused)
    run.until(33.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.REFUSED)]
    assert run.transitions[-1].at <= t(21.5 + TH.down_after_s + TICK_S)
    run.event(34.0, StreamEventKind.CONNECTED, "h264 320x180 10 fps")
    run.samples(36.0, 44.0)
    assert run.states()[-1] == (Ok, HealthReason.NONE)
    assert run.transitions[-1].at == t(34.0 + TH.ok_after_s)


def test_a_quick_reconnect_is_no_outage(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.event(21.5, StreamEventKind.ENDED, "the server ended the stream")
    run.event(22.8, StreamEventKind.CONNECTED, "h264 320x180 10 fps")
    run.samples(24.8, 40.0)
    assert run.states() == [(Ok, HealthReason.NONE)]


def test_a_window_with_a_frame_from_before_the_stall_does_not_end_it(
    camera_config: CameraConfig,
) -> None:
    run = healthy(camera_config)
    run.event(23.1, StreamEventKind.STALLED, "no packets for 2.0 s (connection open)")
    # The window that was open when the stall began still holds one packet.
    run.samples(23.0, 25.0, packets=1, fps=None, kbps=3.0, keyframes=0)
    run.samples(25.0, 31.0, packets=0, fps=None, kbps=None, keyframes=0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.STALLED)]


def test_a_stream_that_keeps_dropping_goes_down_once(camera_config: CameraConfig) -> None:
    """Each gap is shorter than down_after_s, but the stream never stays up: down, once."""
    run = healthy(camera_config)
    at = 21.0
    for _ in range(4):  # plays 5 s, drops, back after 1.5 s
        run.event(at, StreamEventKind.ENDED, "the server ended the stream")
        run.event(at + 1.5, StreamEventKind.CONNECTED, "h264 320x180 10 fps")
        run.samples(at + 3.5, at + 6.5)
        at += 6.5
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.NO_DATA)]
    assert "again" in run.transitions[-1].detail
    run.samples(at, at + 40.0)  # stable again: back once, after the hold
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.NO_DATA),
                            (Ok, HealthReason.NONE)]


def test_a_refusal_after_repeated_drops_recovers_without_the_hold(
    camera_config: CameraConfig,
) -> None:
    """Drops merged into one outage, then the server refuses: once it plays again the
    camera is back after the normal ok hold, not after REPEAT_STABLE_S as well."""
    run = healthy(camera_config)
    run.event(21.0, StreamEventKind.ENDED, "the server ended the stream")
    run.event(22.5, StreamEventKind.CONNECTED, "h264 320x180 10 fps")
    run.samples(24.5, 27.5)
    run.event(27.5, StreamEventKind.ENDED, "the server ended the stream")  # merged: again
    refused = StreamRefused("refused")
    for at in (29.0, 30.0, 32.0, 35.0):
        run.event(at, StreamEventKind.ERROR, "refused", refused)
    assert run.states()[-1] == (Down, HealthReason.REFUSED)
    run.event(40.0, StreamEventKind.CONNECTED, "h264 320x180 10 fps")
    run.samples(40.0, 60.0)
    [back] = [x for x in run.transitions if x.new_state is Ok and x.at > t(40.0)]
    ok_after = TH.ok_after_s
    assert (back.at - t(40.0)).total_seconds() <= ok_after + WINDOW + TICK_S


def test_stream_auth_failure(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    denied = StreamAuthError("rtsp://operator:***@127.0.0.1/cam/sub: credentials rejected")
    for at in (22.0, 23.0, 25.0):
        run.event(at, StreamEventKind.ERROR, denied.message, denied)
    assert run.states()[-1] == (Down, HealthReason.AUTH_FAILED)
    assert run.transitions[-1].side is HealthSide.STREAM


def test_low_fps_against_the_onvif_rate(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 40.0, fps=2.0, kbps=45.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Degraded, HealthReason.LOW_FPS)]
    assert run.transitions[-1].at == t(22.0 + TH.degraded_after_s)
    assert "2.0 fps, expected 10 (ONVIF)" in run.status.detail
    assert run.status.stream is not None and run.status.stream.expected_fps == FPS
    run.samples(40.0, 50.0)
    assert run.states()[-1] == (Ok, HealthReason.NONE)


def test_low_fps_against_the_learned_rate_without_an_onvif_rate(
    camera_config: CameraConfig,
) -> None:
    run = healthy(camera_config, profile_fps=None)
    run.samples(22.0, 40.0, fps=3.0)
    assert run.states()[-1] == (Degraded, HealthReason.LOW_FPS)
    assert "expected 10 (usual)" in run.status.detail


def test_low_bitrate_against_the_learned_baseline(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 40.0, kbps=25.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Degraded, HealthReason.LOW_BITRATE)]
    assert "25 kbit/s, usual 250" in run.status.detail
    run.samples(40.0, 50.0)
    assert run.states()[-1] == (Ok, HealthReason.NONE)


def test_no_keyframes(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 50.0, keyframes=0)
    assert run.states() == [(Ok, HealthReason.NONE), (Degraded, HealthReason.NO_KEYFRAMES)]
    # Last keyframe at 20 s; the first missing one was due at 22 s.
    assert run.transitions[-1].at <= t(22.0 + TH.degraded_after_s + WINDOW)
    assert "usual every 2.0 s" in run.status.detail
    run.samples(50.0, 60.0)
    assert run.states()[-1] == (Ok, HealthReason.NONE)


def test_worse_side_wins_and_says_so(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 34.0, fps=2.0)
    assert run.states()[-1] == (Degraded, HealthReason.LOW_FPS)
    run.onvif_fail(34.5, HealthReason.TIMEOUT, "GetDeviceInformation: no answer in 5 s")
    run.samples(35.0, 36.0, fps=2.0)
    run.onvif_fail(36.5, HealthReason.TIMEOUT, "GetDeviceInformation: no answer in 5 s")
    assert run.states()[-1] == (Down, HealthReason.TIMEOUT)
    assert run.status.side is HealthSide.ONVIF
    assert run.status.detail == "onvif: GetDeviceInformation: no answer in 5 s; also stream low fps"
    assert run.engine.stream_paused  # confirmed timeout: the stream is not sampled now
    run._take(run.engine.stream_stopped(t(37.0)))
    run.onvif_ok(40.0)
    run.until(40.0 + TH.ok_after_s)
    assert run.states()[-1] == (Ok, HealthReason.NONE)  # the stream side has no opinion now


def test_equal_severity_prefers_onvif_and_the_more_basic_reason(
    camera_config: CameraConfig,
) -> None:
    run = healthy(camera_config)
    refused = StreamRefused("refused")
    run.event(21.5, StreamEventKind.ERROR, "refused", refused)
    run.onvif_fail(22.0, HealthReason.UNREACHABLE, "connection refused")
    run.onvif_fail(23.0, HealthReason.UNREACHABLE, "connection refused")
    run.until(30.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.UNREACHABLE)]
    assert run.status.detail == "onvif: connection refused; also stream refused"


def test_reason_change_within_down_is_recorded(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 30.0, luma=0.0, std=0.0)
    run.event(30.5, StreamEventKind.STALLED, "no packets for 2.0 s")
    run.until(40.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.BLACK),
                            (Down, HealthReason.STALLED)]


def test_shorter_thresholds_from_a_group(camera_config: CameraConfig) -> None:
    quick = HealthThresholds(down_after_s=1.0, ok_after_s=2.5, stall_after_s=1.0)
    run = healthy(replace(camera_config, group="tunnel"), quick)
    run.event(22.0, StreamEventKind.STALLED, "no packets for 1.0 s")
    run.until(22.5)
    assert run.states()[-1] == (Down, HealthReason.STALLED)
    run.event(24.0, StreamEventKind.RECOVERED, "packets again")
    run.until(26.5)
    assert run.states()[-1] == (Ok, HealthReason.NONE)


def test_switched_off_rules(camera_config: CameraConfig) -> None:
    """An event-driven camera's group: a low frame rate is how it works."""
    quiet = HealthThresholds(low_fps_ratio=0.0, low_bitrate_ratio=0.0, keyframe_factor=0.0)
    run = healthy(camera_config, quiet)
    run.samples(22.0, 60.0, fps=0.5, kbps=4.0, keyframes=0, packets=1)
    assert run.states() == [(Ok, HealthReason.NONE)]


def test_no_stream_findings_before_the_first_onvif_answer(camera_config: CameraConfig) -> None:
    run = Script(camera_config)
    run.onvif_fail(0.0, HealthReason.UNREACHABLE)
    assert run.status.state is HealthState.UNKNOWN  # one failed poll is not yet down
    run.until(2.9)
    assert run.status.state is HealthState.UNKNOWN
    run.until(3.0)
    assert run.states() == [(Down, HealthReason.UNREACHABLE)]  # failing for down_after_s


@pytest.mark.parametrize("state", [Ok, Degraded, Down])
def test_transition_table_is_explicit(state: HealthState) -> None:
    assert (HealthState.UNKNOWN, state) in ALLOWED_TRANSITIONS
    assert (state, HealthState.UNKNOWN) not in ALLOWED_TRANSITIONS
    assert (Ok, Ok) not in ALLOWED_TRANSITIONS


def test_camera_gone_is_one_transition_with_the_most_basic_reason(
    camera_config: CameraConfig,
) -> None:
    """The stream breaks first, ONVIF's first failed poll comes before that is confirmed:
    down once, as unreachable (not refused, then unreachable a moment later)."""
    run = healthy(camera_config)
    run.event(21.2, StreamEventKind.ENDED, "the server ended the stream")
    run.onvif_fail(22.0, HealthReason.UNREACHABLE, "connection refused")
    run.event(22.5, StreamEventKind.ERROR, "refused", StreamRefused("refused"))
    run.onvif_fail(23.2, HealthReason.UNREACHABLE, "connection refused")
    run._take(run.engine.stream_stopped(t(23.3)))  # paused: the camera is unreachable
    run.until(40.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.UNREACHABLE)]
    assert run.transitions[-1].at <= t(21.2 + TH.down_after_s + TICK_S)


def test_an_onvif_blip_does_not_change_the_reason_shown(camera_config: CameraConfig) -> None:
    run = healthy(camera_config)
    run.samples(22.0, 30.0, luma=0.0, std=0.0)
    assert run.states()[-1] == (Down, HealthReason.BLACK)
    run.onvif_fail(30.5, HealthReason.TIMEOUT, "no answer")
    run.samples(30.0, 32.0, luma=0.0, std=0.0)
    run.onvif_ok(32.0)
    run.samples(32.0, 40.0, luma=0.0, std=0.0)
    assert run.states() == [(Ok, HealthReason.NONE), (Down, HealthReason.BLACK)]
