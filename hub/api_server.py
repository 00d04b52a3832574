"""Runs the API application on a TCP listener (`citywatch serve --listen`, the demo)."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

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
    """The API listener could not be opened (bad address, port in use, unusable TLS files)."""


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) from a PEM certificate chain and its
    private key; ListenError naming the file when either cannot be used."""
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise ListenError(f"TLS {what} {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # TLS 1.0/1.1 are deprecated (RFC 8996); every client we serve speaks 1.2 or 1.3.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase(key))
    except ssl.SSLError as exc:
        raise ListenError(
            f"TLS certificate {cert} / key {key}: not a matching PEM certificate and "
            f"private key ({exc.reason or exc})"
        ) from exc
    except OSError as exc:
        raise ListenError(f"TLS certificate {cert} / key {key}: {exc.strerror or exc}") from exc
    return context


def _no_passphrase(key: Path) -> Callable[[], str]:
    """OpenSSL's password callback for an encrypted key: a server must not stop at start
    to prompt on a terminal it may not have, so an encrypted key is refused instead."""

    def refuse() -> str:
        raise ListenError(f"TLS key {key} is encrypted: give an unencrypted key file "
                          "(readable by the hub only)")

    return refuse


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
