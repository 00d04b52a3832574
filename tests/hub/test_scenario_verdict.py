"""The scenario judge on synthetic observations, and the observer on a fake client.

A fake of the client interface (HubClient) is enough here: these are unit tests of how
expectations are judged on what a hub showed, not of the hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.alpr_model import (
    Alert,
    AlertState,
    Hit,
    HotlistEntry,
    HotlistInfo,
    ImageKind,
    MatchKind,
    Read,
    RejectReason,
    WantedPlate,
)
from hub.errors import SearchPatternError
from hub.model import (
    CameraConfig,
    CameraKind,
    CameraStatus,
    FixState,
    HealthReason,
    HealthState,
    HealthTransition,
    Site,
    TrackPoint,
    VehicleConfig,
    VehicleStatus,
)
from hub.scenario_observer import HubObserver, Seen
from hub.scenario_verdict import Verdict, describe_expectation, judge, vocabulary_problems
from simulator.timeline_model import (
    Anchor,
    AppliedEvent,
    Expectation,
    ExpectKind,
    FaultEvent,
    Phase,
)

W0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # wall clock at monotonic T0
T0 = 100.0


class Clock:
    """A monotonic clock the test sets."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def _drain(queue: asyncio.Queue[object]) -> AsyncIterator[object]:
    while True:
        item = await queue.get()
        if item is None:
            return
        yield item


class FakeClient:
    """The part of HubClient the observer and the judge use; feeds are queues."""

    def __init__(self) -> None:
        self.camera_list: list[CameraStatus] = []
        self.vehicle_list: list[VehicleStatus] = []
        self.alert_list: list[Alert] = []
        self.reads: list[Read] = []
        self.searches: list[tuple[str, str | None]] = []
        self.search_error: Exception | None = None
        self.camera_q: asyncio.Queue[object] = asyncio.Queue()
        self.vehicle_q: asyncio.Queue[object] = asyncio.Queue()
        self.alert_q: asyncio.Queue[object] = asyncio.Queue()
        self.subscribed: list[str] = []
        self.snapshot_after: list[str] = []

    def sites(self) -> list[Site]:
        return [Site("city", "City")]

    def cameras(self) -> list[CameraStatus]:
        self.snapshot_after = list(self.subscribed)
        return list(self.camera_list)

    def camera(self, camera_id: str) -> CameraStatus | None:
        return next((c for c in self.camera_list if c.id == camera_id), None)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        return []

    def changes(self) -> AsyncIterator[CameraStatus]:
        self.subscribed.append("cameras")
        return _drain(self.camera_q)  # type: ignore[return-value]

    def vehicles(self) -> list[VehicleStatus]:
        return list(self.vehicle_list)

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        return None

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        return []

    def vehicle_changes(self) -> AsyncIterator[VehicleStatus]:
        self.subscribed.append("vehicles")
        return _drain(self.vehicle_q)  # type: ignore[return-value]

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        assert not open_only  # closed alerts count too
        return list(self.alert_list)

    def alert_changes(self) -> AsyncIterator[Alert]:
        self.subscribed.append("alerts")
        return _drain(self.alert_q)  # type: ignore[return-value]

    async def transition_alert(
        self, alert_id: int, to: AlertState, actor: str, reason: RejectReason | None = None,
        text: str = "",
    ) -> Alert:
        raise NotImplementedError

    async def search_reads(
        self, pattern: str, since: datetime | None = None, camera_id: str | None = None,
        limit: int = 100,
    ) -> list[Read]:
        self.searches.append((pattern, camera_id))
        if self.search_error is not None:
            raise self.search_error
        return [r for r in self.reads if pattern in r.normalized]

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        return None

    async def wanted(self) -> list[WantedPlate]:
        return []

    async def add_wanted(
        self, plate: str, reason: str, days: int, actor: str
    ) -> tuple[WantedPlate, list[Read]]:
        raise NotImplementedError

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        raise NotImplementedError

    def hotlists(self) -> list[HotlistInfo]:
        return []


# Builders ---------------------------------------------------------------------------


def cam(cid: str, state: HealthState, reason: HealthReason = HealthReason.NONE,
        site: str = "city") -> CameraStatus:
    config = CameraConfig(id=cid, name=cid, site=site, kind=CameraKind.FIXED,
                          onvif_url="http://127.0.0.1:9/onvif", username="u", password="p")
    return CameraStatus(config=config, state=state, reason=reason)


def veh(state: FixState) -> VehicleStatus:
    config = VehicleConfig(id="combi-1", name="Combi 1", site="police",
                           source="tcp://127.0.0.1:9")
    return VehicleStatus(config=config, state=state)


def read(rid: int, plate: str, at_s: float, camera: str = "alpr-1") -> Read:
    """A read received `at_s` seconds after W0 (monotonic T0 + at_s)."""
    received = W0 + timedelta(seconds=at_s)
    normalized = "".join(c for c in plate.upper() if c.isalnum())
    return Read(id=rid, plate=plate, normalized=normalized, at=received, camera_id=camera,
                source="citywatch", received_at=received)


def alert(aid: int, plate: str, lst: str, at_s: float = 0.0, other: tuple[str, ...] = (),
          read_plate: str | None = None, duplicates: int = 0) -> Alert:
    entry = HotlistEntry(plate=plate, list=lst)
    r = read(aid, read_plate or plate, at_s)
    return Alert(
        id=aid, read=r, hit=Hit(entry, MatchKind.EXACT), state=AlertState.NEW,
        raised_at=r.at, updated_at=r.at, duplicates=duplicates,
        other_hits=tuple(Hit(HotlistEntry(plate=plate, list=o), MatchKind.EXACT) for o in other),
    )


def expect(kind: ExpectKind, anchor: Anchor | None = None, within_s: float | None = 10.0,
           **fields: object) -> Expectation:
    return Expectation(id="e1", kind=kind, line=None,
                       anchor=anchor or Anchor(event="stall-1"), within_s=within_s,
                       **fields)  # type: ignore[arg-type]


STALL = FaultEvent(id="stall-1", at_s=300.0, line=None, camera="c1", fault="stall",
                   duration_s=120.0)


def applied(real: float = 110.0, phase: Phase = Phase.START, ok: bool = True,
            detail: str = "") -> dict[tuple[str, Phase], AppliedEvent]:
    return {("stall-1", phase): AppliedEvent(STALL, phase, 300.0, real, ok, detail)}


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def observer(client: FakeClient) -> HubObserver:
    return HubObserver(client, monotonic=Clock(T0), wall=lambda: W0)


async def run_judge(observer: HubObserver, e: Expectation,
                    anchors: dict[tuple[str, Phase], AppliedEvent] | None = None,
                    end_real: float = 200.0, start_real: float = T0) -> Verdict:
    verdicts = await judge([e], observer, applied() if anchors is None else anchors,
                           start_real, lambda s: 50.0 + s / 10, end_real)
    assert len(verdicts) == 1 and verdicts[0].expectation is e
    return verdicts[0]


STALLED: dict[str, Any] = dict(camera="c1", state="down", reason="stalled")


# camera -----------------------------------------------------------------------------


async def test_camera_passes_with_latency_from_the_anchor(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.OK)),
                              Seen(112.0, cam("c1", HealthState.DEGRADED, HealthReason.LOW_FPS)),
                              Seen(113.5, cam("c1", HealthState.DOWN, HealthReason.STALLED))]
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED))
    assert v.passed and v.latency_s == pytest.approx(3.5)


async def test_camera_already_in_state_at_the_anchor_has_latency_zero(
    observer: HubObserver,
) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.DOWN, HealthReason.STALLED))]
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED))
    assert v.passed and v.latency_s == 0.0


async def test_camera_never_in_state_says_what_it_was(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.OK)),
                              # after the window: does not count
                              Seen(121.0, cam("c1", HealthState.DOWN, HealthReason.STALLED))]
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED))
    assert not v.passed and v.latency_s is None
    assert v.detail == "never down (stalled) within 10 s: ok throughout"


async def test_camera_changes_in_the_window_are_listed(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.OK)),
                              Seen(112.0, cam("c1", HealthState.DEGRADED, HealthReason.LOW_FPS)),
                              Seen(112.5, cam("c1", HealthState.DEGRADED, HealthReason.LOW_FPS)),
                              Seen(114.25, cam("c1", HealthState.OK))]
    v = await run_judge(observer, expect(ExpectKind.CAMERA, camera="c1", state="down"))
    assert v.detail == ("never down within 10 s: ok, then degraded (low fps) at +2.0 s, "
                        "ok at +4.2 s")


async def test_camera_reason_mismatch(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.OK)),
                              Seen(113.1, cam("c1", HealthState.DOWN, HealthReason.UNREACHABLE))]
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED))
    assert not v.passed
    assert v.detail == "down (unreachable) at +3.1 s, not stalled"


async def test_camera_window_not_closed_by_the_end_of_the_run(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.OK))]
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED), end_real=115.0)
    assert not v.passed
    assert v.detail == "run ended before the window closed (5.0 s of 10 s): ok throughout"
    # ...but what passed before the end passed.
    observer.cameras["c1"].append(Seen(112.0, cam("c1", HealthState.DOWN, HealthReason.STALLED)))
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED), end_real=115.0)
    assert v.passed and v.latency_s == pytest.approx(2.0)


async def test_camera_unknown_to_the_hub(observer: HubObserver) -> None:
    v = await run_judge(observer, expect(ExpectKind.CAMERA, **STALLED))
    assert not v.passed and v.detail == "camera c1 is not known to the hub"


async def test_anchor_not_carried_out(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.DOWN, HealthReason.STALLED))]
    e = expect(ExpectKind.CAMERA, **STALLED)
    v = await run_judge(observer, e, anchors={})
    assert not v.passed and v.detail == "stall-1 was not carried out"
    v = await run_judge(observer, e, anchors=applied(ok=False, detail="camera c1 unknown"))
    assert not v.passed and v.detail == "stall-1 failed: camera c1 unknown"
    end = expect(ExpectKind.CAMERA, anchor=Anchor(event="stall-1", end=True), **STALLED)
    v = await run_judge(observer, end)  # only the start was carried out
    assert not v.passed and v.detail == "stall-1.end was not carried out"
    v = await run_judge(observer, end, anchors=applied(real=105.0, phase=Phase.END))
    assert v.passed and v.latency_s == 0.0


async def test_at_anchor_uses_real_at_and_no_anchor_the_start(observer: HubObserver) -> None:
    observer.cameras["c1"] = [Seen(T0, cam("c1", HealthState.OK)),
                              Seen(82.0, cam("c1", HealthState.DOWN, HealthReason.STALLED))]
    # real_at(300) = 50 + 30 = 80: down 2 s later
    v = await run_judge(observer, expect(ExpectKind.CAMERA, anchor=Anchor(at_s=300.0),
                                         **STALLED), anchors={})
    assert v.passed and v.latency_s == pytest.approx(2.0)
    v = await run_judge(observer, expect(ExpectKind.CAMERA, anchor=Anchor(), **STALLED),
                        anchors={}, start_real=75.0)
    assert v.passed and v.latency_s == pytest.approx(7.0)
    # an at= beyond the run's end never opened
    v = await run_judge(observer, expect(ExpectKind.CAMERA, anchor=Anchor(at_s=3000.0),
                                         **STALLED), anchors={})
    assert not v.passed and v.detail == "run ended before the window opened"


# cameras ----------------------------------------------------------------------------


def _city(observer: HubObserver) -> None:
    for cid in ("c1", "c2", "c3"):
        observer.cameras[cid] = [Seen(T0, cam(cid, HealthState.OK))]
    for cid in ("p1", "p2"):
        observer.cameras[cid] = [Seen(T0, cam(cid, HealthState.DOWN, HealthReason.TIMEOUT,
                                             site="police"))]
    observer.cameras["c1"].append(Seen(101.0, cam("c1", HealthState.DOWN)))
    observer.cameras["c2"].append(Seen(104.0, cam("c2", HealthState.DOWN)))
    observer.cameras["c1"].append(Seen(106.0, cam("c1", HealthState.OK)))


async def test_cameras_count_with_site(observer: HubObserver) -> None:
    _city(observer)
    start = Anchor()
    v = await run_judge(observer, expect(ExpectKind.CAMERAS, anchor=start, state="down",
                                         site="city", at_least=2), anchors={})
    assert v.passed and v.latency_s == pytest.approx(4.0)
    v = await run_judge(observer, expect(ExpectKind.CAMERAS, anchor=start, state="down",
                                         site="city", at_least=3), anchors={})
    assert not v.passed
    assert v.detail == "at most 2 of 3 cameras of site city down (at +4.0 s), 3 needed"
    # without a site the police cameras (down from the start) count too
    v = await run_judge(observer, expect(ExpectKind.CAMERAS, anchor=start, state="down",
                                         at_least=3), anchors={})
    assert v.passed and v.latency_s == pytest.approx(1.0)
    v = await run_judge(observer, expect(ExpectKind.CAMERAS, anchor=start, state="down",
                                         site="police", at_least=2), anchors={})
    assert v.passed and v.latency_s == 0.0
    v = await run_judge(observer, expect(ExpectKind.CAMERAS, anchor=start, state="down",
                                         site="partner", at_least=1), anchors={})
    assert not v.passed and v.detail == "no cameras of site partner known to the hub"


# vehicle ----------------------------------------------------------------------------


async def test_vehicle(observer: HubObserver) -> None:
    observer.vehicles["combi-1"] = [Seen(T0, veh(FixState.FIX)),
                                    Seen(115.0, veh(FixState.NO_FIX))]
    v = await run_judge(observer, expect(ExpectKind.VEHICLE, vehicle="combi-1",
                                         state="no fix"))
    assert v.passed and v.latency_s == pytest.approx(5.0)
    v = await run_judge(observer, expect(ExpectKind.VEHICLE, vehicle="combi-1",
                                         state="no device"))
    assert not v.passed
    assert v.detail == "never no device within 10 s: fix, then no fix at +5.0 s"
    v = await run_judge(observer, expect(ExpectKind.VEHICLE, vehicle="combi-9", state="fix"))
    assert not v.passed and v.detail == "vehicle combi-9 is not known to the hub"


# alert / no_alert -------------------------------------------------------------------


async def test_alert_plate_normalisation_and_list(observer: HubObserver) -> None:
    observer.alerts = [Seen(113.0, alert(1, "1ABC234", "stolen")),
                       Seen(116.0, alert(2, "1ABC234", "wanted"))]
    v = await run_judge(observer, expect(ExpectKind.ALERT, plate="1-abc-234"))
    assert v.passed and v.latency_s == pytest.approx(3.0)
    v = await run_judge(observer, expect(ExpectKind.ALERT, plate="1-abc-234", list="wanted"))
    assert v.passed and v.latency_s == pytest.approx(6.0)
    assert v.detail == "alert #2 on wanted at +6.0 s"
    v = await run_judge(observer, expect(ExpectKind.ALERT, plate="1-abc-234",
                                         list="uninsured"))
    assert not v.passed
    assert v.detail == ("no alert for 1-abc-234 on uninsured within 10 s; seen: "
                        "alert #1 on stolen at +3.0 s; alert #2 on wanted at +6.0 s")
    v = await run_judge(observer, expect(ExpectKind.ALERT, plate="2-XYZ-999"))
    assert not v.passed and v.detail == "no alert for 2-XYZ-999 within 10 s"


async def test_alert_matches_read_plate_and_other_hits(observer: HubObserver) -> None:
    # a wildcard entry: the hit plate is not the plate, the read's is; wanted is 2nd hit
    observer.alerts = [Seen(112.0, alert(3, "1ABC23*", "stolen", other=("wanted",),
                                         read_plate="1-ABC-234"))]
    v = await run_judge(observer, expect(ExpectKind.ALERT, plate="1ABC234", list="wanted"))
    assert v.passed and v.latency_s == pytest.approx(2.0)


async def test_alert_before_the_window_and_snapshot_alerts(observer: HubObserver) -> None:
    # in the snapshot (seen at T0), raised 5 s before: outside a window from T0 on
    observer.alerts = [Seen(T0, alert(1, "1ABC234", "stolen", at_s=-5.0)),
                       Seen(T0 + 1, alert(1, "1ABC234", "stolen", at_s=-5.0))]
    v = await run_judge(observer, expect(ExpectKind.ALERT, anchor=Anchor(), plate="1ABC234"),
                        anchors={})
    assert not v.passed
    assert v.detail == "no alert for 1ABC234 within 10 s; seen: alert #1 on stolen at -5.0 s"
    # a read folded into it in the window counts as the plate alerting again
    observer.alerts.append(Seen(T0 + 2, alert(1, "1ABC234", "stolen", at_s=-5.0,
                                              duplicates=1)))
    v = await run_judge(observer, expect(ExpectKind.ALERT, anchor=Anchor(), plate="1ABC234"),
                        anchors={})
    assert v.passed and v.latency_s == pytest.approx(2.0)
    assert v.detail == "alert #1 on stolen (folded read) at +2.0 s"


async def test_no_alert(observer: HubObserver) -> None:
    e = expect(ExpectKind.NO_ALERT, plate="1-EXP-001")
    v = await run_judge(observer, e)
    assert v.passed and v.latency_s is None
    v = await run_judge(observer, e, end_real=115.0)  # decided only once the window closed
    assert not v.passed and v.detail == "run ended before the window closed (5.0 s of 10 s)"
    observer.alerts = [Seen(111.3, alert(12, "1EXP001", "stolen"))]
    v = await run_judge(observer, e)
    assert not v.passed and v.detail == "alert #12 on stolen at +1.3 s"
    # until the run ends: the window closes with the run
    v = await run_judge(observer, expect(ExpectKind.NO_ALERT, within_s=None, plate="9XX999"),
                        end_real=150.0)
    assert v.passed


# read -------------------------------------------------------------------------------


async def test_read_found_by_received_at(client: FakeClient, observer: HubObserver) -> None:
    client.reads = [read(1, "1-ABC-234", 25.0), read(2, "1-ABC-234", 13.7, camera="alpr-2"),
                    read(3, "1-ABC-234", 14.5), read(4, "1-ABC-2345", 11.0)]
    v = await run_judge(observer, expect(ExpectKind.READ, plate="1-abc-234"))
    assert v.passed and v.latency_s == pytest.approx(3.7)
    assert client.searches[-1] == ("1ABC234", None)
    v = await run_judge(observer, expect(ExpectKind.READ, plate="1-abc-234", camera="alpr-1"))
    assert v.passed and v.latency_s == pytest.approx(4.5)
    assert client.searches[-1] == ("1ABC234", "alpr-1")
    v = await run_judge(observer, expect(ExpectKind.READ, plate="1-abc-234", camera="alpr-1",
                                         within_s=2.0))
    assert not v.passed
    assert v.detail == ("no read of 1-abc-234 at alpr-1 within 2 s; reads: "
                        "#3 at alpr-1 at +4.5 s; #1 at alpr-1 at +15.0 s")


async def test_read_search_error(client: FakeClient, observer: HubObserver) -> None:
    client.search_error = SearchPatternError("pattern too short")
    v = await run_judge(observer, expect(ExpectKind.READ, plate="AB"))
    assert not v.passed and v.detail == "read search for AB failed: pattern too short"


# vocabulary and descriptions --------------------------------------------------------


def test_vocabulary_problems() -> None:
    good = [expect(ExpectKind.CAMERA, **STALLED),
            expect(ExpectKind.CAMERA, camera="c1", state="degraded", reason="low fps"),
            expect(ExpectKind.CAMERAS, state="unknown", at_least=1),
            expect(ExpectKind.VEHICLE, vehicle="v", state="no fix"),
            expect(ExpectKind.ALERT, plate="X")]
    assert vocabulary_problems(good) == []
    bad_reason = expect(ExpectKind.CAMERA, camera="c1", state="down", reason="stalld")
    bad_state = expect(ExpectKind.CAMERAS, state="dwn", at_least=1)
    bad_fix = expect(ExpectKind.VEHICLE, vehicle="v", state="nofix")
    nonsense = expect(ExpectKind.VEHICLE, vehicle="v", state="xyzzy")
    problems = vocabulary_problems([bad_reason, bad_state, bad_fix, nonsense])
    assert [(p[0] is e) for p, e in zip(problems, [bad_reason, bad_state, bad_fix, nonsense],
                                         strict=True)] == [True] * 4
    assert [p[1] for p in problems] == [
        'reason "stalld": unknown (did you mean "stalled"?)',
        'state "dwn": unknown (did you mean "down"?)',
        'state "nofix": unknown (did you mean "no fix"?)',
        "state \"xyzzy\": unknown (known: 'no device', 'no fix', 'fix', 'stale')",
    ]


def test_describe_expectation() -> None:
    e = replace(expect(ExpectKind.CAMERA, **STALLED), camera="city-centre-012")
    assert describe_expectation(e) == (
        "camera city-centre-012 down (stalled) within 10 s after stall-1")
    assert describe_expectation(expect(ExpectKind.CAMERAS, anchor=Anchor(), within_s=30,
                                       state="down", site="city", at_least=250)) == (
        "at least 250 cameras of site city down within 30 s after the start")
    assert describe_expectation(expect(ExpectKind.ALERT, anchor=Anchor(at_s=300),
                                       within_s=2.5, plate="1-ABC-234", list="wanted")) == (
        "alert for 1-ABC-234 on wanted within 2.5 s after 00:05:00")
    assert describe_expectation(expect(ExpectKind.NO_ALERT, within_s=None,
                                       plate="1-EXP-001")) == (
        "no alert for 1-EXP-001 after stall-1 until the run ends")
    assert describe_expectation(expect(ExpectKind.READ, anchor=Anchor("p", end=True),
                                       plate="X1", camera="alpr-1")) == (
        "read of X1 at alpr-1 within 10 s after p.end")
    assert describe_expectation(expect(ExpectKind.VEHICLE, vehicle="combi-1",
                                       state="no fix")) == (
        "vehicle combi-1 no fix within 10 s after stall-1")


# the observer -----------------------------------------------------------------------


async def _until(predicate: Callable[[], bool]) -> None:
    """Let the observer's tasks run until `predicate` holds (a few loop turns)."""
    for _ in range(100):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the observer did not record the changes")


async def test_observer_snapshot_then_changes(client: FakeClient) -> None:
    clock = Clock(T0)
    client.camera_list = [cam("c1", HealthState.OK)]
    client.vehicle_list = [veh(FixState.FIX)]
    client.alert_list = [alert(2, "2B", "stolen"), alert(1, "1A", "stolen")]
    observer = HubObserver(client, monotonic=clock, wall=lambda: W0)
    await observer.start()
    # subscribed to every feed before the snapshot
    assert client.snapshot_after == ["cameras", "vehicles", "alerts"]
    assert observer.started == T0
    assert observer.cameras["c1"] == [Seen(T0, cam("c1", HealthState.OK))]
    assert [s.item.id for s in observer.alerts] == [1, 2]
    clock.t = 103.5
    client.camera_q.put_nowait(cam("c1", HealthState.DOWN, HealthReason.STALLED))
    client.vehicle_q.put_nowait(veh(FixState.STALE))
    client.alert_q.put_nowait(alert(3, "3C", "wanted"))
    await _until(lambda: len(observer.cameras["c1"]) == 2 and len(observer.alerts) == 3
                 and len(observer.vehicles["combi-1"]) == 2)
    assert observer.cameras["c1"][1].real == 103.5
    assert observer.cameras["c1"][1].item.reason is HealthReason.STALLED
    assert observer.vehicles["combi-1"][1] == Seen(103.5, veh(FixState.STALE))
    assert observer.alerts[2].real == 103.5
    assert observer.wall_time(110.0) == W0 + timedelta(seconds=10)
    assert observer.monotonic_of(W0 + timedelta(seconds=2.5)) == pytest.approx(102.5)
    await observer.stop()
    client.camera_q.put_nowait(cam("c1", HealthState.OK))
    await asyncio.sleep(0.01)
    assert len(observer.cameras["c1"]) == 2  # nothing recorded after stop


async def test_observer_survives_the_hub_ending_its_feeds(client: FakeClient) -> None:
    observer = HubObserver(client, monotonic=Clock(T0), wall=lambda: W0)
    await observer.start()
    for q in (client.camera_q, client.vehicle_q, client.alert_q):
        q.put_nowait(None)  # the feed ends
    await asyncio.sleep(0.01)
    await observer.stop()
    assert observer.cameras == {} and observer.alerts == []
