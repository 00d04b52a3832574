"""GpsReader sources: log file, stdin, TCP and a real pty, with unplug/replug."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.gps import TPV, DeviceEvent, DeviceState, GpsReader, Report
from drivers.nmea import frame

DATA = Path(__file__).resolve().parent.parent / "data" / "gps"
ROOT = DATA.parent.parent.parent


def epoch(second: int) -> bytes:
    t = f"1200{second:02d}.00"
    return (frame(f"GPGGA,{t},5055.8420,N,00520.2680,E,1,08,0.9,41.0,M,47.0,M,,")
            + frame(f"GPRMC,{t},A,5055.8420,N,00520.2680,E,6.64,271.0,150624,,,A"))


async def next_matching(it: AsyncIterator[Report], want: type | DeviceState) -> Report:
    """The next report of that kind or state, within 5 s."""
    async def find() -> Report:
        async for report in it:
            if isinstance(want, DeviceState):
                if isinstance(report, DeviceEvent) and report.state == want:
                    return report
            elif isinstance(report, want) and (not isinstance(report, TPV) or report.has_fix):
                return report
        raise AssertionError(f"ended before {want}")
    return await asyncio.wait_for(find(), 5.0)


async def test_log_file_ends_with_ended() -> None:
    reader = GpsReader(str(DATA / "triton400.log"))
    reports = [r async for r in reader.reports()]
    assert reports[-1] == DeviceEvent(DeviceState.ENDED, str(DATA / "triton400.log"))
    assert sum(1 for r in reports if isinstance(r, TPV) and r.has_fix) == reader.stats.fixes > 0
    assert reader.stats.reasons == {"no checksum (truncated)": 1}


async def test_missing_file_reports_no_device_then_ended(tmp_path: Path) -> None:
    reports = [r async for r in GpsReader(str(tmp_path / "none.log")).reports()]
    assert [r.state for r in reports if isinstance(r, DeviceEvent)] == [
        DeviceState.NO_DEVICE, DeviceState.ENDED]


async def test_tcp_unplug_and_replug() -> None:
    clients: list[asyncio.StreamWriter] = []

    async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.append(writer)
        for s in range(3):
            writer.write(epoch(s))
        await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader = GpsReader(f"tcp://127.0.0.1:{port}", retry_interval_s=0.1)
    it = reader.reports().__aiter__()
    await next_matching(it, DeviceState.PRESENT)
    assert isinstance(await next_matching(it, TPV), TPV)
    server.close()
    for w in clients:
        w.close()
    await server.wait_closed()
    gone = await next_matching(it, DeviceState.NO_DEVICE)
    assert isinstance(gone, DeviceEvent) and gone.detail
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        await next_matching(it, DeviceState.PRESENT)
        assert isinstance(await next_matching(it, TPV), TPV)
    finally:
        server.close()
        for w in clients:
            w.close()
        await it.aclose()  # type: ignore[attr-defined]


async def test_tcp_refused_is_no_device_once() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    reader = GpsReader(f"tcp://127.0.0.1:{port}", retry_interval_s=0.05)
    it = reader.reports().__aiter__()
    first = await next_matching(it, DeviceState.NO_DEVICE)
    assert isinstance(first, DeviceEvent)
    with pytest.raises(TimeoutError):  # retrying quietly, no event flood
        await asyncio.wait_for(it.__anext__(), 0.3)
    await it.aclose()  # type: ignore[attr-defined]


def _new_pty(link: Path) -> int:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    tmp = link.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    tmp.replace(link)
    return master


async def test_pty_unplug_and_replug(tmp_path: Path) -> None:
    link = tmp_path / "gps0"
    master = _new_pty(link)
    reader = GpsReader(str(link), retry_interval_s=0.1)
    it = reader.reports().__aiter__()
    try:
        await next_matching(it, DeviceState.PRESENT)
        os.write(master, epoch(1))
        assert isinstance(await next_matching(it, TPV), TPV)
        os.close(master)  # the writer goes away: EIO on the slave
        link.unlink()
        await next_matching(it, DeviceState.NO_DEVICE)
        master = _new_pty(link)
        started = time.monotonic()
        await next_matching(it, DeviceState.PRESENT)
        os.write(master, epoch(2))
        tpv = await next_matching(it, TPV)
        assert isinstance(tpv, TPV) and tpv.time is not None and tpv.time.second == 2
        assert time.monotonic() - started < 5
    finally:
        await it.aclose()  # type: ignore[attr-defined]
        os.close(master)


async def test_expected_device_missing_at_start_waits_for_it(tmp_path: Path) -> None:
    """A vehicle's receiver unplugged when the hub starts is waited for, not read as a
    missing log file (which would end the reader for good)."""
    link = tmp_path / "gps0"
    reader = GpsReader(str(link), retry_interval_s=0.1, expect_device=True)
    assert reader.kind == "device"
    assert GpsReader(str(link)).kind == "file"
    it = reader.reports().__aiter__()
    master = -1
    try:
        await next_matching(it, DeviceState.NO_DEVICE)
        master = _new_pty(link)
        await next_matching(it, DeviceState.PRESENT)
        os.write(master, epoch(3) + epoch(4))
        tpv = await next_matching(it, TPV)
        assert isinstance(tpv, TPV) and tpv.lat == pytest.approx(50.930700)
    finally:
        await it.aclose()  # type: ignore[attr-defined]
        if master >= 0:
            os.close(master)


def _run_cli(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from hub.gps_command import run_gps; " \
           "sys.exit(run_gps(sys.argv[1], sys.argv[2:] == ['--json']))"
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin,
                          capture_output=True, timeout=30, cwd=ROOT)


def test_command_readable_stdin_and_summary() -> None:
    proc = _run_cli(["-"], stdin=b"".join(epoch(s) for s in range(3)) + b"$GPRMC,broken\r\n")
    assert proc.returncode == 0
    lines = proc.stdout.decode().splitlines()
    assert lines == [f"12:00:0{s}Z 3D 50.930700N 5.337800E 12.3 km/h 271° alt 41.0 m"
                     for s in range(3)]
    err = proc.stderr.decode()
    assert "sentences 6, rejected 1 (no checksum (truncated) 1)" in err and "fixes" in err


def test_command_json_and_unreadable_file(tmp_path: Path) -> None:
    proc = _run_cli([str(DATA / "bu353-glonass.log"), "--json"])
    assert proc.returncode == 0 and proc.stdout.startswith(b'{"class":')
    missing = _run_cli([str(tmp_path / "nope.log")])
    assert missing.returncode == 1
    assert b"cannot read" in missing.stderr and b"Traceback" not in missing.stderr
