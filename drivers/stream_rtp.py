"""The RTP engine of `drivers.stream.StreamSampler`: RTSP and RTP read on asyncio.

FFmpeg's RTSP demuxer (the "pyav" engine) costs a poll and a recv per interleaved
packet in a thread plus its H.264 parser; here one asyncio protocol per stream reads
the RTSP connection, cuts the ``$``-framed RTP packets out of its receive buffer and
hands them, without copying, to `drivers.rtp_depacketize.Depacketizer` (header fields,
first NAL type, access units). PyAV is used only to decode one keyframe at most once per
``pixel_interval_s``, in a thread (`asyncio.to_thread`), by `drivers.stream_pixels`.

The RTSP client (drivers.rtsp_client) is small and our own: OPTIONS, DESCRIBE, SETUP (RTP/AVP/TCP
interleaved), PLAY, GET_PARAMETER (or OPTIONS) keep-alive at half the session timeout,
TEARDOWN on close; Digest (RFC 2617/7616 MD5, with or without qop=auth) preferred over
Basic; the whole open bounded by ``open_timeout_s``. (aiortsp, the maintained asyncio RTSP
package, was tried: its Digest lacks qop=auth, it picks Basic whenever a camera offers
both, and it parses every interleaved packet into Python objects - dpkt RTP and RTCP
statistics - which is the per-packet cost this engine exists to avoid.)

`RtpSession` offers what `StreamSampler.samples` uses of the PyAV session: a lifecycle
queue (("connected", StreamInfo) | ("ended", str) | ("error", StreamError)) and a
``reader`` with ``take_window``, ``last_arrival`` and ``total_packets``.
"""

from __future__ import annotations

import asyncio
import errno as errno_mod
import logging
import re
import socket
import threading
import time

import av

from drivers.errors import (
    StreamAuthError,
    StreamError,
    StreamProtocolError,
    StreamRefused,
    StreamTimeout,
)
from drivers.rtp_depacketize import Depacketizer, SdpVideo, parse_sdp
from drivers.rtsp_client import (
    CLOSE_WAIT_S,
    DEFAULT_SESSION_TIMEOUT_S,
    KEEPALIVE_ANSWER_S,
    Response,
    RtspClient,
    RtspProtocol,
    WireError,
)
from drivers.stream_pixels import PixelProbe, PixelStats
from drivers.stream_reader import (
    MAX_FRAME_DELTA_S,
    UNREACHABLE_ERRNOS,
    StreamInfo,
    Window,
    redact_url,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Window figures and the occasional keyframe decode
# ---------------------------------------------------------------------------------------


class RtpReader:
    """Access units into the current `Window`; one keyframe decoded per pixel interval.

    Everything runs on the event loop (``lock`` is there for `StreamSampler`, which
    takes it for the PyAV engine's thread; here it is never contended).
    """

    def __init__(self, pixel_interval_s: float | None) -> None:
        self.lock = threading.Lock()
        now = time.monotonic()
        self.window = Window(opened=now, lost=0)
        self.last_arrival = now  # monotonic time of the last RTP packet (or of the connect)
        self.total_packets = 0  # RTP packets
        self.pixels: PixelStats | None = None
        self.pixel_decodes = 0
        self.pixel_interval_s = pixel_interval_s
        self.depacketizer: Depacketizer | None = None
        self._probe: PixelProbe | None = None
        self._decoding: asyncio.Task[None] | None = None
        self._next_pixel_at = 0.0
        self._clock_rate = 90_000
        self._lost_mark = 0
        self._last_key_ts: float | None = None
        self._since_key: int | None = None

    def attach(self, sdp: SdpVideo) -> Depacketizer:
        self._clock_rate = sdp.clock_rate or 90_000
        if self.pixel_interval_s is not None:
            self._probe = PixelProbe(sdp.codec, None)
        self.depacketizer = Depacketizer(
            sdp, self._on_access_unit, self._on_keyframe if self._probe else None)
        return self.depacketizer

    def take_window(self) -> tuple[Window, float, PixelStats | None]:
        """Swap in a fresh window; returns the old one, its length in s, and the pixels."""
        now = time.monotonic()
        window, self.window = self.window, Window(opened=now, lost=0)
        window.max_gap_s = max(window.max_gap_s, now - self.last_arrival)
        if self.depacketizer is not None:
            window.lost = self.depacketizer.lost - self._lost_mark
            self._lost_mark = self.depacketizer.lost
        return window, now - window.opened, self.pixels

    def arrived(self, now: float, count: int) -> None:
        """``count`` RTP packets came in one read at ``now``."""
        window = self.window
        gap = now - self.last_arrival
        if gap > window.max_gap_s:
            window.max_gap_s = gap
        self.last_arrival = now
        self.total_packets += count
        depack = self.depacketizer
        if (self._probe is not None and depack is not None and not depack.capture
                and self._decoding is None and now >= self._next_pixel_at):
            depack.capture = True  # keep the next keyframe access unit

    def _on_access_unit(self, ext_ts: int, size: int, key: bool) -> None:
        ts = ext_ts / self._clock_rate
        window = self.window
        window.packets += 1
        window.bytes += size
        window.timestamps.append(ts)
        if key:
            window.keyframes += 1
            if self._since_key is not None:
                window.gops.append(self._since_key)
            if self._last_key_ts is not None:
                interval = ts - self._last_key_ts
                if 0 < interval <= 10 * MAX_FRAME_DELTA_S:
                    window.keyframe_intervals.append(interval)
            self._since_key, self._last_key_ts = 1, ts
        elif self._since_key is not None:
            self._since_key += 1

    def _on_keyframe(self, annexb: bytes) -> None:
        assert self.pixel_interval_s is not None
        self._next_pixel_at = time.monotonic() + self.pixel_interval_s
        self._decoding = asyncio.get_running_loop().create_task(self._decode(annexb))

    async def _decode(self, annexb: bytes) -> None:
        probe = self._probe
        assert probe is not None
        try:
            stats = await asyncio.to_thread(probe.measure, av.Packet(annexb))
        finally:
            self._decoding = None
        if stats is not None:
            self.pixels = stats
            self.pixel_decodes += 1

    def close(self) -> None:
        if self._decoding is not None:  # its thread finishes the one picture by itself
            self._decoding.cancel()


# ---------------------------------------------------------------------------------------
# One session: open, read until the end, tear down
# ---------------------------------------------------------------------------------------


class RtpSession:
    """One RTSP session on the running loop; see the module docstring."""

    def __init__(self, url: str, *, open_timeout_s: float,
                 pixel_interval_s: float | None) -> None:
        self.url = url  # with credentials: never put it in a message as is
        self.shown = redact_url(url)
        self.open_timeout_s = open_timeout_s
        self.queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self.reader = RtpReader(pixel_interval_s)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name=f"rtp {self.shown}")

    async def close(self) -> None:
        """Tear the session down and wait (a little) until its task has ended."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_WAIT_S)
        self.reader.close()

    async def _run(self) -> None:
        client: RtspClient | None = None
        base = ""
        try:
            client = RtspClient(self.url)
            try:
                async with asyncio.timeout(self.open_timeout_s):
                    info, base, keepalive = await self._open(client)
            except TimeoutError:
                raise StreamTimeout(f"{self.shown}: no answer in {self.open_timeout_s:g} s",
                                    url=self.shown) from None
            self.reader.last_arrival = time.monotonic()
            self.queue.put_nowait(("connected", info))
            await self._stream(client, base, keepalive)
        except StreamError as exc:
            self.queue.put_nowait(("error", exc))
        except Exception as exc:  # a bug must end the session visibly, not hang samples()
            log.exception("%s: RTP session failed", self.shown)
            self.queue.put_nowait(("error", StreamProtocolError(
                f"{self.shown}: RTP session failed ({type(exc).__name__})", url=self.shown)))
        finally:
            if client is not None and client.protocol is not None:
                client.teardown(base or client.url)
                client.protocol.close()

    async def _open(self, client: RtspClient) -> tuple[StreamInfo, str, tuple[str, float]]:
        """OPTIONS, DESCRIBE, SETUP, PLAY; (what the stream is, its base URL, keep-alive)."""
        try:
            protocol = await client.connect()
        except OSError as exc:
            raise self._unreachable(exc) from None
        protocol.reader = self.reader
        options = await self._call(client, "OPTIONS", client.url)
        public = options.headers.get("public", "").upper()
        described = await self._call(client, "DESCRIBE", client.url,
                                     {"Accept": "application/sdp"})
        try:
            sdp = parse_sdp(described.body.decode("utf-8", "replace"))
        except ValueError as exc:
            raise StreamProtocolError(f"{self.shown}: {exc}", url=self.shown) from None
        base = (described.headers.get("content-base")
                or described.headers.get("content-location") or client.url)
        protocol.depacketizer = self.reader.attach(sdp)
        setup = await self._call(client, "SETUP", _control_url(base, sdp.control),
                                 {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        session = setup.headers.get("session", "")
        sid, _, params = session.partition(";")
        if not sid.strip():
            raise StreamProtocolError(f"{self.shown}: SETUP answered without a session",
                                      url=self.shown)
        client.session = sid.strip()
        found = re.search(r"timeout\s*=\s*(\d+)", params)
        timeout_s = float(found[1]) if found else DEFAULT_SESSION_TIMEOUT_S
        channel = re.search(r"interleaved\s*=\s*(\d+)", setup.headers.get("transport", ""))
        protocol.rtp_channel = int(channel[1]) if channel else 0
        await self._call(client, "PLAY", base, {"Range": "npt=0.000-"})
        method = "GET_PARAMETER" if "GET_PARAMETER" in public else "OPTIONS"
        info = StreamInfo(codec=sdp.codec, profile=sdp.profile, width=sdp.width,
                          height=sdp.height, nominal_fps=sdp.fps)
        # Half the session timeout, as FFmpeg and VLC do: one lost keep-alive is harmless.
        return info, base, (method, max(1.0, timeout_s / 2))

    async def _stream(self, client: RtspClient, base: str, keepalive: tuple[str, float]) -> None:
        """Wait for the end of the connection, keeping the session alive meanwhile."""
        protocol = client.protocol
        assert protocol is not None
        method, every_s = keepalive
        while not protocol.closed.done():
            await asyncio.wait({protocol.closed}, timeout=every_s)
            if protocol.closed.done():
                break
            try:
                async with asyncio.timeout(KEEPALIVE_ANSWER_S):
                    answer = await client.request(method, base)
                if answer.status >= 300:
                    log.debug("%s: keep-alive answered %d", self.shown, answer.status)
            except (TimeoutError, ConnectionError):
                pass  # no data will follow either: the watchdog and EOF tell
        ended = protocol.closed.result()
        if ended is None:
            self.queue.put_nowait(("ended", "the server ended the stream"))
        elif isinstance(ended, WireError):
            raise StreamProtocolError(f"{self.shown}: {ended}", url=self.shown)
        else:
            raise StreamRefused(f"{self.shown}: connection lost ({_reason(ended)})",
                                url=self.shown)

    async def _call(self, client: RtspClient, method: str, url: str,
                    headers: dict[str, str] | None = None) -> Response:
        try:
            response = await client.request(method, url, headers)
        except ConnectionError as exc:
            closed = client.protocol.closed if client.protocol is not None else None
            if closed is not None and closed.done() and isinstance(closed.result(), WireError):
                raise StreamProtocolError(f"{self.shown}: {closed.result()}",
                                          url=self.shown) from None
            raise StreamRefused(f"{self.shown}: connection lost during {method} "
                                f"({_reason(exc)})", url=self.shown) from None
        status = response.status
        if 200 <= status < 300:
            return response
        if status in (401, 403):
            raise StreamAuthError(f"{self.shown}: credentials rejected (RTSP {status})",
                                  url=self.shown)
        if status == 404:
            raise StreamProtocolError(f"{self.shown}: stream not found (RTSP 404)",
                                      url=self.shown)
        if status >= 500:  # 503 & co: busy, or says no
            raise StreamRefused(f"{self.shown}: the server refused the stream (RTSP {status})",
                                url=self.shown)
        raise StreamProtocolError(f"{self.shown}: {method} answered RTSP {status}",
                                  url=self.shown)

    def _unreachable(self, exc: OSError) -> StreamError:
        if isinstance(exc, socket.gaierror):
            return StreamRefused(f"{self.shown}: host not found", url=self.shown)
        if isinstance(exc, ConnectionRefusedError) or exc.errno in UNREACHABLE_ERRNOS:
            return StreamRefused(f"{self.shown}: {_reason(exc)}", url=self.shown)
        if exc.errno == errno_mod.ETIMEDOUT:
            return StreamTimeout(f"{self.shown}: no answer in time", url=self.shown)
        return StreamRefused(f"{self.shown}: cannot connect ({_reason(exc)})", url=self.shown)


def _control_url(base: str, control: str | None) -> str:
    """The URL of a media's a=control (RFC 2326 C.1.1): absolute, or relative to base."""
    if not control or control == "*":
        return base
    if re.match(r"^[a-zA-Z][\w+.-]*://", control):
        return control
    return base + control if base.endswith("/") else f"{base}/{control}"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


__all__ = ["RtpReader", "RtpSession", "RtspClient", "RtspProtocol"]
