"""GPS devices on the wire: pty at a stable path, TCP, no blocking, unplug/replug, control."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from simulator.city import SimulatedCity
from simulator.clock import VirtualClock
from simulator.gps_device import GpsDevice, SimulatedGps
from simulator.model import GpsFault, ReceiverKind, ReceiverProfile
from simulator.scenario import load_scenario
from tests.simulator.test_vehicles import HASSELT, decode, valid

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def gps(tmp_path: Path) -> AsyncIterator[SimulatedGps]:
    spec = dataclasses.replace(HASSELT.vehicle("combi-4"),
                               receiver=ReceiverProfile(ReceiverKind.UBLOX, 10))
    g = SimulatedGps(spec, VirtualClock(START), tmp_path / "gps")
    await g.start()
    try:
        yield g
    finally:
        await g.stop()


async def read_pty(path: Path | str, seconds: float) -> bytes:
    """Plain os.open/os.read of a device path, as a reader without pyserial would."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    data = b""
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                data += os.read(fd, 65536)
            await asyncio.sleep(0.02)
    finally:
        os.close(fd)
    return data


def complete_lines(data: bytes) -> list[bytes]:
    """Whole lines after the first line end (a reader may open mid-sentence)."""
    return [line + b"\r\n" for line in data.split(b"\r\n")[1:-1] if line]


async def test_reading_the_device_path_gets_sentences_at_the_rate(gps: SimulatedGps) -> None:
    path = gps.device.path
    assert path.is_symlink() and os.readlink(path).startswith("/dev/pts/")
    await asyncio.sleep(0.3)  # let a backlog build; the reader gets it and then live data
    lines = complete_lines(await read_pty(path, 1.5))
    assert lines and all(valid(line) for line in lines)
    rmc = [decode(line) for line in lines if b"RMC" in line]
    assert len(rmc) >= 14  # 10 Hz
    bounds = HASSELT.bounds
    assert bounds is not None
    assert all(bounds.contains(d["lat"], d["lon"]) for d in rmc)  # type: ignore[arg-type]


async def test_tcp_clients_get_the_same_stream(gps: SimulatedGps) -> None:
    port = gps.device.port
    assert gps.device.tcp_url == f"tcp://127.0.0.1:{port}"
    (r1, w1), (r2, w2) = await asyncio.gather(
        asyncio.open_connection("127.0.0.1", port), asyncio.open_connection("127.0.0.1", port))
    try:
        await asyncio.sleep(0.6)
        a = await asyncio.wait_for(r1.read(65536), 2)
        b = await asyncio.wait_for(r2.read(65536), 2)
        la, lb = complete_lines(a), complete_lines(b)
        assert la and all(valid(line) for line in la)
        common = set(la) & set(lb)
        assert len(common) >= min(len(la), len(lb)) - 2
    finally:
        w1.close()
        w2.close()


async def measure_latency(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        t0 = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - t0 - 0.01)
    return worst


async def test_pty_without_reader_never_blocks_and_counts_drops(gps: SimulatedGps) -> None:
    """No reader: the pty fills (~64 KB); minutes of 10 Hz output must not block the loop."""
    stop = asyncio.Event()
    probe = asyncio.create_task(measure_latency(stop))
    device = gps.device
    slowest = 0.0
    for k in range(0, 2000, 10):  # 200 s of 10 Hz epochs, written ~60x faster than real
        t0 = time.monotonic()
        for chunk in (c for j in range(k, k + 10) for c in gps.chunks(j)):
            device.write(chunk)
        slowest = max(slowest, time.monotonic() - t0)
        await asyncio.sleep(0.005)
    stop.set()
    assert await probe < 0.05
    assert slowest < 0.05
    assert device.stats.pty_dropped > 0
    # The stale backlog was discarded: a reader now gets whole, current sentences.
    lines = complete_lines(await read_pty(device.path, 0.5))
    assert lines and all(valid(line) for line in lines)


async def test_slow_tcp_client_loses_sentences_not_the_loop(gps: SimulatedGps) -> None:
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", gps.device.port))
    try:
        await asyncio.sleep(0.05)
        for w in gps.device._clients:  # small kernel send buffer too, so ours fills quickly
            w.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        stop = asyncio.Event()
        probe = asyncio.create_task(measure_latency(stop))
        for k in range(0, 2000, 10):  # the client never reads
            for chunk in (c for j in range(k, k + 10) for c in gps.chunks(j)):
                gps.device.write(chunk)
            await asyncio.sleep(0.002)
        stop.set()
        assert await probe < 0.05
        assert gps.device.stats.tcp_dropped > 0
    finally:
        client.close()


async def test_unplug_and_replug_at_the_same_path_and_port(gps: SimulatedGps) -> None:
    path, port = gps.device.path, gps.device.port
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        await gps.set_fault(GpsFault.UNPLUG, True)
        # The open reader sees the hangup: EIO, or end of file on a hung-up terminal.
        try:
            assert os.read(fd, 4096) == b""
        except OSError as exc:
            assert exc.errno == errno.EIO
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError):
        os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.3)
    assert gps.faults == {GpsFault.UNPLUG}

    await gps.set_fault(GpsFault.UNPLUG, False)
    assert gps.device.path == path and gps.device.port == port
    lines = complete_lines(await read_pty(path, 0.6))
    assert lines and all(valid(line) for line in lines)
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    assert gps.device.stats.opened == 2


async def test_outage_fault_on_the_wire(gps: SimulatedGps) -> None:
    await gps.set_fault(GpsFault.OUTAGE, True)
    await asyncio.sleep(0.15)
    lines = complete_lines(await read_pty(gps.device.path, 0.5))
    got = [decode(line) for line in lines if b"RMC" in line or b"GGA" in line]
    recent = got[-4:]
    assert recent and all(d.get("status") == "V" or d.get("quality") == 0 for d in recent)


async def test_device_close_is_idempotent(tmp_path: Path) -> None:
    dev = GpsDevice(tmp_path / "x.tty")
    await dev.close()
    await dev.open()
    await dev.open()
    await dev.close()
    await dev.close()
    assert not dev.path.exists()


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[SimulatedCity]:
    c = SimulatedCity(load_scenario(ROOT / "scenarios" / "small.toml"), gps_dir=tmp_path,
                      prewarm=False)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def test_city_endpoints_and_gps_fault_control(city: SimulatedCity, tmp_path: Path) -> None:
    [entry] = city.endpoints()["gps"]
    assert entry == {
        "id": "combi-1", "vehicle": "Combi 1", "site": "police",
        "device": str(tmp_path / "combi-1.tty"), "tcp": entry["tcp"], "camera": "combi-001",
        "receiver": "ublox", "rate_hz": 1, "route": "centre",
    }
    assert entry["tcp"].startswith("tcp://127.0.0.1:")
    port = int(entry["tcp"].rsplit(":", 1)[1])
    url = f"{city.control_url}/gps/faults"
    async with aiohttp.ClientSession() as http:
        async def post(body: object) -> tuple[int, dict[str, object]]:
            async with http.post(url, data=json.dumps(body)) as resp:
                return resp.status, await resp.json()

        assert await post({"vehicle": "combi-1", "fault": "unplug", "on": True}) == (
            200, {"vehicle": "combi-1", "faults": ["unplug"]})
        assert not await asyncio.to_thread(os.path.lexists, entry["device"])
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        assert (await post({"vehicle": "combi-1", "fault": "unplug", "on": False}))[0] == 200
        assert await asyncio.to_thread(os.path.exists, entry["device"])
        status, body = await post({"vehicle": "combi-9", "fault": "jump"})
        assert status == 404 and "combi-9" in str(body["error"])
        status, body = await post({"vehicle": "combi-1", "fault": "melt"})
        assert status == 400 and "outage, jump, corrupt, unplug" in str(body["error"])
        status, body = await post({"vehicle": "combi-1", "fault": "jump", "when": 1})
        assert status == 400 and "when" in str(body["error"])
        status, body = await post(["combi-1"])
        assert status == 400
        async with http.get(f"{city.control_url}/gps") as resp:
            [state] = await resp.json()
        assert state["vehicle"] == "combi-1" and state["tty"].startswith("/dev/pts/")
        assert state["stats"]["opened"] == 2


async def test_city_stop_removes_its_gps_directory() -> None:
    c = SimulatedCity(load_scenario(ROOT / "scenarios" / "small.toml"), prewarm=False)
    await c.start()
    directory = c.gps_dir
    assert directory is not None and (directory / "combi-1.tty").is_symlink()
    await c.stop()
    assert not directory.exists()
