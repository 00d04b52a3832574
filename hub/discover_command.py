"""`citywatch discover [--timeout S] [--json] [--target HOST:PORT] [--interface IF]`.

Sends one WS-Discovery Probe for ONVIF cameras (drivers/discovery.py) and lists every
device that answered: a table, or with --json one JSON object per line. A summary (how
many answered, how many datagrams were ignored) goes to stderr.
Exit 0 when at least one device answered, 1 when none did or the Probe could not be sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any, TextIO

from drivers.discovery import (
    DEFAULT_TIMEOUT_S,
    DiscoveredDevice,
    DiscoveryResult,
    discover,
)
from drivers.errors import OnvifError

EXIT_OK = 0
EXIT_NOTHING = 1
# A Probe is answered within APP_MAX_DELAY (0.5 s); a minute is already generous for
# slow links, and longer looks like a typo that would leave the command hanging.
MAX_TIMEOUT_S = 60.0
PROG = "citywatch discover"


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_TIMEOUT_S:g} s")
    return value


def parse_target(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port_text)


def add_discover_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `discover` subcommand."""
    parser = sub.add_parser(
        "discover", help="find ONVIF cameras on the local network (WS-Discovery Probe)"
    )
    parser.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"seconds to collect answers (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per device and line")
    parser.add_argument("--target", type=parse_target, default=None, metavar="HOST:PORT",
                        help="probe this host by unicast instead of the multicast group "
                             "(e.g. a simulator's discovery port)")
    parser.add_argument("--interface", default=None, metavar="IF",
                        help="IPv4 address or interface name to probe from")


def device_json(device: DiscoveredDevice) -> dict[str, Any]:
    """A device as a JSON object."""
    return {
        "address": device.address,
        "name": device.name,
        "hardware": device.hardware,
        "location": device.location,
        "xaddrs": list(device.xaddrs),
        "scopes": list(device.scopes),
        "types": list(device.types),
        "source": device.source,
        "metadata_version": device.metadata_version,
    }


def format_table(devices: tuple[DiscoveredDevice, ...]) -> list[str]:
    """Aligned rows, device service URL first (what a technician copies next)."""
    header = ("XADDR", "NAME", "HARDWARE", "LOCATION", "ADDRESS")
    rows = [header] + [
        (" ".join(d.xaddrs) or "-", d.name or "-", d.hardware or "-", d.location or "-",
         d.address)
        for d in sorted(devices, key=lambda d: (d.name or "", d.address))
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        + "  " + row[-1]
        for row in rows
    ]


def summary(result: DiscoveryResult, timeout_s: float) -> str:
    n = len(result.devices)
    text = f"{n} device{'' if n == 1 else 's'} answered within {timeout_s:g} s"
    ignored = [(result.malformed, "malformed"), (result.foreign, "foreign"),
               (result.late, "late"), (result.duplicates, "duplicate")]
    parts = [f"{count} {what}" for count, what in ignored if count]
    if parts:
        text += " (ignored: " + ", ".join(parts) + ")"
    return text


async def discover_main(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The body of `citywatch discover`, on a running event loop."""
    try:
        result = await discover(args.timeout, target=args.target, interface=args.interface)
    except OnvifError as exc:
        print(f"{PROG}: {exc.message}", file=err)
        return EXIT_NOTHING
    if args.json:
        for device in result.devices:
            print(json.dumps(device_json(device), ensure_ascii=False), file=out)
    elif result.devices:
        for line in format_table(result.devices):
            print(line, file=out)
    print(summary(result, args.timeout), file=err)
    return EXIT_OK if result.devices else EXIT_NOTHING


def run_discover(args: argparse.Namespace) -> int:
    """`citywatch discover`: exit 0 when something answered, 1 when nothing did."""
    try:
        return asyncio.run(discover_main(args, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        return EXIT_NOTHING
    except BrokenPipeError:
        # Output closed (piped into head): not an error of ours.
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return EXIT_OK
