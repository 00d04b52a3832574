"""The timeline player: scenario events carried out on a running city, on its virtual clock,
with their effects seen from outside (ports, ONVIF answers, HTTP posts, receiver faults)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from lxml import etree

import simulator.timeline
from simulator.alpr_plates import ReadKind
from simulator.city import SimulatedCity
from simulator.errors import ControlError
from simulator.model import GpsFault
from simulator.scenario import parse_scenario
from simulator.stream_faults import StreamFault
from simulator.timeline import OperatorError, TimelinePlayer, planned_phases
from simulator.timeline_model import (
    AppliedEvent,
    FaultEvent,
    GpsEvent,
    MoveEvent,
    Phase,
    PlateEvent,
    RebootEvent,
    TimelineEvent,
    WantedEvent,
)
from tests.simulator.conftest import post_soap, soap_envelope

TEV = "http://www.onvif.org/ver10/events/wsdl"
TT = "http://www.onvif.org/ver10/schema"

TINY = """
[scenario]
name = "Timeline"
seed = 5
start = 2026-03-02T08:00:00Z
duration = "1h"
speed = 30.0
bounds = { lat = [50.90, 50.96], lon = [5.30, 5.38] }

[[sites]]
id = "city"
name = "Stad Hasselt"
kind = "city"

[[sites]]
id = "police"
name = "Politie"
kind = "police"

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

[[camera_groups]]
id = "dump"
site = "city"
kind = "temporary"
vendor = "uniview"
positions = [{ street = "Runkstersteenweg", lat = 50.9180, lon = 5.3245 }]
stream = { width = 640, height = 360, fps = 10 }
password = "Dump-cam-1"

[[camera_groups]]
id = "combi"
site = "police"
kind = "mobile"
count = 1
vendor = "dahua"
streets = ["Kempische Steenweg"]
stream = { width = 640, height = 360, fps = 10 }
username = "lrh"
password = "LRH-alpr-2026"

[[vehicles]]
id = "combi-1"
name = "Combi 1"
site = "police"
camera = "combi-001"
route = "centre"
receiver = { profile = "ublox", rate_hz = 1 }

[[alpr.unit]]
id = "alpr-events"
camera = "ring-001"
format = "onvif"
reads_per_minute = 0.5

[[alpr.unit]]
id = "alpr-http"
camera = "ring-002"
format = "citywatch"
reads_per_minute = 0.5

[alpr.hotlist]
plates = ["1-HOT-001"]
"""


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


async def until(cond: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def done(player: TimelinePlayer, event_id: str, phase: Phase = Phase.START) -> Callable[[], bool]:
    return lambda: any(a.event.id == event_id and a.phase is phase for a in player.applied)


def lines(applied: list[AppliedEvent]) -> list[tuple[str, str, float, bool, str]]:
    return [(a.event.id, a.phase.value, a.at_s, a.ok, a.detail) for a in applied]


async def start_city(video_cache: Path, speed: float) -> SimulatedCity:
    city = SimulatedCity(parse_scenario(TINY), speed=speed, video_cache_dir=video_cache,
                         prewarm=False)
    await city.start()
    return city


@pytest.fixture
async def city(video_cache: Path) -> AsyncIterator[SimulatedCity]:
    c = await start_city(video_cache, 30.0)
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture
async def posts(city: SimulatedCity) -> AsyncIterator[list[dict[str, object]]]:
    """A stand-in hub: every read the city's HTTP units post, as JSON."""
    got: list[dict[str, object]] = []

    async def on_read(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/api/reads", on_read)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    city.alpr.deliver_to(f"http://127.0.0.1:{port}")
    try:
        yield got
    finally:
        await runner.cleanup()


async def soap(http: aiohttp.ClientSession, city: SimulatedCity, camera: str, url: str,
               body: str) -> tuple[int, str]:
    cam = city.cameras[camera]
    data = soap_envelope(body, username=cam.spec.username, password=cam.spec.password,
                         created=cam.camera_now())
    status, doc = await post_soap(http, url, data)
    return status, etree.tostring(doc).decode()


def pad(city: SimulatedCity, lead_s: float) -> float:
    """A scenario time `lead_s` ahead of the clock, whole seconds."""
    return float(int(city.clock.elapsed() + lead_s))


async def test_every_kind_of_event_takes_effect_and_ends(
    city: SimulatedCity, posts: list[dict[str, object]],
) -> None:
    ev_cam, http_cam, dump = (city.cameras[c] for c in ("ring-001", "ring-002", "dump-001"))
    async with aiohttp.ClientSession() as http:
        status, _ = await soap(http, city, "ring-001", ev_cam.events_url,
                               f'<tev:CreatePullPointSubscription xmlns:tev="{TEV}"/>')
        assert status == 200
        (sub,) = ev_cam.events.subscriptions

        b = pad(city, 12)  # 0.4 real seconds to set things up
        events: list[TimelineEvent] = [
            FaultEvent("stall-1", b, 10, "ring-001", "stall", 30.0),
            FaultEvent("pw-1", b, 11, "ring-002", "wrong_password", 30.0),
            GpsEvent("gps-1", b, 12, "combi-1", "outage", 30.0),
            PlateEvent("plate-ev", b, 13, "alpr-events", "1-HOT-001"),
            PlateEvent("plate-http", b, 14, "alpr-http", "1-ABC-234", seen="1-A8C-234",
                       confidence=0.7),
            RebootEvent("reboot-1", b + 6, 15, "ring-001", 21.0),
            MoveEvent("move-1", b + 6, 16, "dump-001", 50.9105, 5.3301, "Putvennestraat",
                      24.0),
            WantedEvent("wanted-1", b + 9, 17, "1-WNT-001", "stolen in Genk", days=3),
            FaultEvent("bad-1", b + 9, 18, "ring-999", "stall"),
            FaultEvent("stall-2", b + 30, 19, "ring-001", "stall"),  # as stall-1 ends
        ]
        asked: list[WantedEvent] = []

        async def operator(event: WantedEvent) -> str:
            asked.append(event)
            return f"{event.plate} added for {event.days} days"

        seen: list[AppliedEvent] = []
        state: dict[tuple[str, str], dict[str, object]] = {}

        def record(a: AppliedEvent) -> None:
            """What the devices look like as each phase is recorded (phases due at the
            same time may already have run too)."""
            seen.append(a)
            dump_entry = next(c for c in city.endpoints()["cameras"] if c["id"] == "dump-001")
            state[(a.event.id, a.phase.value)] = {
                "stream": city.stream_faults("ring-001")["profile_1"],
                "pw": "wrong_password" in http_cam.faults,
                "gps": GpsFault.OUTAGE in city.vehicles["combi-1"].faults,
                "ev_open": tcp_open(ev_cam.port), "dump_open": tcp_open(dump.port),
                "subs": len(ev_cam.events.subscriptions),
                "dump_at": (dump_entry["street"], dump_entry["lat"], dump_entry["lon"]),
            }

        player = TimelinePlayer(city, events, on_applied=record, operator=operator)
        run = asyncio.create_task(player.run())

        # The plates: published on ring-001's event service, posted by the HTTP unit.
        await until(lambda: any("1-HOT-001" in m for m in sub.messages))
        read = next(r for r in city.alpr.unit("alpr-events").log if r.truth.text == "1-HOT-001")
        assert (read.seen.text, read.seen.kind, read.hotlisted) == ("1-HOT-001", ReadKind.CLEAN,
                                                                   True)
        await until(lambda: any(p["plate"] == "1-A8C-234" for p in posts))
        post = next(p for p in posts if p["plate"] == "1-A8C-234")
        assert (post["confidence"], post["country"]) == (0.7, "BE")
        http_read = next(r for r in city.alpr.unit("alpr-http").log if r.seen.text == "1-A8C-234")
        assert (http_read.truth.text, http_read.seen.kind, http_read.hotlisted) == (
            "1-ABC-234", ReadKind.SWAP, False)

        await until(done(player, "move-1", Phase.END))
        status, text = await soap(http, city, "dump-001", dump.onvif_url, "<tds:GetScopes/>")
        assert status == 200 and "location/street/Putvennestraat" in text
        async with asyncio.timeout(10):
            applied = await run

    assert seen == applied == player.applied
    assert asked == [events[7]]
    stalled = frozenset({StreamFault.STALL})
    moved = ("Putvennestraat", 50.9105, 5.3301)
    on = state[("gps-1", "start")]
    assert (on["stream"], on["pw"], on["gps"], on["subs"]) == (stalled, True, True, 1)
    # Reboot and move: ports closed, ring-001's event subscription forgotten.
    down = state[("move-1", "start")]
    assert (down["ev_open"], down["dump_open"], down["subs"]) == (False, False, 0)
    assert sub.closed and down["dump_at"] == moved
    back = state[("reboot-1", "end")]
    assert (back["ev_open"], back["dump_open"], back["subs"]) == (True, False, 0)
    assert state[("move-1", "end")]["dump_open"] is True
    off = state[("gps-1", "end")]
    assert (off["pw"], off["gps"]) == (False, False)
    assert lines(applied) == [
        ("stall-1", "start", b, True, "stall on every stream of ring-001 for 30 s"),
        ("pw-1", "start", b, True, "wrong_password on ring-002 for 30 s"),
        ("gps-1", "start", b, True, "outage on the GPS of combi-1 for 30 s"),
        ("plate-ev", "start", b, True,
         "1-HOT-001 (BE) read by alpr-events, confidence 0.92, on the hotlist"),
        ("plate-http", "start", b, True,
         "1-ABC-234 (BE) read by alpr-http as 1-A8C-234 (swap), confidence 0.7"),
        ("reboot-1", "start", b + 6, True, "ring-001 rebooting: offline for 21 s"),
        ("move-1", "start", b + 6, True, "dump-001 taken down: offline for 24 s, moving to "
         "Putvennestraat (50.91050, 5.33010)"),
        ("wanted-1", "start", b + 9, True, "1-WNT-001 added for 3 days"),
        ("bad-1", "start", b + 9, False, "unknown camera 'ring-999'"),
        ("reboot-1", "end", b + 27, True, "ring-001 back after 21 s"),
        ("stall-1", "end", b + 30, True, "stall off on every stream of ring-001"),
        ("pw-1", "end", b + 30, True, "wrong_password off on ring-002"),
        ("gps-1", "end", b + 30, True, "outage off on the GPS of combi-1"),
        ("move-1", "end", b + 30, True, "dump-001 back at Putvennestraat (50.91050, 5.33010)"),
        ("stall-2", "start", b + 30, True, "stall on every stream of ring-001"),
    ]
    # Each phase took effect once the clock read its time.
    for a in applied:
        assert a.real >= city.clock.real_at(a.at_s)
    # The END of stall-1 went before stall-2's START: the camera is stalled again.
    assert city.stream_faults("ring-001") == {"profile_1": stalled}
    assert "wrong_password" not in http_cam.faults
    assert GpsFault.OUTAGE not in city.vehicles["combi-1"].faults


async def _play_once(video_cache: Path) -> list[tuple[str, str, float, bool, str]]:
    city = await start_city(video_cache, 60.0)
    try:
        events: list[TimelineEvent] = [
            FaultEvent("late", 0.0, None, "ring-002", "freeze", 60.0),  # already past
            RebootEvent("reboot", 60.0, None, "ring-001", 30.0),
            GpsEvent("unplug", 60.0, None, "combi-1", "unplug", 30.0),
            FaultEvent("off", 90.0, None, "ring-001", "offline", 30.0),
            PlateEvent("plate", 90.0, None, "alpr-http", "1-ABC-234", seen="1-ABC-23",
                       country="NL"),
            WantedEvent("wanted", 90.0, None, "1-WNT-001", "stolen"),  # no operator
            GpsEvent("bad-gps", 90.0, None, "combi-9", "outage"),
            PlateEvent("bad-unit", 90.0, None, "alpr-none", "1-ABC-234"),
            FaultEvent("bad-fault", 90.0, None, "ring-001", "sneeze"),
            FaultEvent("too-late", 150.0, None, "ring-002", "black"),
        ]
        async with asyncio.timeout(10):
            applied = await TimelinePlayer(city, events).run(until_s=150.0)
        assert "black" not in city.streams()[1]["faults"]  # at 150: not played
        assert await asyncio.to_thread(tcp_open, city.cameras["ring-001"].port)
        return lines(applied)
    finally:
        await city.stop()


async def test_two_runs_give_the_same_lines_and_failures_do_not_stop_it(
    video_cache: Path,
) -> None:
    first, second = await asyncio.gather(_play_once(video_cache), _play_once(video_cache))
    assert first == second
    assert first == [
        ("late", "start", 0.0, True, "freeze on every stream of ring-002 for 60 s"),
        ("late", "end", 60.0, True, "freeze off on every stream of ring-002"),
        ("reboot", "start", 60.0, True, "ring-001 rebooting: offline for 30 s"),
        ("unplug", "start", 60.0, True, "unplug on the GPS of combi-1 for 30 s"),
        ("reboot", "end", 90.0, True, "ring-001 back after 30 s"),
        ("unplug", "end", 90.0, True, "unplug off on the GPS of combi-1"),
        ("off", "start", 90.0, True, "offline on ring-001 for 30 s"),
        ("plate", "start", 90.0, True,
         "1-ABC-234 (NL) read by alpr-http as 1-ABC-23 (drop), confidence 0.92"),
        ("wanted", "start", 90.0, False, "no operator"),
        ("bad-gps", "start", 90.0, False, "unknown vehicle 'combi-9'"),
        ("bad-unit", "start", 90.0, False, "unknown ALPR unit 'alpr-none'"),
        ("bad-fault", "start", 90.0, False, "unknown fault 'sneeze'"),
        ("off", "end", 120.0, True, "offline off on ring-001"),
    ]


async def test_reboot_keeps_an_offline_fault_and_the_unit_lookup(city: SimulatedCity) -> None:
    cam = city.cameras["ring-001"]
    await city.set_camera_fault("ring-001", "offline", True)
    await city.reboot_camera("ring-001")
    await city.camera_back("ring-001")  # back from the reboot, still offline by fault
    assert cam.powered and not await asyncio.to_thread(tcp_open, cam.port)
    await city.set_camera_fault("ring-001", "offline", False)
    assert await asyncio.to_thread(tcp_open, cam.port)
    await city.reboot_camera("ring-001")
    await city.set_camera_fault("ring-001", "offline", False)  # ends no reboot
    assert not await asyncio.to_thread(tcp_open, cam.port)
    assert city.streams()[0]["faults"] == ["offline"]  # ring-001's stream
    await city.camera_back("ring-001")
    assert await asyncio.to_thread(tcp_open, cam.port)
    with pytest.raises(ControlError, match="unknown camera"):
        await city.reboot_camera("nope")
    with pytest.raises(ControlError, match="unknown GPS fault"):
        await city.set_gps_fault("combi-1", "sneeze", True)
    with pytest.raises(ControlError, match="unknown ALPR unit"):
        city.alpr.unit("nope")
    assert city.alpr.unit("alpr-http") is city.alpr.units["alpr-http"]


def test_phases_are_planned_by_time_end_first_then_file_order() -> None:
    events: list[TimelineEvent] = [
        FaultEvent("a", 10.0, None, "c", "stall", 5.0),
        PlateEvent("b", 15.0, None, "u", "1-ABC-234"),
        RebootEvent("c", 0.0, None, "c", 15.0),
        GpsEvent("d", 20.0, None, "v", "outage"),  # no duration: no END
    ]
    assert [(e.id, p.value, t) for e, p, t in planned_phases(events)] == [
        ("c", "start", 0.0), ("a", "start", 10.0), ("a", "end", 15.0), ("c", "end", 15.0),
        ("b", "start", 15.0), ("d", "start", 20.0),
    ]
    assert [(e.id, p.value) for e, p, _ in planned_phases(events, until_s=15.0)] == [
        ("c", "start"), ("a", "start")]


async def test_cancelling_the_run_stops_it_between_phases(city: SimulatedCity) -> None:
    b = pad(city, 3)
    events: list[TimelineEvent] = [
        FaultEvent("now", b, None, "ring-002", "offline", 3000.0),
        FaultEvent("later", b + 3000.0, None, "ring-001", "offline"),
    ]
    player = TimelinePlayer(city, events)
    run = asyncio.create_task(player.run())
    await until(done(player, "now"))
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert lines(player.applied) == [("now", "start", b, True, "offline on ring-002 for 3000 s")]
    assert "offline" not in city.cameras["ring-001"].faults


async def test_a_failing_or_hanging_operator_is_recorded_and_the_run_goes_on(
    city: SimulatedCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulator.timeline, "PHASE_TIMEOUT_S", 0.2)
    b = pad(city, 3)
    events: list[TimelineEvent] = [
        WantedEvent("refused", b, None, "1-WNT-001", "stolen"),
        WantedEvent("hangs", b, None, "1-WNT-002", "stolen"),
        FaultEvent("after", b + 3, None, "ring-002", "black", 3.0),
    ]

    async def operator(event: WantedEvent) -> str:
        if event.id == "refused":
            raise OperatorError("the hub refused: HTTP 403")
        await asyncio.sleep(10)
        return "never"

    def broken_listener(_: AppliedEvent) -> None:
        raise RuntimeError("listener bug")

    player = TimelinePlayer(city, events, operator=operator, on_applied=broken_listener)
    async with asyncio.timeout(5):
        applied = await player.run()
    assert lines(applied) == [
        ("refused", "start", b, False, "the hub refused: HTTP 403"),
        ("hangs", "start", b, False, "not done after 0.2 s (real time)"),
        ("after", "start", b + 3, True, "black on every stream of ring-002 for 3 s"),
        ("after", "end", b + 6, True, "black off on every stream of ring-002"),
    ]
