"""A real gpsd reads a simulated patrol car's pty and reports 3D fixes in Hasselt.

Skipped without gpsd (Debian: apt-get install gpsd; .ci/run installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.clock import VirtualClock
from simulator.gps_device import SimulatedGps
from tests.simulator.test_vehicles import HASSELT

GPSD = shutil.which("gpsd")
pytestmark = pytest.mark.skipif(GPSD is None, reason="gpsd is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def gps(tmp_path: Path) -> AsyncIterator[SimulatedGps]:
    g = SimulatedGps(HASSELT.vehicle("combi-1"),  # u-blox at 5 Hz, GN talkers
                     VirtualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)), tmp_path / "gps")
    await g.start()
    try:
        yield g
    finally:
        await g.stop()


async def test_gpsd_reports_3d_fixes_inside_hasselt(gps: SimulatedGps, tmp_path: Path) -> None:
    assert GPSD is not None
    port = free_port()
    # Foreground (-N), no waiting for clients (-n), read-only (-b: no probing the receiver),
    # our own port and control socket: nothing of a system gpsd is touched.
    proc = await asyncio.create_subprocess_exec(
        GPSD, "-N", "-n", "-b", "-S", str(port), "-F", str(tmp_path / "gpsd.sock"),
        str(gps.device.path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    writer = None
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                assert proc.returncode is None, "gpsd exited early"
                assert time.monotonic() < deadline, "gpsd never listened"
                await asyncio.sleep(0.1)
        writer.write(b'?WATCH={"enable":true,"json":true}\n')
        await writer.drain()
        fixes = []
        while len(fixes) < 3:
            assert time.monotonic() < deadline, "no 3D fixes from gpsd"
            line = await asyncio.wait_for(reader.readline(), deadline - time.monotonic())
            msg = json.loads(line)
            if msg.get("class") == "TPV" and msg.get("mode") == 3:
                fixes.append(msg)
        bounds = HASSELT.bounds
        assert bounds is not None
        for fix in fixes:
            assert bounds.contains(fix["lat"], fix["lon"]), fix
            assert fix["time"].startswith("2026-03-02T08:00:")  # the virtual clock
            assert fix["device"] == str(gps.device.path)
            assert abs(fix["altMSL"] - 40) < 5
    finally:
        if writer is not None:
            writer.close()
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.communicate(), 5)
        except TimeoutError:
            proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.communicate(), 5)
