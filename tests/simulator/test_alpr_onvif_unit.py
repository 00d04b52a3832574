"""ALPR units of format "onvif": reads published as Profile M plate events on their camera's
event service, received by the hub's driver (drivers/onvif_events.py) as a real subscriber."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.alpr import VendorRead
from drivers.onvif_events import OnvifPlateEvents
from simulator.alpr_plates import PlateTraffic
from simulator.alpr_unit import AlprFleet, AlprUnit, RetryPolicy
from simulator.city import SimulatedCity
from simulator.clock import VirtualClock
from simulator.scenario import parse_scenario
from simulator.scenario_alpr import AlprHotlist, AlprSpec, AlprTraffic, AlprUnitSpec

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# Looks again for a subscriber every 10 ms: the waiting is visible within a test.
FAST = RetryPolicy(no_subscriber_s=0.01)
# "Within a couple of seconds" (real time) of being read, or of the subscription.
LATENCY_S = 2.0

TINY = """
[scenario]
name = "ALPR onvif"
seed = 11
start = 2026-03-02T08:00:00Z
duration = "10m"
speed = 5.0
bounds = { lat = [50.90, 50.96], lon = [5.30, 5.38] }

[[sites]]
id = "city"
name = "Stad Hasselt"
kind = "city"

[[camera_groups]]
id = "ring"
site = "city"
kind = "fixed"
count = 2
vendor = "hikvision"
streets = ["Kempische Steenweg"]
stream = { width = 640, height = 360, fps = 10 }
username = "admin"
password = "Ring-cam-1"

[[alpr.unit]]
id = "alpr-ring-events"
camera = "ring-001"
format = "onvif"
reads_per_minute = 240

[[alpr.unit]]
id = "alpr-ring-http"
camera = "ring-002"
format = "citywatch"

[alpr.traffic]
misread_share = 0.5
"""


@dataclass
class FakeCamera:
    """Records what a unit publishes; `subscribers` is what publishing reaches."""

    subscribers: int = 0
    calls: list[tuple[str, datetime, str | None, float]] = field(default_factory=list)

    def publish(self, plate: str, at: datetime, country: str | None, likelihood: float) -> int:
        self.calls.append((plate, at, country, likelihood))
        return self.subscribers


def _spec(queue: int = 100) -> AlprUnitSpec:
    return AlprUnitSpec(id="alpr-ev", camera="cam-ev", format="onvif", reads_per_minute=60.0,
                        sender_id=77, queue=queue)


def _alpr(*units: AlprUnitSpec) -> AlprSpec:
    return AlprSpec(units, AlprTraffic(misread_share=0.5), AlprHotlist(("1-ABC-234",), 5))


async def _until(cond: Callable[[], bool], limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# --- the unit with a stand-in camera -------------------------------------------------------


async def test_reads_wait_for_a_subscriber_bounded_then_go_out_in_order() -> None:
    spec = _spec(queue=5)
    cam = FakeCamera()
    unit = AlprUnit(spec, PlateTraffic(_alpr(spec), 3), VirtualClock(START, 1.0), retry=FAST,
                    publisher=cam.publish)
    reads = await unit.produce(8)
    await _until(lambda: len(cam.calls) >= 3)  # it keeps trying the oldest kept read
    c = unit.counters
    assert (c.generated, c.delivered, c.dropped, unit.queued) == (8, 0, 3, 5)
    oldest = reads[3]
    assert set(cam.calls) == {(oldest.seen.text, oldest.at, oldest.truth.country,
                               oldest.seen.confidence)}
    cam.subscribers = 2
    cam.calls.clear()
    await _until(lambda: unit.counters.delivered == 5)
    await unit.stop()
    assert cam.calls == [(r.seen.text, r.at, r.truth.country, r.seen.confidence)
                         for r in reads[3:]]
    c = unit.counters
    assert (c.delivered, c.dropped, c.rejected, c.retried, unit.queued) == (5, 3, 0, 0, 0)


async def test_onvif_unit_needs_a_publisher_and_takes_no_http_target() -> None:
    spec = _spec()
    traffic = PlateTraffic(_alpr(spec), 1)
    clock = VirtualClock(START, 1.0)
    with pytest.raises(ValueError, match="needs its camera's event publisher"):
        AlprUnit(spec, traffic, clock)
    http_spec = AlprUnitSpec(id="alpr-http", camera="cam-2", format="openalpr",
                             reads_per_minute=1.0, sender_id=5)
    with pytest.raises(ValueError, match="takes no publisher"):
        AlprUnit(http_spec, traffic, clock, publisher=FakeCamera().publish)
    with pytest.raises(ValueError, match="alpr-ev publishes ONVIF events but camera cam-ev"):
        AlprFleet(_alpr(spec, http_spec), 1, clock)

    cam = FakeCamera(subscribers=1)
    fleet = AlprFleet(_alpr(spec, http_spec), 1, clock, retry=FAST,
                      publishers={"cam-ev": cam.publish})
    unit = fleet.units["alpr-ev"]
    assert unit.publishes_events and not fleet.units["alpr-http"].publishes_events
    fleet.deliver_to("http://127.0.0.1:9", "token")  # only the HTTP unit takes it
    (read,) = await unit.produce(1)
    await _until(lambda: unit.counters.delivered == 1)
    with pytest.raises(ValueError, match="no wire format"):
        unit.encode(read)
    assert cam.calls == [(read.seen.text, read.at, read.truth.country, read.seen.confidence)]
    units = {u["unit"]: u for u in fleet.endpoints()["units"]}
    assert (units["alpr-ev"]["format"], units["alpr-ev"]["camera"]) == ("onvif", "cam-ev")
    assert units["alpr-ev"]["sender_id"] == 77
    await fleet.stop()


# --- a city camera and a real subscriber ----------------------------------------------------


@dataclass
class Subscriber:
    """The hub's driver reading one camera's plate events, each with when it arrived."""

    city: SimulatedCity
    events: OnvifPlateEvents
    got: list[tuple[VendorRead, datetime, float]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for read in self.events.reads():
            self.got.append((read, self.city.clock.now(), time.monotonic()))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.events.close()


async def test_city_camera_publishes_the_units_reads_to_a_subscriber(
    video_cache: Path,
) -> None:
    city = SimulatedCity(parse_scenario(TINY), prewarm=False, video_cache_dir=video_cache)
    await city.start()
    sub: Subscriber | None = None
    try:
        events_cam, http_cam = city.cameras["ring-001"], city.cameras["ring-002"]
        # Every city camera has the event service; only ring-001's unit publishes plates.
        assert events_cam.event_service and http_cam.event_service
        ends = city.endpoints()
        units = {u["unit"]: u for u in ends["alpr"]["units"]}
        ev = units["alpr-ring-events"]
        assert (ev["format"], ev["camera"], ev["vehicle"]) == ("onvif", "ring-001", None)
        assert isinstance(ev["sender_id"], int)
        assert units["alpr-ring-http"]["format"] == "citywatch"
        cam_entry = next(c for c in ends["cameras"] if c["id"] == ev["camera"])

        unit = city.alpr.units["alpr-ring-events"]
        # No subscriber yet: reads are kept (4 a scenario second at 5x: ~20 a second).
        await _until(lambda: unit.counters.generated >= 5)
        assert unit.counters.delivered == 0 and unit.queued == unit.counters.generated

        sub = Subscriber(city, OnvifPlateEvents(cam_entry["onvif"], cam_entry["username"],
                                                cam_entry["password"], pull_timeout_s=2))
        sub.start()
        await _until(lambda: len(events_cam.events.subscriptions) == 1)
        subscribed_at, subscribed_mono = city.clock.now(), time.monotonic()
        backlog = unit.counters.generated
        await _until(lambda: len(sub.got) >= backlog + 10)
        await unit.stop()  # no more reads; what was published still arrives
        await _until(lambda: len(sub.got) == unit.counters.delivered)
    finally:
        if sub is not None:
            await sub.stop()
        await city.stop()

    c = unit.counters
    assert (c.dropped, c.rejected, c.retried) == (0, 0, 0)
    assert c.generated == c.delivered + unit.queued
    made = list(unit.log)[:c.delivered]
    received = [g[0] for g in sub.got]
    # What the camera saw (misreads included), when the unit read it on the virtual clock.
    assert [(v.plate, v.at) for v in received] == [(r.seen.text, r.at) for r in made]
    assert any(r.seen.text != r.truth.text for r in made), "misreads go out as seen"
    for v, r in zip(received, made, strict=True):
        assert v.source == "onvif" and v.country == r.truth.country
        assert v.confidence == pytest.approx(r.seen.confidence, abs=5e-4)
    early = [g for g, r in zip(sub.got, made, strict=True) if r.at < subscribed_at]
    assert len(early) >= 5, "reads made before the subscription are delivered after it"
    assert early[-1][2] - subscribed_mono < LATENCY_S
    speed = city.clock.speed
    for v, seen_at, _ in sub.got:
        if v.at >= subscribed_at:  # read live: arrives a moment (of real time) later
            assert timedelta(0) <= seen_at - v.at <= timedelta(seconds=LATENCY_S * speed)
