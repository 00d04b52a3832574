"""A small RTSP client on asyncio for the RTP engine of drivers.stream (drivers.stream_rtp).

OPTIONS, DESCRIBE, SETUP (RTP/AVP/TCP interleaved), PLAY, GET_PARAMETER (or OPTIONS)
keep-alive, TEARDOWN; Digest (RFC 2617/7616 MD5, with or without qop=auth) preferred over
Basic. `RtspProtocol` cuts the ``$``-framed interleaved packets out of its receive buffer
and hands them on without copying; responses go to the request that waits for them.
(Why not aiortsp: see drivers.stream_rtp.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from drivers.errors import (
    StreamProtocolError,
)
from drivers.rtp_depacketize import Depacketizer
from drivers.stream_reader import (
    redact_url,
)

log = logging.getLogger(__name__)


USER_AGENT = "citywatch"
DEFAULT_PORT = 554
# A response head beyond this is not an RTSP server talking (real ones send < 2 KiB).
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024  # an SDP is a few hundred bytes; generous for odd servers
# RFC 2326 default session timeout, when the server's Session header does not say.
DEFAULT_SESSION_TIMEOUT_S = 60.0
KEEPALIVE_ANSWER_S = 10.0  # a keep-alive is not waited for longer (the watchdog sees stalls)
CLOSE_WAIT_S = 2.0  # closing a session waits this long for its task to end
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_SCHEME = re.compile(r"^\s*(\w+)\s+(.*)$", re.S)


class ArrivalSink(Protocol):
    """Who is told that RTP packets arrived (drivers.stream_rtp.RtpReader)."""

    def arrived(self, now: float, count: int) -> None: ...


class WireError(Exception):
    """The server sent something that is not RTSP."""


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case; the last one of a repeated header
    challenges: list[str] = field(default_factory=list)  # every WWW-Authenticate value
    body: bytes = b""


class RtspProtocol(asyncio.Protocol):
    """One RTSP connection: requests and responses; interleaved RTP to the depacketizer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.rtp_channel = -1  # set by SETUP; packets on other channels (RTCP) are skipped
        self.depacketizer: Depacketizer | None = None
        self.reader: ArrivalSink | None = None  # told when RTP packets arrive
        # Set when the connection ends: None (EOF), the OSError, or a WireError.
        self.closed: asyncio.Future[Exception | None] = (
            asyncio.get_running_loop().create_future())
        self._buf = bytearray()
        self._waiting: dict[int, asyncio.Future[Response]] = {}
        self.junk = 0  # bytes skipped that were neither RTSP nor interleaved data

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(exc)
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("the server closed the connection"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def fail(self, detail: str) -> None:
        """End the connection because of what the server sent."""
        if not self.closed.done():
            self.closed.set_result(WireError(detail))
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        n, pos, rtp = len(buf), 0, 0
        depack, channel = self.depacketizer, self.rtp_channel
        while pos < n:
            c = buf[pos]
            if c == 0x24:  # '$' channel, 16-bit length, packet
                if pos + 4 > n:
                    break
                end = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
                if end > n:
                    break
                if buf[pos + 1] == channel and depack is not None:
                    depack.feed(buf, pos + 4, end - pos - 4)
                    rtp += 1
                pos = end
            elif c in (0x0D, 0x0A):  # line ends between messages
                pos += 1
            elif buf.startswith(b"RTSP/", pos) or n - pos < 5:
                used = self._message(buf, pos)
                if used == 0:
                    break
                pos += used
            else:  # neither a response nor '$': skip to the next '$' (resynchronise)
                nxt = buf.find(b"$", pos + 1)
                skipped = (nxt if nxt >= 0 else n) - pos
                self.junk += skipped
                pos += skipped
        del buf[:pos]
        if rtp and self.reader is not None:
            self.reader.arrived(time.monotonic(), rtp)

    def _message(self, buf: bytearray, pos: int) -> int:
        """Bytes taken by the response at ``buf[pos:]`` (0: incomplete)."""
        head_end = buf.find(b"\r\n\r\n", pos)
        if head_end < 0:
            if len(buf) - pos > MAX_HEAD_BYTES:
                self.fail("RTSP response head too long")
            return 0
        lines = bytes(buf[pos:head_end]).decode("utf-8", "replace").split("\r\n")
        headers: dict[str, str] = {}
        challenges: list[str] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                key = name.strip().lower()
                headers[key] = value.strip()
                if key == "www-authenticate":
                    challenges.append(value.strip())
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.fail("RTSP response with a bad Content-Length")
            return 0
        total = head_end + 4 + length - pos
        if len(buf) - pos < total:
            return 0
        status_line = lines[0].split(" ", 2)
        try:
            status = int(status_line[1])
            cseq = int(headers.get("cseq", "-1"))
        except (IndexError, ValueError):
            self.fail(f"unreadable RTSP response {lines[0][:40]!r}")
            return 0
        body = bytes(buf[head_end + 4:head_end + 4 + length])
        waiter = self._waiting.pop(cseq, None)
        if waiter is not None and not waiter.done():
            reason = status_line[2] if len(status_line) > 2 else ""
            waiter.set_result(Response(status, reason, headers, challenges, body))
        return total

    def send(self, cseq: int, text: str) -> asyncio.Future[Response]:
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        if self.transport is None:
            waiter.set_exception(ConnectionResetError("the connection is closed"))
            return waiter
        self._waiting[cseq] = waiter
        self.transport.write(text.encode())
        return waiter


class RtspClient:
    """RTSP requests over one connection, with Basic / Digest authentication."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "rtsp" or not parts.hostname:
            raise StreamProtocolError(f"{redact_url(url)}: not an rtsp:// URL",
                                      url=redact_url(url))
        self.host, self.port = parts.hostname, parts.port or DEFAULT_PORT
        self.username = unquote(parts.username) if parts.username is not None else None
        self.password = unquote(parts.password) if parts.password is not None else None
        netloc = parts.netloc.rsplit("@", 1)[-1]
        self.url = urlunsplit(parts._replace(netloc=netloc))  # no credentials: on the wire
        self.protocol: RtspProtocol | None = None
        self.session: str | None = None
        self._cseq = itertools.count(1)
        self._challenge: dict[str, str] | None = None  # the chosen scheme's parameters
        self._nc = 0

    async def connect(self) -> RtspProtocol:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(RtspProtocol, self.host, self.port)
        self.protocol = protocol
        return protocol

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                      ) -> Response:
        """Send, answer a 401 once with credentials, return the final response."""
        assert self.protocol is not None
        response: Response | None = None
        for _ in range(2):
            lines = [f"{method} {url} RTSP/1.0"]
            cseq = next(self._cseq)
            lines += [f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}"]
            if self.session is not None:
                lines.append(f"Session: {self.session}")
            auth = self._authorization(method, url)
            if auth is not None:
                lines.append(f"Authorization: {auth}")
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            response = await self.protocol.send(cseq, "\r\n".join(lines) + "\r\n\r\n")
            if response.status != 401 or not self._choose_auth(response):
                return response
        assert response is not None
        return response

    def _choose_auth(self, response: Response) -> bool:
        """Take the server's challenge; False when retrying cannot help."""
        if self.username is None or (self._challenge is not None and not _stale(response)):
            return False
        offers: dict[str, dict[str, str]] = {}
        for value in response.challenges:
            match = _SCHEME.match(value)
            if match:
                params = {m[1].lower(): m[2] if m[2] is not None else m[3]
                          for m in _PARAM.finditer(match[2])}
                offers.setdefault(match[1].lower(), params)
        # Digest first: Basic sends the password in the clear.
        for scheme in ("digest", "basic"):
            if scheme in offers:
                self._challenge = {"scheme": scheme, **offers[scheme]}
                self._nc = 0
                return True
        return False

    def _authorization(self, method: str, uri: str) -> str | None:
        chal = self._challenge
        if chal is None or self.username is None:
            return None
        user, password = self.username, self.password or ""
        if chal["scheme"] == "basic":
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        algorithm = chal.get("algorithm", "MD5")
        name = algorithm.upper().removesuffix("-SESS")
        digest = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}.get(name, hashlib.md5)

        def h(text: str) -> str:
            return digest(text.encode()).hexdigest()

        realm, nonce = chal.get("realm", ""), chal.get("nonce", "")
        ha1 = h(f"{user}:{realm}:{password}")
        cnonce = secrets.token_hex(8)
        if algorithm.upper().endswith("-SESS"):
            ha1 = h(f"{ha1}:{nonce}:{cnonce}")
        ha2 = h(f"{method}:{uri}")
        fields = {"username": user, "realm": realm, "nonce": nonce, "uri": uri}
        qops = [q.strip() for q in chal.get("qop", "").split(",")]
        if "auth" in qops:
            self._nc += 1
            nc = f"{self._nc:08x}"
            fields["response"] = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            extra = f", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
        else:
            fields["response"] = h(f"{ha1}:{nonce}:{ha2}")
            extra = ""
        if "algorithm" in chal:
            extra += f", algorithm={algorithm}"
        if "opaque" in chal:
            fields["opaque"] = chal["opaque"]
        quoted = ", ".join(f'{k}="{_escape(v)}"' for k, v in fields.items())
        return f"Digest {quoted}{extra}"

    def teardown(self, url: str) -> None:
        """Send TEARDOWN without waiting for the answer (the connection closes next)."""
        protocol = self.protocol
        if protocol is None or protocol.transport is None or self.session is None:
            return
        cseq = next(self._cseq)
        lines = [f"TEARDOWN {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}",
                 f"Session: {self.session}"]
        auth = self._authorization("TEARDOWN", url)
        if auth is not None:
            lines.append(f"Authorization: {auth}")
        protocol.send(cseq, "\r\n".join(lines) + "\r\n\r\n").cancel()


def _stale(response: Response) -> bool:
    return any("stale=true" in c.lower().replace(" ", "") for c in response.challenges)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
