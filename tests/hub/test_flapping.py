"""Flapping: outages counted over a sliding hour, a flag with hysteresis, seeded from the
stored history after a restart. Engine on an injected clock; the store and Hub.open for
the restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.core import Hub
from hub.health import HealthEngine, Verdict
from hub.health_thresholds import (
    FLAP_WINDOW_S,
    FLAPPING_CLEAR_PER_HOUR,
    FLAPPING_PER_HOUR,
    HealthThresholds,
)
from hub.model import (
    CameraConfig,
    CameraStatus,
    HealthReason,
    HealthSide,
    HealthState,
    HealthTransition,
    Site,
)
from hub.store import Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TH = HealthThresholds()
S, R = HealthState, HealthReason
HOUR = timedelta(seconds=FLAP_WINDOW_S)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ok_engine(camera: CameraConfig) -> HealthEngine:
    engine = HealthEngine(CameraStatus(config=camera), TH)
    engine.onvif_success(t(0))
    assert engine.status.state is S.OK
    return engine


def outage(engine: HealthEngine, at: float) -> list[Verdict]:
    """One ONVIF outage at `at` s: two failed polls (down), then answers again (ok)."""
    verdicts = [
        engine.onvif_failure(t(at), R.UNREACHABLE, "no route to host"),
        engine.onvif_failure(t(at + 1), R.UNREACHABLE, "no route to host"),
        engine.onvif_success(t(at + 2)),
    ]
    tick = engine.tick(t(at + 2 + TH.ok_after_s))
    assert tick is not None
    verdicts.append(tick)
    assert engine.status.state is S.OK
    return verdicts


def test_the_thresholds_have_hysteresis() -> None:
    assert 1 <= FLAPPING_CLEAR_PER_HOUR < FLAPPING_PER_HOUR
    assert TH.problems() == []
    bad = HealthThresholds(flapping_per_hour=2, flapping_clear_per_hour=3)
    assert ("flapping_clear_per_hour", "must not be more than flapping_per_hour") in bad.problems()


def test_repeated_outages_make_a_camera_flapping(camera_config: CameraConfig) -> None:
    engine = ok_engine(camera_config)
    counts: list[tuple[int, bool]] = []
    for n in range(FLAPPING_PER_HOUR):
        verdicts = outage(engine, 60.0 + n * 300)  # one every 5 min
        counts.append((engine.status.flaps_per_hour, engine.status.flapping))
        down = [v for v in verdicts if v.transition and v.transition.new_state is S.DOWN]
        assert len(down) == 1  # each outage is still one transition down and one back
    assert counts == [(1, False), (2, False), (3, False), (4, True)]
    # The flag comes with the transition that made it: published and stored at once.
    assert engine.status.flapping


def test_the_flag_clears_only_below_the_lower_threshold(camera_config: CameraConfig) -> None:
    engine = ok_engine(camera_config)
    starts = [60.0 + n * 300 for n in range(FLAPPING_PER_HOUR)]
    for start in starts:
        outage(engine, start)
    assert engine.status.flapping
    onsets = [s + 1 for s in starts]  # the second failed poll confirms: the state changes
    seen: list[tuple[int, bool]] = []
    for onset in onsets:
        verdict = engine.tick(t(onset) + HOUR + timedelta(seconds=1))  # that one has aged out
        assert verdict is not None and verdict.transition is None
        assert not verdict.store  # derived from the history: nothing new to write
        seen.append((verdict.status.flaps_per_hour, verdict.status.flapping))
    # 3 and 2 left: still flapping (hysteresis); 1 left: below FLAPPING_CLEAR_PER_HOUR.
    assert seen == [(3, True), (2, True), (1, False), (0, False)]
    assert engine.tick(t(onsets[-1]) + 2 * HOUR) is None  # nothing changes any more


def test_outages_spread_over_more_than_an_hour_are_no_flapping(
    camera_config: CameraConfig,
) -> None:
    engine = ok_engine(camera_config)
    for n in range(2 * FLAPPING_PER_HOUR):
        outage(engine, 60.0 + n * 1300)  # one every ~22 min: at most 3 in any hour
        engine.tick(t(60.0 + n * 1300 + 10))
        assert engine.status.flaps_per_hour < FLAPPING_PER_HOUR
        assert not engine.status.flapping


def test_a_long_outage_is_one_flap(camera_config: CameraConfig) -> None:
    """Only leaving OK counts: more failures within the same outage are no new flap."""
    engine = ok_engine(camera_config)
    for n in range(FLAPPING_PER_HOUR):
        engine.onvif_failure(t(10 + n), R.UNREACHABLE, "again")  # stays down
        engine.tick(t(10.5 + n))
    assert engine.status.state is S.DOWN
    assert engine.status.flaps_per_hour == 1


def test_seeded_outages_count_as_if_seen_live(camera_config: CameraConfig) -> None:
    engine = HealthEngine(CameraStatus(config=camera_config), TH)
    now = t(7200)
    recent = [now - timedelta(minutes=m) for m in (50, 30, 20, 5)]
    engine.seed_flaps([now - timedelta(minutes=90), *recent], now)
    assert (engine.status.flaps_per_hour, engine.status.flapping) == (4, True)


async def test_a_restarted_hub_counts_flaps_from_the_history(
    tmp_path: Path, camera_config: CameraConfig
) -> None:
    """Nothing stored for flapping: Hub.open counts the last hour's ok -> down/degraded
    transitions of the history table."""
    store = await Store.open(tmp_path)
    await store.upsert_cameras([camera_config])
    now = datetime.now(UTC)
    status = CameraStatus(config=camera_config)

    def change(minutes_ago: float, old: HealthState, new: HealthState) -> HealthTransition:
        return HealthTransition(camera_config.id, now - timedelta(minutes=minutes_ago), old,
                                new, R.UNREACHABLE if new is not S.OK else R.NONE, "",
                                HealthSide.ONVIF)

    transitions = [change(90, S.OK, S.DOWN), change(89, S.DOWN, S.OK)]  # too old
    for minutes in (40, 30, 20, 10):
        transitions += [change(minutes, S.OK, S.DOWN), change(minutes - 1, S.DOWN, S.OK)]
    transitions.append(change(5, S.UNKNOWN, S.DOWN))  # a restart with the camera down: no flap
    transitions.append(change(4, S.DOWN, S.DEGRADED))  # nor a change within an outage
    for transition in transitions:
        await store.record(status, transition)
    onsets = await store.outage_onsets([camera_config.id, "other"], now - HOUR)
    assert [round((now - at).total_seconds() / 60) for at in onsets[camera_config.id]] == [
        40, 30, 20, 10]
    assert "other" not in onsets
    await store.close()

    hub = await Hub.open([Site("city", "City")], [camera_config], tmp_path, stream_health=False)
    try:
        restored = hub.camera(camera_config.id)
        assert restored is not None
        assert (restored.flaps_per_hour, restored.flapping) == (4, True)
    finally:
        await hub.stop()
