"""RTSP stream health: a continuous sampler with a stall watchdog, and a one-shot probe.

DESIGN.md "RTSP / RTP / H.264" and "Health model": cheapest probe first. Two engines read
the packets, without decoding them: frame rate from timestamps, bit rate from payload
sizes, keyframes and their spacing, and the largest gap between packet arrivals. Only an
occasional keyframe is decoded, small and grey, for black / frozen / covered pictures
(`drivers.stream_pixels`), at most once per ``pixel_interval_s``.

- ``engine="rtp"`` (the default, `drivers.stream_rtp`): our own RTSP client on the event
  loop reads the interleaved RTP packets and looks only at their headers and first NAL
  byte (`drivers.rtp_depacketize`); PyAV decodes just the occasional keyframe, in a
  thread. 2.5-2.7x less CPU than the PyAV engine, 15-21x less than a full decode
  (bench/RESULTS.md, bench.stream_health); it also counts lost packets (sequence gaps).
- ``engine="pyav"`` (`drivers.stream_reader`): FFmpeg's RTSP demuxer in a worker thread
  per stream; packet flags from FFmpeg's parser. Kept for servers our client does not
  speak to (rtsps://, UDP-only) and as the reference the RTP engine is compared with.

A stall (the connection stays open, no packets come) is detected by a timer on the
asyncio side that watches the arrival time of the last packet - never by waiting for a
blocking read to return - so STALLED comes within ``stall_after_s`` plus one watchdog tick
(<= 0.25 s), and RECOVERED on the first packet after it.

H.264 and H.265 (HEVC) streams are read the same way (IDR / IRAP access units are the
keyframes; `StreamInfo.codec` and `StreamProbe.codec` say "h264" or "hevc"), and the
keyframe decoder is made for the stream's codec, with the SDP's parameter sets
(sprop-parameter-sets, sprop-vps/sps/pps). `probe` (for `citywatch diagnose`) always
uses PyAV: it also reports what FFmpeg makes of the stream.

Usage (the hub's supervisor)::

    sampler = StreamSampler(url, username="operator", password="...")
    async for item in sampler.samples():   # ends after an ENDED or ERROR event
        ...                                # StreamSample every window_s, StreamEvent on changes
    # iterate again (after a backoff) to reconnect

Problems of the stream never raise out of `StreamSampler.samples`: they arrive as
``StreamEvent(ERROR, error=StreamRefused | StreamAuthError | StreamTimeout |
StreamProtocolError)``. `probe` raises those instead. Messages never contain the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import statistics
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from drivers.errors import StreamError, StreamProtocolError, StreamTimeout
from drivers.stream_pixels import (
    BLACK_LUMA_MEAN,
    BLACK_LUMA_STD,
    FROZEN_KEYFRAMES,
    FROZEN_MAD,
    PixelStats,
    looks_black,
)
from drivers.stream_reader import Reader, StreamInfo, Window, redact_url, with_credentials
from drivers.stream_rtp import RtpSession

__all__ = [
    "BLACK_LUMA_MEAN",
    "BLACK_LUMA_STD",
    "ENGINES",
    "FROZEN_KEYFRAMES",
    "FROZEN_MAD",
    "StreamEvent",
    "StreamEventKind",
    "StreamProbe",
    "StreamSample",
    "StreamSampler",
    "looks_black",
    "probe",
    "redact_url",
]

# Longest a blocking read runs before the thread checks its stop flag. An interrupted
# read can cut a packet in the middle (FFmpeg then reports EIO or drops the timestamp),
# so this must stay well above any healthy frame spacing (a 1 fps stream: 1 s); stalls
# are found by the asyncio-side watchdog, not by this timeout.
READ_POLL_S = 2.0
JOIN_WAIT_S = 2.5  # how long closing a sampler waits for its thread (>= READ_POLL_S)
# Opening a stream (RTSP handshake + FFmpeg's stream analysis, which decodes a few
# frames) costs far more CPU than reading it. A hub starting 250 samplers at once would
# starve its event loop for seconds; this many opens at a time keep start-up smooth and
# still bring 250 streams up in a few seconds.
MAX_CONCURRENT_OPENS = 6
# An RTP-engine open is four RTSP round trips and an SDP parse (no stream analysis): cheap,
# so many at a time; the bound only keeps a burst against dead hosts (each holding its
# slot up to open_timeout_s) from queueing every other stream behind it.
MAX_CONCURRENT_RTP_OPENS = 32
ENGINES = ("rtp", "pyav")
_open_slots: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()


def _open_slot(engine: str) -> asyncio.Semaphore:
    slots = _open_slots.setdefault(asyncio.get_running_loop(), {})
    slot = slots.get(engine)
    if slot is None:
        limit = MAX_CONCURRENT_RTP_OPENS if engine == "rtp" else MAX_CONCURRENT_OPENS
        slot = slots[engine] = asyncio.Semaphore(limit)
    return slot


@dataclass(frozen=True)
class StreamSample:
    """Measurements over one window (``window_s`` seconds) of a stream."""

    at: datetime  # end of the window (UTC)
    window_s: float  # actual length of the window
    packets: int  # video packets (access units) received
    fps: float | None  # from packet timestamps; None with fewer than two packets
    bitrate_kbps: float | None  # video payload; None when no packets
    keyframe_interval_s: float | None  # mean spacing of the keyframes ending in the window
    keyframes: int
    max_gap_s: float  # longest time without a packet, including one still open at the end
    # From the most recently decoded keyframe; None before the first one and for a window
    # without packets (nothing to say about a picture that does not arrive).
    luma_mean: float | None
    luma_std: float | None
    frozen: bool | None  # the last FROZEN_KEYFRAMES decoded keyframes (nearly) identical
    # RTP packets missing in the window (sequence gaps); None from the PyAV engine.
    lost_packets: int | None = None


class StreamEventKind(enum.StrEnum):
    CONNECTED = "connected"
    STALLED = "stalled"
    RECOVERED = "recovered"
    ENDED = "ended"  # the server closed the stream (EOF); iterate again to reconnect
    ERROR = "error"  # open or read failed; ``error`` says how


@dataclass(frozen=True)
class StreamEvent:
    kind: StreamEventKind
    detail: str
    error: StreamError | None = None


@dataclass(frozen=True)
class StreamProbe:
    """What a short look at a stream found (`probe`)."""

    url: str  # redacted
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float | None  # measured from timestamps (falls back to the SDP's rate)
    gop: int | None  # frames from one keyframe to the next (None: < 2 keyframes seen)
    keyframe_interval_s: float | None
    bitrate_kbps: float | None
    packets: int
    seconds: float  # how long packets were read


def _sample(window: Window, length: float, pixels: PixelStats | None) -> StreamSample:
    flowing = window.packets > 0
    return StreamSample(
        at=datetime.now(UTC),
        window_s=length,
        packets=window.packets,
        fps=window.fps(),
        bitrate_kbps=window.bytes * 8 / 1000 / length if flowing and length > 0 else None,
        keyframe_interval_s=(statistics.fmean(window.keyframe_intervals)
                             if window.keyframe_intervals else None),
        keyframes=window.keyframes,
        max_gap_s=window.max_gap_s,
        luma_mean=pixels.luma_mean if pixels and flowing else None,
        luma_std=pixels.luma_std if pixels and flowing else None,
        frozen=pixels.frozen if pixels and flowing else None,
        lost_packets=window.lost,
    )


class _Session:
    """A reader thread plus the asyncio queue its lifecycle messages arrive on."""

    def __init__(self, url: str, *, open_timeout_s: float, pixel_interval_s: float | None,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._loop = loop
        self.reader = Reader(url, open_timeout_s=open_timeout_s, poll_s=READ_POLL_S,
                             pixel_interval_s=pixel_interval_s, notify=self._notify)
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"stream {redact_url(url)}")
        self.exited = asyncio.Event()

    def _run(self) -> None:
        try:
            self.reader.run()
        finally:
            try:
                self._loop.call_soon_threadsafe(self.exited.set)
            except RuntimeError:
                pass

    def _notify(self, kind: str, payload: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, (kind, payload))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def start(self) -> None:
        self.thread.start()

    async def close(self) -> None:
        """Stop the thread and wait (without blocking the loop) until it has ended.

        A thread still inside ``av.open`` ends by itself within ``open_timeout_s``; it is
        a daemon thread and closes its container as soon as the open returns.
        """
        self.reader.stop()
        if self.thread.is_alive():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(JOIN_WAIT_S):
                    await self.exited.wait()


class StreamSampler:
    """Continuous health sampling of one RTSP stream. See the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        window_s: float = 2.0,
        stall_after_s: float = 3.0,
        pixel_interval_s: float = 5.0,
        open_timeout_s: float = 10.0,
        engine: str = "rtp",
    ) -> None:
        if window_s <= 0 or stall_after_s <= 0 or open_timeout_s <= 0:
            raise ValueError("window_s, stall_after_s and open_timeout_s must be positive")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.engine = engine
        self._url = with_credentials(url, username, password)
        self.url = redact_url(self._url)
        self.window_s = window_s
        self.stall_after_s = stall_after_s
        self.pixel_interval_s = pixel_interval_s
        self.open_timeout_s = open_timeout_s
        # The watchdog's period: a stall is announced within stall_after_s + tick_s. Half
        # a second keeps that under the 5 s target with the default 3 s and costs a
        # city of 250 samplers 500 wake-ups a second, not thousands.
        self.tick_s = min(0.5, stall_after_s / 4, window_s / 4)

    async def samples(self) -> AsyncIterator[StreamSample | StreamEvent]:
        """Samples and events until cancelled, or until an ENDED/ERROR event (the last)."""
        pixel_interval_s = self.pixel_interval_s if self.pixel_interval_s > 0 else None
        session: _Session | RtpSession
        if self.engine == "rtp":
            session = RtpSession(self._url, open_timeout_s=self.open_timeout_s,
                                 pixel_interval_s=pixel_interval_s)
        else:
            session = _Session(self._url, open_timeout_s=self.open_timeout_s,
                               pixel_interval_s=pixel_interval_s,
                               loop=asyncio.get_running_loop())
        try:
            async with _open_slot(self.engine):
                session.start()
                kind, payload = await session.queue.get()
            if kind != "connected":
                yield self._final(kind, payload)
                return
            assert isinstance(payload, StreamInfo)
            rate = f" {payload.nominal_fps:g} fps" if payload.nominal_fps else ""
            yield StreamEvent(StreamEventKind.CONNECTED,
                              f"{payload.codec} {payload.width}x{payload.height}{rate}")
            reader = session.reader
            reader.take_window()  # the window starts now, not when the thread started
            next_window = time.monotonic() + self.window_s
            stalled_at: int | None = None  # total_packets when the stall was announced
            while True:
                await asyncio.sleep(self.tick_s)
                now = time.monotonic()
                with reader.lock:
                    since = now - reader.last_arrival
                    total = reader.total_packets
                if stalled_at is None and since >= self.stall_after_s:
                    stalled_at = total
                    yield StreamEvent(StreamEventKind.STALLED,
                                      f"no packets for {since:.1f} s (connection open)")
                elif stalled_at is not None and total > stalled_at:
                    stalled_at = None
                    yield StreamEvent(StreamEventKind.RECOVERED,
                                      f"packets again after {reader.window.max_gap_s:.1f} s")
                if not session.queue.empty():
                    kind, payload = session.queue.get_nowait()
                    window, length, pixels = reader.take_window()
                    if window.packets:
                        yield _sample(window, length, pixels)
                    yield self._final(kind, payload)
                    return
                if now >= next_window:
                    window, length, pixels = reader.take_window()
                    yield _sample(window, length, pixels)
                    next_window += self.window_s
                    if next_window <= now:  # the consumer was slow: do not burst
                        next_window = now + self.window_s
        finally:
            await session.close()

    def _final(self, kind: str, payload: object) -> StreamEvent:
        if kind == "error":
            assert isinstance(payload, StreamError)
            return StreamEvent(StreamEventKind.ERROR, payload.message, payload)
        return StreamEvent(StreamEventKind.ENDED, str(payload))


async def probe(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 10.0,
    seconds: float = 3.0,
) -> StreamProbe:
    """Open ``url``, read packets for ``seconds`` and say what the stream is.

    Raises `StreamRefused`, `StreamAuthError`, `StreamTimeout` (no answer within
    ``timeout_s``, or no packet within ``timeout_s`` after the open) or
    `StreamProtocolError`. Nothing is decoded.
    """
    full = with_credentials(url, username, password)
    shown = redact_url(full)
    session = _Session(full, open_timeout_s=timeout_s, pixel_interval_s=None,
                       loop=asyncio.get_running_loop())
    session.start()
    try:
        try:
            async with asyncio.timeout(timeout_s + 1.0):
                kind, payload = await session.queue.get()
        except TimeoutError:
            raise StreamTimeout(f"{shown}: no answer in {timeout_s:g} s", url=shown) from None
        if kind == "error":
            assert isinstance(payload, StreamError)
            raise payload
        if kind != "connected":
            raise StreamProtocolError(f"{shown}: the stream ended at once", url=shown)
        assert isinstance(payload, StreamInfo)
        info = payload
        reader = session.reader
        reader.take_window()
        started = time.monotonic()
        windows: list[Window] = []
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            with reader.lock:
                seen = reader.total_packets
                since = now - reader.last_arrival
            if since >= timeout_s:
                raise StreamTimeout(f"{shown}: no packets for {since:.1f} s", url=shown)
            ended = not session.queue.empty()
            if now - started >= seconds or ended:
                window, length, _ = reader.take_window()
                windows.append(window)
                break
        if ended and not seen:
            kind, payload = session.queue.get_nowait()
            if isinstance(payload, StreamError):
                raise payload
            raise StreamProtocolError(f"{shown}: the stream ended before any packet", url=shown)
    finally:
        await session.close()
    window = windows[0]
    fps = window.fps() or info.nominal_fps
    gop = round(statistics.median(window.gops)) if window.gops else None
    return StreamProbe(
        url=shown,
        codec=info.codec,
        profile=info.profile,
        width=info.width,
        height=info.height,
        fps=fps,
        gop=gop,
        keyframe_interval_s=(statistics.fmean(window.keyframe_intervals)
                             if window.keyframe_intervals else None),
        bitrate_kbps=window.bytes * 8 / 1000 / length if window.packets and length else None,
        packets=window.packets,
        seconds=length,
    )
