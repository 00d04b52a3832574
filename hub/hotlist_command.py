"""`citywatch hotlist import|list|test`: manage the data directory's hotlists, and try a
hotlist file against a file of reads.

Exit codes: 0 ok, 1 failure (cannot read or store), 2 invalid input (not a hotlist,
bad reads file, bad name or priority). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from hub.alpr_model import Hit
from hub.errors import HotlistError
from hub.hotlist_library import HotlistLibrary
from hub.hotlists import parse_file
from hub.matcher import Matcher
from hub.plates import normalize

EXIT_OK, EXIT_FAILURE, EXIT_INVALID_INPUT = 0, 1, 2
DEFAULT_DATA_DIR = Path(".citywatch")  # as hub/cli.py's DEFAULT_DATA_DIR


class _InvalidInput(Exception):
    """The user's input cannot be used (exit 2)."""


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"priority must be 0-100, got {value}")
    return value


def add_hotlist_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `hotlist` and its subcommands to a `citywatch` subparsers object."""
    hotlist = subparsers.add_parser("hotlist", help="import, list and test hotlists")
    sub = hotlist.add_subparsers(dest="hotlist_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="validate a hotlist file and add it to the data dir")
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--name", required=True, help="list name (replaces a list of that name)")
    imp.add_argument("--covert", action="store_true",
                     help="hits are not sent to patrol units")
    imp.add_argument("--priority", type=_priority, default=None, metavar="N",
                     help="priority 0-100 of entries without their own (default 50)")
    lst = sub.add_parser("list", help="the imported hotlists")
    lst.add_argument("--json", action="store_true", help="one JSON object per list")
    for p in (imp, lst):
        p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                       help=f"data directory (default: {DEFAULT_DATA_DIR})")
    test = sub.add_parser("test", help="match a file of reads against a hotlist file")
    test.add_argument("hotlist", type=Path, metavar="HOTLIST")
    test.add_argument("reads", type=Path, metavar="READS",
                      help="one plate per line, or JSON lines with plate/time/country")
    test.add_argument("--json", action="store_true", help="one JSON object per read")
    return hotlist  # type: ignore[no-any-return]


def run_hotlist(args: argparse.Namespace, out: TextIO | None = None,
                err: TextIO | None = None,
                default_data_dir: Path = DEFAULT_DATA_DIR) -> int:
    """Run a parsed `citywatch hotlist ...` command."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.hotlist_command == "import":
            return _import(args, out, args.data_dir or default_data_dir)
        if args.hotlist_command == "list":
            return _list(args, out, args.data_dir or default_data_dir)
        if args.hotlist_command == "test":
            return _test(args, out)
    except _InvalidInput as exc:
        print(f"citywatch hotlist: {exc}", file=err)
        return EXIT_INVALID_INPUT
    except HotlistError as exc:
        print(f"citywatch hotlist: {exc}", file=err)
        # An OS error underneath (unreadable file, full disk) is a failure; the rest is
        # the input itself (not a hotlist, bad name).
        return EXIT_FAILURE if isinstance(exc.__cause__, OSError) else EXIT_INVALID_INPUT
    raise AssertionError(f"unhandled hotlist command {args.hotlist_command}")


def _import(args: argparse.Namespace, out: TextIO, data_dir: Path) -> int:
    meta = HotlistLibrary(data_dir).import_file(args.file, args.name, covert=args.covert,
                                                priority=args.priority)
    print(f"imported {meta.name}: {meta.entries} entries, {meta.rejected} lines rejected",
          file=out)
    return EXIT_OK


def _list(args: argparse.Namespace, out: TextIO, data_dir: Path) -> int:
    metas = HotlistLibrary(data_dir).lists()
    if args.json:
        for meta in metas:
            print(json.dumps(json.loads(meta.to_json())), file=out)
        return EXIT_OK
    if not metas:
        print("no hotlists", file=out)
        return EXIT_OK
    print(f"{'NAME':<20} {'ENTRIES':>9} {'REJECTED':>8} {'PRIO':>4} {'COVERT':<6} IMPORTED",
          file=out)
    for m in metas:
        prio = "-" if m.priority is None else str(m.priority)
        print(f"{m.name:<20} {m.entries:>9} {m.rejected:>8} {prio:>4} "
              f"{'yes' if m.covert else 'no':<6} {m.imported_at:%Y-%m-%d %H:%M}", file=out)
    return EXIT_OK


def _reads(path: Path) -> list[tuple[str, datetime | None, str | None]]:
    """(plate as given, time, country) per read of a plain or JSON-lines reads file."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise HotlistError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise _InvalidInput(f"{path}: not a text file") from exc
    reads: list[tuple[str, datetime | None, str | None]] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not text.startswith("{"):
            reads.append((text, None, None))
            continue
        try:
            obj = json.loads(text)
            plate = obj["plate"]
            when = obj.get("time")
            at = datetime.fromisoformat(when) if when else None
            country = obj.get("country")
            if not isinstance(plate, str) or (country is not None
                                              and not isinstance(country, str)):
                raise TypeError("plate and country must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise _InvalidInput(f"{path}: line {number}: bad read ({exc})") from exc
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        reads.append((plate, at, country.strip().upper() or None if country else None))
    return reads


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {"plate": hit.entry.plate, "list": hit.entry.list, "category": hit.entry.category,
            "match": hit.match.value, "priority": hit.entry.priority}


def _test(args: argparse.Namespace, out: TextIO) -> int:
    matcher = Matcher([parse_file(args.hotlist, name=args.hotlist.stem)])
    now = datetime.now(UTC)
    rows = []
    for plate, at, country in _reads(args.reads):
        hits = matcher.match(normalize(plate), at or now, country)
        rows.append((plate, hits))
        if args.json:
            print(json.dumps({"read": plate, "hits": [_hit_json(h) for h in hits]}), file=out)
    if not args.json:
        print(f"{'READ':<14} {'HIT':<12} {'LIST':<14} {'MATCH':<10} {'PRIO':>4} CATEGORY",
              file=out)
        for plate, hits in rows:
            if not hits:
                print(f"{plate:<14} -", file=out)
            for i, h in enumerate(hits):
                print(f"{plate if i == 0 else '':<14} {h.entry.plate:<12} {h.entry.list:<14} "
                      f"{h.match.value:<10} {h.entry.priority:>4} {h.entry.category}", file=out)
        print(f"{sum(1 for _, h in rows if h)} of {len(rows)} reads hit", file=out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`python -m hub.hotlist_command ...` (the same as `citywatch hotlist ...`)."""
    parser = argparse.ArgumentParser(prog="citywatch")
    add_hotlist_parser(parser.add_subparsers(dest="command", required=True))
    return run_hotlist(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
