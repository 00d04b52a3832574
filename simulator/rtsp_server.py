"""The simulated city's RTSP server: one port, a path per camera stream.

RTSP/1.0 over asyncio (DESIGN.md "RTSP / RTP / H.264"): OPTIONS, DESCRIBE (SDP with
sprop-parameter-sets, or sprop-vps/sps/pps for H.265 profiles: simulator.hevc), SETUP
(RTP/AVP/TCP interleaved only; UDP gets 461), PLAY, PAUSE, GET_PARAMETER / SET_PARAMETER
keep-alives, TEARDOWN; Digest (RFC 2617, MD5) and Basic authentication per stream. The
wire format is simulator.rtsp_protocol, the video simulator.rtsp_media, sessions and the
RTP sender simulator.rtsp_session, faults simulator.stream_faults.StreamFault.

Video preparation is eager by default: start() prepares every stream's video (every
fault variant) before it listens. With `lazy=True` nothing is prepared at start: a
stream's video is prepared when a client first DESCRIBEs (or SETUPs) it; the request is
held up to DESCRIBE_HOLD_S and then answered 503 with Retry-After if the video is still
not ready. A fault's variant is prepared when the fault first needs it; until then the
normal picture goes on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from simulator import hevc
from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtp import DEFAULT_MTU
from simulator.rtsp_connection import Connection
from simulator.rtsp_media import MediaStore
from simulator.rtsp_protocol import (
    PUBLIC_METHODS,
    TRACK,
    Authenticator,
    Request,
    build_sdp,
    h264_fmtp,
    parse_transport,
    request_path,
)
from simulator.rtsp_session import (
    SendLimits,
    Session,
    Stream,
    end_session,
    expire_sessions,
    play,
    stop_playing,
)
from simulator.stream_faults import FaultTable, StreamFault, variant_for
from simulator.video import LOOKS, Codec, Variant, VideoKey, VideoLibrary

__all__ = ["RtspServer", "StreamFault"]

log = logging.getLogger(__name__)

SESSION_TIMEOUT_S = 60
# A session whose unsent data exceeds this drops frames until the next keyframe.
WRITE_BUFFER_LIMIT = 2 * 1024 * 1024
# How long a DESCRIBE/SETUP waits for its stream's video before 503: long enough for a
# first encode of a 1080p stream on a 2-core laptop (2-3 s), well inside the 10 s open
# timeout of drivers/stream.py and of common NVR/VMS clients.
DESCRIBE_HOLD_S = 4.0
# libx265 is 3-10x slower than libx264 (a 1920x1080@25 loop: about 7 s on that laptop):
# an H.265 stream is held longer, still inside those clients' 10 s. A colder start gets
# 503 + Retry-After like any stream (the city pre-warms small streams in the background).
HEVC_DESCRIBE_HOLD_S = 8.0
RETRY_AFTER_S = 2  # what a 503 tells the client while the video is still being prepared
ALL_VARIANTS = tuple(Variant)
# ONVIF Encoding names (and the usual spellings of them) of the codecs served.
CODECS = {"H264": Codec.H264, "H.264": Codec.H264, "H265": Codec.H265, "H.265": Codec.H265,
          "HEVC": Codec.H265}
CONTROL_ORIGIN = "control"  # faults switched by testers; other origins: e.g. the camera
# Faults that end the active sessions of a path when switched on. AUTH_CHANGE too: a
# camera whose password is changed drops its sessions, so the client reconnects and
# meets the 401 (a session left playing would hide the change until the next reconnect).
_ENDING_FAULTS = (StreamFault.DISCONNECT, StreamFault.REFUSE, StreamFault.OFFLINE,
                  StreamFault.AUTH_CHANGE)
# Faults under which every request on a path gets 503 and the connection is closed.
# OFFLINE would ideally refuse the TCP connection, but all cameras share one port and the
# path is only known from the request; FFmpeg classifies a 503 as refused, and a reset
# or a silent close as "invalid data".
_REFUSING_FAULTS = frozenset((StreamFault.REFUSE, StreamFault.OFFLINE))


class _Answered(Exception):
    """The request has been answered (with an error); stop handling it."""


class RtspServer:
    """One RTSP server for the whole simulated city."""

    def __init__(self, clock: VirtualClock, *, host: str = "127.0.0.1", port: int = 0,
                 cache_dir: Path | None = None, mtu: int = DEFAULT_MTU,
                 session_timeout_s: int = SESSION_TIMEOUT_S,
                 disconnect_after_s: float = 5.0,
                 write_buffer_limit: int = WRITE_BUFFER_LIMIT,
                 lazy: bool = False, media_clock: VirtualClock | None = None) -> None:
        """`clock`: the scenario's clock, which the RTCP sender reports' wall-clock times
        follow. `media_clock`: what frames are paced by (default: `clock`); a city passes
        a real-time one, see SimulatedCity."""
        self.clock = clock
        self.media_clock = media_clock or clock
        self.host = host
        self.mtu = mtu
        self.lazy = lazy
        self.session_timeout_s = session_timeout_s
        self.disconnect_after_s = disconnect_after_s
        self.write_buffer_limit = write_buffer_limit
        self.library = VideoLibrary(cache_dir)
        self.media = MediaStore(self.library, mtu)
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
        self._streams: dict[str, Stream] = {}
        self._faults = FaultTable()
        self._sessions: dict[str, Session] = {}
        self._connections: set[Connection] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._closing = False
        self._auth = Authenticator()
        self._stats: dict[str, int] = dict.fromkeys(
            ("connections_total", "sessions_total", "packets_sent", "bytes_sent",
             "frames_sent", "frames_dropped", "rtcp_sent", "requests", "auth_failures",
             "requests_held"), 0)

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

        A stream added after start() to an eager server is prepared in the background (off
        the event loop); until its video is ready, DESCRIBE waits, then answers 503.
        """
        path = path.strip("/")
        if not path or any(c.isspace() for c in path):
            raise ValueError(f"bad stream path {path!r}")
        codec = CODECS.get(profile.encoding.upper())
        if codec is None:
            raise ValueError(f"{path}: only H264 and H265 streams are simulated, "
                             f"not {profile.encoding}")
        key = VideoKey(profile.width, profile.height, profile.fps, profile.bitrate_kbps,
                       look_seed % LOOKS, codec=codec)
        stream = Stream(path, path.split("/", 1)[0], profile, username, password, key)
        if path in self._streams:
            self.remove_stream(path)
        self._streams[path] = stream
        stream.faults = self._faults.effective(path)
        if self._server is not None and not self.lazy:
            self.media.request(key, ALL_VARIANTS)
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

    def ready(self, path: str, variant: Variant = Variant.NORMAL) -> bool:
        """True once the stream's video (by default its normal picture: DESCRIBE is then
        answered at once) is prepared."""
        stream = self._streams.get(path.strip("/"))
        return stream is not None and self.media.ready(stream.key, variant)

    def _under(self, key: str) -> list[Stream]:
        """The streams of a path or a camera id."""
        return [s for p, s in self._streams.items() if p == key or p.startswith(key + "/")]

    def _keys(self, paths: Iterable[str] | None) -> set[VideoKey]:
        if paths is None:
            return {s.key for s in self._streams.values()}
        return {s.key for p in paths for s in self._under(p.strip("/"))}

    async def prepare(self, paths: Iterable[str] | None = None,
                      variants: Iterable[Variant] = ALL_VARIANTS) -> None:
        """Prepare (encode, or load from the disk cache) the video of `paths` (stream paths
        or camera ids; default every stream), off the event loop. Raises if one fails."""
        keys = self._keys(paths)
        started, encoded, loaded = time.monotonic(), self.library.encoded, self.library.loaded
        await self.media.prepare(keys, variants)
        log.info("video for %d stream kinds ready in %.1f s (%d encoded, %d from cache)",
                 len(keys), time.monotonic() - started, self.library.encoded - encoded,
                 self.library.loaded - loaded)

    def prewarm(self, paths: Iterable[str]) -> None:
        """Prepare the normal video of `paths` in the background, one stream kind at a time."""
        self.media.prewarm(self._keys(paths))

    async def start(self) -> None:
        if self._server is not None:
            return
        if not self.lazy:
            await self.prepare()
        assert self._sock is not None, "server already stopped"
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Connection(self), sock=self._sock)
        self._sock = None
        self._housekeeping = asyncio.create_task(
            expire_sessions(self._sessions, self.session_timeout_s))
        log.info("RTSP server on %s:%d serving %d streams", self.host, self._port,
                 len(self._streams))

    async def stop(self) -> None:
        self._closing = True
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self._server is not None:
            self._server.close()
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        for conn in list(self._connections):
            conn.abort()
        for s in list(self._sessions.values()):
            end_session(self._sessions, s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.media.close()
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

    def set_fault(self, path: str, fault: StreamFault, on: bool, *,
                  origin: str = CONTROL_ORIGIN) -> None:
        """Switch a fault for one stream path, or for every stream of a camera id.

        Faults of different `origin`s are kept apart (the camera's own OFFLINE does not
        clear an OFFLINE a tester switched on); a stream has the union of them all.
        """
        key = path.strip("/")
        fault = StreamFault(fault)
        changed = self._faults.set(key, fault, on, origin)
        affected = self._under(key)
        for stream in affected:
            stream.faults = self._faults.effective(stream.path)
            variant = variant_for(stream.faults)
            if self._server is not None and self.media.ready(stream.key):
                self.media.request(stream.key, (variant,))
        if changed:
            log.log(logging.INFO if origin == CONTROL_ORIGIN else logging.DEBUG,
                    "stream fault %s %s on %s (%d streams, %s)", fault, "on" if on else "off",
                    key, len(affected), origin)
        if on and fault in _ENDING_FAULTS:
            paths = {s.path for s in affected}
            for session in list(self._sessions.values()):
                if session.stream.path in paths:
                    if fault is StreamFault.OFFLINE:
                        session.conn.reset()
                    else:
                        session.conn.close()

    async def faults_ready(self, path: str) -> None:
        """Wait until the picture the faults of `path` (a stream or a camera id) select is
        prepared, for the streams whose video is prepared (the others get it on DESCRIBE)."""
        key = path.strip("/")
        waits = [self.media.ensure(s.key, (variant_for(s.faults),))
                 for s in self._under(key) if self.media.ready(s.key)]
        await asyncio.gather(*(w for w in waits if w is not None))

    def faults(self, path: str) -> frozenset[StreamFault]:
        key = path.strip("/")
        if key in self._streams:
            return self._streams[key].faults
        return self._faults.at(key)

    @property
    def stats(self) -> dict[str, Any]:
        return {
            **self._stats,
            "connections": len(self._connections),
            "sessions": len(self._sessions),
            "playing": sum(1 for s in self._sessions.values() if s.playing),
            "streams": len(self._streams),
        }

    # connections (rtsp_connection.Handler) ----------------------------------------------
    def connection_opened(self, conn: Connection) -> bool:
        self._connections.add(conn)
        self._stats["connections_total"] += 1
        return not self._closing

    def connection_closed(self, conn: Connection) -> None:
        self._connections.discard(conn)
        if conn.session is not None:
            end_session(self._sessions, conn.session)
            conn.session = None

    # request handling ------------------------------------------------------------------
    def handle(self, conn: Connection, req: Request) -> None:
        self._stats["requests"] += 1
        cseq = req.cseq
        log.debug("RTSP %s %s", req.method, request_path(req.url))
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

    def _lookup(self, url: str) -> tuple[Stream | None, str]:
        """The stream a request URL names, and the control suffix ('' or 'trackID=0')."""
        path = request_path(url)
        if path is None:
            return None, ""
        if path in self._streams:
            return self._streams[path], ""
        base, _, control = path.rpartition("/")
        if base in self._streams:
            return self._streams[base], control
        return None, ""

    def _refused(self, conn: Connection, req: Request, stream: Stream | None) -> bool:
        if stream is None:
            return False
        if stream.faults & _REFUSING_FAULTS:
            conn.respond(503, req.cseq)
            conn.close()
            return True
        return False

    def _require_stream(self, conn: Connection, req: Request) -> tuple[Stream, str]:
        stream, control = self._lookup(req.url)
        if stream is None:
            conn.respond(404, req.cseq)
            raise _Answered
        if self._refused(conn, req, stream):
            raise _Answered
        if not self._authorized(req, stream):
            self._stats["auth_failures"] += 1
            conn.respond(401, req.cseq, self._auth.challenge())
            raise _Answered
        return stream, control

    def _authorized(self, req: Request, stream: Stream) -> bool:
        if StreamFault.AUTH_CHANGE in stream.faults:
            return False
        return self._auth.check(req.headers.get("authorization", ""), req.method,
                                stream.username, stream.password)

    def _video_ready(self, conn: Connection, req: Request, stream: Stream) -> bool:
        """True if the stream's video is ready; otherwise the request is answered, or held
        and handled again when the video is ready (at most DESCRIBE_HOLD_S later, or
        HEVC_DESCRIBE_HOLD_S for H.265)."""
        media, key = self.media, stream.key
        if media.ready(key):
            media.request(key, (variant_for(stream.faults),))
            return True
        if media.failure(key) is not None:
            conn.respond(500, req.cseq)
            return False
        # With a picture fault on, its variant too: the first frame is already the fault's.
        needed = (Variant.NORMAL, variant_for(stream.faults))
        wait = None if conn.replaying else media.ensure(key, needed)
        if wait is None:
            conn.respond(503, req.cseq, [("Retry-After", str(RETRY_AFTER_S))])
            return False
        self._stats["requests_held"] += 1
        hold = HEVC_DESCRIBE_HOLD_S if key.codec is Codec.H265 else DESCRIBE_HOLD_S
        conn.hold(self._replay(conn, req, wait, hold))
        return False

    async def _replay(self, conn: Connection, req: Request, wait: Any,
                      hold_s: float = DESCRIBE_HOLD_S) -> None:
        try:
            async with asyncio.timeout(hold_s):
                await asyncio.shield(wait)
        except TimeoutError:
            log.info("video of %s not ready in %.0f s: 503", request_path(req.url),
                     hold_s)
        if conn.closed:
            return
        conn.replaying = True
        try:
            self.handle(conn, req)
        except Exception:
            log.exception("RTSP request handling failed")
            conn.respond(500, req.cseq)
            conn.close()
        finally:
            conn.replaying = False
        conn.resume()

    def _session_of(self, conn: Connection, req: Request) -> Session | None:
        sid = req.headers.get("session", "").split(";")[0].strip()
        session = self._sessions.get(sid)
        if session is None or session.conn is not conn:
            conn.respond(454, req.cseq)
            return None
        session.last_activity = time.monotonic()
        return session

    def _session_header(self, session: Session) -> tuple[str, str]:
        return ("Session", f"{session.id};timeout={self.session_timeout_s}")

    def _on_options(self, conn: Connection, req: Request) -> None:
        stream, _ = self._lookup(req.url)
        if self._refused(conn, req, stream):
            return
        conn.respond(200, req.cseq, [("Public", PUBLIC_METHODS)])

    def _on_describe(self, conn: Connection, req: Request) -> None:
        try:
            stream, _ = self._require_stream(conn, req)
        except _Answered:
            return
        if not self._video_ready(conn, req, stream):
            return
        video = self.media.sdp(stream.key)
        assert video is not None
        if video.codec is Codec.H265:
            encoding, fmtp = "H265", hevc.fmtp(video.vps, video.sps, video.pps)
        else:
            encoding, fmtp = "H264", h264_fmtp(video.profile_level_id, video.sprop)
        sdp = build_sdp(host=self.host, path=stream.path, camera_id=stream.camera_id,
                        profile=stream.profile, encoding=encoding, fmtp=fmtp)
        conn.respond(200, req.cseq, [("Content-Base", self.url(stream.path) + "/"),
                                     ("Content-Type", "application/sdp")], sdp)

    def _on_setup(self, conn: Connection, req: Request) -> None:
        try:
            stream, control = self._require_stream(conn, req)
        except _Answered:
            return
        if control not in ("", TRACK):
            conn.respond(404, req.cseq)
            return
        if not self._video_ready(conn, req, stream):
            return
        channel = parse_transport(req.headers.get("transport", ""))
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
                end_session(self._sessions, conn.session)
            session = Session(
                id=secrets.token_hex(8).upper(), conn=conn, stream=stream, channel=channel,
                ssrc=secrets.randbits(32), seq=secrets.randbits(16),
                ts_base=secrets.randbits(32))
            self._sessions[session.id] = session
            conn.session = session
            self._stats["sessions_total"] += 1
        transport = (f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1};"
                     f"ssrc={session.ssrc:08X};mode=\"PLAY\"")
        conn.respond(200, req.cseq, [("Transport", transport), self._session_header(session)])

    def _on_play(self, conn: Connection, req: Request) -> None:
        stream, _ = self._lookup(req.url)
        if self._refused(conn, req, stream):
            return
        session = self._session_of(conn, req)
        if session is None:
            return
        if not self._authorized(req, session.stream):
            self._stats["auth_failures"] += 1
            conn.respond(401, req.cseq, self._auth.challenge())
            return
        headers = [self._session_header(session), ("Range", "npt=0.000-")]
        if not session.playing:
            session.playing = True
            session.task = asyncio.get_running_loop().create_task(self._play(session))
            log.info("session on %s playing", session.stream.path)
        headers.append(("RTP-Info", f"url={self.url(session.stream.path)}/{TRACK};"
                                    f"seq={session.seq};rtptime={session.ts_base}"))
        conn.respond(200, req.cseq, headers)

    def _on_pause(self, conn: Connection, req: Request) -> None:
        session = self._session_of(conn, req)
        if session is None:
            return
        stop_playing(session)
        conn.respond(200, req.cseq, [self._session_header(session)])

    def _on_get_parameter(self, conn: Connection, req: Request) -> None:
        if "session" in req.headers:
            session = self._session_of(conn, req)
            if session is None:
                return
            conn.respond(200, req.cseq, [self._session_header(session)])
        else:
            conn.respond(200, req.cseq)

    _on_set_parameter = _on_get_parameter

    def _on_teardown(self, conn: Connection, req: Request) -> None:
        session = self._session_of(conn, req)
        if session is None:
            return
        end_session(self._sessions, session)
        conn.respond(200, req.cseq)

    # sessions --------------------------------------------------------------------------
    def _wall_now(self) -> float:
        return self.clock.now().timestamp()

    async def _play(self, session: Session) -> None:
        key = session.stream.key
        await play(session, clock=self.media_clock, wall=self._wall_now,
                   variants=self.media.loops(key),
                   want=lambda v: self.media.request(key, (v,)),
                   limits=SendLimits(self.disconnect_after_s, self.write_buffer_limit),
                   stats=self._stats)
