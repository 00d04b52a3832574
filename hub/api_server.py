"""Runs the API application on a TCP listener (`citywatch serve --listen`, the demo)."""

from __future__ import annotations

import logging
import socket
import ssl

from aiohttp import web

from hub.errors import HubError

log = logging.getLogger(__name__)

# The API listens on loopback unless told otherwise: exposing it is a decision.
DEFAULT_LISTEN = "127.0.0.1:8787"
# Where commands look for the hub's bearer token when not given one (keeps it out of `ps`).
TOKEN_ENV = "CITYWATCH_TOKEN"

# In-flight requests get this long to finish at shutdown: a read being committed is
# either acknowledged or not, never cut off half-way by our side.
SHUTDOWN_GRACE_S = 5.0


class ListenError(HubError):
    """The API listener could not be opened (bad address, port in use)."""


def parse_listen(text: str) -> tuple[str, int]:
    """"HOST:PORT" (or "[v6]:PORT") -> (host, port); raises ValueError with a reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"not a port number: {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0-65535, got {port}")
    return host.strip("[]"), port


class ApiServer:
    """One aiohttp site; `await start()` returns the port it bound (useful with port 0)."""

    def __init__(self, app: web.Application, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        self._host, self._port = host, port
        self._ssl = ssl_context
        self.port: int | None = None

    async def start(self) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ListenError(
                f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from exc
        server = site._server  # aiohttp keeps the asyncio server here; the port is on it
        sockets = getattr(server, "sockets", None) or []
        ports = [s.getsockname()[1] for s in sockets if s.family in (socket.AF_INET,
                                                                       socket.AF_INET6)]
        self.port = ports[0] if ports else self._port
        log.info("api: listening on %s:%s", self._host, self.port)
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()
