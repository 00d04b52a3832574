"""The hub's vehicle task against a TCP NMEA server in the test, read by the real GpsReader."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.nmea import frame
from hub.core import Hub
from hub.geotag import GeotagMethod
from hub.gps_supervisor import GpsTiming
from hub.local_client import LocalHubClient
from hub.model import FixState, Site, VehicleConfig, VehicleStatus

FAST = GpsTiming(stale_check_interval_s=0.1, reconnect_interval_s=0.2,
                 restart_backoff_s=(0.1, 0.3), jitter=0.0)
DAY = datetime(2025, 3, 14, tzinfo=UTC)


class NmeaServer:
    """A receiver on TCP: sends one epoch (RMC + GGA) every `period` seconds.

    `mode`: "fix" (status A), "nofix" (status V), "silent" (connected, sends nothing).
    """

    def __init__(self, port: int = 0, period: float = 0.1) -> None:
        self.port = port
        self.period = period
        self.mode = "fix"
        self.second = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._stopping = True
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for _ in range(100):  # let each connection's loop end by itself
            if not self._writers:
                break
            await asyncio.sleep(0.01)
        await self._server.wait_closed()

    def epoch(self) -> bytes:
        when = DAY + timedelta(hours=9, minutes=30, seconds=self.second)
        self.second += 1
        t = when.strftime("%H%M%S.00")
        d = when.strftime("%d%m%y")
        # Eastbound along 50°55.842'N, 0.0002' of longitude per second.
        lon = f"{520.2680 + self.second * 0.0002:010.4f}"
        if self.mode == "fix":
            return (frame(f"GPRMC,{t},A,5055.8420,N,{lon},E,19.4,90.0,{d},,,A")
                    + frame(f"GPGGA,{t},5055.8420,N,{lon},E,1,08,0.9,30.0,M,47.0,M,,"))
        return frame(f"GPRMC,{t},V,,,,,,,{d},,,N") + frame(f"GPGGA,{t},,,,,0,00,99.9,,,,,,")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not self._stopping:
                if self.mode != "silent":
                    writer.write(self.epoch())
                    await writer.drain()
                await asyncio.sleep(self.period)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


@pytest.fixture
async def server() -> AsyncIterator[NmeaServer]:
    srv = NmeaServer()
    await srv.start()
    yield srv
    with contextlib.suppress(Exception):
        await srv.stop()


async def wait_for(
    client: LocalHubClient, vid: str, check: Callable[[VehicleStatus], bool], within: float
) -> VehicleStatus:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status = client.vehicle(vid)
        assert status is not None
        if check(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last status {status}")
        await asyncio.sleep(0.05)


def state_is(state: FixState) -> Callable[[VehicleStatus], bool]:
    return lambda s: s.state is state


async def test_fix_unplug_replug_no_fix_and_silence(server: NmeaServer, tmp_path: Path) -> None:
    car = VehicleConfig(id="combi-3", name="Combi 3", site="police",
                        source=f"tcp://127.0.0.1:{server.port}")
    hub = await Hub.open([Site("police", "Politie")], [], tmp_path, vehicles=[car],
                         gps_timing=FAST)
    client = LocalHubClient(hub)
    changes = client.vehicle_changes()
    seen: list[FixState] = []

    async def follow() -> None:
        async for status in changes:
            if not seen or seen[-1] is not status.state:
                seen.append(status.state)

    follower = asyncio.create_task(follow())
    await hub.start()
    try:
        status = await wait_for(client, car.id, state_is(FixState.FIX), 5)
        assert status.position is not None
        assert status.position.lat == pytest.approx(50.9307, abs=1e-6)

        # The receiver's connection goes away: NO_DEVICE.
        port = server.port
        await server.stop()
        await wait_for(client, car.id, state_is(FixState.NO_DEVICE), 5)

        # It comes back on the same port: FIX again within 5 s.
        again = NmeaServer(port=port)
        again.second = server.second
        await again.start()
        try:
            await wait_for(client, car.id, state_is(FixState.FIX), 5)
            await wait_for(client, car.id, lambda s: len(hub.recent_track(car.id)) >= 6, 5)

            again.mode = "nofix"  # status V: the receiver talks but has no position
            status = await wait_for(client, car.id, state_is(FixState.NO_FIX), 5)
            assert status.position is not None  # the last fix is kept, with its age

            again.mode = "fix"
            status = await wait_for(client, car.id, state_is(FixState.FIX), 5)
            assert status.position is not None and status.position == hub.recent_track(car.id)[-1]
            again.mode = "silent"  # connected, nothing arrives: STALE after 3 s
            start = asyncio.get_running_loop().time()
            await wait_for(client, car.id, state_is(FixState.STALE), 6)
            assert asyncio.get_running_loop().time() - start >= 2.5
            # The feed coalesces per vehicle: let the follower take STALE before the
            # server's stop turns it into NO_DEVICE (a slow consumer may skip a state).
            for _ in range(40):
                if FixState.STALE in seen:
                    break
                await asyncio.sleep(0.05)
        finally:
            await again.stop()

        # The change feed saw every state, in order.
        await asyncio.sleep(0.2)
        assert seen[:1] == [FixState.NO_FIX] or seen[0] is FixState.FIX
        for expected in (FixState.FIX, FixState.NO_DEVICE, FixState.NO_FIX, FixState.STALE):
            assert expected in seen

        # Track: in memory at full rate, in the store at most 1/s, and geotagging.
        track = hub.recent_track(car.id)
        assert len(track) >= 7
        assert all(a.at < b.at for a, b in itertools.pairwise(track))
        mid = track[1].at + (track[2].at - track[1].at) / 2
        tag = hub.geotag(car.id, mid)
        assert tag.method is GeotagMethod.INTERPOLATED and tag.has_position
        assert hub.geotag(car.id, track[-1].at + timedelta(seconds=60)).method is (
            GeotagMethod.STALE
        )
        stored = await hub.store.track(car.id, track[0].at - timedelta(seconds=1))
        assert stored and all(
            (b.at - a.at).total_seconds() >= 1.0 for a, b in itertools.pairwise(stored)
        )
        assert await client.track(car.id, track[0].at) == track
    finally:
        await hub.stop()
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    # Every state change was committed.
    hub2 = await Hub.open([], [], tmp_path, vehicles=[car])
    try:
        assert (await hub2.store.vehicle_states())[car.id] is FixState.NO_DEVICE
    finally:
        await hub2.stop()


async def test_unreachable_receiver_is_no_device_and_task_stays_alive(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    car = VehicleConfig(id="v1", name="Combi 1", site="police", source=f"tcp://127.0.0.1:{port}")
    hub = await Hub.open([], [], tmp_path, vehicles=[car], gps_timing=FAST)
    client = LocalHubClient(hub)
    await hub.start()
    try:
        await asyncio.sleep(0.5)
        status = client.vehicle(car.id)
        assert status is not None and status.state is FixState.NO_DEVICE
        server = NmeaServer(port=port)
        await server.start()
        try:
            await wait_for(client, car.id, state_is(FixState.FIX), 5)
        finally:
            await server.stop()
    finally:
        await hub.stop()


async def test_reader_bug_restarts_the_reader(tmp_path: Path) -> None:
    from drivers.gps_model import TPV, FixMode, Report

    calls = 0

    class Flaky:
        def __init__(self, source: str) -> None:
            pass

        async def reports(self) -> AsyncIterator[Report]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")
            yield TPV(mode=FixMode.FIX_2D, time=DAY, lat=50.0, lon=5.0)
            await asyncio.Event().wait()

    car = VehicleConfig(id="v1", name="Combi 1", site="police", source="x")
    hub = await Hub.open([], [], tmp_path, vehicles=[car], gps_timing=FAST, gps_reader=Flaky)
    await hub.start()
    try:
        await wait_for(LocalHubClient(hub), car.id, state_is(FixState.FIX), 3)
        assert calls == 2
    finally:
        await hub.stop()
