"""`citywatch tui --connect URL --token T`: the TUI on a hub elsewhere, through its public
API and event stream only (hub.remote_client)."""

from __future__ import annotations

import logging
import ssl
import sys
from urllib.parse import urlsplit

from hub.errors import ApiAuthError, ApiForbidden, HubError
from hub.remote_client import RemoteHubClient

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1  # the hub could not be reached, or stopped talking to us for good
EXIT_REFUSED = 2  # the token or its role was refused: retrying will not help


def remote_title(url: str) -> str:
    """"citywatch @ host:port": which hub this window shows (the token never)."""
    parts = urlsplit(url)
    return f"citywatch @ {parts.netloc.rpartition('@')[2] or url}"


async def run_remote_tui(url: str, token: str,
                         ssl_context: ssl.SSLContext | None = None) -> int:
    """Connect, run the TUI until the operator quits, disconnect. A failed first
    connection is one line on stderr and a nonzero exit code."""
    from tui.app import CitywatchApp  # Textual: only once the hub answered

    client = RemoteHubClient(url, token, ssl_context)
    try:
        await client.connect()
    except (ApiAuthError, ApiForbidden) as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except HubError as exc:  # unreachable, or answers that are not a citywatch hub's
        print(f"citywatch: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        await CitywatchApp(client, title=remote_title(client.url)).run_async()
    finally:
        await client.close()
    return EXIT_OK
