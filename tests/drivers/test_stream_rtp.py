"""drivers.rtp_depacketize and the RTSP framing of drivers.stream_rtp, without sockets.

Packets are made here (RFC 6184 / RFC 7798 packetisation of real libx264 NAL units from
tests/drivers/conftest.py, or of hand-made ones): FU-A / FU (49) reassembly, STAP-A / AP,
sequence gaps, access-unit boundaries at the marker bit or a timestamp change, SDP and SPS
parsing, malformed packets counted and never raising, interleaved framing cut anywhere.
"""

from __future__ import annotations

import asyncio
import struct
from fractions import Fraction

import pytest

from drivers.rtp_depacketize import (
    H264,
    HEVC,
    START_CODE,
    Depacketizer,
    SdpVideo,
    h264_sps,
    hevc_sps,
    parse_sdp,
)
from drivers.rtsp_client import Response, RtspClient, RtspProtocol
from drivers.stream_rtp import RtpReader, _control_url
from simulator.rtsp_protocol import Authenticator
from tests.drivers.conftest import MINI_H, MINI_W, MiniRtsp, _rtp_payloads, mini_encode

PT = 96


def rtp(seq: int, ts: int, payload: bytes, *, marker: bool = False, pt: int = PT,
        csrcs: int = 0, extension: bytes | None = None, padding: int = 0) -> bytes:
    b0 = 0x80 | csrcs | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, 0x1234) + b"\x00\x00\x00\x01" * csrcs
    if extension is not None:
        head += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    tail = b"\x00" * (padding - 1) + bytes([padding]) if padding else b""
    return head + payload + tail


def au_packets(nals: list[bytes], seq: int, ts: int, mtu: int = 1400) -> list[bytes]:
    payloads = [p for nal in nals for p in _rtp_payloads(nal, mtu)]
    return [rtp(seq + i, ts, p, marker=i == len(payloads) - 1) for i, p in enumerate(payloads)]


class Sink:
    def __init__(self, sdp: SdpVideo) -> None:
        self.units: list[tuple[int, int, bool]] = []
        self.keyframes: list[bytes] = []
        self.d = Depacketizer(sdp, lambda t, n, k: self.units.append((t, n, k)),
                              self.keyframes.append)

    def feed(self, *packets: bytes) -> None:
        for packet in packets:
            framed = b"junk" + packet  # packets are read in place from a larger buffer
            self.d.feed(framed, 4, len(packet))


def h264_sdp() -> SdpVideo:
    return parse_sdp(MiniRtsp().sdp())


def annexb(nals: list[bytes]) -> bytes:
    return START_CODE + START_CODE.join(nals)


# --- SDP and SPS -----------------------------------------------------------------------------


def test_sdp_of_an_h264_stream() -> None:
    sdp = h264_sdp()
    assert (sdp.codec, sdp.payload_type, sdp.clock_rate, sdp.control) == (H264, 96, 90_000,
                                                                          "track1")
    assert [n[0] & 0x1F for n in sdp.parameter_sets] == [7, 8]
    assert (sdp.width, sdp.height) == (MINI_W, MINI_H)
    assert sdp.profile is not None and "Baseline" in sdp.profile
    assert sdp.fps is None


def encoded_parameter_sets(codec: str, width: int, height: int) -> list[bytes]:
    """The parameter sets libx264 / libx265 write for one grey frame of this size."""
    import av
    import numpy as np

    if codec == HEVC:
        from simulator.hevc import encoder

        ctx = encoder(width, height, 25, 25, keyint=25, bitrate_kbps=None, constant_qp=30)
    else:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = Fraction(1, 25)
        ctx.options = {"preset": "medium", "profile": "high"}  # ultrafast: Baseline
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 99, np.uint8),
                                       format="rgb24").reformat(format="yuv420p")
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    nals = [n.rstrip(b"\x00") for n in data.split(b"\x00\x00\x01") if n.rstrip(b"\x00")]
    kinds = (32, 33, 34) if codec == HEVC else (7, 8)
    shift, mask = (1, 0x3F) if codec == HEVC else (0, 0x1F)
    return [n for n in nals if (n[0] >> shift) & mask in kinds]


def test_sdp_of_an_h265_stream_and_its_sps() -> None:
    from simulator.hevc import fmtp

    vps, sps, pps = encoded_parameter_sets(HEVC, 1920, 1080)[:3]
    text = ("v=0\r\ns=x\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "m=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\r\n"
            f"a=fmtp:97 {fmtp(vps, sps, pps)}\r\na=framerate:25\r\n"
            "a=control:rtsp://cam/live/trackID=1\r\n")
    sdp = parse_sdp(text)
    assert (sdp.codec, sdp.payload_type, sdp.fps) == (HEVC, 97, 25.0)
    assert sdp.parameter_sets == (vps, sps, pps)
    # 1080 is not a multiple of the coding block size: the conformance window crops it.
    assert hevc_sps(sps) == ("Main", 1920, 1080)
    assert (sdp.profile, sdp.width, sdp.height) == ("Main", 1920, 1080)
    assert _control_url("rtsp://cam/live/", sdp.control) == "rtsp://cam/live/trackID=1"


def test_h264_sps_with_cropping_and_high_profile() -> None:
    sps = encoded_parameter_sets(H264, 1920, 1080)[0]  # 68 x 16 = 1088 lines, cropped by 8
    assert h264_sps(sps) == ("High", 1920, 1080)
    assert h264_sps(encoded_parameter_sets(H264, 642, 362)[0]) == ("High", 642, 362)


def test_sdp_without_video_and_control_urls() -> None:
    with pytest.raises(ValueError):
        parse_sdp("v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    with pytest.raises(ValueError):
        parse_sdp("v=0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n")
    assert _control_url("rtsp://h/s", None) == "rtsp://h/s"
    assert _control_url("rtsp://h/s", "*") == "rtsp://h/s"
    assert _control_url("rtsp://h/s", "trackID=0") == "rtsp://h/s/trackID=0"
    assert _control_url("rtsp://h/s/", "trackID=0") == "rtsp://h/s/trackID=0"


# --- H.264 depacketising ---------------------------------------------------------------------


def test_fu_a_keyframe_reassembled_and_access_units_counted() -> None:
    sink = Sink(h264_sdp())
    frames = mini_encode("normal")[:12]
    sink.d.capture = True
    seq = 100
    for i, (nals, _) in enumerate(frames):
        packets = au_packets(nals, seq, i * 3600, mtu=300)  # small MTU: FU-A fragments
        seq += len(packets)
        sink.feed(*packets)
    assert [t for t, _, _ in sink.units] == [i * 3600 for i in range(12)]
    assert [k for _, _, k in sink.units] == [key for _, key in frames]
    assert sink.units[0][1] == sum(len(p) - 12 for p in au_packets(frames[0][0], 0, 0, 300))
    assert sink.d.lost == sink.d.malformed == 0 and sink.d.packets == seq - 100
    # The first keyframe, with SPS/PPS first, exactly as the encoder wrote it.
    idr = frames[0][0]
    sets = [n for n in idr if n[0] & 0x1F in (7, 8)]
    pictures = [n for n in idr if n[0] & 0x1F not in (7, 8)]
    assert sink.keyframes == [annexb(sets + pictures)]
    assert sink.d.capture is False  # one keyframe per request


def test_keyframe_decodes_with_pyav() -> None:
    from drivers.stream_pixels import PixelProbe

    sink = Sink(h264_sdp())
    sink.d.capture = True
    sink.feed(*au_packets(mini_encode("normal")[0][0], 1, 0, mtu=500))
    (data,) = sink.keyframes
    import av

    stats = PixelProbe("h264", None).measure(av.Packet(data))
    assert stats is not None and stats.luma_mean > 40


def test_sequence_gap_counts_lost_packets_and_spoils_the_keyframe() -> None:
    sink = Sink(h264_sdp())
    sink.d.capture = True
    key = au_packets(mini_encode("normal")[0][0], 10, 0, mtu=300)
    sink.feed(*(key[:2] + key[3:]))  # one fragment lost
    assert sink.d.lost == 1
    assert sink.units and sink.units[0][2] is True  # still a keyframe by its flags
    assert sink.keyframes == [] and sink.d.capture is True  # not decodable: wait for the next
    nxt = au_packets(mini_encode("normal")[10][0], 10 + len(key), 36_000, mtu=300)
    sink.feed(*nxt)
    assert len(sink.keyframes) == 1 and sink.d.lost == 1


def test_lost_marker_ends_the_access_unit_at_the_next_timestamp() -> None:
    sink = Sink(h264_sdp())
    p_slice = bytes([0x41]) + bytes(50)
    sink.feed(rtp(1, 1000, p_slice), rtp(2, 4600, p_slice), rtp(3, 4600, p_slice, marker=True))
    assert sink.units == [(0, 51, False), (3600, 102, False)]


def test_timestamp_wraps_forward() -> None:
    sink = Sink(h264_sdp())
    p_slice = bytes([0x41, 0x9A])
    start = 0xFFFFFFFF - 1000
    sink.feed(rtp(1, start, p_slice, marker=True), rtp(2, start + 3600, p_slice, marker=True))
    assert [t for t, _, _ in sink.units] == [0, 3600]


def test_stap_a_with_an_idr_is_a_keyframe() -> None:
    sink = Sink(h264_sdp())
    sink.d.capture = True
    sps, pps = h264_sdp().parameter_sets
    idr = bytes([0x65, 0x88]) + bytes(20)
    stap = bytes([0x18]) + b"".join(struct.pack("!H", len(n)) + n for n in (sps, pps, idr))
    sink.feed(rtp(1, 0, stap, marker=True))
    assert sink.units == [(0, len(stap), True)]
    assert sink.keyframes == [annexb([sps, pps, idr])]


def test_duplicates_and_reordered_packets_are_dropped() -> None:
    sink = Sink(h264_sdp())
    p_slice = bytes([0x41, 1])
    sink.feed(rtp(5, 0, p_slice, marker=True), rtp(5, 0, p_slice, marker=True),
              rtp(4, 0, p_slice, marker=True), rtp(6, 3600, p_slice, marker=True))
    assert sink.d.late == 2 and sink.d.lost == 0 and len(sink.units) == 2


def test_malformed_packets_are_counted_never_raised() -> None:
    sink = Sink(h264_sdp())
    good = rtp(1, 0, bytes([0x41, 1, 2, 3]), marker=True)
    bad = [
        b"",  # empty
        b"\x80\x60\x00",  # shorter than a header
        b"\x40" + good[1:],  # RTP version 1
        rtp(2, 0, b"\x41\x00", pt=8),  # another payload type
        rtp(3, 0, b""),  # no payload
        b"\xa0" + rtp(4, 0, b"\x41\x28")[1:],  # padding (40) longer than the payload
        rtp(5, 0, b"\x41", extension=b"\x00" * 8)[:16],  # extension beyond the end
        rtp(6, 0, b"\x41", csrcs=15)[:30],  # CSRC list beyond the end
    ]
    sink.feed(*bad)
    assert sink.d.malformed == len(bad) and not sink.units
    sink.feed(good, rtp(7, 3600, b"\x41\x01", extension=b"\x01" * 4, padding=3, marker=True))
    assert sink.units == [(0, 4, False), (3600, 2, False)]
    assert sink.d.lost == 5  # sequence numbers 2-6 were not taken


# --- H.265 depacketising ---------------------------------------------------------------------


def hevc_sdp() -> SdpVideo:
    return SdpVideo(HEVC, PT, 90_000, None, (bytes([0x40, 1, 7]), bytes([0x42, 1, 8]),
                                              bytes([0x44, 1, 9])), "Main", 320, 180, None)


def fu49(nal: bytes, size: int) -> list[bytes]:
    header = bytes([(nal[0] & 0x81) | (49 << 1), nal[1]])
    body = nal[2:]
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    out = []
    for i, chunk in enumerate(chunks):
        fu = (nal[0] >> 1) & 0x3F
        fu |= 0x80 if i == 0 else 0
        fu |= 0x40 if i == len(chunks) - 1 else 0
        out.append(header + bytes([fu]) + chunk)
    return out


def test_hevc_fu_irap_reassembled_with_sdp_parameter_sets() -> None:
    sink = Sink(hevc_sdp())
    sink.d.capture = True
    cra = bytes([21 << 1, 1]) + bytes(range(200))  # CRA picture
    trail = bytes([1 << 1, 1]) + bytes(range(100))  # TRAIL_R
    frags = fu49(cra, 64)
    packets = [rtp(i, 0, f, marker=i == len(frags) - 1) for i, f in enumerate(frags)]
    packets += [rtp(len(frags) + i, 9000, f, marker=i == 1) for i, f in enumerate(fu49(trail, 60))]
    sink.feed(*packets)
    assert [(t, k) for t, _, k in sink.units] == [(0, True), (9000, False)]
    assert sink.keyframes == [annexb([*hevc_sdp().parameter_sets, cra])]


def test_hevc_aggregation_packet_with_in_band_parameter_sets() -> None:
    sink = Sink(hevc_sdp())
    sink.d.capture = True
    vps, sps, pps = bytes([0x40, 1, 0xAA]), bytes([0x42, 1, 0xBB]), bytes([0x44, 1, 0xCC])
    idr = bytes([19 << 1, 1, 5, 6, 7])
    ap = bytes([48 << 1, 1]) + b"".join(struct.pack("!H", len(n)) + n for n in (vps, sps, pps))
    sink.feed(rtp(1, 0, ap), rtp(2, 0, idr, marker=True))
    assert sink.units == [(0, len(ap) + len(idr), True)]
    assert sink.keyframes == [annexb([vps, sps, pps, idr])]  # in-band sets replace the SDP's


# --- the reader's window and the RTSP framing -------------------------------------------------


async def test_interleaved_framing_cut_anywhere_and_responses_matched() -> None:
    protocol = RtspProtocol()
    reader = RtpReader(None)
    protocol.reader = reader
    protocol.depacketizer = reader.attach(h264_sdp())
    protocol.rtp_channel = 0
    frames = mini_encode("normal")[:25]
    chunks: list[bytes] = []
    seq = 0
    for i, (nals, _) in enumerate(frames):
        for packet in au_packets(nals, seq, i * 3600):
            chunks.append(b"$\x00" + struct.pack("!H", len(packet)) + packet)
            seq += 1
        chunks.append(b"$\x01\x00\x08" + bytes(8))  # an RTCP report: not video
    waiter = protocol.send(7, "")  # no transport: fails at once
    with pytest.raises(ConnectionError):
        await waiter
    answer = b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nv=0\n"
    pending: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    protocol._waiting[3] = pending
    chunks.insert(len(chunks) // 2, answer)  # a keep-alive answer between two packets
    data = b"".join(chunks)
    for i in range(0, len(data), 997):  # reads cut packets and the answer anywhere
        protocol.data_received(data[i:i + 997])
    assert pending.done() and pending.result().status == 200
    assert pending.result().body == b"v=0\n"
    window, _, _ = reader.take_window()
    assert window.packets == 25 and window.keyframes == 3 and window.lost == 0
    assert window.fps() == pytest.approx(25.0)
    assert reader.total_packets == seq and protocol.junk == 0


def test_digest_answers_a_challenge_with_and_without_qop() -> None:
    auth = Authenticator("cam")
    client = RtspClient("rtsp://ad%40min:p%3Ass@127.0.0.1:5540/live")
    assert client.url == "rtsp://127.0.0.1:5540/live"
    assert (client.username, client.password) == ("ad@min", "p:ss")
    challenge, basic = (v for _, v in auth.challenge())
    for offered in ([basic, challenge], [challenge.replace('", nonce', '", qop="auth", nonce')]):
        client._challenge = None
        assert client._choose_auth(Response(401, "Unauthorized", {}, offered))
        header = client._authorization("DESCRIBE", client.url)
        assert header is not None and header.startswith("Digest ")  # never Basic when offered
        assert auth.check(header, "DESCRIBE", "ad@min", "p:ss")
        assert not auth.check(header, "DESCRIBE", "ad@min", "wrong")
    assert not client._choose_auth(Response(401, "Unauthorized", {}, [challenge]))  # give up
