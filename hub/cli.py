"""The `citywatch` command line.

This is the composition root: the only module that wires the simulator, the hub and
the TUI together (for `demo`). The simulator and TUI are imported inside the commands
that need them, so the hub itself never depends on either.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import HubConfig, load_config, load_endpoints
from hub.errors import ConfigError, HubError

if TYPE_CHECKING:
    from hub.core import Hub

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "hasselt.toml"
DEFAULT_DATA_DIR = Path(".citywatch")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `citywatch` subcommand."""
    parser = argparse.ArgumentParser(
        prog="citywatch",
        description="Terminal control room for city cameras and ALPR, with a city simulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="simulated city + hub + TUI in one process (the default command)"
    )
    demo.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO,
                      help="scenario file (default: scenarios/hasselt.toml)")
    demo.add_argument("--speed", type=float, default=None,
                      help="virtual clock speed 1-60 (default: the scenario's)")
    _data_dir_option(demo)

    sim = sub.add_parser("sim", help="run a scenario's simulated devices until Ctrl-C")
    sim.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario TOML file")
    sim.add_argument("--speed", type=float, default=None, help="virtual clock speed 1-60")
    sim.add_argument("--endpoints", type=Path, default=None, metavar="FILE",
                     help="write every device's URLs and credentials as JSON to FILE")
    sim.add_argument("--rtsp-port", type=_port, default=0, metavar="PORT",
                     help="port of the RTSP server for every camera's streams (default: free)")

    tui = sub.add_parser("tui", help="the TUI on a hub started in this process")
    _source_options(tui)
    _data_dir_option(tui)

    serve = sub.add_parser("serve", help="run the hub headless; health changes go to stderr")
    _source_options(serve)
    _data_dir_option(serve)

    gps = sub.add_parser("gps", help="read a GPS receiver and print its fixes (like gpspipe)")
    gps.add_argument("source", metavar="SOURCE",
                     help='serial/pty path, "tcp://host:port", an NMEA log file, or "-"')
    gps.add_argument("--json", action="store_true",
                     help="gpsd-style JSON reports, one per line")
    return parser


def _port(text: str) -> int:
    """argparse type: a TCP port number (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


def _source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="hub config TOML listing cameras (see docs/config.md)")
    group.add_argument("--endpoints", type=Path, metavar="FILE",
                       help="endpoints JSON written by `citywatch sim --endpoints`")


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help=f"where the SQLite store and log live (default: {DEFAULT_DATA_DIR})")
    parser.add_argument("--no-stream-health", action="store_true",
                        help="judge cameras by ONVIF only; do not sample their RTSP streams")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `citywatch` console script."""
    args = build_parser().parse_args(argv)
    command = args.command or "demo"
    if args.command is None:
        args = build_parser().parse_args(["demo", *(argv or [])])
    try:
        if command == "sim":
            from simulator.cli import run_sim

            return run_sim(args.scenario, args.speed, args.endpoints, rtsp_port=args.rtsp_port)
        if command == "demo":
            return asyncio.run(_demo(args))
        if command == "tui":
            return asyncio.run(_tui(args))
        if command == "serve":
            return asyncio.run(_serve(args))
        if command == "gps":
            from hub.gps_command import run_gps

            return run_gps(args.source, args.json)
    except ConfigError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except HubError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    raise AssertionError(f"unhandled command {command}")


def _load_source(args: argparse.Namespace) -> HubConfig:
    if args.config is not None:
        return load_config(args.config)
    return load_endpoints(args.endpoints)


def _data_dir(args: argparse.Namespace, config: HubConfig | None = None) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    if config is not None and config.data_dir is not None:
        return config.data_dir
    return DEFAULT_DATA_DIR


def _log_to_file(data_dir: Path) -> Path:
    """While the TUI owns the terminal, logs go to a file in the data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "citywatch.log"
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # zeep logs every unparsable answer at WARNING with the whole envelope.
    logging.getLogger("zeep").setLevel(logging.ERROR)
    return path


async def _open_hub(config: HubConfig, data_dir: Path, stream_health: bool) -> Hub:
    from hub.core import Hub

    return await Hub.open(
        list(config.sites), list(config.cameras), data_dir, vehicles=list(config.vehicles),
        stream_health=stream_health, health=config.health,
    )


async def _run_tui(config: HubConfig, data_dir: Path, title: str, stream_health: bool) -> int:
    from hub.core import LocalHubClient
    from tui.app import CitywatchApp

    hub = await _open_hub(config, data_dir, stream_health)
    try:
        await hub.start()
        await CitywatchApp(LocalHubClient(hub), title=title).run_async()
    finally:
        await hub.stop()
    return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    from hub.config import config_from_endpoints
    from simulator.city import SimulatedCity
    from simulator.cli import load_scenario_or_report
    from simulator.clock import MAX_SPEED
    from simulator.errors import SimulatorError
    from simulator.scenario import MIN_SPEED

    scenario = load_scenario_or_report(args.scenario)
    if scenario is None:
        return EXIT_INVALID_INPUT
    if args.speed is not None and not MIN_SPEED <= args.speed <= MAX_SPEED:
        print(f"citywatch: --speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    data_dir = _data_dir(args)
    _log_to_file(data_dir)
    city = SimulatedCity(scenario, speed=args.speed)
    try:
        await city.start()
    except (SimulatorError, OSError) as exc:
        print(f"citywatch: cannot start the simulated city: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        config = config_from_endpoints(city.endpoints(), "simulator")
        return await _run_tui(config, data_dir, f"citywatch — {scenario.name} (simulated)",
                              not args.no_stream_health)
    finally:
        await city.stop()


async def _tui(args: argparse.Namespace) -> int:
    config = _load_source(args)
    data_dir = _data_dir(args, config)
    _log_to_file(data_dir)
    return await _run_tui(config, data_dir, "citywatch", not args.no_stream_health)


async def _serve(args: argparse.Namespace) -> int:
    config = _load_source(args)
    data_dir = _data_dir(args, config)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("zeep").setLevel(logging.ERROR)
    hub = await _open_hub(config, data_dir, not args.no_stream_health)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await hub.start()
    print(
        f"citywatch: watching {len(config.cameras)} cameras, {len(config.vehicles)} vehicles;"
        " Ctrl-C to stop",
        file=sys.stderr,
    )
    try:
        await stop.wait()
    finally:
        await hub.stop()
    return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("citywatch")
    except PackageNotFoundError:
        return "0+unknown"


if __name__ == "__main__":
    sys.exit(main())
