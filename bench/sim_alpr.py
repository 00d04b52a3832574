"""Simulated ALPR units at 50 reads/s: does the event loop stay responsive?

A stand-in hub (aiohttp, answers 200 to every POST) runs in a child process so that its
CPU is not counted. In this process: (a) baseline - an event-loop lag probe (sleep 5 ms,
record the overshoot) on an idle loop for SECONDS; (b) the same probe while ten units
(mixed formats: our JSON, OpenALPR, Plate Recognizer multipart with the overview JPEG)
read 50 plates a second in total and post them to the hub. Reports loop lag (p50, p99,
max) of both and their ratio, reads generated/delivered/dropped, CPU per read, and the
uncached cost of rendering one crop and one overview. Prints one JSON line.

Run: ``.venv/bin/python -m bench.sim_alpr``
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

SECONDS = 10.0
UNITS = 10
READS_PER_S = 50.0
PROBE_S = 0.005  # the lag probe's sleep
FORMATS = (("citywatch", False), ("openalpr", False), ("platerecognizer", True))
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def sink() -> None:
    """Child process: a hub that accepts every read; prints its port, runs until stdin
    closes."""
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


async def probe(seconds: float) -> list[float]:
    """Overshoot (ms) of every PROBE_S sleep for `seconds`."""
    lags = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        await asyncio.sleep(PROBE_S)
        lags.append((time.monotonic() - t - PROBE_S) * 1000)
    return lags


def lag_figures(lags: list[float]) -> dict[str, float]:
    q = statistics.quantiles(lags, n=100)
    return {"p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2), "max_ms": round(max(lags), 2)}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run_fleet(port: int) -> dict[str, Any]:
    from simulator.alpr_unit import AlprFleet
    from simulator.clock import VirtualClock
    from simulator.scenario_alpr import AlprHotlist, AlprSpec, AlprTraffic, AlprUnitSpec

    units = tuple(
        AlprUnitSpec(id=f"u{i}", camera=f"cam-{i}", format=FORMATS[i % len(FORMATS)][0],
                     multipart=FORMATS[i % len(FORMATS)][1],
                     reads_per_minute=READS_PER_S * 60 / UNITS, sender_id=100 + i)
        for i in range(UNITS)
    )
    spec = AlprSpec(units, AlprTraffic(population=200_000), AlprHotlist((), 1000))
    fleet = AlprFleet(spec, 1, VirtualClock(START, 1.0))
    await fleet.start()
    fleet.deliver_to(f"http://127.0.0.1:{port}", "bench-token")
    c0 = cpu()
    lags = await probe(SECONDS)
    used = cpu() - c0
    await asyncio.sleep(0.5)  # let the last posts land
    counters = fleet.counters()
    await fleet.stop()
    total = {k: sum(c[k] for c in counters.values()) for k in next(iter(counters.values()))}
    return {"lag": lag_figures(lags), "counters": total, "cpu_s": round(used, 2),
            "cpu_per_read_ms": round(used * 1000 / max(total["generated"], 1), 2)}


def render_cost() -> dict[str, float]:
    from simulator.alpr_render import render_crop, render_overview

    n = 100
    t = time.perf_counter()
    for i in range(n):
        render_crop(f"9-BEN-{i:03d}", "BE")
    crop = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for i in range(n):
        render_overview(f"9-BEN-{i:03d}", "BE")
    overview = (time.perf_counter() - t) / n * 1000
    return {"crop_ms": round(crop, 2), "overview_ms": round(overview, 2)}


def main() -> int:
    if sys.argv[1:] == ["--sink"]:
        asyncio.run(sink())
        return 0
    child = subprocess.Popen([sys.executable, "-m", "bench.sim_alpr", "--sink"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        idle = lag_figures(asyncio.run(probe(SECONDS)))
        fleet = asyncio.run(run_fleet(port))
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=10)
    print(json.dumps({
        "seconds": SECONDS, "units": UNITS, "target_reads_per_s": READS_PER_S,
        "idle_loop_lag": idle, "fleet_loop_lag": fleet["lag"],
        "p99_lag_fleet_over_idle": round(fleet["lag"]["p99_ms"] / max(idle["p99_ms"], 0.01), 1),
        "reads": fleet["counters"], "cpu_s": fleet["cpu_s"],
        "cpu_per_read_ms": fleet["cpu_per_read_ms"],
        "share_of_one_core": round(fleet["cpu_s"] / SECONDS, 2),
        "render_uncached": render_cost(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
