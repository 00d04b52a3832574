"""One RTSP client connection of the city's server: framing in, responses and RTP out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from simulator.rtsp_protocol import Interleaved, Malformed, Request, format_response, take_message

if TYPE_CHECKING:
    from simulator.rtsp_session import Session

log = logging.getLogger(__name__)

# SO_LINGER on with a zero timeout: close() sends RST instead of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


class Handler(Protocol):
    """What a connection needs from its server."""

    def connection_opened(self, conn: Connection) -> bool:
        """Register `conn`; False if the server is closing (the connection is closed)."""
        ...

    def connection_closed(self, conn: Connection) -> None: ...

    def handle(self, conn: Connection, req: Request) -> None: ...


class Connection(asyncio.Protocol):
    """One RTSP client connection (RTP goes back over it, interleaved).

    Requests are handled in order: while one is held (waiting for its stream's video),
    later ones wait in the buffer.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.session: Session | None = None
        self.closed = False
        self.held: asyncio.Task[None] | None = None  # a request waiting for its video
        self.replaying = False  # handling a held request a second (last) time

    # asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.handler.connection_opened(self):
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.held is not None:
            self.held.cancel()
            self.held = None
        self.handler.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.buf += data
        self.pump()

    # helpers ---------------------------------------------------------------------------
    def pump(self) -> None:
        """Handle every complete request in the buffer (unless one is held)."""
        try:
            self._parse()
        except Exception:  # never let a bad request take the server down
            log.exception("RTSP request handling failed")
            self.respond(500, None)
            self.close()

    def hold(self, waiter: Coroutine[Any, Any, None]) -> None:
        """Run `waiter` (which answers the current request) before reading further."""
        self.held = asyncio.get_running_loop().create_task(waiter)

    def resume(self) -> None:
        """The held request has been answered: go on with the buffered ones."""
        self.held = None
        if not self.closed:
            self.pump()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Close at once, dropping unsent data."""
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    def reset(self) -> None:
        """Close with a TCP reset (RST), as a host does for a port whose service died."""
        if self.transport is not None and not self.closed:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.abort()

    def write(self, data: bytes | bytearray) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def respond(self, code: int, cseq: str | None, headers: list[tuple[str, str]] | None = None,
                body: bytes = b"") -> None:
        self.write(format_response(code, cseq, headers, body))

    def _parse(self) -> None:
        while not self.closed and self.held is None:
            message = take_message(self.buf)
            if message is None:
                return
            if isinstance(message, Interleaved):  # RTCP receiver reports: a sign of life
                if self.session is not None:
                    self.session.last_activity = time.monotonic()
            elif isinstance(message, Malformed):
                log.debug("malformed RTSP request (%d)", message.code)
                self.respond(message.code, message.cseq)
                if message.fatal:
                    self.close()
            else:
                self.handler.handle(self, message)
