"""drivers.stream against the small RTSP server in conftest (MiniRtsp): real RTSP, both
sampler engines (our RTP reader, "rtp", and FFmpeg's demuxer through PyAV, "pyav").

Each test runs one sampler for a few seconds with short windows; together < 40 s.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from drivers.errors import StreamAuthError, StreamRefused, StreamTimeout
from drivers.stream import (
    ENGINES,
    READ_POLL_S,
    StreamEvent,
    StreamEventKind,
    StreamSample,
    StreamSampler,
    looks_black,
    probe,
    redact_url,
)
from drivers.stream_reader import map_error, scrub, with_credentials
from tests.drivers.conftest import MINI_FPS, MINI_GOP, MiniRtsp, free_port

USER, PASSWORD = "operator", "S3cret&<p@ss>:/"
Start = Callable[..., Awaitable[MiniRtsp]]
Item = StreamSample | StreamEvent


class Recorder:
    """Runs a sampler in a task and keeps (monotonic time, item) pairs."""

    def __init__(self, sampler: StreamSampler) -> None:
        self.items: list[tuple[float, Item]] = []
        self.task = asyncio.create_task(self._run(sampler.samples()))

    async def _run(self, gen: AsyncIterator[Item]) -> None:
        async for item in gen:
            self.items.append((time.monotonic(), item))

    def events(self, kind: StreamEventKind) -> list[tuple[float, StreamEvent]]:
        return [(t, i) for t, i in self.items if isinstance(i, StreamEvent) and i.kind == kind]

    def samples(self, after: float = 0.0) -> list[StreamSample]:
        return [i for t, i in self.items if isinstance(i, StreamSample) and t > after]

    async def wait_for(self, pred: Callable[[Item], bool], within: float,
                       *, start: int | None = None) -> float:
        """Monotonic time of the first item (from now on, or from ``start``) satisfying pred."""
        start = len(self.items) if start is None else start
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for t, item in self.items[start:]:
                if pred(item):
                    return t
            if self.task.done():
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"not seen within {within} s: {self.items[start:]}")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def is_event(kind: StreamEventKind) -> Callable[[Item], bool]:
    return lambda item: isinstance(item, StreamEvent) and item.kind == kind


def sampler_for(server: MiniRtsp, engine: str, **kwargs: float) -> StreamSampler:
    options: dict[str, float] = {"window_s": 1.0, "stall_after_s": 1.0,
                                 "pixel_interval_s": 0.3, "open_timeout_s": 5.0}
    options.update(kwargs)
    return StreamSampler(server.url, username=server.username, password=server.password,
                         engine=engine, **options)


async def measures_fps_bitrate_keyframes_and_pixels(mini_rtsp: Start, engine: str) -> None:
    server = await mini_rtsp(username=USER, password=PASSWORD)
    rec = Recorder(sampler_for(server, engine))
    try:
        await rec.wait_for(is_event(StreamEventKind.CONNECTED), 5)
        await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.frozen is not None, 4)
        await rec.wait_for(lambda i: isinstance(i, StreamSample), 2)
    finally:
        await rec.stop()
    samples = rec.samples()
    assert len(samples) >= 2
    for s in samples:
        assert s.fps is not None and abs(s.fps - MINI_FPS) < 1
        assert 20 <= s.packets <= 30
        assert s.bitrate_kbps is not None and 100 < s.bitrate_kbps < 1500
        assert s.max_gap_s < 0.5
    assert any(s.keyframes >= 1 for s in samples)
    intervals = [s.keyframe_interval_s for s in samples if s.keyframe_interval_s]
    assert intervals and all(abs(i - MINI_GOP / MINI_FPS) < 0.05 for i in intervals)
    last = samples[-1]
    assert last.luma_mean is not None and last.luma_std is not None
    assert last.luma_mean > 40 and not looks_black(last.luma_mean, last.luma_std)
    assert last.frozen is False


async def stall_detected_by_watchdog_then_recovered(mini_rtsp: Start, engine: str) -> None:
    server = await mini_rtsp()
    stall_after = 1.0
    rec = Recorder(sampler_for(server, engine, stall_after_s=stall_after))
    try:
        await rec.wait_for(lambda i: isinstance(i, StreamSample), 4)
        server.stalled = True
        stalled_at = time.monotonic()
        seen = await rec.wait_for(is_event(StreamEventKind.STALLED), stall_after + 2)
        assert seen - stalled_at <= stall_after + 1.0
        quiet = await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.packets == 0, 3)
        server.stalled = False
        resumed_at = time.monotonic()
        back = await rec.wait_for(is_event(StreamEventKind.RECOVERED), 2)
        assert back - resumed_at < 1.0
        await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.packets > 10, 3)
    finally:
        await rec.stop()
    stalled_samples = [s for s in rec.samples(after=quiet - 0.01) if s.packets == 0]
    assert stalled_samples[0].fps is None and stalled_samples[0].luma_mean is None
    assert stalled_samples[0].max_gap_s >= stall_after
    assert not rec.events(StreamEventKind.ERROR)


async def black_then_frozen_picture(mini_rtsp: Start, engine: str) -> None:
    server = await mini_rtsp()
    rec = Recorder(sampler_for(server, engine))
    try:
        await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.luma_mean is not None, 6)
        server.variant = "black"
        await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.luma_mean is not None
                           and i.luma_mean < 20 and looks_black(i.luma_mean, i.luma_std), 4)
        server.variant = "frozen"
        await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.frozen is True
                           and (i.luma_mean or 0) > 40, 6)
        # Packets keep flowing while the picture is frozen: no stall.
        assert not rec.events(StreamEventKind.STALLED)
    finally:
        await rec.stop()


async def no_keyframes_window(mini_rtsp: Start, engine: str) -> None:
    server = await mini_rtsp()
    rec = Recorder(sampler_for(server, engine, window_s=1.0))
    try:
        await rec.wait_for(lambda i: isinstance(i, StreamSample), 4)
        server.no_keyframes = True
        await rec.wait_for(lambda i: isinstance(i, StreamSample), 2)  # the switching window
        await rec.wait_for(lambda i: isinstance(i, StreamSample) and i.keyframes == 0
                           and i.packets > 20, 3)
    finally:
        await rec.stop()


async def disconnect_ends_the_iteration(mini_rtsp: Start, engine: str) -> None:
    server = await mini_rtsp()
    sampler = sampler_for(server, engine)
    rec = Recorder(sampler)
    await rec.wait_for(lambda i: isinstance(i, StreamSample), 4)
    server.disconnect()
    await rec.wait_for(lambda i: isinstance(i, StreamEvent)
                       and i.kind in (StreamEventKind.ENDED, StreamEventKind.ERROR), 3)
    await asyncio.wait_for(rec.task, 3)  # the generator returned by itself
    # Iterating again reconnects.
    again = Recorder(sampler)
    try:
        await again.wait_for(is_event(StreamEventKind.CONNECTED), 5)
    finally:
        await again.stop()
    assert server.sessions == 2


@pytest.mark.parametrize("engine", ENGINES)
async def test_sampler_and_probe_on_healthy_and_faulty_streams(mini_rtsp: Start,
                                                               engine: str) -> None:
    """Each check has a server of its own; they run at the same time to keep this fast."""
    await asyncio.gather(
        measures_fps_bitrate_keyframes_and_pixels(mini_rtsp, engine),
        stall_detected_by_watchdog_then_recovered(mini_rtsp, engine),
        black_then_frozen_picture(mini_rtsp, engine),
        no_keyframes_window(mini_rtsp, engine),
        disconnect_ends_the_iteration(mini_rtsp, engine),
        *([probe_reports_the_stream(mini_rtsp)] if engine == "pyav" else []),
    )


async def first_event(sampler: StreamSampler) -> StreamEvent:
    async for item in sampler.samples():
        assert isinstance(item, StreamEvent)
        return item
    raise AssertionError("no event")


@pytest.mark.parametrize("engine", ENGINES)
async def test_refused(engine: str) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/stream1"
    event = await first_event(StreamSampler(url, username=USER, password=PASSWORD,
                                            engine=engine))
    assert event.kind == StreamEventKind.ERROR and isinstance(event.error, StreamRefused)
    assert PASSWORD not in event.detail and "***" in event.detail
    with pytest.raises(StreamRefused):
        await probe(url)


@pytest.mark.parametrize("engine", ENGINES)
async def test_wrong_password_is_an_auth_error_and_never_shown(mini_rtsp: Start,
                                                               engine: str) -> None:
    server = await mini_rtsp(username=USER, password="right-one")
    event = await first_event(StreamSampler(server.url, username=USER, password=PASSWORD,
                                            engine=engine))
    assert event.kind == StreamEventKind.ERROR and isinstance(event.error, StreamAuthError)
    with pytest.raises(StreamAuthError) as info:
        await probe(with_credentials(server.url, USER, PASSWORD))
    for text in (event.detail, str(event.error), str(info.value), info.value.url or ""):
        assert PASSWORD not in text and "S3cret" not in text
        assert "%26" not in text  # nor its percent-encoded form


@pytest.mark.parametrize("engine", ENGINES)
async def test_open_timeout(mini_rtsp: Start, engine: str) -> None:
    del mini_rtsp
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        event = await first_event(StreamSampler(f"rtsp://127.0.0.1:{port}/x",
                                                open_timeout_s=1.0, engine=engine))
        assert isinstance(event.error, StreamTimeout), event
        assert time.monotonic() - started < 2.5
        with pytest.raises(StreamTimeout):
            await probe(f"rtsp://127.0.0.1:{port}/x", timeout_s=1.0)
    finally:
        silent.close()


async def wait_threads(baseline: int, within: float = 2.0) -> int:
    for _ in range(int(within / 0.05)):
        if threading.active_count() <= baseline:
            break
        await asyncio.sleep(0.05)
    return threading.active_count()


async def test_cancel_stops_the_reader_thread_even_while_stalled(mini_rtsp: Start) -> None:
    server = await mini_rtsp()
    baseline = threading.active_count()
    recs = [Recorder(sampler_for(server, "pyav", stall_after_s=0.5)) for _ in range(3)]
    for rec in recs:
        await rec.wait_for(lambda i: isinstance(i, StreamSample), 4)
    assert threading.active_count() == baseline + 3
    marks = [len(rec.items) for rec in recs]
    server.stalled = True  # the readers now sit in a blocking read
    for rec, mark in zip(recs, marks, strict=True):
        await rec.wait_for(is_event(StreamEventKind.STALLED), 3, start=mark)
    started = time.monotonic()
    await asyncio.gather(*(rec.stop() for rec in recs))
    assert await wait_threads(baseline) == baseline
    # A blocked read ends at the next read-poll interrupt, at most READ_POLL_S later.
    assert time.monotonic() - started < READ_POLL_S + 1.0


async def test_cancel_closes_the_rtp_session_even_while_stalled(mini_rtsp: Start) -> None:
    server = await mini_rtsp()
    baseline = threading.active_count()
    recs = [Recorder(sampler_for(server, "rtp", stall_after_s=0.5, pixel_interval_s=0))
            for _ in range(3)]
    for rec in recs:
        await rec.wait_for(lambda i: isinstance(i, StreamSample), 4)
    assert threading.active_count() == baseline  # no thread per stream
    assert len(server._writers) == 3
    marks = [len(rec.items) for rec in recs]
    server.stalled = True
    for rec, mark in zip(recs, marks, strict=True):
        await rec.wait_for(is_event(StreamEventKind.STALLED), 3, start=mark)
    started = time.monotonic()
    await asyncio.gather(*(rec.stop() for rec in recs))
    assert time.monotonic() - started < 0.5
    for _ in range(40):  # TEARDOWN, then the connections close
        if not server._writers:
            break
        await asyncio.sleep(0.05)
    assert not server._writers


async def probe_reports_the_stream(mini_rtsp: Start) -> None:
    server = await mini_rtsp(username=USER, password=PASSWORD)
    result = await probe(server.url, username=USER, password=PASSWORD, seconds=2.2)
    assert (result.codec, result.width, result.height) == ("h264", 320, 180)
    assert result.profile and "Baseline" in result.profile
    assert result.fps is not None and abs(result.fps - MINI_FPS) < 1
    assert result.gop == MINI_GOP
    assert result.keyframe_interval_s is not None
    assert abs(result.keyframe_interval_s - MINI_GOP / MINI_FPS) < 0.05
    assert result.bitrate_kbps is not None and result.bitrate_kbps > 100
    assert PASSWORD not in result.url


def test_redaction() -> None:
    url = with_credentials("rtsp://10.0.0.5:554/Streaming/101", "admin", "p@ss:w/rd&1")
    assert url == "rtsp://admin:p%40ss%3Aw%2Frd%261@10.0.0.5:554/Streaming/101"
    assert redact_url(url) == "rtsp://admin:***@10.0.0.5:554/Streaming/101"
    assert redact_url("rtsp://cam/x") == "rtsp://cam/x"
    text = f"failed: '{url}' (password p@ss:w/rd&1)"
    assert "p@ss" not in scrub(text, url) and "%40" not in scrub(text, url)
    error = map_error(OSError(5, f"I/O error on {url}"), url, opening=True)
    assert "p@ss" not in str(error) and "%40ss" not in str(error)
