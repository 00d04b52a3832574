"""Simulated ALPR units delivering reads over real HTTP to a small aiohttp hub stand-in:
each vendor format, auth, retries, rejections, an unreachable hub and the queue bound."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from simulator.alpr_plates import PlateTraffic, ReadKind, normalize
from simulator.alpr_render import CROP_SIZE, OVERVIEW_SIZE
from simulator.alpr_unit import PATHS, AlprFleet, AlprUnit, RetryPolicy, SimRead
from simulator.clock import VirtualClock
from simulator.scenario import parse_scenario
from simulator.scenario_alpr import AlprHotlist, AlprSpec, AlprTraffic, AlprUnitSpec

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FAST = RetryPolicy(initial_s=0.01, max_s=0.05, max_server_errors=3, connect_s=1, total_s=2)
TOKEN = "s3cret-token"


@dataclass
class Hub:
    """A stand-in hub: records every request; answers with `statuses` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        entry: dict[str, Any] = {"path": request.path, "headers": dict(request.headers),
                                 "content_type": request.content_type}
        if request.content_type == "multipart/form-data":
            form = await request.post()
            upload = form["upload"]
            assert isinstance(upload, web.FileField)
            entry["json"] = json.loads(str(form["json"]))
            entry["upload"] = upload.file.read()
            entry["filename"] = upload.filename
        else:
            entry["json"] = await request.json()
        self.requests.append(entry)
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"status": status}, status=status)


async def _serve(hub: Hub, port: int = 0) -> tuple[web.AppRunner, int]:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    for path in PATHS.values():
        app.router.add_post(path, hub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    return runner, sock.getsockname()[1]


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = Hub()
    runner, port = await _serve(h)
    h.url = f"http://127.0.0.1:{port}"
    yield h
    await runner.cleanup()


def _spec(fmt: str = "citywatch", **kw: Any) -> AlprUnitSpec:
    base = AlprUnitSpec(id="alpr-ring-1", camera="city-alpr-001", format=fmt,
                        reads_per_minute=60.0, sender_id=4321)
    return replace(base, **kw)


def _unit(spec: AlprUnitSpec, *, misread: float = 0.5, speed: float = 60.0,
          seed: int = 3) -> AlprUnit:
    alpr = AlprSpec((spec,), AlprTraffic(misread_share=misread, hotlist_share=0.1),
                    AlprHotlist(("1-ABC-234",), 20))
    return AlprUnit(spec, PlateTraffic(alpr, seed), VirtualClock(START, speed), retry=FAST)


async def _until(cond: Callable[[], bool], limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img.size


def _check_common(read: SimRead, plate_on_wire: str) -> None:
    """The wire carries what the camera saw, never the truth behind a misread."""
    assert normalize(plate_on_wire) == normalize(read.seen.text)
    if read.seen.kind is not ReadKind.CLEAN:
        assert normalize(plate_on_wire) != read.truth.normalized


# --- formats ---------------------------------------------------------------------------


async def test_citywatch_format(hub: Hub) -> None:
    unit = _unit(_spec("citywatch"))
    unit.deliver_to(hub.url, TOKEN)
    reads = await unit.produce(6)
    await _until(lambda: len(hub.requests) == 6)
    for read, req in zip(reads, hub.requests, strict=True):
        body = req["json"]
        assert req["path"] == "/api/reads"
        assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert set(body) == {"plate", "time", "camera", "confidence", "country", "unit",
                             "direction", "images"}
        assert body["plate"] == read.seen.text  # separators as printed
        _check_common(read, body["plate"])
        at = datetime.fromisoformat(body["time"])
        assert at.tzinfo is not None and at == read.at
        assert body["camera"] == "city-alpr-001" and body["unit"] == "alpr-ring-1"
        assert body["confidence"] == read.seen.confidence
        assert body["country"] == read.truth.country
        assert body["direction"] in ("approaching", "receding")
        assert _jpeg_size(base64.b64decode(body["images"]["crop"])) == CROP_SIZE
    await unit.stop()
    assert unit.counters.delivered == 6 and unit.counters.generated == 6


async def test_mobile_unit_names_its_vehicle_and_sends_no_position(hub: Hub) -> None:
    unit = _unit(_spec("citywatch", id="alpr-combi-1", camera="police-combi-001",
                       vehicle="combi-1"))
    unit.deliver_to(hub.url, None)
    await unit.produce(2)
    await _until(lambda: len(hub.requests) == 2)
    await unit.stop()
    body = hub.requests[0]["json"]
    assert body["unit"] == "combi-1" and body["camera"] == "police-combi-001"
    assert not {"lat", "lon", "latitude", "longitude", "position"} & set(body)
    assert "Authorization" not in hub.requests[0]["headers"]


async def test_openalpr_format(hub: Hub) -> None:
    unit = _unit(_spec("openalpr", id="alpr-combi-2", vehicle="combi-2"))
    unit.deliver_to(hub.url, TOKEN)
    reads = await unit.produce(5)
    await _until(lambda: len(hub.requests) == 5)
    await unit.stop()
    for read, req in zip(reads, hub.requests, strict=True):
        g = req["json"]
        assert req["path"] == "/api/webhooks/openalpr"
        assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert g["data_type"] == "alpr_group" and g["version"] == 2
        assert g["camera_id"] == 4321 and isinstance(g["camera_id"], int)
        assert g["epoch_start"] == int(read.at.timestamp() * 1000)
        assert g["epoch_end"] > g["epoch_start"]
        assert g["best_plate_number"] == normalize(read.seen.text)
        _check_common(read, g["best_plate_number"])
        assert g["best_confidence"] == pytest.approx(read.seen.confidence * 100)
        assert g["candidates"][0]["plate"] == g["best_plate_number"]
        assert all(c["confidence"] <= g["best_confidence"] for c in g["candidates"])
        assert (g["country"], g["best_region"]) == ("eu", read.truth.country.lower())
        assert g["agent_uid"]
        assert "gps_latitude" not in g and "gps_longitude" not in g
        assert _jpeg_size(base64.b64decode(g["best_plate"]["plate_crop_jpeg"])) == CROP_SIZE
        assert g["best_plate"]["plate"] == g["best_plate_number"]


async def test_platerecognizer_json_format(hub: Hub) -> None:
    unit = _unit(_spec("platerecognizer"))
    unit.deliver_to(hub.url + "/", TOKEN)
    reads = await unit.produce(4)
    await _until(lambda: len(hub.requests) == 4)
    await unit.stop()
    for read, req in zip(reads, hub.requests, strict=True):
        doc = req["json"]
        assert req["path"] == "/api/webhooks/platerecognizer"
        assert req["content_type"] == "application/json"
        assert doc["hook"]["event"] == "recognition"
        data = doc["data"]
        assert data["camera_id"] == "4321"
        assert datetime.fromisoformat(data["timestamp"]) == read.at
        (result,) = data["results"]
        assert result["plate"] == normalize(read.seen.text).lower()
        _check_common(read, result["plate"])
        assert result["score"] == read.seen.confidence
        assert result["region"]["code"] == read.truth.country.lower()


async def test_platerecognizer_multipart_format(hub: Hub) -> None:
    unit = _unit(_spec("platerecognizer", multipart=True))
    unit.deliver_to(hub.url, TOKEN)
    reads = await unit.produce(3)
    await _until(lambda: len(hub.requests) == 3)
    await unit.stop()
    for read, req in zip(reads, hub.requests, strict=True):
        assert req["content_type"] == "multipart/form-data"
        assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert req["json"]["data"]["results"][0]["plate"] == normalize(read.seen.text).lower()
        assert _jpeg_size(req["upload"]) == OVERVIEW_SIZE
        assert req["filename"].endswith(".jpg")


# --- delivery --------------------------------------------------------------------------


async def test_retry_after_503_then_success(hub: Hub) -> None:
    hub.statuses = [503]
    unit = _unit(_spec())
    unit.deliver_to(hub.url, TOKEN)
    (read,) = await unit.produce(1)
    await _until(lambda: unit.counters.delivered == 1)
    await unit.stop()
    assert len(hub.requests) == 2
    assert hub.requests[0]["json"] == hub.requests[1]["json"], "the same read again"
    assert hub.requests[1]["json"]["plate"] == read.seen.text
    c = unit.counters
    assert (c.retried, c.rejected, c.dropped) == (1, 0, 0)


async def test_persistent_5xx_drops_the_read_and_goes_on(hub: Hub) -> None:
    hub.statuses = [500] * FAST.max_server_errors
    unit = _unit(_spec())
    unit.deliver_to(hub.url, None)
    await unit.produce(2)
    await _until(lambda: unit.counters.delivered == 1)
    await unit.stop()
    c = unit.counters
    assert (c.dropped, c.retried, c.delivered) == (1, FAST.max_server_errors - 1, 1)
    assert len(hub.requests) == FAST.max_server_errors + 1


async def test_4xx_is_rejected_not_retried(hub: Hub) -> None:
    hub.statuses = [400, 401]
    unit = _unit(_spec())
    unit.deliver_to(hub.url, "wrong")
    await unit.produce(3)
    await _until(lambda: unit.counters.rejected + unit.counters.delivered == 3)
    await unit.stop()
    c = unit.counters
    assert (c.rejected, c.delivered, c.retried, c.dropped) == (2, 1, 0, 0)
    assert len(hub.requests) == 3


async def test_429_is_retried(hub: Hub) -> None:
    hub.statuses = [429]
    unit = _unit(_spec())
    unit.deliver_to(hub.url, None)
    await unit.produce(1)
    await _until(lambda: unit.counters.delivered == 1)
    await unit.stop()
    assert (unit.counters.retried, unit.counters.rejected) == (1, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_hub_down_reads_wait_and_arrive_when_it_is_back() -> None:
    port = _free_port()
    unit = _unit(_spec())
    unit.deliver_to(f"http://127.0.0.1:{port}", TOKEN)
    reads = await unit.produce(4)
    await _until(lambda: unit.counters.retried >= 3)
    assert unit.counters.delivered == 0 and unit.queued == 3  # one is being retried
    hub = Hub()
    runner, _ = await _serve(hub, port)
    try:
        await _until(lambda: unit.counters.delivered == 4)
    finally:
        await unit.stop()
        await runner.cleanup()
    assert [r["json"]["plate"] for r in hub.requests] == [r.seen.text for r in reads]
    assert unit.counters.dropped == 0 and unit.queued == 0


async def test_nothing_is_sent_before_deliver_to_and_the_queue_drops_oldest(hub: Hub) -> None:
    unit = _unit(_spec(queue=5))
    reads = await unit.produce(8)
    await asyncio.sleep(0.05)
    assert hub.requests == []
    assert unit.queued == 5 and unit.counters.dropped == 3
    unit.deliver_to(hub.url, None)
    await _until(lambda: unit.counters.delivered == 5)
    await unit.stop()
    assert [r["json"]["plate"] for r in hub.requests] == [r.seen.text for r in reads[3:]]


# --- timing on the virtual clock -------------------------------------------------------


async def test_reads_follow_the_virtual_clock(hub: Hub) -> None:
    # 60 reads per scenario minute is 1 per scenario second; at 60x, ~60 per real second.
    unit = _unit(_spec(reads_per_minute=60.0), speed=60.0)
    unit.deliver_to(hub.url, None)
    t0 = unit.clock.now()
    await unit.start()
    await asyncio.sleep(1.0)
    t1 = unit.clock.now()
    await unit.stop()
    reads = list(unit.log)
    expected = (t1 - t0).total_seconds()  # one a scenario second
    # Poisson arrivals: 0.6-1.4x of ~60 is beyond three standard deviations.
    assert 0.6 * expected < len(reads) < 1.4 * expected, (len(reads), expected)
    times = [r.at for r in reads]
    assert times == sorted(times)
    assert t0 - timedelta(milliseconds=1) <= times[0] and times[-1] <= t1  # ms resolution
    assert hub.requests, "reads were delivered while the unit ran"


async def test_hourly_factor_zero_means_no_reads_that_hour() -> None:
    spec = _spec(reads_per_minute=60.0)
    hourly = tuple(0.0 if h == 8 else 1.0 for h in range(24))
    alpr = AlprSpec((spec,), AlprTraffic(hourly=hourly), None)
    unit = AlprUnit(spec, PlateTraffic(alpr, 1), VirtualClock(START, 1.0), retry=FAST)
    # START is 08:00 UTC: the first car comes after 09:00.
    assert unit.next_gap(0.0) >= 3600.0
    assert unit.next_gap(3700.0) < 600.0


def test_unit_sequence_is_deterministic() -> None:
    def texts(seed: int) -> list[str]:
        unit = _unit(_spec(), seed=seed)
        return [unit.next_read(START).seen.text for _ in range(50)]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


# --- the fleet and the city --------------------------------------------------------------

SMALL_TEXT = (Path(__file__).resolve().parents[2] / "scenarios" / "small.toml").read_text()


def _lines(path: Path) -> list[str]:
    """Lines of a file, or the names in a directory (sync: kept out of the async tests)."""
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else \
        path.read_text().splitlines()


ALPR_SCENARIO = """
[[alpr.unit]]
id = "alpr-dump"
camera = "dump-001"
format = "openalpr"
reads_per_minute = 60

[[alpr.unit]]
id = "alpr-combi"
vehicle = "combi-1"
format = "platerecognizer"
reads_per_minute = 60

[alpr.hotlist]
plates = ["1-ABC-234"]
generated = { size = 25 }
"""


async def test_city_publishes_units_and_hotlist_and_delivers(hub: Hub, tmp_path: Path) -> None:
    from simulator.city import SimulatedCity

    text = SMALL_TEXT + ALPR_SCENARIO
    sc = parse_scenario(text.replace("speed = 1.0", "speed = 60.0", 1))
    city = SimulatedCity(sc, prewarm=False, alpr_dir=tmp_path)
    await city.start()
    try:
        alpr = city.endpoints()["alpr"]
        assert [(u["unit"], u["camera"], u["vehicle"], u["format"]) for u in alpr["units"]] == [
            ("alpr-dump", "dump-001", None, "openalpr"),
            ("alpr-combi", "combi-001", "combi-1", "platerecognizer"),
        ]
        assert all(isinstance(u["sender_id"], int) for u in alpr["units"])
        hotlist = Path(alpr["hotlist"])
        assert hotlist.parent == tmp_path
        lines = _lines(hotlist)
        assert lines[0] == "plate,list,category,priority" and len(lines) == 27
        city.alpr.deliver_to(hub.url, TOKEN)
        await _until(lambda: all(c["delivered"] >= 1 for c in city.alpr.counters().values()))
        assert {r["path"] for r in hub.requests} == {
            "/api/webhooks/openalpr", "/api/webhooks/platerecognizer"}
        counters = city.alpr.counters()
        assert set(counters) == {"alpr-dump", "alpr-combi"}
        assert all(c["generated"] >= c["delivered"] for c in counters.values())
        sender = {u["unit"]: u["sender_id"] for u in alpr["units"]}
        openalpr = next(r["json"] for r in hub.requests if r["path"].endswith("openalpr"))
        assert openalpr["camera_id"] == sender["alpr-dump"]
    finally:
        await city.stop()


async def test_fleet_without_alpr_section_is_empty(tmp_path: Path) -> None:
    fleet = AlprFleet(AlprSpec(), 1, VirtualClock(START, 1.0), directory=tmp_path)
    await fleet.start()
    assert fleet.endpoints() == {"units": [], "hotlist": None}
    assert fleet.counters() == {}
    await fleet.stop()
    assert _lines(tmp_path) == []


async def test_fleet_own_directory_is_removed_on_stop() -> None:
    alpr = AlprSpec((), AlprTraffic(), AlprHotlist((), 10, "list.csv"))
    fleet = AlprFleet(alpr, 1, VirtualClock(START, 1.0))
    await fleet.start()
    path = fleet.hotlist_path
    assert path is not None and path.name == "list.csv" and path.exists()
    await fleet.stop()
    assert not path.exists()


# --- the hub's parsers read what the units send ------------------------------------------


@pytest.mark.parametrize(("fmt", "multipart"), [("citywatch", False), ("openalpr", False),
                                                ("platerecognizer", False),
                                                ("platerecognizer", True)])
def test_hub_parsers_accept_every_format(fmt: str, multipart: bool) -> None:
    alpr = pytest.importorskip("drivers.alpr")
    unit = _unit(_spec(fmt, multipart=multipart, vehicle="combi-1"))
    for _ in range(20):
        read = unit.next_read(unit.clock.now())
        out = unit.encode(read)
        if fmt == "citywatch":
            parsed = alpr.parse_citywatch(out.body)
        elif fmt == "openalpr":
            parsed = alpr.parse_openalpr(out.body)
        elif multipart:
            boundary = out.content_type.split("boundary=")[1].encode()
            parts = out.body.split(b"--" + boundary)
            doc = parts[1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
            jpeg = parts[2].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
            assert _jpeg_size(jpeg) == OVERVIEW_SIZE
            parsed = alpr.parse_platerecognizer(doc, jpeg)
        else:
            parsed = alpr.parse_platerecognizer(out.body)
        (got,) = parsed.reads
        assert normalize(got.plate) == normalize(read.seen.text)
        assert got.at == read.at
        assert got.confidence == pytest.approx(read.seen.confidence)
        assert got.country == read.truth.country
        assert got.lat is None and got.lon is None
