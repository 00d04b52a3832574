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
import datetime as dt
import hashlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from lxml import etree

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
