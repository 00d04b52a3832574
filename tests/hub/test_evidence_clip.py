"""hub.evidence_clip against the simulator's RTSP server: H.264 and H.265 clips are stream
copies (same codec parameters, no re-encode), start at a keyframe, last about as long as
asked; failures are ClipErrors without credentials."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest

from hub.errors import ClipError
from hub.evidence_clip import MAX_CLIP_S, clip_seconds, record_clip
from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtsp_server import RtspServer, StreamFault

USER, PASSWORD = "evidence", "Cl1p&<secret>"
H264 = StreamProfile("sub264", "subStream", 320, 180, 10, "H264", 256)
H265 = StreamProfile("sub265", "subStream", 320, 180, 10, "H265", 256)
SECONDS = 3


@pytest.fixture
async def server(video_cache: Path) -> AsyncIterator[RtspServer]:
    srv = RtspServer(VirtualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
                     cache_dir=video_cache)
    srv.add_stream("cam/h264", H264, username=USER, password=PASSWORD)
    srv.add_stream("cam/h265", H265, username=USER, password=PASSWORD)
    await srv.start()
    yield srv
    await srv.stop()


def stream_extradata(url: str) -> tuple[str, bytes]:
    """The codec and extradata of the live stream, as FFmpeg sees them."""
    creds = url.replace("rtsp://", f"rtsp://{USER}:{PASSWORD.replace('&', '%26')}@")
    with av.open(creds.replace("<", "%3C").replace(">", "%3E"),
                 options={"rtsp_transport": "tcp"}, timeout=10) as source:
        ctx = source.streams.video[0].codec_context
        return ctx.name, bytes(ctx.extradata or b"")


@pytest.mark.parametrize(("path", "codec"), [("cam/h264", "h264"), ("cam/h265", "hevc")])
async def test_clip_is_a_stream_copy_from_a_keyframe(
    server: RtspServer, path: str, codec: str
) -> None:
    url = server.url(path)
    clip = await record_clip(url, username=USER, password=PASSWORD, seconds=SECONDS)
    assert clip.container == "mp4" and clip.codec == codec
    assert (clip.width, clip.height) == (320, 180)
    assert clip.seconds >= SECONDS - 0.2
    assert PASSWORD not in clip.source and USER not in clip.source
    live_codec, live_extradata = await asyncio.to_thread(stream_extradata, url)
    with av.open(io.BytesIO(clip.data)) as recorded:
        stream = recorded.streams.video[0]
        assert stream.codec_context.name == live_codec == codec
        packets = [p for p in recorded.demux(stream) if p.size]
        # MP4 keeps the parameter sets as avcC/hvcC: the same SPS/PPS(/VPS) bytes.
        extradata = bytes(stream.codec_context.extradata or b"")
        live_units = _nal_units(live_extradata)
        assert live_units and all(unit in extradata for unit in live_units)
    assert packets[0].is_keyframe
    assert len(packets) == clip.packets
    span = float((packets[-1].dts - packets[0].dts) * stream.time_base)
    assert span >= SECONDS - 1
    # No re-encode: the clip's packets are the stream's own (as many as its frame rate
    # gives for the time; a transcode would also change the bit rate freely).
    assert abs(len(packets) - SECONDS * 10) <= 3


def _nal_units(extradata: bytes) -> set[bytes]:
    """NAL units of Annex B extradata (start codes); empty for avcC/hvcC records."""
    if not extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return set()
    parts = extradata.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return {p for p in parts if p}


async def test_wrong_password_is_a_clip_error_without_credentials(server: RtspServer) -> None:
    with pytest.raises(ClipError) as caught:
        await record_clip(server.url("cam/h264"), username=USER, password="wrong-Pa55",
                          seconds=2)
    message = str(caught.value)
    assert "credentials rejected" in message
    assert "wrong-Pa55" not in message and USER not in message


async def test_unreachable_and_stalled_streams_fail_in_time(server: RtspServer) -> None:
    with pytest.raises(ClipError) as caught:
        await record_clip("rtsp://127.0.0.1:9/cam/h264", username=USER, password=PASSWORD,
                          seconds=2, open_timeout_s=2)
    assert PASSWORD not in str(caught.value)
    server.set_fault("cam/h264", StreamFault.STALL, True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ClipError) as stalled:
        await record_clip(server.url("cam/h264"), username=USER, password=PASSWORD,
                          seconds=2, open_timeout_s=3, read_timeout_s=1.5)
    assert loop.time() - started < 10
    assert PASSWORD not in str(stalled.value)


def test_clip_length_is_bounded() -> None:
    assert clip_seconds(None) == 10
    assert clip_seconds(MAX_CLIP_S) == MAX_CLIP_S
    for bad in (0, MAX_CLIP_S + 1, True, "5"):
        with pytest.raises(ClipError):
            clip_seconds(bad)  # type: ignore[arg-type]
