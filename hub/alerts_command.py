"""`citywatch alerts [--follow] [--json] [--all]`: a running hub's alerts as lines (or
JSON lines) for operators, scripts and pagers.

Prints the current alerts (GET /api/alerts), then with --follow every alert change from
the hub's event stream (/api/events?types=alert) until Ctrl-C. The stream reconnects by
itself after a hub restart; when the hub could not resume it, the alerts are read again
and only the ones that changed meanwhile are printed, so nothing is missed or repeated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.api_json import alert_from_json
from hub.api_server import DEFAULT_LISTEN, TOKEN_ENV
from hub.api_session import ApiSession
from hub.errors import ApiShapeError, HubError
from hub.event_stream_client import RESET, ConnectionListener, EventStreamClient

DEFAULT_HUB = f"http://{DEFAULT_LISTEN}"
ALERTS_PATH = "/api/alerts"
# Alerts asked for at once: a control room's open queue is tens; --all is for history
# and 1,000 of it is a screenful of pages.
ALERTS_LIMIT = 1000


def add_alerts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = sub.add_parser("alerts", help="a running hub's alerts as lines or JSON lines; "
                                           "--follow for every change")
    alerts.add_argument("--follow", "-f", action="store_true",
                        help="then print every alert change until Ctrl-C (survives a hub "
                             "restart)")
    alerts.add_argument("--json", action="store_true",
                        help="one JSON object per alert (the API's alert shape)")
    alerts.add_argument("--all", action="store_true",
                        help="closed, accepted and rejected alerts too (default: open ones)")
    alerts.add_argument("--connect", default=DEFAULT_HUB, metavar="URL",
                        help=f"the hub's API (default: {DEFAULT_HUB})")
    alerts.add_argument("--token", default=None,
                        help=f"the hub's bearer token (default: ${TOKEN_ENV})")


def run_alerts(args: argparse.Namespace) -> int:
    """Exit 0 done (or Ctrl-C while following), 1 hub unreachable or refusing, 2 usage."""
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"citywatch: give --token or ${TOKEN_ENV}", file=sys.stderr)
        return 2
    printer = AlertPrinter(as_json=args.json)
    try:
        asyncio.run(_alerts(args.connect, token, printer, follow=args.follow,
                            include_closed=args.all))
    except KeyboardInterrupt:
        return 0
    except HubError as exc:  # unreachable, token refused, an answer of another shape
        print(f"citywatch: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader (head, a pager) has gone: not an error, and no traceback at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


async def _alerts(url: str, token: str, printer: AlertPrinter, *, follow: bool,
                  include_closed: bool) -> None:
    params = {"limit": ALERTS_LIMIT, **({"all": 1} if include_closed else {})}
    async with ApiSession(url, token) as session:
        answer = await session.get_json(ALERTS_PATH, params)
        printer.current(_alert_list(answer))
        if not follow:
            return
        stream = EventStreamClient(session, types=["alert"],
                                   on_connection=_connection_note(url))
        async for event in stream:
            if event.type == RESET:
                # A new stream, or the hub could not resume ours: what changed meanwhile.
                answer = await session.get_json(ALERTS_PATH, params)
                printer.current(_alert_list(answer))
            elif event.type == "alert":
                printer.change(event.data)


def _alert_list(answer: Any) -> list[Mapping[str, Any]]:
    alerts = answer.get("alerts") if isinstance(answer, dict) else None
    if not isinstance(alerts, list):
        raise ApiShapeError('GET /api/alerts: no "alerts" list in the answer')
    return [a for a in alerts if isinstance(a, dict)]


def _connection_note(url: str) -> ConnectionListener:
    """One stderr line when the stream drops and when it is back (stdout stays data);
    the first connection is not news."""
    connected_once = False

    def on_connection(connected: bool, error: str | None) -> None:
        nonlocal connected_once
        if not connected:
            print(f"citywatch: {error or 'connection lost'}; reconnecting", file=sys.stderr,
                  flush=True)
        elif connected_once:
            print(f"citywatch: following {url} again", file=sys.stderr, flush=True)
        connected_once = connected_once or connected

    return on_connection


class AlertPrinter:
    """Prints alerts, each version once: an alert is printed again only when it changed
    (state, duplicates or anything else the hub stamps with updated_at)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._printed: dict[Any, tuple[Any, ...]] = {}

    def current(self, alerts: list[Mapping[str, Any]]) -> None:
        """The hub's current alerts, oldest change first (reading order of a log)."""
        for alert in sorted(alerts, key=lambda a: str(a.get("updated_at") or "")):
            self.change(alert)

    def change(self, alert: Mapping[str, Any]) -> None:
        version = (alert.get("state"), alert.get("updated_at"), alert.get("duplicates"))
        if self._printed.get(alert.get("id")) == version:
            return
        self._printed[alert.get("id")] = version
        print(json.dumps(alert, ensure_ascii=False) if self.as_json else alert_line(alert),
              flush=True)


def alert_line(data: Mapping[str, Any]) -> str:
    """One readable line: time, id, state, priority, plate, camera, list, how it matched."""
    try:
        alert = alert_from_json(data)
    except ApiShapeError as exc:
        return f"?  alert {data.get('id')!r}: unreadable ({exc})"
    entry = alert.hit.entry
    when = _local(alert.updated_at)
    line = (f"{when}  #{alert.id:<5} {alert.state.value:<12} p{alert.priority:<3} "
            f"{alert.read.plate:<12} {alert.read.camera_id:<16} "
            f"{entry.list}/{entry.category} ({alert.hit.match.value})")
    if alert.duplicates:
        line += f" x{alert.duplicates + 1}"
    if alert.reason is not None:
        line += f" reason: {alert.reason.value}"
        if alert.reason_text:
            line += f" ({alert.reason_text})"
    if alert.actor:
        line += f" by {alert.actor}"
    return line


def _local(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
