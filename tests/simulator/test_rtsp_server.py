"""The city's RTSP server: real clients play it, the state machine, every stream fault."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtsp_server import RtspServer, StreamFault

log = logging.getLogger(__name__)

USER, PASSWORD = "admin", "s3cret!"
PROFILE = StreamProfile("profile_1", "mainStream", 320, 180, 15, "H264", 512)
SUB = StreamProfile("profile_2", "subStream", 320, 180, 15, "H264", 512)
PATH = "city-fixed-001/profile_1"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "citywatch-video"
    path.mkdir(exist_ok=True)
    return path


async def make_server(cache_dir: Path, speed: float = 1.0) -> RtspServer:
    server = RtspServer(VirtualClock(speed=speed), cache_dir=cache_dir)
    server.add_stream(PATH, PROFILE, username=USER, password=PASSWORD, look_seed=1)
    server.add_stream("city-fixed-001/profile_2", SUB, username=USER, password=PASSWORD,
                      look_seed=1)
    await server.start()
    return server


@pytest.fixture
async def server(cache_dir: Path) -> AsyncIterator[RtspServer]:
    srv = await make_server(cache_dir)
    yield srv
    await srv.stop()


@pytest.fixture
async def fast_server(cache_dir: Path) -> AsyncIterator[RtspServer]:
    """Scenario time at 3x: byte and frame rates are measured in a third of the time."""
    srv = await make_server(cache_dir, speed=3.0)
    yield srv
    await srv.stop()


def creds_url(server: RtspServer, path: str = PATH, password: str = PASSWORD) -> str:
    return f"rtsp://{USER}:{password}@127.0.0.1:{server.port}/{path}"


# --- a raw RTSP client ------------------------------------------------------------------


class Response:
    def __init__(self, code: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.code, self.headers, self.body = code, headers, body

    def get(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


class RawClient:
    """RTSP over one TCP connection; RTP/RTCP frames read meanwhile are kept in `rtp`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 url: str) -> None:
        self.reader, self.writer, self.url = reader, writer, url
        self.cseq = 0
        self.session: str | None = None
        self.nonce: str | None = None
        self.password = PASSWORD
        self.interleaved: list[tuple[int, bytes]] = []

    @classmethod
    async def connect(cls, server: RtspServer, path: str = PATH) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        return cls(reader, writer, server.url(path))

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def authorization(self, method: str, uri: str) -> str:
        assert self.nonce is not None
        ha1 = hashlib.md5(f"{USER}:citywatch:{self.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{self.nonce}:{ha2}".encode()).hexdigest()
        return (f'Digest username="{USER}", realm="citywatch", nonce="{self.nonce}", '
                f'uri="{uri}", response="{response}"')

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, method: str, url: str | None = None,
                      headers: dict[str, str] | None = None, auth: bool = True) -> Response:
        url = url or self.url
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: raw-test"]
        if self.session and method not in ("OPTIONS", "DESCRIBE"):
            lines.append(f"Session: {self.session}")
        if auth and self.nonce:
            lines.append(f"Authorization: {self.authorization(method, url)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        await self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = await self.read_response()
        assert response.get("cseq") == str(self.cseq)
        return response

    async def read_response(self) -> Response:
        async with asyncio.timeout(5):
            while True:
                first = await self.reader.readexactly(1)
                if first == b"$":
                    await self.read_interleaved_rest()
                    continue
                head = first + await self.reader.readuntil(b"\r\n\r\n")
                break
        lines = head.decode().split("\r\n")
        code = int(lines[0].split()[1])
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        body = await self.reader.readexactly(length) if length else b""
        return Response(code, headers, body)

    async def read_interleaved_rest(self) -> None:
        channel_len = await self.reader.readexactly(3)
        size = int.from_bytes(channel_len[1:], "big")
        self.interleaved.append((channel_len[0], await self.reader.readexactly(size)))

    async def collect(self, seconds: float) -> list[tuple[int, bytes]]:
        """Interleaved frames received during `seconds` (RTSP responses are not expected)."""
        start = len(self.interleaved)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    first = await self.reader.readexactly(1)
            except TimeoutError:
                break
            assert first == b"$"
            await self.read_interleaved_rest()
        return self.interleaved[start:]

    async def describe(self) -> Response:
        response = await self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        if response.code == 401:
            challenge = next(v for v in response.headers["www-authenticate"]
                             if v.startswith("Digest"))
            match = re.search(r'nonce="([^"]+)"', challenge)
            assert match
            self.nonce = match[1]
            response = await self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        return response

    async def play(self) -> None:
        assert (await self.describe()).code == 200
        setup = await self.request("SETUP", f"{self.url}/trackID=0",
                                   {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        assert setup.code == 200, setup.code
        self.session = setup.get("session").split(";")[0]  # type: ignore[union-attr]
        play = await self.request("PLAY", headers={"Range": "npt=0.000-"})
        assert play.code == 200


def rtp_packets(frames: list[tuple[int, bytes]]) -> list[bytes]:
    return [payload for channel, payload in frames if channel == 0]


def nal_types(packet: bytes) -> list[int]:
    """NAL unit types carried by an RTP packet (FU-A: only the start fragment counts)."""
    payload = packet[12:]
    kind = payload[0] & 0x1F
    if kind == 28:
        return [payload[1] & 0x1F] if payload[1] & 0x80 else []
    return [kind]


def frame_timestamps(packets: list[bytes]) -> list[int]:
    return sorted({int.from_bytes(p[4:8], "big") for p in packets})


def play_with_pyav(url: str, frames: int, decode: bool = False) -> dict:
    """Open the stream with PyAV (FFmpeg), read `frames` packets; decode luma if asked."""
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
        stream = container.streams.video[0]
        out = {"codec": stream.codec_context.name, "width": stream.codec_context.width,
               "height": stream.codec_context.height, "rate": stream.guessed_rate,
               "pts": [], "keys": [], "luma": []}
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            out["pts"].append(packet.pts)
            out["keys"].append(packet.is_keyframe)
            if decode:
                out["luma"] += [f.to_ndarray(format="gray").copy() for f in packet.decode()]
            if len(out["pts"]) >= frames:
                break
    return out


# --- real clients ---------------------------------------------------------------------------


async def test_pyav_plays_the_stream(server: RtspServer):
    got = await asyncio.to_thread(play_with_pyav, creds_url(server), 35)
    assert got["codec"] == "h264"
    assert (got["width"], got["height"]) == (320, 180)
    assert got["rate"] == 15
    pts = [p for p in got["pts"] if p is not None]
    assert len(pts) >= 30 and all(b > a for a, b in itertools.pairwise(pts))
    assert all(b - a == 6000 for a, b in itertools.pairwise(pts))  # 90 kHz / 15 fps
    keys = [i for i, k in enumerate(got["keys"]) if k]
    assert keys[:2] == [0, 30]  # an IDR first, then one every 2 s
    assert server.stats["packets_sent"] > 0


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
async def test_ffprobe_reports_the_configured_stream(server: RtspServer):
    proc = await asyncio.to_thread(
        subprocess.run,
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,width,height,r_frame_rate", "-of", "json",
         creds_url(server)], capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 0, proc.stderr
    stream = json.loads(proc.stdout)["streams"][0]
    assert stream == {"codec_name": "h264", "width": 320, "height": 180,
                      "r_frame_rate": "15/1"}


# --- the RTSP state machine -------------------------------------------------------------------


async def test_options_lists_public_methods(server: RtspServer):
    client = await RawClient.connect(server)
    response = await client.request("OPTIONS")
    assert response.code == 200
    public = {m.strip() for m in (response.get("public") or "").split(",")}
    assert {"OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER"} <= public
    await client.close()


async def test_describe_needs_digest_auth_and_returns_sdp(server: RtspServer):
    client = await RawClient.connect(server)
    unauth = await client.request("DESCRIBE")
    assert unauth.code == 401
    challenges = unauth.headers["www-authenticate"]
    assert any(c.startswith('Digest realm="citywatch", nonce="') for c in challenges)
    response = await client.describe()
    assert response.code == 200
    assert response.get("content-type") == "application/sdp"
    assert response.get("content-base") == server.url(PATH) + "/"
    sdp = response.body.decode()
    assert "m=video 0 RTP/AVP 96" in sdp and "a=rtpmap:96 H264/90000" in sdp
    fmtp = re.search(r"a=fmtp:96 (.*)", sdp)
    assert fmtp and "packetization-mode=1" in fmtp[1]
    assert re.search(r"profile-level-id=[0-9A-F]{6}", fmtp[1])
    assert re.search(r"sprop-parameter-sets=Z[A-Za-z0-9+/=]+,aM[A-Za-z0-9+/=]+", fmtp[1])
    assert "a=control:trackID=0" in sdp and "a=framerate:15" in sdp
    await client.close()


async def test_basic_auth_is_accepted(server: RtspServer):
    import base64

    client = await RawClient.connect(server)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    response = await client.request("DESCRIBE", headers={"Authorization": f"Basic {token}"})
    assert response.code == 200
    await client.close()


async def test_wrong_password_and_unknown_path(server: RtspServer):
    client = await RawClient.connect(server)
    client.password = "wrong"
    assert (await client.describe()).code == 401
    assert server.stats["auth_failures"] >= 2
    unknown = await client.request("DESCRIBE", server.url("no-such-camera/profile_1"))
    assert unknown.code == 404
    await client.close()


async def test_garbage_gets_400_and_the_server_still_serves(server: RtspServer):
    client = await RawClient.connect(server)
    await client.send_raw(b"\x16\x03\x01 hello there\r\n\r\n")
    assert (await client.read_response()).code == 400
    await client.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.read_response()).code in (400, 505)
    await client.send_raw(b"DESCRIBE rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\nContent-Length: zz\r\n\r\n")
    assert (await client.read_response()).code == 400
    await client.close()
    other = await RawClient.connect(server)
    assert (await other.request("OPTIONS")).code == 200
    await other.play()
    assert rtp_packets(await other.collect(0.3))
    await other.close()


async def test_udp_transport_is_refused_with_461(server: RtspServer):
    client = await RawClient.connect(server)
    assert (await client.describe()).code == 200
    setup = await client.request("SETUP", f"{client.url}/trackID=0",
                                 {"Transport": "RTP/AVP;unicast;client_port=5000-5001"})
    assert setup.code == 461
    await client.close()


async def test_session_lifecycle(server: RtspServer):
    client = await RawClient.connect(server)
    assert (await client.describe()).code == 200
    setup = await client.request("SETUP", f"{client.url}/trackID=0",
                                 {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
    assert setup.code == 200
    session_header = setup.get("session") or ""
    assert re.fullmatch(r"[0-9A-F]+;timeout=60", session_header)
    assert "interleaved=0-1" in (setup.get("transport") or "")
    client.session = session_header.split(";")[0]
    play = await client.request("PLAY")
    assert play.code == 200
    info = re.search(r"seq=(\d+);rtptime=(\d+)", play.get("rtp-info") or "")
    assert info
    assert (play.get("range") or "").startswith("npt=")
    packets = rtp_packets(await client.collect(0.5))
    assert packets
    assert int.from_bytes(packets[0][2:4], "big") == int(info[1])
    assert int.from_bytes(packets[0][4:8], "big") == int(info[2])
    seqs = [int.from_bytes(p[2:4], "big") for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert 7 in nal_types(packets[0])  # the stream starts with SPS, PPS, IDR
    assert any(ch == 1 and p[1] == 200 for ch, p in client.interleaved)  # an RTCP SR
    assert (await client.request("GET_PARAMETER")).code == 200
    assert server.stats["playing"] == 1
    assert (await client.request("TEARDOWN")).code == 200
    assert server.stats["sessions"] == 0
    await client.collect(0.2)  # what was in flight
    assert not rtp_packets(await client.collect(0.4))
    assert (await client.request("GET_PARAMETER")).code == 454
    await client.close()


async def test_unknown_session_gets_454(server: RtspServer):
    client = await RawClient.connect(server)
    client.session = "DOESNOTEXIST"
    assert (await client.request("PLAY")).code == 454
    assert (await client.request("TEARDOWN")).code == 454
    await client.close()


# --- faults -----------------------------------------------------------------------------


async def test_stall_keeps_the_socket_but_sends_nothing(server: RtspServer):
    client = await RawClient.connect(server)
    await client.play()
    assert rtp_packets(await client.collect(0.3))
    server.set_fault("city-fixed-001", StreamFault.STALL, True)
    assert server.faults(PATH) == {StreamFault.STALL}
    await client.collect(0.2)
    assert await client.collect(2.0) == []
    assert (await client.request("GET_PARAMETER")).code == 200
    server.set_fault("city-fixed-001", StreamFault.STALL, False)
    mark = len(client.interleaved)
    async with asyncio.timeout(3):  # at the next keyframe slot: within 2 s
        while not rtp_packets(client.interleaved[mark:]):
            await client.collect(0.05)
    assert 7 in nal_types(rtp_packets(client.interleaved[mark:])[0])  # resumes at a keyframe
    await client.close()


async def test_disconnect_closes_active_sessions(server: RtspServer):
    client = await RawClient.connect(server)
    await client.play()
    await client.collect(0.2)
    server.set_fault(PATH, StreamFault.DISCONNECT, True)
    with pytest.raises(asyncio.IncompleteReadError):
        async with asyncio.timeout(2):
            while True:
                await client.reader.readexactly(1)
    await client.close()


async def test_refuse_answers_503_and_closes(server: RtspServer):
    playing = await RawClient.connect(server)
    await playing.play()
    server.set_fault("city-fixed-001", StreamFault.REFUSE, True)
    async with asyncio.timeout(2):
        await playing.reader.read()  # drained to EOF: closed
    client = await RawClient.connect(server)
    assert (await client.request("DESCRIBE")).code == 503
    async with asyncio.timeout(2):
        assert await client.reader.read() == b""
    server.set_fault("city-fixed-001", StreamFault.REFUSE, False)
    again = await RawClient.connect(server)
    assert (await again.describe()).code == 200
    for c in (playing, client, again):
        await c.close()


async def test_auth_change_rejects_the_old_credentials(server: RtspServer):
    server.set_fault(PATH, StreamFault.AUTH_CHANGE, True)
    client = await RawClient.connect(server)
    assert (await client.describe()).code == 401
    other = await RawClient.connect(server, "city-fixed-001/profile_2")
    assert (await other.describe()).code == 200  # only that stream
    server.set_fault(PATH, StreamFault.AUTH_CHANGE, False)
    assert (await client.describe()).code == 200
    await client.close()
    await other.close()


async def test_freeze_sends_identical_frames(server: RtspServer):
    server.set_fault("city-fixed-001", StreamFault.FREEZE, True)
    got = await asyncio.to_thread(play_with_pyav, creds_url(server), 12, True)
    luma = got["luma"]
    assert len(luma) >= 10
    assert all(np.array_equal(luma[0], f) for f in luma)
    assert luma[0].std() > 10


async def test_black_sends_dark_frames(server: RtspServer):
    server.set_fault(PATH, StreamFault.BLACK, True)
    got = await asyncio.to_thread(play_with_pyav, creds_url(server), 5, True)
    assert got["luma"] and max(f.mean() for f in got["luma"]) < 20


async def test_normal_frames_are_not_dark_nor_frozen(server: RtspServer):
    got = await asyncio.to_thread(play_with_pyav, creds_url(server), 5, True)
    luma = got["luma"]
    assert min(f.mean() for f in luma) > 40
    assert not np.array_equal(luma[0], luma[-1])


async def test_fps_drop_sends_one_frame_in_five(fast_server: RtspServer):
    normal = await RawClient.connect(fast_server)
    await normal.play()
    dropped = await RawClient.connect(fast_server, "city-fixed-001/profile_2")
    fast_server.set_fault("city-fixed-001/profile_2", StreamFault.FPS_DROP, True)
    await dropped.play()
    normal_ts = frame_timestamps(rtp_packets(await normal.collect(1.0)))
    dropped_ts = frame_timestamps(rtp_packets(await dropped.collect(0.01)
                                              + dropped.interleaved))
    # 1 s real = 3 s of scenario: ~45 frames vs ~9.
    assert len(normal_ts) >= 35
    assert 5 <= len(dropped_ts) <= len(normal_ts) / 4
    steps = {b - a for a, b in itertools.pairwise(dropped_ts)}
    assert steps == {5 * 6000}  # the timestamps of the frames that are sent
    await normal.close()
    await dropped.close()


async def test_bitrate_drop_sends_fewer_bytes(fast_server: RtspServer):
    normal = await RawClient.connect(fast_server)
    low = await RawClient.connect(fast_server, "city-fixed-001/profile_2")
    fast_server.set_fault("city-fixed-001/profile_2", StreamFault.BITRATE_DROP, True)
    await normal.play()
    await low.play()
    await asyncio.sleep(1.4)  # > 4 s of scenario: a whole loop each
    normal_bytes = sum(len(p) for p in rtp_packets(await normal.collect(0.05)))
    low_bytes = sum(len(p) for p in rtp_packets(await low.collect(0.05)))
    assert normal_bytes > 0 and low_bytes < normal_bytes / 3
    await normal.close()
    await low.close()


async def test_no_keyframes_after_the_first(fast_server: RtspServer):
    fast_server.set_fault(PATH, StreamFault.NO_KEYFRAMES, True)
    client = await RawClient.connect(fast_server)
    await client.play()
    packets = rtp_packets(await client.collect(1.7))  # 5 s of scenario: 2 more GOP starts
    types = [t for p in packets for t in nal_types(p)]
    assert types.count(5) == 1 and types[:3] == [7, 8, 5]
    assert types.count(1) >= 60  # P slices keep coming
    await client.close()


async def test_fault_prefix_applies_to_every_profile(server: RtspServer):
    server.set_fault("city-fixed-001", StreamFault.BLACK, True)
    server.set_fault(PATH, StreamFault.STALL, True)
    assert server.faults(PATH) == {StreamFault.BLACK, StreamFault.STALL}
    assert server.faults("city-fixed-001/profile_2") == {StreamFault.BLACK}
    assert server.faults("city-fixed-001") == {StreamFault.BLACK}
    server.set_fault("city-fixed-001", StreamFault.BLACK, False)
    assert server.faults("city-fixed-001/profile_2") == frozenset()


# --- cost ---------------------------------------------------------------------------------


async def test_fifty_sessions_cost_little_cpu(server: RtspServer):
    clients = [await RawClient.connect(server, PATH if i % 2 else "city-fixed-001/profile_2")
               for i in range(50)]
    await asyncio.gather(*(c.play() for c in clients))
    received = [0] * len(clients)

    async def drain(i: int, c: RawClient) -> None:
        while True:
            data = await c.reader.read(65536)
            if not data:
                return
            received[i] += len(data)

    readers = [asyncio.create_task(drain(i, c)) for i, c in enumerate(clients)]
    cpu0, wall0, sent0 = time.process_time(), time.monotonic(), server.stats["bytes_sent"]
    await asyncio.sleep(3)
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    sent = server.stats["bytes_sent"] - sent0
    figures = {"sessions": 50, "cpu_s_per_s": round(cpu / wall, 3),
               "cpu_ms_per_stream_s": round(1000 * cpu / wall / 50, 2),
               "mbit_s": round(sent * 8 / wall / 1e6, 1),
               "dropped": server.stats["frames_dropped"]}
    log.warning("50 sessions (server and raw clients in one process): %s", figures)
    for r in readers:
        r.cancel()
    for c in clients:
        await c.close()
    assert all(n > 0 for n in received)
    assert server.stats["frames_dropped"] == 0
    assert cpu / wall < 1.5  # generous: this machine is shared


async def test_stop_closes_everything(cache_dir: Path):
    server = await make_server(cache_dir)
    client = await RawClient.connect(server)
    await client.play()
    await server.stop()
    async with asyncio.timeout(2):
        await client.reader.read()  # EOF
    assert server.stats["sessions"] == 0 and server.stats["connections"] == 0
    await client.close()


async def test_stream_added_after_start_is_prepared_in_the_background(server: RtspServer):
    late = StreamProfile("profile_1", "mainStream", 160, 90, 10, "H264", 256)
    url = server.add_stream("city-temp-009/profile_1", late, username=USER, password=PASSWORD)
    assert url == f"rtsp://127.0.0.1:{server.port}/city-temp-009/profile_1"
    client = await RawClient.connect(server, "city-temp-009/profile_1")
    for _ in range(200):  # 503 until encoded (~0.1 s)
        response = await client.describe()
        if response.code != 503:
            break
        await asyncio.sleep(0.1)
    assert response.code == 200 and "a=framerate:10" in response.body.decode()
    server.remove_stream("city-temp-009/profile_1")
    assert (await client.describe()).code == 404
    await client.close()
