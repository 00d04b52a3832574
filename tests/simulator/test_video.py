"""The pre-encoded H.264 loops: decodable, GOP as configured, variants, disk cache."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest

from simulator.rtp import FU_A, RtpLoop, nal_payloads, packetize_frame, sender_report, stamp
from simulator.video import (
    NAL_IDR,
    NAL_PPS,
    NAL_SPS,
    EncodedLoop,
    Variant,
    VideoKey,
    VideoLibrary,
    nal_type,
    split_annexb,
)

KEY = VideoKey(320, 180, 15, 512, look=1)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "citywatch-video"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def loops(cache_dir: Path) -> dict[Variant, EncodedLoop]:
    return VideoLibrary(cache_dir).get(KEY)


def decode(loop: EncodedLoop) -> list[np.ndarray]:
    """Luma planes of every frame of the loop, decoded by FFmpeg's h264 decoder."""
    with av.open(io.BytesIO(loop.annexb()), format="h264") as container:
        return [f.to_ndarray(format="gray").copy() for f in container.decode(video=0)]


def test_normal_loop_decodes_with_parameter_sets_and_idrs(loops: dict[Variant, EncodedLoop]):
    loop = loops[Variant.NORMAL]
    assert len(loop.frames) == KEY.slots == 60
    assert all(f is not None for f in loop.frames)
    first = loop.frames[0]
    assert first is not None and first.keyframe
    assert [nal_type(n) for n in first.nals[:2]] == [NAL_SPS, NAL_PPS]
    assert nal_type(first.nals[2]) == NAL_IDR
    assert loop.sps and loop.pps and loop.profile_level_id.startswith("42")
    frames = decode(loop)
    assert len(frames) == KEY.slots
    assert frames[0].shape == (180, 320)
    # Things move: consecutive frames differ.
    assert np.abs(frames[1].astype(int) - frames[0]).mean() > 0.05


def test_gop_is_two_seconds(loops: dict[Variant, EncodedLoop]):
    loop = loops[Variant.NORMAL]
    keys = [i for i, f in enumerate(loop.frames) if f is not None and f.keyframe]
    assert keys == [0, 30]
    with av.open(io.BytesIO(loop.annexb()), format="h264") as container:
        flags = [p.is_keyframe for p in container.demux(video=0) if p.size]
    assert [i for i, k in enumerate(flags) if k] == [0, 30]


def test_black_variant_is_dark(loops: dict[Variant, EncodedLoop]):
    frames = decode(loops[Variant.BLACK])
    assert len(frames) == KEY.slots
    assert max(f.mean() for f in frames) < 20


def test_frozen_variant_frames_are_identical(loops: dict[Variant, EncodedLoop]):
    frames = decode(loops[Variant.FROZEN])
    assert len(frames) == KEY.slots
    assert all(np.array_equal(frames[0], f) for f in frames)
    assert frames[0].std() > 10  # a picture, not a flat field


def test_low_bitrate_and_fps_drop_variants(loops: dict[Variant, EncodedLoop]):
    normal, low = loops[Variant.NORMAL], loops[Variant.LOW_BITRATE]
    assert low.size_bytes < normal.size_bytes / 3
    assert len(decode(low)) == KEY.slots
    drop = loops[Variant.FPS_DROP]
    present = [i for i, f in enumerate(drop.frames) if f is not None]
    assert present == list(range(0, KEY.slots, 5))
    assert [i for i in present if drop.frames[i].keyframe] == [0, 30]  # type: ignore[union-attr]
    assert len(decode(drop)) == len(present)


def test_disk_cache_makes_the_second_prepare_fast(cache_dir: Path,
                                                  loops: dict[Variant, EncodedLoop]):
    library = VideoLibrary(cache_dir)
    started = time.perf_counter()
    again = library.get(KEY)
    elapsed = time.perf_counter() - started
    assert library.loaded == 1 and library.encoded == 0
    assert elapsed < 0.5
    for variant in Variant:
        assert again[variant].frames == loops[variant].frames


def test_split_annexb_handles_both_start_codes():
    data = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88\x00"
    assert split_annexb(data) == [b"\x67\x42", b"\x68\xce", b"\x65\x88"]


def test_fu_a_fragments_reassemble_to_the_nal():
    nal = bytes([0x65]) + bytes(range(256)) * 20
    parts = nal_payloads(nal, mtu=1000)
    assert len(parts) > 1 and all(len(p) <= 1000 for p in parts)
    assert all(p[0] & 0x1F == FU_A and p[0] & 0x60 == 0x60 for p in parts)
    assert parts[0][1] & 0x80 and parts[-1][1] & 0x40
    assert all(p[1] & 0x1F == 5 for p in parts)
    assert bytes([(parts[0][0] & 0xE0) | 5]) + b"".join(p[2:] for p in parts) == nal


def test_packetised_frame_headers_are_stamped(loops: dict[Variant, EncodedLoop]):
    frame = loops[Variant.NORMAL].frames[0]
    assert frame is not None
    packets = packetize_frame(frame.nals, keyframe=True, mtu=500)
    buf = bytearray(packets.blob)
    next_seq = stamp(buf, packets.header_offsets, 65534, 2**32 + 5, 0xDEADBEEF, channel=2)
    assert next_seq == (65534 + packets.packets) & 0xFFFF
    seqs, markers = [], []
    for off in packets.header_offsets:
        assert buf[off - 4] == 0x24 and buf[off - 3] == 2
        assert buf[off] == 0x80
        seqs.append(int.from_bytes(buf[off + 2:off + 4], "big"))
        assert int.from_bytes(buf[off + 4:off + 8], "big") == 5
        assert int.from_bytes(buf[off + 8:off + 12], "big") == 0xDEADBEEF
        markers.append(bool(buf[off + 1] & 0x80))
    assert seqs[:3] == [65534, 65535, 0]
    assert markers == [False] * (len(markers) - 1) + [True]
    rtp_loop = RtpLoop.from_encoded(loops[Variant.NORMAL])
    assert rtp_loop.ticks(60) == 4 * 90000 and rtp_loop.ticks(61) == 4 * 90000 + 6000


def test_sender_report_layout():
    report = sender_report(0x01020304, 0.0, 1234, 10, 2000, cname="cam")
    assert report[0] == 0x80 and report[1] == 200 and len(report) % 4 == 0
    assert int.from_bytes(report[2:4], "big") == 6  # SR length in words - 1
    assert int.from_bytes(report[8:12], "big") == 2_208_988_800  # NTP seconds of 1970
    assert report[28] == 0x81 and report[29] == 202
