"""CPU per stream: our stream-health sampler vs. a full decode by ffmpeg, same streams.

The simulator's RtspServer runs in a child process (``--serve N``) with N sub-streams
(640x360, 12 fps, 512 kbit/s, four different scenes). For N = 10 and N = 50, each for
10 s: (a) N `drivers.stream.StreamSampler` run concurrently in this process (default
settings: 2 s windows, one keyframe decoded per 5 s) - CPU from resource.getrusage(SELF);
(b) N ``ffmpeg -rtsp_transport tcp -i URL -f null -`` processes (full decode) - CPU from
getrusage(CHILDREN) around their lifetime. Prints one JSON line.

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
from pathlib import Path
from typing import Any

SECONDS = 10.0
COUNTS = (10, 50)
USER, PASSWORD = "bench", "bench-pass"
WIDTH, HEIGHT, FPS, KBPS = 640, 360, 12, 512
CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "citywatch-bench-video"


async def serve(count: int) -> None:
    """Child process: serve `count` streams, print their URLs, run until stdin closes."""
    from datetime import UTC, datetime

    from simulator.clock import VirtualClock
    from simulator.model import StreamProfile
    from simulator.rtsp_server import RtspServer

    server = RtspServer(VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC)), cache_dir=CACHE)
    profile = StreamProfile("sub", "subStream", WIDTH, HEIGHT, FPS, "H264", KBPS)
    urls = [server.add_stream(f"cam-{i:03d}/sub", profile, username=USER, password=PASSWORD,
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


async def run_samplers(urls: list[str]) -> dict[str, Any]:
    from drivers.stream import StreamEvent, StreamEventKind, StreamSample, StreamSampler

    samples = 0
    errors: list[str] = []

    async def one(url: str) -> None:
        nonlocal samples
        async for item in StreamSampler(url, username=USER, password=PASSWORD).samples():
            if isinstance(item, StreamSample):
                samples += 1
            elif isinstance(item, StreamEvent) and item.kind == StreamEventKind.ERROR:
                errors.append(item.detail)

    before, started = cpu_self(), time.monotonic()
    tasks = [asyncio.create_task(one(u)) for u in urls]
    await asyncio.sleep(SECONDS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu, wall = cpu_self() - before, time.monotonic() - started
    return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 2), "samples": samples,
            "errors": len(errors), "cpu_pct_per_stream": round(100 * cpu / wall / len(urls), 3)}


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


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2])))
        return 0
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not installed", file=sys.stderr)
        return 2
    server = subprocess.Popen([sys.executable, "-m", "bench.stream_health", "--serve",
                               str(max(COUNTS))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert server.stdout is not None
        urls: list[str] = json.loads(server.stdout.readline())
        results: dict[str, Any] = {}
        for count in COUNTS:
            ours = asyncio.run(run_samplers(urls[:count]))
            theirs = run_ffmpeg(urls[:count])
            results[str(count)] = {
                "sampler": ours, "ffmpeg_full_decode": theirs,
                "ffmpeg_over_sampler_cpu": round(theirs["cpu_s"] / max(ours["cpu_s"], 1e-3), 1),
            }
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps({"stream": f"{WIDTH}x{HEIGHT} {FPS} fps {KBPS} kbit/s H.264 (simulator)",
                      "seconds": SECONDS, "streams": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
