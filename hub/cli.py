"""The `citywatch` command line.

This is the composition root: with hub/scenario_command.py (`scenario run`), the only
module that wires the simulator, the hub and the TUI together (for `demo`). The simulator
and TUI are imported inside the commands that need them, so the hub itself never depends
on either.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.alerts_command import add_alerts_parser, run_alerts
from hub.api_server import DEFAULT_LISTEN, TOKEN_ENV
from hub.config import HubConfig, load_config
from hub.diagnose_command import add_diagnose_parser, run_diagnose
from hub.discover_command import add_discover_parser, run_discover
from hub.endpoints_config import load_endpoints
from hub.errors import ConfigError, HubError
from hub.evidence_command import add_evidence_parser, run_evidence
from hub.hotlist_command import add_hotlist_parser, run_hotlist
from hub.reads_command import add_reads_parser, run_reads
from hub.scenario_command import add_scenario_parser, run_scenario_command
from hub.token_command import add_token_parser, run_token
from hub.wanted_command import add_wanted_parser, run_wanted

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
    sim.add_argument("--alpr-target", default=None, metavar="URL",
                     help="hub base URL the scenario's ALPR units post reads to")
    sim.add_argument("--alpr-token", default=None, metavar="TOKEN",
                     help=f"bearer token for --alpr-target (default: ${TOKEN_ENV})")

    tui = sub.add_parser(
        "tui", help="the TUI: on a hub started in this process, or on a running hub (--connect)"
    )
    source = _source_options(tui)
    source.add_argument("--connect", default=None, metavar="URL",
                        help="a running hub's API (e.g. http://hub:8787), through its API "
                             "and event stream only")
    tui.add_argument("--token", default=None, metavar="TOKEN",
                     help=f"bearer token for --connect (default: ${TOKEN_ENV})")
    tui.add_argument("--ca-file", type=Path, default=None, metavar="FILE",
                     help="CA certificate that signed an https hub's certificate")
    _data_dir_option(tui)

    serve = sub.add_parser(
        "serve", help="run the hub headless with its HTTP API; log lines go to stderr"
    )
    _source_options(serve, required=False)
    _data_dir_option(serve)
    serve.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                       help=f"address of the HTTP API (default: {DEFAULT_LISTEN})")
    serve.add_argument("--token", default=None, metavar="TOKEN",
                       help=f"an admin bearer token for this run (default: ${TOKEN_ENV}); "
                            "tokens made with `citywatch token create` work too")
    serve.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                       help="serve HTTPS with this PEM certificate (chain)")
    serve.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                       help="the certificate's PEM private key")
    serve.add_argument("--mqtt", default=None, metavar="HOST:PORT",
                       help="publish alerts and camera health changes to this MQTT broker")
    serve.add_argument("--mqtt-topic", default="citywatch", metavar="PREFIX",
                       help="topic prefix for --mqtt (default: citywatch)")

    add_scenario_parser(sub)
    add_diagnose_parser(sub)
    add_discover_parser(sub)
    add_reads_parser(sub, DEFAULT_DATA_DIR)
    add_wanted_parser(sub)
    add_hotlist_parser(sub)
    add_evidence_parser(sub)
    add_token_parser(sub)
    add_alerts_parser(sub)

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


def _source_options(
    parser: argparse.ArgumentParser, required: bool = True
) -> argparse._MutuallyExclusiveGroup:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="hub config TOML listing cameras (see docs/config.md)")
    group.add_argument("--endpoints", type=Path, metavar="FILE",
                       help="endpoints JSON written by `citywatch sim --endpoints`")
    return group


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

            return run_sim(args.scenario, args.speed, args.endpoints, rtsp_port=args.rtsp_port,
                           alpr_target=args.alpr_target,
                           alpr_token=args.alpr_token or os.environ.get(TOKEN_ENV))
        if command == "demo":
            return asyncio.run(_demo(args))
        if command == "tui":
            return asyncio.run(_tui(args))
        if command == "serve":
            return _run_server(_serve(args))
        if command == "gps":
            from hub.gps_command import run_gps

            return run_gps(args.source, args.json)
        if command == "diagnose":
            return run_diagnose(args)
        if command == "discover":
            return run_discover(args)
        if command == "scenario":
            return run_scenario_command(args)
        if command == "reads":
            return run_reads(args)
        if command == "hotlist":
            return run_hotlist(args)
        if command == "wanted":
            return run_wanted(args)
        if command == "evidence":
            return run_evidence(args)
        if command == "token":
            return run_token(args)
        if command == "alerts":
            return run_alerts(args)
    except ConfigError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except HubError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    raise AssertionError(f"unhandled command {command}")


def _run_server(main: Coroutine[Any, Any, int]) -> int:
    """Run the headless hub on uvloop where it is installed: the HTTP API then handles
    about twice the requests per CPU second (bench/ingest.py measures both); the TUI
    commands keep the standard loop, which Textual is tested with. CITYWATCH_LOOP=asyncio
    forces the standard loop."""
    if os.environ.get("CITYWATCH_LOOP", "") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return int(uvloop.run(main))
    return asyncio.run(main)


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


def log_to_file(data_dir: Path) -> Path:
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


# Stream samplers run in this many worker processes (hub/stream_workers.py): their PyAV
# threads then contend for the workers' GIL, not the loop's. Measured with
# bench.stream_workers (2 cores, the Hasselt city's 258 streams in the same process):
# loop lag p95 2.6 s in-process, 0.15-0.37 s with 1 worker, 0.14-0.20 s with 2; cameras
# ok after 50 s 121 / 233-235 / 254 (one worker alone runs at 1.3 cores of threads).
STREAM_WORKERS = 2


async def open_hub(config: HubConfig, data_dir: Path, stream_health: bool,
                    plate_clock: Callable[[], datetime] | None = None) -> Hub:
    from hub.core import Hub

    return await Hub.open(
        list(config.sites), list(config.cameras), data_dir, vehicles=list(config.vehicles),
        stream_health=stream_health, health=config.health, alpr=config.alpr,
        stream_workers=STREAM_WORKERS, plate_clock=plate_clock, partners=config.partners,
    )


async def _run_tui(
    config: HubConfig,
    data_dir: Path,
    title: str,
    stream_health: bool,
    reads_from: Callable[[str, str], None] | None = None,
    plate_clock: Callable[[], datetime] | None = None,
) -> int:
    """Hub + TUI in this process. With `reads_from`, the hub's API also listens on a free
    loopback port with a one-off token, handed to `reads_from(base_url, token)` (the
    simulated city's ALPR units post there, as real units would). `plate_clock`: see
    Hub.open (the simulated city's clock in the demo)."""
    from hub.api import build_api
    from hub.api_server import ApiServer
    from hub.local_client import LocalHubClient
    from tui.app import CitywatchApp

    hub = await open_hub(config, data_dir, stream_health, plate_clock)
    server: ApiServer | None = None
    try:
        await hub.start()
        if reads_from is not None:
            token = secrets.token_urlsafe(24)
            server = ApiServer(build_api(hub, token), "127.0.0.1", 0)
            port = await server.start()
            reads_from(f"http://127.0.0.1:{port}", token)
        await CitywatchApp(LocalHubClient(hub), title=title).run_async()
    finally:
        if server is not None:
            await server.stop()
        await hub.stop()
    return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    from hub.endpoints_config import config_from_endpoints
    from simulator.cli import load_scenario_or_report, start_city_or_report
    from simulator.clock import MAX_SPEED
    from simulator.scenario import MIN_SPEED

    scenario = load_scenario_or_report(args.scenario)
    if scenario is None:
        return EXIT_INVALID_INPUT
    if args.speed is not None and not MIN_SPEED <= args.speed <= MAX_SPEED:
        print(f"citywatch: --speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    data_dir = _data_dir(args)
    log_to_file(data_dir)
    city = await start_city_or_report(scenario, args.speed)
    if city is None:
        return EXIT_FAILURE
    try:
        config = config_from_endpoints(city.endpoints(), "simulator")
        return await _run_tui(config, data_dir, f"citywatch — {scenario.name} (simulated)",
                              not args.no_stream_health, reads_from=city.alpr.deliver_to,
                              plate_clock=city.clock.now)
    finally:
        await city.stop()


async def _tui(args: argparse.Namespace) -> int:
    if args.connect:
        import ssl

        from hub.remote_tui import run_remote_tui

        token = args.token or os.environ.get(TOKEN_ENV, "")
        if not token:
            print(f"citywatch: tui --connect needs --token TOKEN (or ${TOKEN_ENV})",
                  file=sys.stderr)
            return EXIT_INVALID_INPUT
        context = None
        if args.ca_file is not None:
            try:
                context = ssl.create_default_context(cafile=str(args.ca_file))
            except (OSError, ssl.SSLError) as exc:
                print(f"citywatch: --ca-file {args.ca_file}: {exc}", file=sys.stderr)
                return EXIT_INVALID_INPUT
        log_to_file(_data_dir(args))  # never to the terminal the TUI owns
        return await run_remote_tui(args.connect, token, context)
    config = _load_source(args)
    data_dir = _data_dir(args, config)
    log_to_file(data_dir)
    return await _run_tui(config, data_dir, "citywatch", not args.no_stream_health)


async def _serve(args: argparse.Namespace) -> int:
    from hub.api import build_api
    from hub.api_server import ApiServer, parse_listen
    from hub.auth import TokenAuthority, TokenStore

    config = _load_source(args) if (args.config or args.endpoints) else HubConfig((), ())
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"citywatch: --listen: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    if args.mqtt:
        from hub.mqtt_publisher import parse_broker

        try:
            parse_broker(args.mqtt)
        except ValueError as exc:
            print(f"citywatch: --mqtt: {exc}", file=sys.stderr)
            return EXIT_INVALID_INPUT
    if (args.tls_cert is None) != (args.tls_key is None):
        print("citywatch: --tls-cert and --tls-key go together", file=sys.stderr)
        return EXIT_INVALID_INPUT
    data_dir = _data_dir(args, config)
    store = TokenStore(data_dir)
    bootstrap = args.token or os.environ.get(TOKEN_ENV, "") or None
    if bootstrap is None and not store.list():
        print(f"citywatch: serve needs --token TOKEN (or ${TOKEN_ENV}), or tokens made with "
              f"`citywatch token create --data-dir {data_dir}`", file=sys.stderr)
        return EXIT_INVALID_INPUT
    authority = TokenAuthority(store, bootstrap)
    ssl_context = None
    if args.tls_cert is not None:
        from hub.api_server import tls_context

        ssl_context = tls_context(args.tls_cert, args.tls_key)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("zeep").setLevel(logging.ERROR)
    hub = await open_hub(config, data_dir, not args.no_stream_health)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await hub.start()
    app = build_api(hub, authority)
    if args.mqtt:
        from hub.mqtt_publisher import install_mqtt

        install_mqtt(app, args.mqtt, args.mqtt_topic)
    server = ApiServer(app, host, port, ssl_context)
    scheme = "https" if ssl_context is not None else "http"
    try:
        bound = await server.start()
        print(
            f"citywatch: watching {len(config.cameras)} cameras, {len(config.vehicles)} vehicles;"
            f" API on {scheme}://{host}:{bound}/api/ ; Ctrl-C to stop",
            file=sys.stderr, flush=True,
        )
        await stop.wait()
    finally:
        await server.stop()
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
