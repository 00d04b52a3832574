"""CPU per stream: our stream-health sampler (both engines) vs. a full decode by ffmpeg.

The simulator's RtspServer runs in a child process (``--serve N W H FPS KBPS``) with N
streams of one kind (four different scenes). For each kind - the sub-stream the hub
samples (640x360, 12 fps) and a typical main stream (1920x1080, 25 fps) - and each count,
for SECONDS: (a) N `drivers.stream.StreamSampler` with the RTP engine (the default: our
RTSP/RTP reader on asyncio, PyAV only for the occasional keyframe) and (b) N with the
PyAV engine (FFmpeg's RTSP demuxer in a thread per stream), each run concurrently in
this process (default settings: 2 s windows, one keyframe decoded per 5 s) - CPU from
resource.getrusage(SELF); (c) N ``ffmpeg -rtsp_transport tcp -i URL -t SECONDS -f null -``
processes (full decode) - CPU from getrusage(CHILDREN) around their lifetime. Then (d) the
CPU of 230 RTP-engine samplers on sub-streams (a city's worth, in one process as a stream
worker hosts them) as a share of one core. Prints one JSON line.

Run: ``.venv/bin/python -m bench.stream_health`` (needs ffmpeg on PATH).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECONDS = 10.0
USER, PASSWORD = "bench", "bench-pass"
CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "citywatch-bench-video"
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Kind:
    """A stream kind and the stream counts it is measured at."""

    name: str
    width: int
    height: int
    fps: int
    kbps: int
    counts: tuple[int, ...]

    def describe(self) -> str:
        return f"{self.width}x{self.height} {self.fps} fps {self.kbps} kbit/s H.264"


KINDS = (
    Kind("sub", 640, 360, 12, 512, (10, 50)),
    # Full decode of 1080p on 2 cores is slow: ten streams are plenty to see the ratio.
    Kind("main", 1920, 1080, 25, 4096, (10,)),
)
CITY_STREAMS = 230  # the "230 streams monitored with <= 1 core"
STAGGER_S = 0.05  # between sampler starts in the city run (the hub's come up as ONVIF answers)
WARM_UP_LIMIT_S = 120.0


async def serve(count: int, width: int, height: int, fps: int, kbps: int) -> None:
    """Child process: serve `count` streams, print their URLs, run until stdin closes."""
    from datetime import UTC, datetime

    from simulator.clock import VirtualClock
    from simulator.model import StreamProfile
    from simulator.rtsp_server import RtspServer

    server = RtspServer(VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC)), cache_dir=CACHE)
    profile = StreamProfile("s", "stream", width, height, fps, "H264", kbps)
    urls = [server.add_stream(f"cam-{i:03d}/s", profile, username=USER, password=PASSWORD,
                              look_seed=i) for i in range(count)]
    await server.start()
    print(json.dumps(urls), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_samplers(urls: list[str], *, engine: str = "rtp",
                       steady: bool = False) -> dict[str, Any]:
    """CPU of len(urls) samplers over SECONDS. `steady`: measure only once every sampler
    has connected (a hub's streams come up over its start-up, not all in one instant);
    otherwise the opens are counted, as ffmpeg's are."""
    from drivers.stream import StreamEvent, StreamEventKind, StreamSample, StreamSampler

    samples = decoded = 0
    errors: list[str] = []
    connected = 0
    all_connected = asyncio.Event()

    async def one(url: str) -> None:
        nonlocal samples, connected, decoded
        sampler = StreamSampler(url, username=USER, password=PASSWORD, engine=engine)
        async for item in sampler.samples():
            if isinstance(item, StreamSample):
                samples += 1
                decoded += item.luma_mean is not None
            elif isinstance(item, StreamEvent) and item.kind == StreamEventKind.CONNECTED:
                connected += 1
                if connected == len(urls):
                    all_connected.set()
            elif isinstance(item, StreamEvent) and item.kind == StreamEventKind.ERROR:
                errors.append(item.detail)

    tasks = []
    warm_up_s = 0.0
    if steady:
        started = time.monotonic()
        for url in urls:
            tasks.append(asyncio.create_task(one(url)))
            await asyncio.sleep(STAGGER_S)
        try:
            async with asyncio.timeout(WARM_UP_LIMIT_S):
                await all_connected.wait()
        except TimeoutError:
            pass
        warm_up_s = time.monotonic() - started
        samples = decoded = 0
    before, started = cpu_self(), time.monotonic()
    if not steady:
        tasks = [asyncio.create_task(one(u)) for u in urls]
    await asyncio.sleep(SECONDS)
    cpu, wall = cpu_self() - before, time.monotonic() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    figures: dict[str, Any] = {
        "cpu_s": round(cpu, 3), "wall_s": round(wall, 2), "samples": samples,
        "samples_with_pixels": decoded, "errors": len(errors),
        "cpu_pct_per_stream": round(100 * cpu / wall / len(urls), 3)}
    if steady:
        figures |= {"connected": connected, "warm_up_s": round(warm_up_s, 1)}
    return figures


def run_ffmpeg(urls: list[str]) -> dict[str, Any]:
    before, started = cpu_children(), time.monotonic()
    procs = []
    for url in urls:
        full = url.replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@", 1)
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", full,
             "-t", str(SECONDS), "-f", "null", "-"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    failed = sum(1 for p in procs if p.wait() != 0)
    cpu, wall = cpu_children() - before, time.monotonic() - started
    return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 2), "failed": failed,
            "cpu_pct_per_stream": round(100 * cpu / wall / len(urls), 3)}


class Server:
    """The simulator's RTSP server in a child process, serving `count` streams of a kind."""

    def __init__(self, kind: Kind, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.stream_health", "--serve", str(count),
             str(kind.width), str(kind.height), str(kind.fps), str(kind.kbps)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        self.urls: list[str] = json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """CPU of run `a` over that of run `b`: both handle SECONDS of the same streams (ffmpeg's
    wall is longer by its opens; its CPU includes them, as the samplers' include theirs)."""
    return round(a["cpu_s"] / max(b["cpu_s"], 1e-3), 1)


def measure_kind(kind: Kind) -> dict[str, Any]:
    server = Server(kind, max(kind.counts))
    try:
        results: dict[str, Any] = {"stream": kind.describe()}
        for count in kind.counts:
            rtp = asyncio.run(run_samplers(server.urls[:count], engine="rtp"))
            pyav = asyncio.run(run_samplers(server.urls[:count], engine="pyav"))
            full = run_ffmpeg(server.urls[:count])
            results[f"{count}_streams"] = {
                "sampler_rtp": rtp, "sampler_pyav": pyav, "ffmpeg_full_decode": full,
                "ffmpeg_over_rtp_cpu": ratio(full, rtp),
                "ffmpeg_over_pyav_cpu": ratio(full, pyav),
                "pyav_over_rtp_cpu": ratio(pyav, rtp),
            }
        return results
    finally:
        server.close()


def measure_city() -> dict[str, Any]:
    sub = KINDS[0]
    server = Server(sub, CITY_STREAMS)
    try:
        ours = asyncio.run(run_samplers(server.urls, engine="rtp", steady=True))
    finally:
        server.close()
    return {"stream": sub.describe(), "streams": CITY_STREAMS, "engine": "rtp",
            "sampler": ours, "share_of_one_core": round(ours["cpu_s"] / ours["wall_s"], 2)}


def main() -> int:
    if len(sys.argv) == 7 and sys.argv[1] == "--serve":
        count, width, height, fps, kbps = (int(a) for a in sys.argv[2:])
        asyncio.run(serve(count, width, height, fps, kbps))
        return 0
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not installed", file=sys.stderr)
        return 2
    per_kind = {kind.name: measure_kind(kind) for kind in KINDS}
    print(json.dumps({"seconds": SECONDS, "per_stream_cpu": per_kind,
                      "city": measure_city()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
