"""A short clip of a camera's RTSP stream, recorded on demand for an evidence bundle.

The packets are remuxed, never decoded or re-encoded (PyAV stream copy): the output
stream is made from the input stream's codec parameters (extradata = the camera's own
SPS/PPS, VPS for H.265), so the clip is bit for bit what the camera sent, from its first
keyframe on, with timestamps rebased to start at 0. H.264 and H.265 go into MP4; any
other codec into Matroska, which takes every codec FFmpeg knows.

    clip = await record_clip(uri, username="admin", password="...", seconds=10)
    clip.data  # the MP4 bytes; clip.codec, clip.seconds, clip.packets

The demux loop runs in a worker thread under PyAV's open and read timeouts; the caller
also waits at most `overall_timeout_s` (then the thread is told to stop and ends within
one read timeout). Every failure is a `hub.errors.ClipError` whose message carries no
credentials (the stream URL is shown without its user information).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error

from drivers.stream_reader import map_error, scrub, with_credentials
from hub.errors import ClipError

log = logging.getLogger(__name__)

# An operator asks for "what the camera sees now": 10 s is a plate passing through the
# picture; 60 s caps a bundle at a few tens of MB on a 4 Mbit/s main stream.
DEFAULT_CLIP_S = 10
MAX_CLIP_S = 60
# RTSP handshake + FFmpeg's stream analysis; a camera that has not answered by then is
# reported as unreachable rather than holding the export up.
OPEN_TIMEOUT_S = 10.0
# One blocking read: a stream without a packet for this long is stalled (the hub's own
# stall threshold is 3 s; evidence may wait a little longer for a slow camera).
READ_TIMEOUT_S = 5.0
# Before the first keyframe nothing can be recorded; a GOP is 1-4 s on real cameras, so
# a stream without one for this long is broken (or sends "missing keyframes").
KEYFRAME_WAIT_S = 10.0
# The caller's bound on top of open + recording: a busy machine, the last read timing out.
OVERALL_MARGIN_S = READ_TIMEOUT_S + 5.0
# How FFmpeg looks at the stream before handing packets over (us): the SDP's parameter
# sets already say what it is (same figure as drivers.stream_reader).
ANALYZE_US = 500_000
# A dts step larger than this (or backwards) is a discontinuity of the camera's clock
# (stream restart, 32-bit RTP wrap), not a gap in the picture: it is closed up.
MAX_DTS_STEP_S = 5.0
# Codecs MP4 carries with the usual players; anything else goes into Matroska.
MP4_CODECS = frozenset({"h264", "hevc"})
_USERINFO = re.compile(r"://[^/@\s]*@")


@dataclass(frozen=True)
class Clip:
    """A recorded clip and what it holds."""

    data: bytes
    container: str  # "mp4" or "mkv" (also the file extension)
    codec: str  # FFmpeg's codec name: "h264", "hevc"
    width: int
    height: int
    seconds: float  # from the first to the last packet's timestamp (+ one frame)
    packets: int
    source: str  # the stream URL without user information

    @property
    def extension(self) -> str:
        return self.container


def public_url(url: str) -> str:
    """`url` without user:password@: what a bundle, a log line or a message may show."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def clip_seconds(value: int | float | None) -> int:
    """A clip length the hub records: DEFAULT_CLIP_S for None; ClipError outside 1..MAX."""
    if value is None:
        return DEFAULT_CLIP_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            1 <= value <= MAX_CLIP_S):
        raise ClipError(f"a clip is 1-{MAX_CLIP_S} seconds long, not {value!r}")
    return int(value)


async def record_clip(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    seconds: int = DEFAULT_CLIP_S,
    open_timeout_s: float = OPEN_TIMEOUT_S,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> Clip:
    """Record `seconds` of the stream at `url` from its next keyframe on (stream copy)."""
    seconds = clip_seconds(seconds)
    recorder = _Recorder(with_credentials(url, username, password), seconds,
                         open_timeout_s, read_timeout_s)
    overall = open_timeout_s + KEYFRAME_WAIT_S + seconds + OVERALL_MARGIN_S
    # A thread of its own, not the default executor: it may block for a read timeout.
    done: asyncio.Future[Clip] = asyncio.get_running_loop().create_future()
    thread = threading.Thread(target=recorder.run_into, args=(done,), daemon=True,
                              name=f"clip {public_url(url)}")
    thread.start()
    try:
        async with asyncio.timeout(overall):
            return await asyncio.shield(done)
    except TimeoutError:
        raise ClipError(f"{public_url(url)}: no clip within {overall:.0f} s") from None
    finally:
        recorder.stop.set()  # a cancelled or timed-out caller: the thread ends by itself


class _Recorder:
    """The blocking side: open, wait for a keyframe, copy packets into a file."""

    def __init__(self, url: str, seconds: int, open_timeout_s: float,
                 read_timeout_s: float) -> None:
        self.url = url  # with credentials: never into a message as is
        self.shown = public_url(url)
        self.seconds = seconds
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.stop = threading.Event()

    def run_into(self, done: asyncio.Future[Clip]) -> None:
        loop = done.get_loop()
        try:
            clip = self.record()
        except ClipError as exc:
            error = exc

            def fail() -> None:
                if not done.done():
                    done.set_exception(error)

            _call_soon(loop, fail)
            return

        def succeed() -> None:
            if not done.done():
                done.set_result(clip)

        _call_soon(loop, succeed)

    def record(self) -> Clip:
        started = time.monotonic()
        try:
            source = av.open(
                self.url,
                options={"rtsp_transport": "tcp",
                         "timeout": str(int(self.open_timeout_s * 1_000_000)),
                         "analyzeduration": str(ANALYZE_US)},
                timeout=(self.open_timeout_s, self.read_timeout_s),
            )
        except Exception as exc:  # every open failure: one credential-free ClipError
            timed_out = time.monotonic() - started >= self.open_timeout_s * 0.98
            error = map_error(exc, self.url, opening=True, timed_out=timed_out)
            raise ClipError(self._clean(error.message)) from None
        try:
            if not source.streams.video:
                raise ClipError(f"{self.shown}: the stream has no video")
            return self._copy(source, source.streams.video[0])
        finally:
            source.close()

    def _clean(self, text: str) -> str:
        """A driver message with every URL shown without user information at all (the
        driver keeps the user name; a bundle and its audit trail need neither)."""
        return _USERINFO.sub("://", scrub(text, self.url))

    def _copy(self, source: Any, stream: Any) -> Clip:
        codec = stream.codec_context.name
        container = "mp4" if codec in MP4_CODECS else "mkv"
        handle, path = tempfile.mkstemp(prefix="citywatch-clip-", suffix="." + container)
        os.close(handle)
        try:
            packets, duration = self._mux(source, stream, path, container)
            with open(path, "rb") as file:
                data = file.read()
        finally:
            os.unlink(path)
        return Clip(data=data, container=container, codec=codec,
                    width=stream.codec_context.width, height=stream.codec_context.height,
                    seconds=duration, packets=packets, source=self.shown)

    def _mux(self, source: Any, stream: Any, path: str, container: str) -> tuple[int, float]:
        time_base: Fraction = stream.time_base or Fraction(1, 90_000)
        target = int(self.seconds / time_base)
        max_step = int(MAX_DTS_STEP_S / time_base)
        output = av.open(path, mode="w", format="mp4" if container == "mp4" else "matroska")
        try:
            out_stream = output.add_stream_from_template(stream)
            timeline = _Timeline(max_step)
            keyframe_deadline = time.monotonic() + KEYFRAME_WAIT_S
            for packet in self._packets(source, stream):
                if timeline.packets == 0:
                    if not packet.is_keyframe:
                        if time.monotonic() > keyframe_deadline:
                            raise ClipError(
                                f"{self.shown}: no keyframe in {KEYFRAME_WAIT_S:g} s")
                        continue
                if not timeline.place(packet):
                    continue
                packet.stream = out_stream
                packet.time_base = time_base
                output.mux(packet)
                if timeline.length >= target:
                    break
            if timeline.packets == 0:
                raise ClipError(f"{self.shown}: the stream ended before a keyframe")
            frame = timeline.step or 0
            return timeline.packets, float((timeline.length + frame) * time_base)
        except (av.error.FFmpegError, ValueError) as exc:
            raise ClipError(f"{self.shown}: cannot write the clip: {self._clean(str(exc))}") \
                from None
        finally:
            output.close()

    def _packets(self, source: Any, stream: Any) -> Any:
        """Packets with data until stopped; read errors become ClipError."""
        while not self.stop.is_set():
            try:
                for packet in source.demux(stream):
                    if self.stop.is_set():
                        return
                    if packet.size:  # size 0: the demuxer's end-of-stream flush
                        yield packet
                return  # the server ended the stream: keep what was recorded
            except av.error.ExitError:
                # The read timeout: no packet for read_timeout_s.
                raise ClipError(f"{self.shown}: no packets for {self.read_timeout_s:g} s "
                                "(stream stalled)") from None
            except Exception as exc:  # FFmpeg read failures: one credential-free ClipError
                error = map_error(exc, self.url, opening=False)
                raise ClipError(self._clean(error.message)) from None


class _Timeline:
    """Rebases packet timestamps to start at 0 and keeps dts strictly increasing (the
    MP4 muxer refuses anything else); fills in a missing timestamp from the usual step."""

    def __init__(self, max_step: int) -> None:
        self.max_step = max_step
        self.offset: int | None = None
        self.last_dts: int | None = None
        self.step: int | None = None  # the usual dts spacing (one frame)
        self.packets = 0
        self.length = 0  # dts of the last placed packet (rebased)

    def place(self, packet: Any) -> bool:
        """Set the packet's rebased pts/dts; False drops it (no timestamp can be given)."""
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None:
            if self.last_dts is None or self.step is None:
                return False
            dts = self.last_dts + self.step
            packet.pts = None
        else:
            if self.offset is None:
                self.offset = dts
            dts -= self.offset
            if self.last_dts is not None:
                delta = dts - self.last_dts
                if delta <= 0 or delta > self.max_step:
                    # A jump of the camera's clock: continue one frame after the last.
                    fixed = self.last_dts + (self.step or 1)
                    self.offset += dts - fixed
                    dts = fixed
                else:
                    self.step = delta
        pts = packet.pts - self.offset if packet.pts is not None and self.offset is not None \
            else dts
        packet.dts = dts
        packet.pts = max(pts, dts)
        self.last_dts = dts
        self.length = dts
        self.packets += 1
        return True


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop is closed: nobody waits for the clip any more
        log.debug("clip finished after its event loop closed")
