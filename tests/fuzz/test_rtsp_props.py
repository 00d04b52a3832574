"""RTSP: the simulator's request parser on generated requests, and the driver's response
framing, SDP parser and RTP depacketiser (drivers.stream_rtp, drivers.rtp_depacketize).

Contracts: take_message gives a Request, Malformed, Interleaved or None and never raises,
however the bytes arrive; the Authenticator says yes or no; RtspProtocol hands every
complete response to its waiter or fails the connection with a WireError; parse_sdp gives
an SdpVideo or ValueError("no H.264 or H.265 video"); Depacketizer.feed counts every packet.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.fuzz.targets_rtsp import (
    SDP_NO_VIDEO,
    _packets,
    frame_packets,
    parameter_sets,
    run_rtp,
    run_rtsp_request,
    run_rtsp_response,
    run_sdp,
    sdp_text,
)
from drivers.rtp_depacketize import parse_sdp
from drivers.stream_rtp import RtspProtocol
from simulator.rtsp_protocol import Authenticator, Malformed, Request, request_path, take_message
from tests.fuzz.props import BOUNDED

METHODS = ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER", "get", "X" * 40]
URLS = ["rtsp://127.0.0.1:8554/cam-001/main", "*", "rtsp://[::1/x", "rtsp://h:port/x",
        "/cam-001/main?x=1", "rtsp://u:p@h/cam/trackID=0", ""]
HEADERS = ["CSeq", "Content-Length", "Transport", "Session", "Authorization", "Accept", "",
           "X"]
HEADER_VALUES = ["1", "-1", "99999999", "abc", "RTP/AVP/TCP;unicast;interleaved=0-1",
                 "RTP/AVP/TCP;interleaved=x", "RTP/AVP;unicast;client_port=5000-5001",
                 'Digest username="operator", realm="citywatch", nonce="00", uri="*", '
                 'response="é"', "Basic " + base64.b64encode("é:ü".encode()).decode(),
                 "Basic !!", ""]
text = st.text(max_size=16)


@st.composite
def request(draw: Any) -> bytes:
    method = draw(st.sampled_from(METHODS) | text)
    url = draw(st.sampled_from(URLS) | text)
    version = draw(st.sampled_from(["RTSP/1.0", "RTSP/2.0", "HTTP/1.1", ""]))
    lines = [f"{method} {url} {version}"]
    body: bytes = draw(st.binary(max_size=20))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(HEADERS) | text)
        value = draw(st.sampled_from(HEADER_VALUES) | text)
        lines.append(f"{name}: {value}")
    if draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
    end: str = draw(st.sampled_from(["\r\n", "\n"]))
    return (end.join(lines) + end + end).encode("utf-8", "surrogatepass") + body


@BOUNDED
@given(st.lists(request() | st.binary(max_size=30), min_size=1, max_size=4))
def test_pipelined_requests(messages: list[bytes]) -> None:
    run_rtsp_request(b"".join(messages))


@BOUNDED
@given(request(), st.integers(1, 40))
def test_a_request_cut_anywhere_parses_the_same(message: bytes, step: int) -> None:
    whole = take_message(bytearray(message))
    buf = bytearray()
    got = None
    for i in range(0, len(message), step):
        buf += message[i:i + step]
        got = take_message(buf)
        if got is not None:
            break
    if isinstance(whole, Request):
        assert got == whole
    elif isinstance(whole, Malformed):
        assert isinstance(got, Malformed)


@BOUNDED
@given(st.sampled_from(HEADER_VALUES) | text, st.sampled_from(METHODS))
def test_authenticator_says_yes_or_no(header: str, method: str) -> None:
    assert Authenticator().check(header, method, "operator", "S3cret") in (True, False)


def test_a_broken_ipv6_url_names_no_stream() -> None:
    """Found by fuzzing: urlsplit's ValueError escaped from the server's request handling."""
    assert request_path("rtsp://[::1/x") == ""


def test_non_ascii_credentials_are_refused_not_a_crash() -> None:
    """Found by fuzzing: hmac.compare_digest raises TypeError on non-ASCII str."""
    auth = Authenticator()
    basic = "Basic " + base64.b64encode("opérateur:S3cret".encode()).decode()
    assert auth.check(basic, "DESCRIBE", "operator", "S3cret") is False
    nonce = auth.challenge()[0][1].split('nonce="')[1].rstrip('"')
    digest = (f'Digest username="operator", realm="citywatch", nonce="{nonce}", uri="*", '
              'response="é"')
    assert auth.check(digest, "DESCRIBE", "operator", "S3cret") is False
    assert auth.nonce_ok("é" * 30) is False


# -- the driver side ------------------------------------------------------------------------

STATUS_LINES = ["RTSP/1.0 200 OK", "RTSP/1.0 401 Unauthorized", "RTSP/1.0 x OK", "RTSP/1.0",
                "RTSP/1.0 200"]
CHALLENGES = ['Digest realm="cw", nonce="n", qop="auth,auth-int", algorithm=MD5-sess',
              'Digest realm="cw", nonce="n", algorithm=SHA-256, stale=TRUE', 'Basic realm="cw"',
              "Negotiate", "Digest", 'Digest realm="a\\"b", opaque="o"', ""]


@st.composite
def server_bytes(draw: Any) -> bytes:
    out = b""
    for cseq in range(1, draw(st.integers(1, 4)) + 1):
        kind = draw(st.integers(0, 5))
        if kind == 0:  # interleaved RTP
            out += b"$" + bytes([draw(st.integers(0, 2))]) + struct.pack(
                "!H", draw(st.integers(0, 40))) + draw(st.binary(max_size=40))
            continue
        if kind == 1:
            out += draw(st.binary(max_size=30))
            continue
        lines = [draw(st.sampled_from(STATUS_LINES) | text),
                 f"CSeq: {draw(st.sampled_from([str(cseq), 'x', '']))}"]
        for challenge in draw(st.lists(st.sampled_from(CHALLENGES) | text, max_size=2)):
            lines.append(f"WWW-Authenticate: {challenge}")
        body = draw(st.binary(max_size=30))
        length = draw(st.sampled_from([len(body), -1, 1 << 20, 0]))
        lines.append(f"Content-Length: {length}")
        out += ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    return out


@BOUNDED
@given(st.integers(0, 255), server_bytes())
def test_response_framing(step: int, data: bytes) -> None:
    run_rtsp_response(bytes([step]) + data)


def test_response_with_a_bad_length_fails_the_connection() -> None:
    async def go() -> Exception | None:
        protocol = RtspProtocol()

        class Transport(asyncio.Transport):
            def abort(self) -> None:
                pass

        protocol.connection_made(Transport())
        protocol.data_received(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n")
        return await protocol.closed

    error = asyncio.run(go())
    assert error is not None and "Content-Length" in str(error)


CODECS = sorted(parameter_sets())
SDP_KEYS = ["rtpmap", "fmtp", "control", "framerate", "framesize", "x"]


@st.composite
def sdp(draw: Any) -> str:
    lines = draw(st.sampled_from([sdp_text(c) for c in CODECS])).split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        key = draw(st.sampled_from(SDP_KEYS))
        value = draw(st.sampled_from(["96 H264/90000", "96 H265/0", "x H264/²", "96 ²-1",
                                      "nan", "1e999", "96 sprop-parameter-sets=!!,Z0IA",
                                      "96 sprop-sps=QgEBAWAAAAMAAAMAAAMAAAMAlqADwIAQ5Y2u"])
                           | text)
        lines[index] = draw(st.sampled_from([f"a={key}:{value}", f"m=video 0 RTP/AVP {value}",
                                             value]))
    return "\r\n".join(lines)


@BOUNDED
@given(sdp())
def test_sdp_video_or_the_one_value_error(text_: str) -> None:
    run_sdp(text_.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("bad", ["m=video 0 RTP/AVP x 96\r\na=rtpmap:x H264/90000",
                                 "a=framesize:96 ²-1", "a=rtpmap:96 H264/²"])
def test_unicode_digits_do_not_lose_the_video(bad: str) -> None:
    """Found by fuzzing: int() of a non-numeric payload type or of "²" (str.isdigit says
    yes) raised a ValueError that rejected an SDP with good H.264 video."""
    found = parse_sdp("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" + bad)
    assert found.codec == "h264" and found.payload_type == 96


def test_no_video_is_the_documented_error() -> None:
    with pytest.raises(ValueError, match=SDP_NO_VIDEO):
        parse_sdp("v=0\r\nm=audio 0 RTP/AVP 0\r\n")


@BOUNDED
@given(st.sampled_from(CODECS), st.data())
def test_rtp_packets_corrupted(codec: str, data: st.DataObject) -> None:
    packets = _packets(codec)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(packets) - 1))
        packet = bytearray(packets[index])
        at = data.draw(st.integers(0, len(packet)))
        packet[at:at + 2] = data.draw(st.binary(max_size=3))
        packets[index] = bytes(packet)
    if data.draw(st.booleans()):
        packets = data.draw(st.permutations(packets))
    selector = CODECS.index(codec) | (0x80 if data.draw(st.booleans()) else 0)
    run_rtp(bytes([selector]) + frame_packets(packets))


@BOUNDED
@given(st.binary(max_size=400))
def test_rtp_any_bytes(data: bytes) -> None:
    run_rtp(data)
