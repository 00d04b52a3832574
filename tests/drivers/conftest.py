"""Replay server for the recorded ONVIF responses in tests/data/onvif/.

Serves one camera folder over HTTP on 127.0.0.1 the way the fixtures README describes
("Replaying a camera"): the answer is chosen by the local name + namespace of the SOAP Body's
first child, every recorded private address is rewritten to the replay listener (or to an
``advertise`` host to simulate a camera behind NAT), unknown actions get the
``ter:ActionNotSupported`` fault a real camera sends, and POST is accepted on every path.

Extras for tests: per-action overrides (inject a fault or malformed XML), a response delay,
a camera clock offset (GetSystemDateAndTime rewritten to "now + offset") and optional
WS-Security PasswordDigest checking against that clock, like a real camera does.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lxml import etree

from simulator.clock import VirtualClock
from simulator.model import CameraQuirk
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer
from tests.conftest import make_spec
from tests.drivers.event_helpers import MakeCamera

DATA = Path(__file__).resolve().parents[1] / "data" / "onvif"
CAMERAS = (
    "axis-q6045-e",
    "hikvision-ds-2df7276-ael",
    "hikvision-ds-2cd2012-i",
    "trendnet-tv-ip320pi",
    "gsoap-camera",
)

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TT = "http://www.onvif.org/ver10/schema"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

# Body namespace -> file-name prefix used in the fixture folders.
SERVICE_PREFIX = {
    "http://www.onvif.org/ver10/device/wsdl": "device",
    "http://www.onvif.org/ver10/media/wsdl": "media",
    "http://www.onvif.org/ver20/media/wsdl": "media2",
    "http://www.onvif.org/ver20/ptz/wsdl": "ptz",
    "http://www.onvif.org/ver10/events/wsdl": "events",
    "http://docs.oasis-open.org/wsn/b-2": "events",
    "http://www.onvif.org/ver20/imaging/wsdl": "imaging",
    "http://www.onvif.org/ver20/analytics/wsdl": "analytics",
    "http://www.onvif.org/ver10/deviceIO/wsdl": "deviceio",
}
UNAUTHENTICATED = {"GetSystemDateAndTime"}

# Private IPv4 literals (RFC 1918) as they appear in the recordings, with optional scheme/port.
_PRIVATE_V4 = r"(?:10\.\d{1,3}|192\.168|172\.(?:1[6-9]|2\d|3[01])\.\d{1,3})\.\d{1,3}\.\d{1,3}"
_URL_RE = re.compile(rf"\b([a-z][a-z0-9+.-]*)://(?:[^/@\s<\"]+@)?({_PRIVATE_V4})(?::\d+)?")
_BARE_RE = re.compile(rf"(?<![\d.]){_PRIVATE_V4}(?![\d.])")

FAULT_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
  xmlns:ter="http://www.onvif.org/ver10/error">
 <env:Body><env:Fault>
  <env:Code><env:Value>env:{code}</env:Value>
   <env:Subcode><env:Value>ter:{sub1}</env:Value>
    <env:Subcode><env:Value>ter:{sub2}</env:Value></env:Subcode>
   </env:Subcode></env:Code>
  <env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason>
 </env:Fault></env:Body>
</env:Envelope>
"""


def fault_xml(code: str, sub1: str, sub2: str, reason: str) -> bytes:
    return FAULT_TEMPLATE.format(code=code, sub1=sub1, sub2=sub2, reason=reason).encode()


NOT_SUPPORTED = fault_xml(
    "Receiver", "ActionNotSupported", "NoSuchService", "Optional Action Not Implemented"
)
NOT_AUTHORIZED = fault_xml(
    "Sender",
    "NotAuthorized",
    "SenderNotAuthorized",
    "The action requested requires authorization and the sender is not authorized",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fault_status(body: bytes) -> int:
    """HTTP status a camera sends with a fault: 400 for Sender faults, 500 otherwise."""
    return 400 if re.search(rb"<[\w-]*:?Value>\s*[\w-]*:?Sender\s*<", body) else 500


@dataclass
class ReplayCamera:
    folder: Path
    advertise: str | None = None  # host[:port] put in rewritten addresses; None = listener
    overrides: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    delay_s: float = 0.0
    clock_offset_s: float | None = None  # None: GetSystemDateAndTime as recorded
    credentials: tuple[str, str] | None = None  # check WS-Security when set
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, action)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    @property
    def netloc(self) -> str:
        return self.advertise or f"127.0.0.1:{self.port}"

    def rewrite(self, text: str) -> str:
        """Rewrite every recorded private address to the listener (or advertised host)."""
        netloc = self.netloc
        host = netloc.rsplit(":", 1)[0] if ":" in netloc else netloc
        text = _URL_RE.sub(lambda m: f"{m.group(1)}://{netloc}", text)
        return _BARE_RE.sub(host, text)

    def find(self, action: str, namespace: str) -> tuple[int, bytes] | None:
        prefix = SERVICE_PREFIX.get(namespace, "")
        for name in (f"{prefix}.{action}.xml", f"{action}.xml"):
            path = self.folder / name
            if path.is_file():
                return 200, path.read_bytes()
        for name in (f"{prefix}.{action}.xml", f"{action}.xml"):
            path = self.folder / "faults" / name
            if path.is_file():
                body = path.read_bytes()
                return fault_status(body), body
        return None

    def check_auth(self, envelope: etree._Element) -> bool:
        assert self.credentials is not None
        user, password = self.credentials
        token = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        username = token.findtext(f"{{{WSSE}}}Username")
        digest = token.findtext(f"{{{WSSE}}}Password") or ""
        nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
        created = token.findtext(f"{{{WSU}}}Created") or ""
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + password.encode()).digest()
        ).decode()
        if username != user or digest != expected:
            return False
        when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        camera_now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset_s or 0)
        return abs((when - camera_now).total_seconds()) < 5  # cameras allow a few seconds

    def set_clock(self, body: bytes) -> bytes:
        assert self.clock_offset_s is not None
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset_s)
        doc = etree.fromstring(body)
        for element in doc.iter(f"{{{TT}}}UTCDateTime", f"{{{TT}}}LocalDateTime"):
            values = {
                "Year": now.year,
                "Month": now.month,
                "Day": now.day,
                "Hour": now.hour,
                "Minute": now.minute,
                "Second": now.second,
            }
            for child in element.iter():
                name = etree.QName(child).localname
                if name in values:
                    child.text = str(values[name])
        return bytes(etree.tostring(doc, xml_declaration=True, encoding="UTF-8"))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        try:
            envelope = etree.fromstring(raw)
            body = envelope.find(f"{{{SOAP12}}}Body")
            assert body is not None and len(body)
            qname = etree.QName(body[0])
        except Exception:
            return web.Response(status=400, text="bad request")
        action, namespace = qname.localname, qname.namespace or ""
        self.requests.append((request.path, action))
        if (
            self.credentials is not None
            and action not in UNAUTHENTICATED
            and not self.check_auth(envelope)
        ):
            status, content = 400, NOT_AUTHORIZED
        elif action in self.overrides:
            status, content = self.overrides[action]
        else:
            found = self.find(action, namespace)
            status, content = found if found is not None else (500, NOT_SUPPORTED)
            if (
                action == "GetSystemDateAndTime"
                and status == 200
                and self.clock_offset_s is not None
            ):
                content = self.set_clock(content)
        text = self.rewrite(content.decode("utf-8", "replace"))
        return web.Response(
            status=status,
            body=text.encode("utf-8"),
            content_type="application/soap+xml",
            charset="utf-8",
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


ReplayFactory = Callable[..., Awaitable[ReplayCamera]]


@pytest.fixture
async def replay() -> AsyncIterator[ReplayFactory]:
    """Factory: ``await replay("axis-q6045-e", overrides=..., ...)`` -> a running ReplayCamera."""
    started: list[ReplayCamera] = []

    async def start(camera: str, **kwargs: object) -> ReplayCamera:
        cam = ReplayCamera(DATA / camera, **kwargs)  # type: ignore[arg-type]
        await cam.start()
        started.append(cam)
        return cam

    yield start
    for cam in started:
        await cam.stop()


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP listener that accepts connections and never answers. Yields a device URL."""
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/onvif/device_service"
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
def closed_port_url() -> str:
    """URL of a loopback port nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/onvif/device_service"


# --------------------------------------------------------------------------------------
# A minimal RTSP/RTP-over-TCP H.264 server for the stream driver's tests (drivers/stream).
#
# ffmpeg cannot *serve* RTSP to players (its muxer only pushes to a server), so the stream
# tests bring this small, independent server: pre-encoded libx264 access units (320x180,
# baseline, no B-frames), RFC 6184 packetisation (single NAL + FU-A), interleaved RTP on
# the RTSP connection, Digest auth, and switches for the failures a camera shows: stall
# (socket open, nothing sent), disconnect, black / frozen picture, no keyframes.
# The simulator's RtspServer is exercised by the integration tests when it exists.
# --------------------------------------------------------------------------------------

MINI_W, MINI_H, MINI_FPS, MINI_GOP, MINI_LOOP_S = 320, 180, 25, 10, 4
_MINI_CACHE: dict[str, list[tuple[list[bytes], bool]]] = {}


def _split_annexb(data: bytes) -> list[bytes]:
    parts = re.split(rb"\x00\x00\x01", data)
    return [p.rstrip(b"\x00") for p in parts if p.rstrip(b"\x00")]


def mini_encode(variant: str) -> list[tuple[list[bytes], bool]]:
    """Four seconds of 320x180 H.264 access units as (NAL units, is_keyframe)."""
    if variant in _MINI_CACHE:
        return _MINI_CACHE[variant]
    import av
    import numpy as np

    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = MINI_W, MINI_H, "yuv420p"
    ctx.time_base = Fraction(1, MINI_FPS)
    ctx.framerate = Fraction(MINI_FPS)
    ctx.bit_rate = 300_000
    ctx.gop_size = MINI_GOP
    ctx.max_b_frames = 0
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline",
                   "x264-params": f"keyint={MINI_GOP}:min-keyint={MINI_GOP}:scenecut=0"}
    rng = np.random.default_rng(7)
    out: list[tuple[list[bytes], bool]] = []
    frames = MINI_FPS * MINI_LOOP_S
    for i in range(frames):
        if variant == "black":
            rgb = np.zeros((MINI_H, MINI_W, 3), np.uint8)
        else:
            t = 0 if variant == "frozen" else i
            rgb = np.full((MINI_H, MINI_W, 3), 90, np.uint8)
            rgb[: MINI_H // 3] = (140, 170, 210)  # sky
            x = (t * 4) % (MINI_W + 40)
            rgb[100:140, max(0, x - 40) : x] = (200, 30, 30)  # a car driving through
            rgb[150:155, ::20] = 240
            if variant != "frozen":
                rgb += rng.integers(0, 8, rgb.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        if i % MINI_GOP == 0:
            frame.pict_type = av.video.frame.PictureType.I
        for packet in ctx.encode(frame):
            out.append((_split_annexb(bytes(packet)), packet.is_keyframe))
    for packet in ctx.encode(None):
        out.append((_split_annexb(bytes(packet)), packet.is_keyframe))
    out = out[:frames]
    assert out[0][1], "the loop must start with an IDR"
    _MINI_CACHE[variant] = out
    return out


def _rtp_payloads(nal: bytes, mtu: int = 1400) -> list[bytes]:
    if len(nal) <= mtu:
        return [nal]
    header, body = nal[0], nal[1:]
    indicator = (header & 0xE0) | 28
    chunks = [body[i : i + mtu] for i in range(0, len(body), mtu)]
    payloads = []
    for n, chunk in enumerate(chunks):
        fu = header & 0x1F
        if n == 0:
            fu |= 0x80
        if n == len(chunks) - 1:
            fu |= 0x40
        payloads.append(bytes([indicator, fu]) + chunk)
    return payloads


@dataclass
class MiniRtsp:
    """``await MiniRtsp(...).start()``; ``url`` has no credentials in it."""

    username: str | None = None
    password: str | None = None
    variant: str = "normal"  # normal | black | frozen
    stalled: bool = False  # keep the socket open, send nothing
    no_keyframes: bool = False  # IDR access units are dropped
    fps_divisor: int = 1  # send every n-th frame (IDRs always)
    port: int = 0
    sessions: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream1"

    async def start(self) -> MiniRtsp:
        for variant in ("normal", "black", "frozen"):
            mini_encode(variant)
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.disconnect()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def disconnect(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def sdp(self) -> str:
        nals = mini_encode("normal")[0][0]
        sps = next(n for n in nals if n[0] & 0x1F == 7)
        pps = next(n for n in nals if n[0] & 0x1F == 8)
        sprop = f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"
        return (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=mini\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            "a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 packetization-mode=1;profile-level-id={sps[1:4].hex()};"
            f"sprop-parameter-sets={sprop}\r\na=control:track1\r\n"
        )

    def _authorised(self, method: str, headers: dict[str, str]) -> bool:
        if self.username is None:
            return True
        auth = headers.get("authorization", "")
        if not auth.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', auth[7:]))
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1 = md5(f"{self.username}:mini:{self.password}")
        ha2 = md5(f"{method}:{fields.get('uri', '')}")
        return fields.get("response") == md5(f"{ha1}:{fields.get('nonce', '')}:{ha2}")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        play: asyncio.Task[None] | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ")[0]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                if int(headers.get("content-length", "0")):
                    await reader.readexactly(int(headers["content-length"]))
                cseq = headers.get("cseq", "0")
                extra, body, status = "", "", "200 OK"
                if method != "OPTIONS" and not self._authorised(method, headers):
                    status = "401 Unauthorized"
                    extra = 'WWW-Authenticate: Digest realm="mini", nonce="abc123"\r\n'
                elif method == "OPTIONS":
                    extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                elif method == "DESCRIBE":
                    body = self.sdp()
                    extra = f"Content-Type: application/sdp\r\nContent-Base: {self.url}/\r\n"
                elif method == "SETUP":
                    extra = ("Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                             "Session: 1234;timeout=60\r\n")
                elif method == "PLAY":
                    extra = "Session: 1234\r\n"
                elif method == "TEARDOWN":
                    break
                writer.write(
                    f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}"
                    f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
                await writer.drain()
                if method == "PLAY" and status.startswith("200") and play is None:
                    self.sessions += 1
                    play = asyncio.create_task(self._send(writer))
                    self._tasks.add(play)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if play is not None:
                play.cancel()
                self._tasks.discard(play)
            self._writers.discard(writer)
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        seq, ssrc = 0, 0x1234ABCD
        variant = self.variant
        frame = 0
        try:
            while not writer.is_closing():
                await asyncio.sleep(max(0.0, start + frame / MINI_FPS - loop.time()))
                index = frame % (MINI_LOOP_S * MINI_FPS)
                if index % MINI_GOP == 0:
                    variant = self.variant  # switch pictures at GOP boundaries only
                nals, key = mini_encode(variant)[index]
                ts = (frame * 90_000 // MINI_FPS) & 0xFFFFFFFF
                frame += 1
                if self.stalled or (key and self.no_keyframes):
                    continue
                if not key and self.fps_divisor > 1 and index % self.fps_divisor:
                    continue
                payloads = [p for nal in nals for p in _rtp_payloads(nal)]
                for n, payload in enumerate(payloads):
                    marker = 0x80 if n == len(payloads) - 1 else 0
                    rtp = struct.pack("!BBHII", 0x80, marker | 96, seq & 0xFFFF, ts, ssrc)
                    seq += 1
                    data = rtp + payload
                    writer.write(b"$\x00" + struct.pack("!H", len(data)) + data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass


@pytest.fixture
async def mini_rtsp() -> AsyncIterator[Callable[..., Awaitable[MiniRtsp]]]:
    """Factory: ``await mini_rtsp(username=..., password=..., variant=...)``."""
    servers: list[MiniRtsp] = []

    async def start(**kwargs: Any) -> MiniRtsp:
        server = await MiniRtsp(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


# -- simulated cameras with the event service (event driver tests) --------------------------


@pytest.fixture
async def rtsp(clock: VirtualClock) -> AsyncIterator[RtspServer]:
    server = RtspServer(clock)  # never started: only its fault table is used
    yield server
    await server.stop()


@pytest.fixture
async def make_camera(clock: VirtualClock, rtsp: RtspServer) -> AsyncIterator[MakeCamera]:
    started: list[SimulatedCamera] = []

    async def make(*quirks: CameraQuirk, events: bool = True,
                   clock_: VirtualClock | None = None) -> SimulatedCamera:
        spec = dataclasses.replace(make_spec(), quirks=frozenset(quirks))
        cam = SimulatedCamera(spec, clock_ or clock, rtsp=rtsp, event_service=events)
        await cam.start()
        started.append(cam)
        return cam

    yield make
    for cam in started:
        await cam.stop()
