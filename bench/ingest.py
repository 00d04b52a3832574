"""Read ingestion end to end: HTTP -> parse -> match (1M-entry hotlist) -> commit -> alert.

`citywatch serve` runs as a child process (its own interpreter and cores, as in
production) with a generated 1,000,000-entry hotlist imported into its data directory;
this process is the load generator (aiohttp client). Figures:

- throughput: reads/s acknowledged (2xx) with N concurrent senders, one read per request
  (what a camera does) and 100 reads per request (what a batching gateway does);
- latency at a paced 1,000 reads/s with 1 % hotlist plates, two ways: p50/p99 from
  sending a read to its acknowledgement (client side; for a hotlist plate the
  acknowledgement carries the alert id, the alert being committed and published before
  it is sent), and the hub's own read -> alert latency from the request's arrival to the
  alert's publication (GET /api/stats), which leaves out the load generator's share of
  the two cores;
- where the hub's time goes in the paced run (GET /api/stats "read_stages", per read:
  arrival -> store, in the store (queue wait; the group commit per batch), publishing),
  and the hub process's CPU per read (from /proc): the client-side figures include the
  load generator, which shares the two cores, the hub-side ones do not;
- baseline in the same run: the same client against an aiohttp server whose handler
  answers 201 at once (the HTTP ceiling of this machine): ours / ceiling;
- BEFORE: the figures of earlier runs, for comparison in RESULTS.md.

    .venv/bin/python -m bench.ingest [--entries 1000000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.net import free_port

TOKEN = "bench-token"
CONCURRENCY = 64
BATCH = 100
# Distinct reads prepared per throughput run (then sent again in turn).
BODY_POOL = 50_000
# Figures of earlier runs (same command, same machine), kept beside the new ones.
BEFORE = {
    "2026-11-26 15:14 UTC (before the group-commit/GIL/GC/event-backlog changes)": {
        "reads_per_s_single": 1601, "reads_per_s_batched_100": 4549,
        "paced_1000_per_s": {"p50_ms": 13.81, "p99_ms": 275.3},
        "hub_read_to_alert_at_1000_per_s": {"p50_ms": 10.28, "p99_ms": 165.27},
        "ceiling_paced_1000_per_s": {"p50_ms": 0.84, "p99_ms": 92.72},
    },
    "earlier (before the session of 15:14)": {
        "hub_read_to_alert_at_1000_per_s": {"p50_ms": 6.3, "p99_ms": 95.8},
    },
}
# The first second of the paced run opens the client's connections (TCP accept, aiohttp
# protocol set-up); it is sent but not measured, as a camera fleet is connected already.
WARM_UP_S = 1.0


def _plate(rng: random.Random) -> str:
    return (f"{rng.randint(1, 2)}{''.join(rng.choices(string.ascii_uppercase, k=3))}"
            f"{rng.randint(0, 999):03d}")


def _write_hotlist(path: Path, entries: int, rng: random.Random) -> list[str]:
    plates = {_plate(rng) for _ in range(entries)}
    listed = sorted(plates)
    with path.open("w") as out:
        out.write("plate,list,category,priority\n")
        for plate in listed:
            out.write(f"{plate},stolen,vehicle,{rng.randint(10, 90)}\n")
    return listed



async def _wait_ready(base: str, http: aiohttp.ClientSession, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            async with http.get(base + "/api/hotlists",
                                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                if r.status == 200 and (await r.json())["hotlists"]:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("citywatch serve did not come up")


def _body(plates: list[str]) -> bytes:
    now = datetime.now(UTC).isoformat()
    reads = [{"plate": p, "time": now, "camera": "ring-1", "confidence": 0.9} for p in plates]
    return json.dumps(reads[0] if len(reads) == 1 else {"reads": reads}).encode()


async def _throughput(base: str, seconds: float, batch: int, rng: random.Random) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    done = 0
    stop = time.monotonic() + seconds
    # Bodies are made before the clock starts (as wrk does): the load generator shares the
    # two cores with the hub, and every cycle it spends on JSON is one the hub loses.
    bodies = [_body([_plate(rng) for _ in range(batch)]) for _ in range(BODY_POOL // batch)]
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def sender(first: int) -> None:
            nonlocal done
            turn = first
            while time.monotonic() < stop:
                body = bodies[turn % len(bodies)]
                turn += CONCURRENCY
                async with http.post(base + "/api/reads", data=body, headers=headers) as r:
                    await r.read()
                    if r.status in (200, 201):
                        done += batch
        start = time.monotonic()
        await asyncio.gather(*(sender(i) for i in range(CONCURRENCY)))
        return done / (time.monotonic() - start)


async def _paced(base: str, rate: float, seconds: float, listed: list[str],
                 rng: random.Random) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    all_lat: list[float] = []
    hit_lat: list[float] = []
    alerts = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
        async def one(plate: str, hot: bool, measured: bool) -> None:
            nonlocal alerts
            sent = time.perf_counter()
            async with http.post(base + "/api/reads", data=_body([plate]), headers=headers) as r:
                answer = await r.json()
            took = time.perf_counter() - sent
            if not measured:
                return
            all_lat.append(took)
            if hot:
                hit_lat.append(took)
                alerts += bool(answer["reads"][0]["alerts"])
        tasks = []
        start = time.perf_counter()
        warm = int(rate * WARM_UP_S)
        n = warm + int(rate * seconds)
        for i in range(n):
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            hot = rng.random() < 0.01
            plate = rng.choice(listed) if hot else _plate(rng)
            tasks.append(asyncio.create_task(one(plate, hot, i >= warm)))
        await asyncio.gather(*tasks)
        achieved = n / (time.perf_counter() - start)
    late = sum(1 for t in all_lat if t > 0.050)
    return {"rate_sent": round(achieved), "p50_ms": _pct(all_lat, 50), "p99_ms": _pct(all_lat, 99),
            "over_50ms_share": round(late / max(1, len(all_lat)), 4),
            "hit_reads": len(hit_lat), "alerts_raised": alerts,
            "hit_p50_ms": _pct(hit_lat, 50), "hit_p99_ms": _pct(hit_lat, 99)}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] * 1000, 2)


def _loop() -> asyncio.AbstractEventLoop:
    """The loop `citywatch serve` runs on (uvloop where installed), for a fair ceiling."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _ceiling_server(port: int) -> None:
    """Child process: an aiohttp server that acknowledges without doing anything."""
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"reads": [{"id": 1, "alerts": []}]}, status=201)
    app = web.Application()
    app.router.add_post("/api/reads", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                loop=_loop())


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure_ours(base: str, seconds: float, listed: list[str],
                        rng: random.Random, pid: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        await _wait_ready(base, http)
        ready_s = time.monotonic() - started
    # Paced first: the hub's own read -> alert figures (GET /api/stats) then cover only
    # the alerts of that run.
    cpu_before = _cpu_s(pid)
    paced = await _paced(base, 1000.0, seconds, listed, rng)
    cpu_after = _cpu_s(pid)
    async with aiohttp.ClientSession() as http, http.get(
        base + "/api/stats", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as answer:
        stats = await answer.json()
    reads = int(1000.0 * (seconds + WARM_UP_S))
    return {
        "ready_s": ready_s,
        "paced": paced,
        "hub_read_to_alert": stats["read_to_alert"],
        "hub_read_stages": stats.get("read_stages"),
        "hub_cpu_ms_per_read": (round((cpu_after - cpu_before) * 1000 / reads, 3)
                                if cpu_before is not None and cpu_after is not None else None),
        "single": await _throughput(base, seconds, 1, rng),
        "batched": await _throughput(base, seconds, BATCH, rng),
    }


async def _measure_ceiling(base: str, seconds: float, rng: random.Random
                           ) -> tuple[float, dict[str, Any]]:
    await asyncio.sleep(1.5)  # the child's interpreter and aiohttp import
    single = await _throughput(base, seconds, 1, rng)
    # The same paced load on a server that does nothing: what this machine, with the load
    # generator on the same cores, allows at best.
    paced = await _paced(base, 1000.0, seconds, [_plate(rng)], rng)
    return single, paced


def _run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="citywatch-ingest-") as tmp:
        data = Path(tmp) / "data"
        hotlist = Path(tmp) / "national.csv"
        listed = _write_hotlist(hotlist, args.entries, rng)
        exe = [sys.executable, "-m", "hub.cli"]
        subprocess.run([*exe, "hotlist", "import", str(hotlist), "--name", "national",
                        "--data-dir", str(data)], check=True, capture_output=True)
        port = free_port()
        env = {**os.environ, "CITYWATCH_TOKEN": TOKEN}
        serve = subprocess.Popen([*exe, "serve", "--listen", f"127.0.0.1:{port}",
                                  "--data-dir", str(data)], env=env,
                                 stderr=subprocess.DEVNULL)
        try:
            ours = asyncio.run(_measure_ours(f"http://127.0.0.1:{port}", args.seconds, listed,
                                             rng, serve.pid))
        finally:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
        cport = free_port()
        ceiling = subprocess.Popen([sys.executable, "-c",
                                    f"from bench.ingest import _ceiling_server; "
                                    f"_ceiling_server({cport})"])
        try:
            ceiling_single, ceiling_paced = asyncio.run(
                _measure_ceiling(f"http://127.0.0.1:{cport}", args.seconds, rng)
            )
        finally:
            ceiling.terminate()
            ceiling.wait(timeout=10)
    return {
        "hotlist_entries": len(listed),
        "serve_ready_with_hotlist_s": round(ours["ready_s"], 2),
        "reads_per_s_single": round(ours["single"]),
        "reads_per_s_batched_100": round(ours["batched"]),
        "http_ceiling_reads_per_s_single": round(ceiling_single),
        "ours_vs_ceiling_single": round(ours["single"] / ceiling_single, 3),
        "paced_1000_per_s": ours["paced"],
        "hub_read_to_alert_at_1000_per_s": ours["hub_read_to_alert"],
        "hub_read_stages_at_1000_per_s": ours["hub_read_stages"],
        "hub_cpu_ms_per_read_at_1000_per_s": ours["hub_cpu_ms_per_read"],
        "ceiling_paced_1000_per_s": ceiling_paced,
        "concurrency": CONCURRENCY,
        "before": BEFORE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    print(json.dumps(_run(parser.parse_args())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
