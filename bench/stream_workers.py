"""Event-loop lag of a hub sampling the Hasselt city's streams: samplers in the hub's
process (stream_workers=0, the baseline) vs. in 1 and 2 worker processes.

Each configuration runs in its own child process: the simulated city (258 cameras) and
a hub with stream health, as in `citywatch demo` minus the TUI. After a warm-up, the
loop's lag is sampled as the overshoot of `asyncio.sleep(0.01)`; CPU of the hub process
and of its workers (from /proc) over the same window. Prints one JSON line.

    .venv/bin/python -m bench.stream_workers [--warm 30] [--measure 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIGS = (0, 1, 2)
REPO = Path(__file__).resolve().parent.parent


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _one(workers: int, warm: float, measure: float) -> dict[str, Any]:
    from hub.core import Hub
    from hub.endpoints_config import config_from_endpoints
    from hub.model import HealthState
    from simulator.city import SimulatedCity
    from simulator.scenario import load_scenario

    city = SimulatedCity(load_scenario(REPO / "scenarios" / "hasselt.toml"))
    await city.start()
    config = config_from_endpoints(city.endpoints(), "simulator")
    with tempfile.TemporaryDirectory() as tmp:
        hub = await Hub.open(list(config.sites), list(config.cameras), Path(tmp),
                             health=config.health, stream_workers=workers)
        await hub.start()
        await asyncio.sleep(warm)
        pool = hub._stream_pool
        worker_pids = [p for p in (pool.pids() if pool else []) if p]
        cpu0, wcpu0, t0 = time.process_time(), _cpu_of(worker_pids), time.monotonic()
        lags: list[float] = []
        while time.monotonic() < t0 + measure:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - start - 0.01)
        wall = time.monotonic() - t0
        hub_cpu, workers_cpu = time.process_time() - cpu0, _cpu_of(worker_pids) - wcpu0
        ok = sum(1 for c in hub.cameras() if c.state is HealthState.OK)
        await hub.stop()
    await city.stop()
    lags.sort()

    def pct(q: float) -> float:
        return round(1000 * lags[min(len(lags) - 1, int(q * len(lags)))], 1)

    return {"stream_workers": workers, "cameras_ok": ok, "lag_p50_ms": pct(0.5),
            "lag_p95_ms": pct(0.95), "lag_max_ms": round(1000 * lags[-1], 1),
            "hub_process_cpu_pct": round(100 * hub_cpu / wall, 1),
            "workers_cpu_pct": round(100 * workers_cpu / wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warm", type=float, default=30.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(asyncio.run(_one(args.one, args.warm, args.measure))))
        return 0
    runs = []
    for workers in CONFIGS:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.stream_workers", "--one", str(workers),
             "--warm", str(args.warm), "--measure", str(args.measure)],
            capture_output=True, text=True, cwd=REPO, check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = runs[0]["lag_p95_ms"] or 1.0
    print(json.dumps({"runs": runs, "lag_p95_vs_in_process": {
        str(r["stream_workers"]): round(r["lag_p95_ms"] / base, 2) for r in runs}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
