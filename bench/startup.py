"""How long until every camera of a scenario has a verdict (ok or down), in one process.

This is the demo's start-up path without the TUI: simulated city + hub on one event
loop. Prints one JSON line with the figures.

    .venv/bin/python -m bench.startup [--scenario scenarios/hasselt.toml]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

from hub.core import Hub
from hub.endpoints_config import config_from_endpoints
from hub.model import HealthState
from simulator.city import SimulatedCity
from simulator.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent


async def measure(scenario_path: Path) -> dict[str, float | int]:
    scenario = load_scenario(scenario_path)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    city = SimulatedCity(scenario)
    await city.start()
    t_city = time.monotonic() - t0
    config = config_from_endpoints(city.endpoints(), "simulator")
    with tempfile.TemporaryDirectory() as data_dir:
        hub = await Hub.open(list(config.sites), list(config.cameras), Path(data_dir))
        changes = hub.feed.subscribe()
        await hub.start()
        pending = {c.id for c in config.cameras}
        done_at: list[float] = []
        async with asyncio.timeout(120):
            async for status in changes:
                if status.id in pending and status.state is not HealthState.UNKNOWN:
                    pending.discard(status.id)
                    done_at.append(time.monotonic() - t0)
                    if not pending:
                        break
        await hub.stop()
    await city.stop()
    done_at.sort()
    n = len(done_at)
    return {
        "cameras": len(config.cameras),
        "city_start_s": round(t_city, 3),
        "p50_verdict_s": round(done_at[n // 2], 3),
        "p95_verdict_s": round(done_at[int(n * 0.95) - 1], 3),
        "all_verdicts_s": round(done_at[-1], 3),  # the SLOW camera takes ~7 x 4 s
        "verdicts_within_10s": sum(1 for t in done_at if t <= 10),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "hasselt.toml")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.scenario))))


if __name__ == "__main__":
    main()
