"""The simulated city's RTSP server: one port, a path per camera stream.

RTSP/1.0 over asyncio (DESIGN.md "RTSP / RTP / H.264"): OPTIONS, DESCRIBE (SDP with
sprop-parameter-sets), SETUP (RTP/AVP/TCP interleaved only; UDP gets 461), PLAY, PAUSE,
GET_PARAMETER / SET_PARAMETER keep-alives, TEARDOWN; Digest (RFC 2617, MD5) and Basic
authentication per stream. Video is pre-encoded (simulator.video) and packetised once
(simulator.rtp); a playing session is one task that stamps sequence numbers, timestamps
and SSRC into a copy of each frame's packets and writes the frame, paced by the virtual
clock. A client that cannot keep up loses frames up to the next keyframe (counted), the
server never buffers without bound. Faults: simulator.stream_faults.StreamFault.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtp import DEFAULT_MTU, RTP_CLOCK, RtpLoop, interleave, sender_report, stamp
from simulator.stream_faults import StreamFault, variant_for
from simulator.video import LOOKS, Variant, VideoKey, VideoLibrary

__all__ = ["RtspServer", "StreamFault"]

log = logging.getLogger(__name__)

PUBLIC_METHODS = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"
SERVER_NAME = "citywatch-sim RTSP/1.0"
REALM = "citywatch"
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
SESSION_TIMEOUT_S = 60
RTCP_INTERVAL_S = 5.0  # scenario seconds between sender reports
# A session whose unsent data exceeds this drops frames until the next keyframe.
WRITE_BUFFER_LIMIT = 2 * 1024 * 1024
MAX_FRAMES_WITHOUT_YIELD = 32
TRACK = "trackID=0"

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 454: "Session Not Found", 455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed", 461: "Unsupported Transport",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}

_REQUEST_LINE = re.compile(r"^([A-Z_]{1,32}) (\S{1,2048}) (RTSP/\d\.\d)$")
_AUTH_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass
class _Request:
    method: str
    url: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def cseq(self) -> str | None:
        return self.headers.get("cseq")


@dataclass
class _Stream:
    path: str
    camera_id: str
    profile: StreamProfile
    username: str
    password: str
    key: VideoKey
    faults: frozenset[StreamFault] = frozenset()


@dataclass(eq=False)
class _Session:
    id: str
    conn: _Connection
    stream: _Stream
    channel: int
    ssrc: int
    seq: int
    ts_base: int
    last_activity: float = field(default_factory=time.monotonic)
    playing: bool = False
    task: asyncio.Task[None] | None = None
    packets: int = 0
    octets: int = 0
    # Where PLAY would start (set at PLAY): for RTP-Info.
    next_seq: int = 0
    next_rtptime: int = 0


class _Answered(Exception):
    """The request has been answered (with an error); stop handling it."""


class _Connection(asyncio.Protocol):
    """One RTSP client connection (RTP goes back over it, interleaved)."""

    def __init__(self, server: RtspServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.session: _Session | None = None
        self.closed = False

    # asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._connections.add(self)
        self.server._stats["connections_total"] += 1
        if self.server._closing:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._connections.discard(self)
        if self.session is not None:
            self.server._end_session(self.session)
            self.session = None

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.buf += data
        try:
            self._parse()
        except Exception:  # never let a bad request take the server down
            log.exception("RTSP request handling failed")
            self.respond(500, None)
            self.close()

    # helpers ---------------------------------------------------------------------------
    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    def write(self, data: bytes | bytearray) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def respond(self, code: int, cseq: str | None, headers: list[tuple[str, str]] | None = None,
                body: bytes = b"") -> None:
        lines = [f"RTSP/1.0 {code} {REASONS.get(code, 'Error')}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines += [f"Server: {SERVER_NAME}", f"Date: {formatdate(usegmt=True)}"]
        lines += [f"{k}: {v}" for k, v in headers or ()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _parse(self) -> None:
        buf = self.buf
        while buf and not self.closed:
            if buf[0] == 0x24:  # '$': interleaved data from the client (RTCP receiver reports)
                if len(buf) < 4:
                    return
                size = int.from_bytes(buf[2:4], "big")
                if len(buf) < 4 + size:
                    return
                del buf[:4 + size]
                if self.session is not None:
                    self.session.last_activity = time.monotonic()
                continue
            if buf[0] in (0x0D, 0x0A):  # stray line ends between requests
                del buf[:1]
                continue
            end, sep = buf.find(b"\r\n\r\n"), 4
            if end < 0:
                end, sep = buf.find(b"\n\n"), 2
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    self.respond(400, None)
                    self.close()
                return
            head = bytes(buf[:end]).decode("utf-8", "replace")
            lines = head.replace("\r\n", "\n").split("\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, colon, value = line.partition(":")
                if colon and name.strip():
                    headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                del buf[:end + sep]
                self.respond(400, headers.get("cseq"))
                self.close()
                return
            if len(buf) < end + sep + length:
                return
            body = bytes(buf[end + sep:end + sep + length])
            del buf[:end + sep + length]
            match = _REQUEST_LINE.match(lines[0].strip())
            if match is None:
                log.debug("bad RTSP request line")
                self.respond(400, headers.get("cseq"))
                continue
            self.server._handle(self, _Request(match[1], match[2], match[3], headers, body))


class RtspServer:
    """One RTSP server for the whole simulated city."""

    def __init__(self, clock: VirtualClock, *, host: str = "127.0.0.1", port: int = 0,
                 cache_dir: Path | None = None, mtu: int = DEFAULT_MTU,
                 session_timeout_s: int = SESSION_TIMEOUT_S,
                 disconnect_after_s: float = 5.0,
                 write_buffer_limit: int = WRITE_BUFFER_LIMIT) -> None:
        self.clock = clock
        self.host = host
        self.mtu = mtu
        self.session_timeout_s = session_timeout_s
        self.disconnect_after_s = disconnect_after_s
        self.write_buffer_limit = write_buffer_limit
        self.library = VideoLibrary(cache_dir)
        # Bound now, so that URLs are known before start().
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._port: int = self._sock.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._streams: dict[str, _Stream] = {}
        self._fault_keys: dict[str, set[StreamFault]] = {}
        self._rtp: dict[VideoKey, dict[Variant, RtpLoop]] = {}
        self._sdp_params: dict[VideoKey, tuple[str, str]] = {}
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._prepare_lock = asyncio.Lock()
        self._housekeeping: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._nonce_secret = secrets.token_bytes(16)
        self._stats: dict[str, int] = dict.fromkeys(
            ("connections_total", "sessions_total", "packets_sent", "bytes_sent",
             "frames_sent", "frames_dropped", "rtcp_sent", "requests", "auth_failures"), 0)

    # public API ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"rtsp://{host}:{self._port}/{path.strip('/')}"

    def add_stream(self, path: str, profile: StreamProfile, *, username: str, password: str,
                   look_seed: int = 0) -> str:
        """Serve `profile` at `path` ("camera-id/profile-token"); returns the rtsp:// URL.

        A stream added after start() is prepared in the background (off the event loop);
        until its video is ready, DESCRIBE answers 503 with Retry-After.
        """
        path = path.strip("/")
        if not path or any(c.isspace() for c in path):
            raise ValueError(f"bad stream path {path!r}")
        if profile.encoding.upper() != "H264":
            raise ValueError(f"{path}: only H264 streams are simulated, not {profile.encoding}")
        key = VideoKey(profile.width, profile.height, profile.fps, profile.bitrate_kbps,
                       look_seed % LOOKS)
        stream = _Stream(path, path.split("/", 1)[0], profile, username, password, key)
        old = self._streams.get(path)
        if old is not None:
            self.remove_stream(path)
        self._streams[path] = stream
        stream.faults = self._effective_faults(path)
        if self._server is not None and key not in self._rtp:
            task = asyncio.get_running_loop().create_task(self.prepare())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return self.url(path)

    def remove_stream(self, path: str) -> None:
        """Stop serving a path; its sessions' connections are closed."""
        stream = self._streams.pop(path.strip("/"), None)
        if stream is None:
            return
        for session in list(self._sessions.values()):
            if session.stream is stream:
                session.conn.close()

    def streams(self) -> list[str]:
        return sorted(self._streams)

    async def prepare(self) -> None:
        """Encode (or load from the disk cache) every stream's video, off the event loop."""
        async with self._prepare_lock:
            keys = sorted({s.key for s in self._streams.values()} - self._rtp.keys())
            if not keys:
                return
            started = time.monotonic()
            limit = asyncio.Semaphore(2)  # libx264 is multi-threaded already

            async def one(key: VideoKey) -> None:
                async with limit:
                    self._rtp[key], self._sdp_params[key] = await asyncio.to_thread(
                        self._prepare_key, key)

            await asyncio.gather(*(one(k) for k in keys))
            log.info("video for %d stream kinds ready in %.1f s (%d encoded, %d from cache)",
                     len(keys), time.monotonic() - started, self.library.encoded,
                     self.library.loaded)

    def _prepare_key(self, key: VideoKey) -> tuple[dict[Variant, RtpLoop], tuple[str, str]]:
        loops = self.library.get(key)
        self.library.forget(key)
        rtp = {v: RtpLoop.from_encoded(loop, self.mtu) for v, loop in loops.items()}
        normal = loops[Variant.NORMAL]
        sprop = ",".join(base64.b64encode(x).decode() for x in (normal.sps, normal.pps))
        return rtp, (normal.profile_level_id, sprop)

    async def start(self) -> None:
        if self._server is not None:
            return
        await self.prepare()
        assert self._sock is not None, "server already stopped"
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=self._sock)
        self._sock = None
        self._housekeeping = asyncio.create_task(self._expire_sessions())
        log.info("RTSP server on %s:%d serving %d streams", self.host, self._port,
                 len(self._streams))

    async def stop(self) -> None:
        self._closing = True
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        for task in self._background:
            task.cancel()
        if self._server is not None:
            self._server.close()
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        for conn in list(self._connections):
            conn.abort()
        for s in list(self._sessions.values()):
            self._end_session(s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> RtspServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def set_fault(self, path: str, fault: StreamFault, on: bool) -> None:
        """Switch a fault for one stream path, or for every stream of a camera id."""
        key = path.strip("/")
        fault = StreamFault(fault)
        faults = self._fault_keys.setdefault(key, set())
        if on:
            faults.add(fault)
        else:
            faults.discard(fault)
        affected = [s for p, s in self._streams.items() if p == key or p.startswith(key + "/")]
        for stream in affected:
            stream.faults = self._effective_faults(stream.path)
        log.info("stream fault %s %s on %s (%d streams)", fault, "on" if on else "off", key,
                 len(affected))
        if on and fault in (StreamFault.DISCONNECT, StreamFault.REFUSE):
            paths = {s.path for s in affected}
            for session in list(self._sessions.values()):
                if session.stream.path in paths:
                    session.conn.close()

    def faults(self, path: str) -> frozenset[StreamFault]:
        key = path.strip("/")
        if key in self._streams:
            return self._streams[key].faults
        return frozenset(self._fault_keys.get(key, ()))

    @property
    def stats(self) -> dict[str, Any]:
        return {
            **self._stats,
            "connections": len(self._connections),
            "sessions": len(self._sessions),
            "playing": sum(1 for s in self._sessions.values() if s.playing),
            "streams": len(self._streams),
        }

    # faults ----------------------------------------------------------------------------
    def _effective_faults(self, path: str) -> frozenset[StreamFault]:
        out: set[StreamFault] = set()
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            out |= self._fault_keys.get("/".join(parts[:i]), set())
        return frozenset(out)

    # request handling ------------------------------------------------------------------
    def _handle(self, conn: _Connection, req: _Request) -> None:
        self._stats["requests"] += 1
        cseq = req.cseq
        log.debug("RTSP %s %s", req.method, urlsplit(req.url).path)
        if req.version != "RTSP/1.0":
            conn.respond(505, cseq)
            return
        if cseq is None:
            conn.respond(400, None)
            return
        if conn.session is not None:
            conn.session.last_activity = time.monotonic()
        handler = getattr(self, f"_on_{req.method.lower()}", None)
        if handler is None:
            if req.method in ("ANNOUNCE", "RECORD", "REDIRECT"):
                conn.respond(405, cseq, [("Allow", PUBLIC_METHODS)])
            else:
                conn.respond(501, cseq, [("Public", PUBLIC_METHODS)])
            return
        handler(conn, req)

    def _lookup(self, url: str) -> tuple[_Stream | None, str]:
        """The stream a request URL names, and the control suffix ('' or 'trackID=0')."""
        if url == "*":
            return None, ""
        path = urlsplit(url).path.strip("/") if "://" in url else url.split("?")[0].strip("/")
        if path in self._streams:
            return self._streams[path], ""
        base, _, control = path.rpartition("/")
        if base in self._streams:
            return self._streams[base], control
        return None, ""

    def _refused(self, conn: _Connection, req: _Request, stream: _Stream | None) -> bool:
        if stream is not None and StreamFault.REFUSE in stream.faults:
            conn.respond(503, req.cseq)
            conn.close()
            return True
        return False

    def _require_stream(self, conn: _Connection, req: _Request) -> tuple[_Stream, str]:
        stream, control = self._lookup(req.url)
        if stream is None:
            conn.respond(404, req.cseq)
            raise _Answered
        if self._refused(conn, req, stream):
            raise _Answered
        if not self._authorized(req, stream):
            self._stats["auth_failures"] += 1
            conn.respond(401, req.cseq, self._challenge())
            raise _Answered
        return stream, control

    def _challenge(self) -> list[tuple[str, str]]:
        stamp_hex = f"{int(time.time()):x}"
        mac = hmac.new(self._nonce_secret, stamp_hex.encode(), hashlib.sha256).hexdigest()[:24]
        return [("WWW-Authenticate", f'Digest realm="{REALM}", nonce="{stamp_hex}{mac}"'),
                ("WWW-Authenticate", f'Basic realm="{REALM}"')]

    def _nonce_ok(self, nonce: str) -> bool:
        stamp_hex, mac = nonce[:-24], nonce[-24:]
        want = hmac.new(self._nonce_secret, stamp_hex.encode(), hashlib.sha256).hexdigest()[:24]
        return bool(stamp_hex) and hmac.compare_digest(mac, want)

    def _authorized(self, req: _Request, stream: _Stream) -> bool:
        header = req.headers.get("authorization", "")
        if StreamFault.AUTH_CHANGE in stream.faults or not header:
            return False
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(rest.strip()).decode().partition(":")
            except ValueError:
                return False
            return (hmac.compare_digest(user, stream.username)
                    and hmac.compare_digest(password, stream.password))
        if scheme.lower() != "digest":
            return False
        params = {m[1].lower(): m[2] if m[2] is not None else m[3]
                  for m in _AUTH_PARAM.finditer(rest)}
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(k not in params for k in needed):
            return False
        if params["username"] != stream.username or params["realm"] != REALM:
            return False
        if not self._nonce_ok(params["nonce"]):
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1 = md5(f"{stream.username}:{REALM}:{stream.password}")
        ha2 = md5(f"{req.method}:{params['uri']}")
        if params.get("qop"):
            if params["qop"] != "auth" or "nc" not in params or "cnonce" not in params:
                return False
            want = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
        else:
            want = md5(f"{ha1}:{params['nonce']}:{ha2}")
        return hmac.compare_digest(want, params["response"].lower())

    def _session_of(self, conn: _Connection, req: _Request) -> _Session | None:
        sid = req.headers.get("session", "").split(";")[0].strip()
        session = self._sessions.get(sid)
        if session is None or session.conn is not conn:
            conn.respond(454, req.cseq)
            return None
        session.last_activity = time.monotonic()
        return session

    def _session_header(self, session: _Session) -> tuple[str, str]:
        return ("Session", f"{session.id};timeout={self.session_timeout_s}")

    def _on_options(self, conn: _Connection, req: _Request) -> None:
        stream, _ = self._lookup(req.url)
        if self._refused(conn, req, stream):
            return
        conn.respond(200, req.cseq, [("Public", PUBLIC_METHODS)])

    def _on_describe(self, conn: _Connection, req: _Request) -> None:
        try:
            stream, _ = self._require_stream(conn, req)
        except _Answered:
            return
        params = self._sdp_params.get(stream.key)
        if params is None:
            conn.respond(503, req.cseq, [("Retry-After", "1")])
            return
        profile_level_id, sprop = params
        base = self.url(stream.path) + "/"
        p = stream.profile
        sdp = "\r\n".join([
            "v=0",
            f"o=- {secrets.randbelow(1 << 31)} 1 IN IP4 {self.host}",
            f"s={p.name or stream.path}",
            f"i=citywatch simulated camera {stream.camera_id}",
            "c=IN IP4 0.0.0.0",
            "t=0 0",
            "a=tool:citywatch-sim",
            "a=type:broadcast",
            "a=control:*",
            "a=range:npt=0-",
            "m=video 0 RTP/AVP 96",
            f"b=AS:{p.bitrate_kbps}",
            "a=rtpmap:96 H264/90000",
            f"a=fmtp:96 packetization-mode=1;profile-level-id={profile_level_id};"
            f"sprop-parameter-sets={sprop}",
            f"a=cliprect:0,0,{p.height},{p.width}",
            f"a=framesize:96 {p.width}-{p.height}",
            f"a=framerate:{p.fps}",
            f"a=control:{TRACK}",
            "",
        ]).encode()
        conn.respond(200, req.cseq, [("Content-Base", base), ("Content-Type", "application/sdp")],
                     sdp)

    def _on_setup(self, conn: _Connection, req: _Request) -> None:
        try:
            stream, control = self._require_stream(conn, req)
        except _Answered:
            return
        if control not in ("", TRACK):
            conn.respond(404, req.cseq)
            return
        if stream.key not in self._rtp:
            conn.respond(503, req.cseq, [("Retry-After", "1")])
            return
        channel: int | None = None
        for spec in req.headers.get("transport", "").split(","):
            parts = [x.strip() for x in spec.split(";")]
            if parts[0].upper() != "RTP/AVP/TCP":
                continue
            channel = 0
            for part in parts[1:]:
                if part.lower().startswith("interleaved="):
                    try:
                        channel = int(part.split("=", 1)[1].split("-")[0])
                    except ValueError:
                        channel = -1
            break
        if channel is None:
            conn.respond(461, req.cseq)
            return
        if not 0 <= channel <= 254:
            conn.respond(400, req.cseq)
            return
        if "session" in req.headers:
            session = self._session_of(conn, req)
            if session is None:
                return
            if session.stream is not stream:
                conn.respond(459, req.cseq)
                return
            if session.playing:
                conn.respond(455, req.cseq)
                return
            session.channel = channel
        else:
            if conn.session is not None:
                self._end_session(conn.session)
            session = _Session(
                id=secrets.token_hex(8).upper(), conn=conn, stream=stream, channel=channel,
                ssrc=secrets.randbits(32), seq=secrets.randbits(16),
                ts_base=secrets.randbits(32))
            self._sessions[session.id] = session
            conn.session = session
            self._stats["sessions_total"] += 1
        transport = (f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1};"
                     f"ssrc={session.ssrc:08X};mode=\"PLAY\"")
        conn.respond(200, req.cseq, [("Transport", transport), self._session_header(session)])

    def _on_play(self, conn: _Connection, req: _Request) -> None:
        stream, _ = self._lookup(req.url)
        if self._refused(conn, req, stream):
            return
        session = self._session_of(conn, req)
        if session is None:
            return
        if not self._authorized(req, session.stream):
            self._stats["auth_failures"] += 1
            conn.respond(401, req.cseq, self._challenge())
            return
        headers = [self._session_header(session), ("Range", "npt=0.000-")]
        if not session.playing:
            session.playing = True
            session.task = asyncio.get_running_loop().create_task(self._play(session))
            log.info("session on %s playing", session.stream.path)
        headers.append(("RTP-Info", f"url={self.url(session.stream.path)}/{TRACK};"
                                    f"seq={session.seq};rtptime={session.ts_base}"))
        conn.respond(200, req.cseq, headers)

    def _on_pause(self, conn: _Connection, req: _Request) -> None:
        session = self._session_of(conn, req)
        if session is None:
            return
        self._stop_playing(session)
        conn.respond(200, req.cseq, [self._session_header(session)])

    def _on_get_parameter(self, conn: _Connection, req: _Request) -> None:
        if "session" in req.headers:
            session = self._session_of(conn, req)
            if session is None:
                return
            conn.respond(200, req.cseq, [self._session_header(session)])
        else:
            conn.respond(200, req.cseq)

    _on_set_parameter = _on_get_parameter

    def _on_teardown(self, conn: _Connection, req: _Request) -> None:
        session = self._session_of(conn, req)
        if session is None:
            return
        self._end_session(session)
        conn.respond(200, req.cseq)

    # sessions --------------------------------------------------------------------------
    def _stop_playing(self, session: _Session) -> None:
        session.playing = False
        if session.task is not None and session.task is not asyncio.current_task():
            session.task.cancel()
        session.task = None

    def _end_session(self, session: _Session) -> None:
        self._stop_playing(session)
        if self._sessions.pop(session.id, None) is not None:
            log.info("session on %s ended (%d packets)", session.stream.path, session.packets)
        if session.conn.session is session:
            session.conn.session = None

    async def _expire_sessions(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self.session_timeout_s / 4))
            now = time.monotonic()
            for session in list(self._sessions.values()):
                if now - session.last_activity > self.session_timeout_s:
                    log.info("session on %s timed out", session.stream.path)
                    session.conn.close()
                    self._end_session(session)

    def _wallclock(self, elapsed: float) -> float:
        """Unix time of a virtual-clock instant (`elapsed` scenario seconds since start)."""
        return self.clock.start.timestamp() + elapsed

    async def _play(self, session: _Session) -> None:
        t0 = self.clock.elapsed()
        try:
            await self._send_loop(session, t0)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("RTP sender for %s failed", session.stream.path)
            session.conn.close()
        finally:
            # A later PLAY (after PAUSE) continues the timestamps from here.
            elapsed = round((self.clock.elapsed() - t0) * RTP_CLOCK)
            session.ts_base = (session.ts_base + elapsed) & 0xFFFFFFFF

    async def _send_loop(self, s: _Session, t0: float) -> None:
        """Send frames on the virtual clock until the session ends (one task per session)."""
        clock, stream, conn = self.clock, s.stream, s.conn
        variants = self._rtp[stream.key]
        normal = variants[Variant.NORMAL]
        n_slots, gop = len(normal.slots), normal.gop
        stats = self._stats
        transport = conn.transport
        assert transport is not None
        # Start at the latest keyframe slot of the stream's global timeline.
        index = int(t0 * normal.fps)
        index -= index % gop
        start_ticks = normal.ticks(index)
        ts_base, ssrc = s.ts_base, s.ssrc
        current = variant_for(stream.faults)
        seen_key = False
        need_key = True
        next_sr = t0
        since_yield = 0
        while s.playing and not conn.closed:
            ticks = normal.ticks(index) - start_ticks
            due = t0 + ticks / RTP_CLOCK
            now = clock.elapsed()
            if due > now:
                since_yield = 0
                await asyncio.sleep(clock.real_seconds(due - now))
                continue
            faults = stream.faults
            slot = index % n_slots
            index += 1
            if faults:
                if StreamFault.DISCONNECT in faults and now - t0 >= self.disconnect_after_s:
                    log.info("disconnecting a session on %s (fault)", stream.path)
                    conn.close()
                    return
                if StreamFault.STALL in faults:
                    need_key = True
                    next_sr = now
                    continue
            want = variant_for(faults)
            if want is not current and slot % gop == 0:
                current = want
            frame = variants[current].slots[slot]
            if frame is None:
                continue
            if frame.keyframe:
                if seen_key and StreamFault.NO_KEYFRAMES in faults:
                    continue
            elif need_key and not (seen_key and StreamFault.NO_KEYFRAMES in faults):
                continue
            if transport.get_write_buffer_size() > self.write_buffer_limit:
                stats["frames_dropped"] += 1
                need_key = True
                continue
            rtptime = ts_base + ticks
            if now >= next_sr:  # before the frame: clients map its timestamp at once
                next_sr = now + RTCP_INTERVAL_S
                report = sender_report(ssrc, self._wallclock(due), rtptime, s.packets,
                                       s.octets, cname=f"{stream.camera_id}@citywatch")
                transport.write(interleave(s.channel + 1, report))
                stats["rtcp_sent"] += 1
            buf = bytearray(frame.blob)
            s.seq = stamp(buf, frame.header_offsets, s.seq, rtptime, ssrc, s.channel)
            transport.write(buf)
            need_key = False
            seen_key = seen_key or frame.keyframe
            s.packets += frame.packets
            s.octets += frame.payload_bytes
            stats["frames_sent"] += 1
            stats["packets_sent"] += frame.packets
            stats["bytes_sent"] += len(buf)
            since_yield += 1
            if since_yield >= MAX_FRAMES_WITHOUT_YIELD:
                since_yield = 0
                await asyncio.sleep(0)
