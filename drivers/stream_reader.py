"""Blocking side of the stream driver: one PyAV demux loop per stream, in its own thread.

The thread reads packets (no decode, except an occasional keyframe handed to
`stream_pixels.PixelProbe`) and adds per-packet figures to a `Window` under a lock. The
asyncio side (`drivers.stream`) takes the window every ``window_s`` and watches
``last_arrival`` for stalls; the thread only reports lifecycle changes (connected, ended,
error) through a callback.

Stopping: every blocking read runs under PyAV's interrupt callback with a short read
timeout (``poll_s``). An interrupted read raises ``av.error.ExitError``; the loop then
checks its stop flag and, if not stopped, simply reads on (the RTSP/TCP demuxer resumes
cleanly: a stall is a read that waits for the next ``$`` frame). So a stopped reader ends
within ``poll_s`` even while the server sends nothing, and it closes its container itself
(closing it from another thread while ``av_read_frame`` runs would be a use-after-free).

Errors are mapped here, at the boundary, to the `drivers.errors.StreamError` tree, with
messages that never contain the password.
"""

from __future__ import annotations

import errno as errno_mod
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import av
import av.error

from drivers.errors import (
    StreamAuthError,
    StreamError,
    StreamProtocolError,
    StreamRefused,
    StreamTimeout,
)
from drivers.stream_pixels import PixelProbe, PixelStats

# A pts delta larger than this is a discontinuity (stream restart, wrap), not a frame gap.
MAX_FRAME_DELTA_S = 5.0
# How long av.open may look at packets to learn the stream's parameters (us).
ANALYZE_US = 500_000
# A packet returned this close to the read-poll deadline is the parser's flush on the
# interrupt (see Reader._read_since): a little early for timer granularity, later when
# the machine is busy.
FLUSH_SLACK_S = 0.05
FLUSH_LATE_S = 0.3
# Packets the demuxer hands over faster than this after the open were buffered while it
# analysed the stream: they are not counted (they would inflate the first window).
BUFFERED_S = 0.003
UNREACHABLE_ERRNOS = frozenset(
    {errno_mod.ECONNREFUSED, errno_mod.EHOSTUNREACH, errno_mod.ENETUNREACH, errno_mod.EHOSTDOWN}
)


# ---------------------------------------------------------------------------------------
# URLs and errors
# ---------------------------------------------------------------------------------------


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username``/``password`` as (percent-encoded) URL userinfo.

    FFmpeg's RTSP client takes credentials only from the URL and percent-decodes them, so
    passwords with ``@ : / & <`` work. Credentials already in ``url`` are kept unless
    ``username`` is given.
    """
    if username is None:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = quote(username, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (the user name is kept)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if ":" in userinfo
                                     else f"{user}@{host}"))


def _secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return []
    raw = userinfo.split(":", 1)[1]
    return [s for s in {raw, unquote(raw)} if s]


def scrub(text: str, url: str) -> str:
    """Remove every form of the URL's password from ``text``."""
    text = text.replace(url, redact_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def map_error(
    exc: BaseException, url: str, *, opening: bool, timed_out: bool = False
) -> StreamError:
    """Translate a PyAV/OS exception into the driver's error tree (password-free)."""
    shown = redact_url(url)
    strerror = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "errno", None)
    detail = scrub(str(strerror), url)
    error: StreamError
    if isinstance(exc, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)):
        status = 401 if isinstance(exc, av.error.HTTPUnauthorizedError) else 403
        error = StreamAuthError(f"{shown}: credentials rejected (RTSP {status})", url=shown)
    elif isinstance(exc, ConnectionRefusedError) or code in UNREACHABLE_ERRNOS:
        error = StreamRefused(f"{shown}: {detail}", url=shown)
    elif (timed_out or isinstance(exc, (av.error.ExitError, TimeoutError))
          or code == errno_mod.ETIMEDOUT):
        what = "no answer" if opening else "no data"
        error = StreamTimeout(f"{shown}: {what} in time ({detail})", url=shown)
    elif isinstance(exc, av.error.HTTPServerError):  # 503 & co: busy, or says no
        error = StreamRefused(f"{shown}: the server refused the stream (RTSP 5xx)", url=shown)
    elif isinstance(exc, av.error.HTTPNotFoundError):
        error = StreamProtocolError(f"{shown}: stream not found (RTSP 404)", url=shown)
    elif isinstance(exc, (ConnectionError, av.error.ConnectionResetError)):
        error = StreamRefused(f"{shown}: connection lost ({detail})", url=shown)
    else:
        error = StreamProtocolError(f"{shown}: {type(exc).__name__}: {detail}", url=shown)
    return error


# ---------------------------------------------------------------------------------------
# Measurements shared between the reader thread and the asyncio side
# ---------------------------------------------------------------------------------------


@dataclass
class Window:
    """Figures of the packets read since the window opened (guarded by `Reader.lock`)."""

    opened: float  # time.monotonic()
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    timestamps: list[float] = field(default_factory=list)  # stream seconds (pts)
    keyframe_intervals: list[float] = field(default_factory=list)  # stream seconds
    gops: list[int] = field(default_factory=list)  # frames from one keyframe to the next
    max_gap_s: float = 0.0
    lost: int | None = None  # RTP packets missing (sequence gaps); None: cannot tell (PyAV)

    def fps(self) -> float | None:
        """Frame rate from timestamps (time_base aware), robust to reordering and jumps."""
        stamps = sorted(set(self.timestamps))
        deltas = [b - a for a, b in itertools.pairwise(stamps)
                  if 0 < b - a <= MAX_FRAME_DELTA_S]
        total = sum(deltas)
        return len(deltas) / total if deltas and total > 0 else None


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    profile: str | None
    width: int
    height: int
    nominal_fps: float | None  # from the SDP / container, when it says


# ("connected", StreamInfo) | ("ended", str) | ("error", StreamError)
Notify = Callable[[str, object], None]


class Reader:
    """One stream's demux loop; `run` is the thread's target."""

    def __init__(
        self,
        url: str,
        *,
        open_timeout_s: float,
        poll_s: float,
        pixel_interval_s: float | None,
        notify: Notify,
    ) -> None:
        self.url = url  # with credentials: never put it in a message as is
        self.open_timeout_s = open_timeout_s
        self.poll_s = poll_s
        self.pixel_interval_s = pixel_interval_s
        self.notify = notify
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        now = time.monotonic()
        self.window = Window(opened=now)
        self.last_arrival = now  # monotonic time of the last packet (or of the connect)
        self.total_packets = 0
        self.pixels: PixelStats | None = None
        self.pixel_decodes = 0
        self._last_ts: float | None = None
        self._last_delta: float | None = None
        self._last_key_ts: float | None = None
        self._since_key: int | None = None
        self._next_pixel_at = 0.0
        self._probe: PixelProbe | None = None
        self._draining = True
        # When the read-poll interrupt ends a read, FFmpeg flushes its H.264 parser and
        # returns the frame it was holding back (it waits for the next frame's start to
        # know one is complete) as a normal packet. That frame arrived before the stall:
        # a packet whose read took the whole poll time is old news, not a sign of life.
        # Also tells packets buffered during the open (returned back to back) from live ones.
        self._read_since = time.monotonic()  # when the current blocking read began

    # -- asyncio side --------------------------------------------------------------------

    def take_window(self) -> tuple[Window, float, PixelStats | None]:
        """Swap in a fresh window; returns the old one, its length in s, and the pixels."""
        now = time.monotonic()
        with self.lock:
            window, self.window = self.window, Window(opened=now)
            # A gap still open at the end of the window counts in it (stall in progress).
            window.max_gap_s = max(window.max_gap_s, now - self.last_arrival)
            return window, now - window.opened, self.pixels

    def stop(self) -> None:
        self.stop_event.set()

    # -- thread side ---------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        try:
            container = av.open(
                self.url,
                options={
                    "rtsp_transport": "tcp",
                    "timeout": str(int(self.open_timeout_s * 1_000_000)),  # socket I/O, us
                    # The SDP's sprop-parameter-sets say what the stream is; do not sit
                    # on a second of packets to find out (the default is 5 s max).
                    "analyzeduration": str(ANALYZE_US),
                },
                timeout=(self.open_timeout_s, self.poll_s),
            )
        except Exception as exc:  # every open failure becomes a StreamError
            # The open-timeout interrupt surfaces as whatever error the interrupted step
            # returns (often InvalidDataError): the elapsed time tells it was the timeout.
            timed_out = time.monotonic() - started >= self.open_timeout_s * 0.98
            self.notify("error", map_error(exc, self.url, opening=True, timed_out=timed_out))
            return
        try:
            self._read(container)
        finally:
            container.close()

    def _read(self, container: av.container.InputContainer) -> None:
        if not container.streams.video:
            self.notify("error", StreamProtocolError(
                f"{redact_url(self.url)}: no video stream", url=redact_url(self.url)))
            return
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        info = StreamInfo(
            codec=ctx.name,
            profile=ctx.profile,
            width=ctx.width,
            height=ctx.height,
            nominal_fps=float(rate) if rate else None,
        )
        if self.pixel_interval_s is not None:
            self._probe = PixelProbe(ctx.name, ctx.extradata)
        time_base = stream.time_base or Fraction(1, 90_000)
        with self.lock:
            self.last_arrival = time.monotonic()
        self.notify("connected", info)
        self._read_since = time.monotonic()
        while not self.stop_event.is_set():
            try:
                for packet in container.demux(stream):
                    if self.stop_event.is_set():
                        return
                    if packet.size:  # size 0: the demuxer's end-of-stream flush packets
                        self._on_packet(packet, time_base)
            except av.error.ExitError:
                # The read-poll interrupt: check the stop flag, read on. The next packet
                # may come without a timestamp; do not guess one across the interruption.
                self._last_delta = None
                self._read_since = time.monotonic()
                continue
            except Exception as exc:
                self.notify("error", map_error(exc, self.url, opening=False))
                return
            else:
                if not self.stop_event.is_set():
                    self.notify("ended", "the server ended the stream")
                return

    def _on_packet(self, packet: av.Packet[Any], time_base: Fraction) -> None:
        now = time.monotonic()
        waited, self._read_since = now - self._read_since, now
        if self._draining:
            if waited < BUFFERED_S:
                return
            self._draining = False
        raw = packet.pts if packet.pts is not None else packet.dts
        ts: float | None = float(raw * time_base) if raw is not None else None
        if self.poll_s - FLUSH_SLACK_S <= waited <= self.poll_s + FLUSH_LATE_S and (
                ts is None or self._last_ts is None or ts - self._last_ts < waited / 2):
            # Returned at the read-poll deadline, and its timestamp is not that far on from
            # the last one: a frame that arrived before the gap now going on (a genuine
            # slow stream, ~1 frame per poll time, has timestamps as far apart as that).
            return
        if ts is not None:
            if self._last_ts is not None and 0 < ts - self._last_ts <= MAX_FRAME_DELTA_S:
                self._last_delta = ts - self._last_ts
        elif self._last_ts is not None and self._last_delta is not None:
            # The RTP demuxer leaves the odd packet without a timestamp (around RTCP sender
            # reports): assume the usual spacing rather than lose a frame from the rate.
            ts = self._last_ts + self._last_delta
        if ts is not None:
            self._last_ts = ts
        estimate = ts
        key = bool(packet.is_keyframe)
        with self.lock:
            window = self.window
            window.packets += 1
            window.bytes += packet.size
            window.max_gap_s = max(window.max_gap_s, now - self.last_arrival)
            self.last_arrival = now
            self.total_packets += 1
            if ts is not None:
                window.timestamps.append(ts)
            if key:
                window.keyframes += 1
                if self._since_key is not None:
                    window.gops.append(self._since_key)
                if estimate is not None and self._last_key_ts is not None:
                    interval = estimate - self._last_key_ts
                    if 0 < interval <= 10 * MAX_FRAME_DELTA_S:
                        window.keyframe_intervals.append(interval)
            if key:
                self._since_key = 1
                self._last_key_ts = estimate
            elif self._since_key is not None:
                self._since_key += 1
        if key and self._probe is not None and now >= self._next_pixel_at:
            assert self.pixel_interval_s is not None
            self._next_pixel_at = now + self.pixel_interval_s
            stats = self._probe.measure(packet)
            if stats is not None:
                with self.lock:
                    self.pixels = stats
                    self.pixel_decodes += 1
