"""RTP-ready video for the RTSP server, prepared off the event loop when first needed.

A stream kind (`VideoKey`) needs its NORMAL variant before DESCRIBE can be answered (the
SDP carries its parameter sets: SPS/PPS, and VPS for H.265); the fault variants (black,
frozen, ...) are prepared when a fault first asks for one. Preparing means loading from
the disk cache (milliseconds) or encoding with libx264 or libx265 (about 0.5 s for
640x360, 2 s for 1920x1080 per variant on a 2-core laptop), then packetising once. At
most MAX_PARALLEL_PREPARES run at a time, in worker threads; background pre-warming
takes at most one of those slots, so a client waiting for a stream never waits behind
the whole pre-warm queue.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from simulator.rtp import RtpLoop
from simulator.video import (
    Codec,
    EncodeCancelled,
    EncodedLoop,
    Variant,
    VideoKey,
    VideoLibrary,
)

log = logging.getLogger(__name__)

# libx264 already uses every core for one encode; two at once keep both cores busy
# through the single-threaded parts (scene drawing, packetising) without starving the
# event loop's thread of the GIL for long.
MAX_PARALLEL_PREPARES = 2
# Nice value of the preparing threads (Linux: per thread; libx264's own threads inherit
# it): a first encode must not slow ONVIF answers, RTP pacing or the demo's TUI down.
PREPARE_NICENESS = 10


@dataclass(frozen=True)
class SdpVideo:
    """What the SDP says about a stream kind's video (from its NORMAL variant)."""

    profile_level_id: str  # H.264
    sprop: str  # H.264 sprop-parameter-sets: base64 SPS,PPS
    codec: Codec = Codec.H264
    vps: bytes = b""  # H.265: the fmtp's sprop-vps, sprop-sps, sprop-pps
    sps: bytes = b""
    pps: bytes = b""


class MediaStore:
    """Packetised loops per VideoKey and Variant; prepares missing ones on demand."""

    def __init__(self, library: VideoLibrary, mtu: int) -> None:
        self.library = library
        self.mtu = mtu
        self._loops: dict[VideoKey, dict[Variant, RtpLoop]] = {}
        self._sdp: dict[VideoKey, SdpVideo] = {}
        self._pending: dict[tuple[VideoKey, Variant], asyncio.Task[None]] = {}
        self._failed: dict[tuple[VideoKey, Variant], str] = {}
        self._slots = asyncio.Semaphore(MAX_PARALLEL_PREPARES)
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # queries ---------------------------------------------------------------------------
    def ready(self, key: VideoKey, variant: Variant = Variant.NORMAL) -> bool:
        return variant in self._loops.get(key, {})

    def loops(self, key: VideoKey) -> dict[Variant, RtpLoop]:
        """The prepared variants of `key` (the dict grows as more are prepared)."""
        return self._loops.setdefault(key, {})

    def sdp(self, key: VideoKey) -> SdpVideo | None:
        return self._sdp.get(key)

    def failure(self, key: VideoKey, variant: Variant = Variant.NORMAL) -> str | None:
        """Why preparing this variant failed, if it did (it is not tried again)."""
        return self._failed.get((key, variant))

    def pending(self, key: VideoKey, variant: Variant = Variant.NORMAL) -> bool:
        return (key, variant) in self._pending

    # preparing -------------------------------------------------------------------------
    def request(self, key: VideoKey, variants: Iterable[Variant]) -> None:
        """Start preparing whichever of `variants` is missing (fire and forget)."""
        self._start(key, variants)

    def ensure(self, key: VideoKey, variants: Iterable[Variant]) -> Awaitable[object] | None:
        """Start preparing whichever of `variants` is missing; None if all are ready (or
        failed). The awaitable ends when they are, or when preparing failed (it does not
        raise: see failure())."""
        tasks = self._start(key, variants)
        return asyncio.gather(*tasks, return_exceptions=True) if tasks else None

    def _start(self, key: VideoKey, variants: Iterable[Variant]) -> set[asyncio.Task[None]]:
        missing = [v for v in dict.fromkeys(variants)
                   if not self.ready(key, v) and (key, v) not in self._failed]
        if not missing or self._closed:
            return set()
        fresh = [v for v in missing if (key, v) not in self._pending]
        if fresh:
            task = asyncio.get_running_loop().create_task(self._prepare(key, fresh))
            self._track(task)
            for v in fresh:
                self._pending[(key, v)] = task
        return {self._pending[(key, v)] for v in missing}

    async def prepare(self, keys: Iterable[VideoKey],
                      variants: Iterable[Variant] = (Variant.NORMAL,)) -> None:
        """Prepare `variants` of every key, at most MAX_PARALLEL_PREPARES at once."""
        wanted = tuple(variants)
        waits = [w for w in (self.ensure(k, wanted) for k in sorted(set(keys))) if w]
        for results in await asyncio.gather(*waits):
            assert isinstance(results, list)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    def prewarm(self, keys: Iterable[VideoKey]) -> None:
        """Prepare the NORMAL variant of `keys` in the background, one at a time."""
        todo = sorted(set(keys))
        if todo and not self._closed:
            self._track(asyncio.get_running_loop().create_task(self._prewarm(todo)))

    async def _prewarm(self, keys: list[VideoKey]) -> None:
        started = time.monotonic()
        for key in keys:
            wait = self.ensure(key, (Variant.NORMAL,))
            if wait is not None:
                await wait  # a failure is logged by _prepare; the other keys go on
        log.info("pre-warmed %d stream kinds in %.1f s", len(keys), time.monotonic() - started)

    async def _prepare(self, key: VideoKey, variants: list[Variant]) -> None:
        try:
            async with self._slots:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        MAX_PARALLEL_PREPARES, thread_name_prefix="video-prepare",
                        initializer=_background_priority)
                rtp, sdp = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._packetise, key, variants)
            self._loops.setdefault(key, {}).update(rtp)
            if sdp is not None:
                self._sdp[key] = sdp
        except EncodeCancelled:
            raise  # stopping: not a failure of this key
        except Exception as exc:
            log.error("cannot prepare the video of %dx%d@%d (%s): %s", key.width, key.height,
                      key.fps, "+".join(variants), exc)
            for v in variants:
                self._failed[(key, v)] = str(exc) or type(exc).__name__
            raise
        finally:
            for v in variants:
                if self._pending.get((key, v)) is asyncio.current_task():
                    del self._pending[(key, v)]

    def _packetise(self, key: VideoKey, variants: list[Variant]
                   ) -> tuple[dict[Variant, RtpLoop], SdpVideo | None]:
        """Worker thread: encoded loops (cache or libx264) -> RTP packets."""
        loops = self.library.get(key, variants)
        self.library.forget(key)  # the packetised copy is what the server keeps
        rtp = {v: RtpLoop.from_encoded(loop, self.mtu) for v, loop in loops.items()}
        normal = loops.get(Variant.NORMAL)
        return rtp, None if normal is None else _sdp_video(normal)

    # lifecycle -------------------------------------------------------------------------
    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here: failures are logged by _prepare

    async def close(self) -> None:
        """Cancel preparations; encodes in worker threads stop within one frame."""
        self._closed = True
        self.library.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _sdp_video(normal: EncodedLoop) -> SdpVideo:
    sprop = ",".join(base64.b64encode(x).decode() for x in (normal.sps, normal.pps))
    return SdpVideo(normal.profile_level_id, sprop, normal.key.codec, normal.vps, normal.sps,
                    normal.pps)


def _background_priority() -> None:
    """Thread initializer: lower this worker thread's CPU priority (Linux only; elsewhere
    the call would apply to the whole process)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PREPARE_NICENESS)
