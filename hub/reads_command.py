"""`citywatch reads search PATTERN`: partial plate search over the stored reads.

Reads the data directory's store directly (SQLite in WAL mode lets this run beside a
serving hub); `--json` prints one read per line for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.alpr_model import Read
from hub.api_json import read_json
from hub.errors import ConfigError, HubError, SearchPatternError
from hub.read_store import ReadStore
from hub.store import DB_FILENAME, Store

_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since_arg(text: str) -> datetime:
    """argparse type: ISO 8601 time (naive = UTC) or a duration back from now ("2h", "7d")."""
    match = _RELATIVE.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time or duration: {text!r} (e.g. 2026-11-26T08:00Z, 2h, 7d)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_reads_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     default_data_dir: Path) -> None:
    reads = sub.add_parser("reads", help="search the stored licence-plate reads")
    reads_sub = reads.add_subparsers(dest="reads_command", metavar="ACTION", required=True)
    search = reads_sub.add_parser(
        "search", help="partial plate search: 1AB*, *23?, or a fragment like ABC2"
    )
    search.add_argument("pattern", metavar="PATTERN",
                        help="* any characters, ? one character; otherwise a fragment anywhere")
    search.add_argument("--since", type=since_arg, default=None, metavar="WHEN",
                        help="only reads at or after WHEN (ISO time or 30m, 2h, 7d back)")
    search.add_argument("--camera", default=None, metavar="ID", help="only this camera's reads")
    search.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    search.add_argument("--json", action="store_true", help="one JSON object per read")
    search.add_argument("--data-dir", type=Path, default=default_data_dir, metavar="DIR",
                        help=f"the hub's data directory (default: {default_data_dir})")


def run_reads(args: argparse.Namespace) -> int:
    """Exit 0 with results (or none), 2 on a pattern the index cannot serve, 1 on errors."""
    try:
        reads = asyncio.run(_search(args))
    except (SearchPatternError, ConfigError) as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return 1
    for read in reads:
        if args.json:
            print(json.dumps(read_json(read)))
        else:
            conf = f"{read.confidence:.2f}" if read.confidence is not None else "  - "
            print(f"{read.at:%Y-%m-%d %H:%M:%S}  {read.plate:<12} {conf}  {read.camera_id:<16}"
                  f" {read.country or '':<3} {read.geotag or ''}")
    print(f"{len(reads)} read(s)", file=sys.stderr)
    return 0


async def _search(args: argparse.Namespace) -> list[Read]:
    data_dir: Path = args.data_dir
    if not (data_dir / DB_FILENAME).exists():
        raise ConfigError(f"{data_dir}: no citywatch store here (give --data-dir)")
    store = await Store.open(data_dir)
    try:
        reads = ReadStore(store)
        return await reads.search(args.pattern, args.since, args.camera, args.limit)
    finally:
        await store.close()
