"""Fuzz targets of the RTSP side: the simulator's request parser, and the driver's RTSP
response framing, SDP parser and RTP depacketiser (drivers.stream_rtp,
drivers.rtp_depacketize). Same conventions as bench.fuzz.targets."""

from __future__ import annotations

import asyncio
import atexit
import base64
import functools
import struct
from fractions import Fraction
from typing import Any

from bench.fuzz.targets import Target, reason_key
from drivers.rtp_depacketize import H264, HEVC, START_CODE, Depacketizer, SdpVideo, parse_sdp
from drivers.stream_rtp import RtspClient, RtspProtocol
from simulator.rtsp_protocol import (
    MAX_HEAD_BYTES,
    Authenticator,
    Interleaved,
    Malformed,
    Request,
    parse_transport,
    request_path,
    take_message,
)

# Messages taken from one input at most: a pipelining client; more repeats the same paths.
MAX_MESSAGES = 64
# Reads one input is cut into at most (the responses cut anywhere across them).
MAX_READS = 256
SDP_NO_VIDEO = "the SDP has no H.264 or H.265 video"

# -- the simulator's request parser ---------------------------------------------------------

_AUTH = Authenticator()


def run_rtsp_request(data: bytes) -> list[str]:
    buf = bytearray(data)
    reasons = []
    for _ in range(MAX_MESSAGES):
        before = len(buf)
        message = take_message(buf)
        if message is None:
            if buf.strip(b"\r\n"):
                assert len(buf) <= MAX_HEAD_BYTES + 4 + 64 * 1024, len(buf)
                reasons.append("incomplete message at the end (waits for more)")
            break
        assert len(buf) <= before
        if isinstance(message, Malformed):
            assert message.code == 400
            reasons.append(f"malformed request: 400{' (connection closed)' * message.fatal}")
            if message.fatal:
                break
        elif isinstance(message, Request):
            path = request_path(message.url)
            assert path is None or isinstance(path, str)
            channel = parse_transport(message.headers.get("transport", ""))
            assert channel is None or isinstance(channel, int)
            assert _AUTH.check(message.headers.get("authorization", ""), message.method,
                               "operator", "S3cret") in (True, False)
        else:
            assert isinstance(message, Interleaved) and 0 <= message.channel <= 255
    return reasons


def seeds_rtsp_request() -> list[bytes]:
    nonce = _AUTH.challenge()[0][1].split('nonce="')[1].rstrip('"')
    return [
        b"OPTIONS rtsp://127.0.0.1:8554/cam-001/main RTSP/1.0\r\nCSeq: 1\r\n\r\n",
        b"DESCRIBE rtsp://127.0.0.1:8554/cam-001/main RTSP/1.0\r\nCSeq: 2\r\n"
        b"Accept: application/sdp\r\nAuthorization: Digest username=\"operator\", "
        b"realm=\"citywatch\", nonce=\"" + nonce.encode() + b"\", uri=\"rtsp://127.0.0.1:8554/"
        b"cam-001/main\", response=\"0123456789abcdef0123456789abcdef\"\r\n\r\n",
        b"SETUP rtsp://127.0.0.1:8554/cam-001/main/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n"
        b"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
        b"$\x01\x00\x04abcd",
        b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 4\r\nContent-Length: 5\r\n"
        b"Authorization: Basic b3BlcmF0b3I6UzNjcmV0\r\n\r\nhello",
    ]


# -- the driver's SDP parser and depacketiser -----------------------------------------------


@functools.cache
def parameter_sets() -> dict[str, list[bytes]]:
    """Real SPS/PPS (and VPS) of a tiny libx264 / libx265 picture, by codec."""
    import av
    import numpy as np

    out: dict[str, list[bytes]] = {}
    for codec, name in ((H264, "libx264"), (HEVC, "libx265")):
        try:
            ctx: Any = av.CodecContext.create(name, "w")
        except (ValueError, av.FFmpegError):
            continue  # this FFmpeg lacks the encoder: seeds of the other codec only
        ctx.width, ctx.height, ctx.pix_fmt = 64, 48, "yuv420p"
        ctx.time_base = Fraction(1, 25)
        if name == "libx265":
            ctx.options = {"x265-params": "log-level=none"}
        frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        packets = ctx.encode(frame.reformat(format="yuv420p")) + ctx.encode(None)
        stream = b"".join(bytes(p) for p in packets)
        out[codec] = [n.lstrip(b"\x00") for n in stream.split(b"\x00\x00\x01") if n.strip(b"\0")]
    return out


def sdp_text(codec: str) -> str:
    nals = parameter_sets().get(codec, [])
    b64 = [base64.b64encode(n).decode() for n in nals]
    if codec == HEVC:
        sets = [n for n in nals if 32 <= (n[0] >> 1) & 0x3F <= 34]
        vps, sps, pps = (base64.b64encode(n).decode() for n in ([*sets, b"", b"", b""])[:3])
        rtpmap, fmtp = "H265/90000", f"sprop-vps={vps};sprop-sps={sps};sprop-pps={pps}"
    else:
        rtpmap, fmtp = "H264/90000", f"packetization-mode=1;sprop-parameter-sets={','.join(b64)}"
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            "a=control:*\r\nm=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
            f"a=rtpmap:96 {rtpmap}\r\na=fmtp:96 {fmtp}\r\na=framesize:96 64-48\r\n"
            "a=framerate:25\r\na=control:trackID=0\r\n")


def run_sdp(data: bytes) -> list[str]:
    try:
        sdp = parse_sdp(data.decode("utf-8", "replace"))
    except ValueError as exc:
        assert str(exc) == SDP_NO_VIDEO, f"undocumented rejection: {exc!r}"
        return [SDP_NO_VIDEO]
    # clock_rate 0 ("H264/0") is taken as 90 kHz by RtpReader; a negative width comes of an
    # SPS cropping more than its size (shown as is; nothing divides by it).
    assert sdp.codec in (H264, HEVC) and sdp.clock_rate >= 0, sdp
    assert isinstance(sdp.width, int) and isinstance(sdp.height, int), sdp
    assert 0 <= sdp.payload_type or sdp.payload_type < 0, sdp
    return []


def seeds_sdp() -> list[bytes]:
    return [sdp_text(c).encode() for c in parameter_sets()]


def _rtp(seq: int, ts: int, payload: bytes, marker: bool) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts,
                       0x1234) + payload


def _packets(codec: str) -> list[bytes]:
    """One keyframe access unit as RTP packets: single NALs, then the IDR in FU pieces."""
    nals = parameter_sets().get(codec, [])
    out, seq = [], 0
    for nal in nals:
        if len(nal) < 200:
            out.append(_rtp(seq, 9000, nal, False))
            seq += 1
            continue
        head = 2 if codec == HEVC else 1
        kind = (nal[0] >> 1) & 0x3F if codec == HEVC else nal[0] & 0x1F
        indicator = bytes([(nal[0] & 0x81) | (49 << 1), nal[1]]) if codec == HEVC else \
            bytes([(nal[0] & 0xE0) | 28])
        body, step = nal[head:], 100
        for i in range(0, len(body), step):
            flags = (0x80 if i == 0 else 0) | (0x40 if i + step >= len(body) else 0)
            out.append(_rtp(seq, 9000, indicator + bytes([flags | kind]) + body[i:i + step],
                            False))
            seq += 1
    if out:  # the marker bit ends the access unit
        out[-1] = out[-1][:1] + bytes([out[-1][1] | 0x80]) + out[-1][2:]
    return out


def frame_packets(packets: list[bytes]) -> bytes:
    return b"".join(struct.pack("!H", len(p)) + p for p in packets)


@functools.cache
def _sdp_of(codec: str) -> SdpVideo:
    return parse_sdp(sdp_text(codec))


def run_rtp(data: bytes) -> list[str]:
    if not data:
        return ["empty input"]
    codecs = sorted(parameter_sets())
    sdp = _sdp_of(codecs[data[0] % len(codecs)])
    units: list[tuple[int, int, bool]] = []
    keyframes: list[bytes] = []
    depack = Depacketizer(sdp, lambda t, n, k: units.append((t, n, k)), keyframes.append)
    depack.capture = bool(data[0] & 0x80)
    pos, fed = 1, 0
    while pos + 2 <= len(data):
        size = int.from_bytes(data[pos:pos + 2], "big") % 2048
        packet = data[pos + 2:pos + 2 + size]
        framed = b"$\x00" + packet + b"\xff" * 8  # read in place from a larger buffer
        depack.feed(framed, 2, len(packet))
        fed += 1
        pos += 2 + size
    assert depack.packets + depack.malformed + depack.late == fed, vars(depack)
    assert depack.lost >= 0 and all(n >= 0 for _, n, _ in units)
    assert all(k.startswith(START_CODE) for k in keyframes)
    return ["rtp: malformed packet"] * depack.malformed + ["rtp: late or duplicate"] * \
        depack.late + ["rtp: lost packets (gap)"] * min(depack.lost, 1)


def seeds_rtp() -> list[bytes]:
    return [bytes([i | 0x80]) + frame_packets(_packets(c))
            for i, c in enumerate(sorted(parameter_sets()))]


# -- the driver's RTSP response framing -----------------------------------------------------


class _Transport(asyncio.Transport):
    """What RtspProtocol uses of an asyncio transport."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True


_LOOP: asyncio.AbstractEventLoop | None = None


async def _responses(data: bytes) -> list[str]:
    protocol = RtspProtocol()
    transport = _Transport()
    protocol.connection_made(transport)
    protocol.rtp_channel = 0
    codecs = sorted(parameter_sets())
    protocol.depacketizer = Depacketizer(_sdp_of(codecs[0]), lambda t, n, k: None)
    waiters = [protocol.send(cseq, "OPTIONS * RTSP/1.0\r\n\r\n") for cseq in range(1, 5)]
    # Chunk sizes from the first byte: responses cut anywhere across reads.
    # At most MAX_READS reads per input: libFuzzer grows inputs to kilobytes.
    step = max(1 + (data[0] if data else 0) % 64 * 7, len(data) // MAX_READS)
    for i in range(1, len(data), step):
        protocol.data_received(data[i:i + step])
    reasons = []
    if protocol.closed.done():
        error = protocol.closed.result()
        assert error is not None and transport.aborted
        reasons.append(reason_key(f"connection failed: {error}"))
    if protocol.junk:
        reasons.append("junk bytes skipped (resynchronised at $)")
    reasons += ["rtp: malformed packet"] * protocol.depacketizer.malformed
    for waiter in waiters:
        if waiter.done():
            _answer(waiter.result())
    protocol.connection_lost(None)
    for waiter in waiters:
        if waiter.done() and not waiter.cancelled():
            waiter.exception()  # retrieved: pending ones got ConnectionResetError
    return reasons


def _answer(response: Any) -> None:  # a drivers.stream_rtp.Response (not exported)
    """What the client does with a response: status, challenges, the Authorization."""
    assert isinstance(response.status, int) and isinstance(response.body, bytes)
    client = RtspClient("rtsp://operator:S3cret@127.0.0.1:8554/cam-001/main")
    if response.status == 401 and client._choose_auth(response):
        header = client._authorization("DESCRIBE", client.url)
        assert header is not None and header.startswith(("Basic ", "Digest "))


def run_rtsp_response(data: bytes) -> list[str]:
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        atexit.register(_LOOP.close)
    return _LOOP.run_until_complete(_responses(data))


def seeds_rtsp_response() -> list[bytes]:
    sdp = sdp_text(sorted(parameter_sets())[0]).encode()
    rtp = b"".join(b"$\x00" + struct.pack("!H", len(p)) + p for p in _packets(
        sorted(parameter_sets())[0]))
    return [
        b"\x05RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"cw\", "
        b"nonce=\"abc\", qop=\"auth\", algorithm=MD5-sess, opaque=\"x\"\r\n"
        b"WWW-Authenticate: Basic realm=\"cw\"\r\n\r\n",
        b"\x00RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp\r\n"
        b"Content-Length: " + str(len(sdp)).encode() + b"\r\n\r\n" + sdp +
        b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: 12345678;timeout=60\r\n\r\n" + rtp,
    ]


RTSP_TARGETS: tuple[Target, ...] = (
    Target("rtsp_request", "simulator take_message -> Request | Malformed | Interleaved | "
           "None; request_path, parse_transport, Authenticator.check never raise",
           run_rtsp_request, seeds_rtsp_request),
    Target("rtsp_response", "drivers RtspProtocol.data_received: responses to their waiters, "
           "RTP to the depacketiser, else fail() with a WireError; never raises",
           run_rtsp_response, seeds_rtsp_response),
    Target("sdp", f"parse_sdp -> SdpVideo or ValueError({SDP_NO_VIDEO!r})", run_sdp,
           seeds_sdp),
    Target("rtp", "Depacketizer.feed never raises; every packet counted (taken, malformed "
           "or late)", run_rtp, seeds_rtp),
)
