"""`citywatch wanted add|list|remove`: an operator's wanted plates on a running hub.

A wanted plate must reach the hub that matches the reads, so this talks to its HTTP API
(`citywatch serve --listen`) with the hub's token; see docs/api.md.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from typing import Any

import aiohttp

from hub.api_server import DEFAULT_LISTEN, TOKEN_ENV

# The hub answers a wanted-plate request after its search-back (≤ 30 days of reads):
# well under a second normally; 15 s covers a busy hub without hanging a script.
REQUEST_TIMEOUT_S = 15.0
DEFAULT_HUB = f"http://{DEFAULT_LISTEN}"


class WantedCommandError(Exception):
    """The hub could not be reached or refused the request; the message says why."""


def add_wanted_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wanted = sub.add_parser("wanted", help="add, list or end wanted plates on a running hub")
    actions = wanted.add_subparsers(dest="wanted_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="want a plate: hit on its next read, and show where "
                                         "it was already seen")
    add.add_argument("plate", metavar="PLATE", help="plate; * for one unknown character")
    add.add_argument("--reason", required=True, help="why (shown with every hit)")
    add.add_argument("--days", type=int, default=7, help="expiry in days, 1-100 (default 7)")
    listing = actions.add_parser("list", help="wanted plates that have not expired")
    remove = actions.add_parser("remove", help="end a wanted plate now")
    remove.add_argument("id", type=int, metavar="ID")
    for parser in (add, listing, remove):
        parser.add_argument("--connect", default=DEFAULT_HUB, metavar="URL",
                            help=f"the hub's API (default: {DEFAULT_HUB})")
        parser.add_argument("--token", default=None,
                            help=f"the hub's bearer token (default: ${TOKEN_ENV})")
        parser.add_argument("--json", action="store_true", help="the hub's answer as JSON")


def run_wanted(args: argparse.Namespace) -> int:
    """Exit 0 done, 1 hub unreachable or failing, 2 refused input (bad plate, days)."""
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"citywatch: give --token or ${TOKEN_ENV}", file=sys.stderr)
        return 2
    try:
        status, answer = asyncio.run(_call(args, token))
    except WantedCommandError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return 1
    if status >= 400:
        print(f"citywatch: {answer.get('error', f'HTTP {status}')}", file=sys.stderr)
        return 2 if status in (400, 404) else 1
    if args.json:
        print(json.dumps(answer))
        return 0
    if args.wanted_command == "add":
        wanted, seen = answer["wanted"], answer["seen"]
        print(f"{wanted['plate']} wanted (id {wanted['id']}) until {wanted['expires_at']}; "
              f"seen {len(seen)} time(s) in the last 30 days")
        for read in seen:
            print(f"  {read['time']}  {read['plate']:<12} {read['camera']}")
    elif args.wanted_command == "list":
        for w in answer["wanted"]:
            print(f"{w['id']:>5}  {w['plate']:<12} until {w['expires_at']}  {w['reason']}"
                  f"  ({w['created_by']})")
    else:
        print(f"wanted plate {answer['removed']} ended")
    return 0


async def _call(args: argparse.Namespace, token: str) -> tuple[int, dict[str, Any]]:
    base = args.connect.rstrip("/")
    actor = getpass.getuser()
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
            if args.wanted_command == "add":
                body = {"plate": args.plate, "reason": args.reason, "days": args.days,
                        "actor": actor}
                request = http.post(f"{base}/api/wanted", json=body)
            elif args.wanted_command == "list":
                request = http.get(f"{base}/api/wanted")
            else:
                request = http.delete(f"{base}/api/wanted/{args.id}", params={"actor": actor})
            async with request as response:
                try:
                    answer = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError) as exc:
                    raise WantedCommandError(
                        f"{base}: not a citywatch hub (answer is not JSON)"
                    ) from exc
                return response.status, answer if isinstance(answer, dict) else {}
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise WantedCommandError(f"cannot reach the hub at {base}: {exc or 'timed out'}") from exc
