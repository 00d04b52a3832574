"""CPU per stream of the simulator's RTSP server serving N sessions (default 50 and 230).

The server runs in a child process (so the clients' CPU is not counted), with one stream
per session (look seeds vary as in a city, so several encodes are served). Clients in
this process do DESCRIBE/SETUP/PLAY over TCP and then read and discard the interleaved
RTP for `--seconds`. The child's CPU time (user + system, from /proc) over that window is
divided by the window and by N. Prints one JSON line.

    .venv/bin/python -m bench.rtsp_server_cost [--sessions 50 230] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench-pass"


# --- the child: the server ------------------------------------------------------------------


async def serve(sessions: int, width: int, height: int, fps: int, kbps: int) -> None:
    from simulator.clock import VirtualClock
    from simulator.model import StreamProfile
    from simulator.rtsp_server import RtspServer

    server = RtspServer(VirtualClock())
    profile = StreamProfile("profile_1", "mainStream", width, height, fps, "H264", kbps)
    for i in range(sessions):
        server.add_stream(f"cam-{i:03d}/profile_1", profile, username=USER, password=PASSWORD,
                          look_seed=i)
    started = time.monotonic()
    await server.start()
    sys.stdout.write(json.dumps({"port": server.port,
                                 "prepare_s": round(time.monotonic() - started, 2)}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "stats":
            sys.stdout.write(json.dumps(server.stats) + "\n")
            sys.stdout.flush()
    await server.stop()


# --- the parent: clients ----------------------------------------------------------------------


class Client(asyncio.Protocol):
    """DESCRIBE, SETUP, PLAY with Basic auth, then count and discard what arrives."""

    def __init__(self, url: str, ready: asyncio.Future[None], user: str = USER,
                 password: str = PASSWORD) -> None:
        self.url, self.ready = url, ready
        self.buf = b""
        self.step = 0
        self.session = ""
        self.bytes = 0
        self.transport: asyncio.Transport | None = None
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.send()

    def send(self) -> None:
        method, url, extra = [
            ("DESCRIBE", self.url, "Accept: application/sdp\r\n"),
            ("SETUP", self.url + "/trackID=0",
             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"),
            ("PLAY", self.url, f"Session: {self.session}\r\nRange: npt=0.000-\r\n"),
        ][self.step]
        assert self.transport is not None
        self.transport.write(f"{method} {url} RTSP/1.0\r\nCSeq: {self.step + 1}\r\n"
                             f"Authorization: {self.auth}\r\n{extra}\r\n".encode())

    def data_received(self, data: bytes) -> None:
        if self.step >= 3:
            self.bytes += len(data)
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].decode(errors="replace")
        length = 0
        for line in head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "session":
                self.session = value.strip().split(";")[0]
        if len(self.buf) < end + 4 + length:
            return
        if " 200 " not in head.split("\r\n")[0]:
            if not self.ready.done():
                self.ready.set_exception(RuntimeError(head.split("\r\n")[0]))
            return
        rest = self.buf[end + 4 + length:]
        self.buf = b""
        self.step += 1
        if self.step == 3:
            self.bytes += len(rest)
            if not self.ready.done():
                self.ready.set_result(None)
        else:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(n: int, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.rtsp_server_cost", "--serve", str(n),
        "--size", f"{args.width}x{args.height}", "--fps", str(args.fps),
        "--kbps", str(args.kbps), cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 900))
        loop = asyncio.get_running_loop()
        clients: list[Client] = []
        for i in range(n):
            ready: asyncio.Future[None] = loop.create_future()
            url = f"rtsp://127.0.0.1:{first['port']}/cam-{i:03d}/profile_1"
            _, client = await loop.create_connection(lambda u=url, r=ready: Client(u, r),
                                                     "127.0.0.1", first["port"])
            clients.append(client)
            await asyncio.wait_for(ready, 10)
        await asyncio.sleep(1.0)  # let every session settle
        received0 = sum(c.bytes for c in clients)
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.monotonic() - wall0
        received = sum(c.bytes for c in clients) - received0
        proc.stdin.write(b"stats\n")
        await proc.stdin.drain()
        stats = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        for c in clients:
            if c.transport is not None:
                c.transport.close()
        return {
            "sessions": n,
            "server_cpu_percent": round(100 * cpu / wall, 1),
            "cpu_ms_per_stream_per_s": round(1000 * cpu / wall / n, 3),
            "received_mbit_s": round(received * 8 / wall / 1e6, 1),
            "frames_dropped": stats["frames_dropped"],
            "prepare_s": first["prepare_s"],
        }
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results = [await measure(n, args.seconds, args) for n in args.sessions]
    return {"stream": f"{args.width}x{args.height}@{args.fps} {args.kbps} kbit/s",
            "seconds": args.seconds, "results": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[50, 230])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--kbps", type=int, default=2048)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.width, args.height = (int(x) for x in args.size.split("x"))
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.width, args.height, args.fps, args.kbps))
        return 0
    sys.stdout.write(json.dumps(asyncio.run(run(args))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
