"""`citywatch sim SCENARIO [--speed X] [--endpoints FILE] [--alpr-target URL [--alpr-token T]]`:
run a simulated city until stopped. With --alpr-target its ALPR units post reads to that hub.

Prints one line once everything listens: camera ports, the RTSP server's port (every
camera's streams at rtsp://host:port/<camera-id>/<profile-token>), the control server's
URL (fault switching, see docs/scenarios.md "Running: endpoints and control").

Exit codes: 0 stopped by SIGINT/SIGTERM; 1 the city could not start (port in use, OS error,
endpoints file not writable); 2 the scenario or the arguments are invalid.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.clock import MAX_SPEED
from simulator.errors import CityStartError, ScenarioError
from simulator.scenario import MIN_SPEED, Scenario, load_scenario

EXIT_OK, EXIT_START_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "citywatch sim"

if TYPE_CHECKING:
    from simulator.city import SimulatedCity

log = logging.getLogger(__name__)


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def load_scenario_or_report(path: Path, prog: str = "citywatch") -> Scenario | None:
    """The scenario, or None after printing every problem (file:line: field: message) and a
    one-line summary to stderr. For commands that start a city from a scenario file."""
    try:
        return load_scenario(path)
    except ScenarioError as e:
        n = len(e.problems)
        print(str(e), file=sys.stderr)
        print(f"{prog}: {path}: {n} problem{'s' if n != 1 else ''}; nothing started",
              file=sys.stderr, flush=True)
        return None


async def start_city_or_report(
    scenario: Scenario, speed: float | None, prog: str = "citywatch"
) -> SimulatedCity | None:
    """The scenario's city, started; or None after saying on stderr why it could not
    start. For commands that run a hub on a simulated city (demo, scenario run)."""
    from simulator.city import SimulatedCity
    from simulator.errors import SimulatorError

    city = SimulatedCity(scenario, speed=speed)
    try:
        await city.start()
    except (SimulatorError, OSError) as exc:
        print(f"{prog}: cannot start the simulated city: {exc}", file=sys.stderr, flush=True)
        return None
    return city


def run_sim(
    scenario: Path,
    speed: float | None,
    endpoints: Path | None,
    *,
    host: str = "127.0.0.1",
    base_port: int | None = None,
    rtsp_port: int = 0,
    alpr_target: str | None = None,
    alpr_token: str | None = None,
) -> int:
    """Load `scenario`, serve its city until SIGINT/SIGTERM, return the exit code.

    `rtsp_port`: the RTSP server's port (0: a free one, printed). `alpr_target`: base URL
    of the hub the ALPR units post reads to (none: they only queue), with `alpr_token` as
    bearer token."""
    sc = load_scenario_or_report(scenario, PROG)
    if sc is None:
        return EXIT_USAGE
    if speed is not None and not MIN_SPEED <= speed <= MAX_SPEED:
        _err(f"--speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}, got {speed:g}")
        return EXIT_USAGE
    if alpr_target is not None and not alpr_target.startswith(("http://", "https://")):
        _err(f"--alpr-target must be an http:// or https:// URL, got {alpr_target!r}")
        return EXIT_USAGE
    try:
        return asyncio.run(_serve(sc, speed, endpoints, host, base_port, rtsp_port,
                                  alpr_target, alpr_token))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return EXIT_OK


async def _serve(
    sc: Scenario, speed: float | None, endpoints: Path | None, host: str, base_port: int | None,
    rtsp_port: int, alpr_target: str | None = None, alpr_token: str | None = None,
) -> int:
    # Imported here so that `citywatch sim` with a bad scenario file answers instantly.
    from simulator.city import SimulatedCity

    try:
        city = SimulatedCity(sc, speed=speed, host=host, base_port=base_port,
                             rtsp_port=rtsp_port)
    except CityStartError as e:
        _err(str(e))
        return EXIT_START_FAILED
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await city.start()
        except CityStartError as e:
            _err(str(e))
            return EXIT_START_FAILED
        except OSError as e:
            _err(f"cannot start the city: {e.strerror or e}")
            return EXIT_START_FAILED
        where = ""
        if endpoints is not None:
            try:
                city.write_endpoints(endpoints)
            except OSError as e:
                _err(f"cannot write endpoints file {endpoints}: {e.strerror or e}")
                return EXIT_START_FAILED
            where = f", endpoints in {endpoints}"
        if alpr_target is not None:
            city.alpr.deliver_to(alpr_target, alpr_token)
        units = len(city.alpr.units)
        alpr = f", {units} ALPR units -> {alpr_target or 'nowhere (no --alpr-target)'}" \
            if units else ""
        lo, hi = city.port_range()
        faulty = sum(1 for c in city.cameras.values() if c.faults)
        broken = f" ({faulty} with faults)" if faulty else ""
        shown = f"[{host}]" if ":" in host else host
        print(
            f"{sc.name}: {len(city.cameras)} cameras{broken} on {host}:{lo}-{hi}, "
            f"RTSP rtsp://{shown}:{city.rtsp.port}/, control {city.control_url}{where}, "
            f"speed {city.speed:g}x{alpr}; Ctrl-C to stop",
            flush=True,
        )
        log.info("RTSP server for %d streams on %s:%d", len(city.rtsp.streams()), host,
                 city.rtsp.port)
        await stop.wait()
        print(f"{PROG}: stopping", file=sys.stderr, flush=True)
        return EXIT_OK
    finally:
        await city.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
