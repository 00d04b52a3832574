"""Vendor quirks of the simulated camera (CameraQuirk), checked on the wire with raw SOAP
and HTTP: the shapes real firmwares send, not what our driver happens to accept."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from urllib.parse import urlsplit

import aiohttp
import pytest
from lxml import etree

from simulator.model import CameraQuirk, CameraSpec
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_services import naive_clock_shape
from simulator.soap import naive_times
from tests.conftest import StartCamera
from tests.simulator.conftest import (
    NS,
    PASSWORD,
    USER,
    fault_codes,
    make_spec,
    post_soap,
    soap_envelope,
)

pytestmark = pytest.mark.timeout(60)

GET_TIME = "<tds:GetSystemDateAndTime/>"
GET_INFO = "<tds:GetDeviceInformation/>"
GET_SERVICES = (
    "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>"
)
GET_CAPS = "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>"
TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"


def quirky(*quirks: CameraQuirk, cam_id: str = "hst-cam-007") -> CameraSpec:
    return dataclasses.replace(make_spec(cam_id), quirks=frozenset(quirks))


def signed(cam: SimulatedCamera, body: str) -> bytes:
    return soap_envelope(body, username=USER, password=PASSWORD, created=cam.camera_now())


async def texts(http: aiohttp.ClientSession, cam: SimulatedCamera, body: str,
                tag: str) -> list[str]:
    status, doc = await post_soap(http, cam.onvif_url, signed(cam, body))
    assert status == 200
    return [e.text or "" for e in doc.iter() if etree.QName(e).localname == tag]


def id_with_shape(shape: str) -> str:
    return next(f"cam-{n}" for n in range(100) if naive_clock_shape(f"cam-{n}") == shape)


def test_naive_times_drops_only_utc_zones() -> None:
    xml = ('<a>2026-03-02T11:00:00Z</a><b UtcTime="2026-03-02T11:00:00.120Z"/>'
           "<c>PT60S</c><d>Zulu 2026</d>")
    assert naive_times(xml) == ('<a>2026-03-02T11:00:00</a><b UtcTime="2026-03-02T11:00:00.120"/>'
                                "<c>PT60S</c><d>Zulu 2026</d>")


async def test_naive_clock_with_empty_time_zone(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME, cam_id=id_with_shape("empty_tz")))
    status, doc = await post_soap(http, cam.onvif_url, soap_envelope(GET_TIME))
    assert status == 200
    answer = doc.find(".//tds:SystemDateAndTime", NS)
    assert answer is not None
    assert answer.findtext("tt:TimeZone/tt:TZ", namespaces=NS) == ""
    utc = answer.find("tt:UTCDateTime", NS)
    local = answer.find("tt:LocalDateTime", NS)
    assert utc is not None and local is not None
    # No zone: the wall clock is given as both, and it is the camera's clock.
    assert etree.tostring(utc).replace(b"UTCDateTime", b"X") == etree.tostring(local).replace(
        b"LocalDateTime", b"X")
    now = cam.camera_now()
    assert int(utc.findtext("tt:Time/tt:Hour", namespaces=NS) or -1) == now.hour


async def test_naive_clock_with_local_time_only(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME, cam_id=id_with_shape("local_only")))
    status, doc = await post_soap(http, cam.onvif_url, soap_envelope(GET_TIME))
    assert status == 200
    answer = doc.find(".//tds:SystemDateAndTime", NS)
    assert answer is not None
    assert answer.find("tt:TimeZone", NS) is None and answer.find("tt:UTCDateTime", NS) is None
    assert answer.find("tt:LocalDateTime", NS) is not None


async def test_naive_xs_datetimes_lack_the_zone(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME))
    cam.ptz = True
    body = (f'<tptz:GetStatus xmlns:tptz="{TPTZ}"><tptz:ProfileToken>profile_main'
            "</tptz:ProfileToken></tptz:GetStatus>")
    [utc] = await texts(http, cam, body, "UtcTime")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", utc), utc


async def test_digest_only_refuses_ws_security_alone(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.DIGEST_ONLY))
    async with http.post(cam.onvif_url, data=signed(cam, GET_INFO)) as resp:
        assert resp.status == 401
        challenges = resp.headers.getall("WWW-Authenticate")
    assert len(challenges) == 1 and challenges[0].startswith("Digest ")
    assert 'qop="auth"' in challenges[0] and "algorithm=MD5" in challenges[0]
    # GetSystemDateAndTime stays open, as ONVIF requires.
    status, doc = await post_soap(http, cam.onvif_url, soap_envelope(GET_TIME))
    assert status == 200 and doc.find(".//tds:SystemDateAndTime", NS) is not None
    # Basic is not enough either, for SOAP or the snapshot.
    basic = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}
    async with http.post(cam.onvif_url, data=signed(cam, GET_INFO), headers=basic) as resp:
        assert resp.status == 401
    async with http.get(cam.snapshot_url, headers=basic) as resp:
        assert resp.status == 401
        assert [h.split()[0] for h in resp.headers.getall("WWW-Authenticate")] == ["Digest"]


async def test_digest_only_answers_with_http_digest(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.DIGEST_ONLY))
    digest = aiohttp.DigestAuthMiddleware(USER, PASSWORD)
    async with aiohttp.ClientSession(middlewares=(digest,)) as http:
        # Digest alone, no WS-Security token: the HTTP layer authenticates.
        status, doc = await post_soap(http, cam.onvif_url, soap_envelope(GET_INFO))
        assert status == 200
        assert doc.findtext(".//tds:Model", namespaces=NS) == cam.spec.vendor.model
    wrong = aiohttp.DigestAuthMiddleware(USER, PASSWORD + "x")
    async with aiohttp.ClientSession(middlewares=(wrong,)) as http:
        async with http.post(cam.onvif_url, data=soap_envelope(GET_INFO)) as resp:
            assert resp.status == 401


async def test_nat_xaddrs_name_the_lan_address(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAT_XADDR))
    assert re.fullmatch(r"192\.168\.1\.\d+", cam.lan_host)
    assert cam.lan_host == SimulatedCamera(cam.spec, cam.clock).lan_host  # fixed per camera
    want = {cam.onvif_url.replace("127.0.0.1", cam.lan_host),
            cam.media_url.replace("127.0.0.1", cam.lan_host)}
    assert set(await texts(http, cam, GET_SERVICES, "XAddr")) == want
    caps = await texts(http, cam, GET_CAPS, "XAddr")
    assert set(caps) == want
    stream = await texts(http, cam, "<trt:GetStreamUri><trt:ProfileToken>profile_main"
                         "</trt:ProfileToken></trt:GetStreamUri>", "Uri")
    assert stream == [f"rtsp://{cam.lan_host}:{cam.rtsp_port}/{cam.spec.id}/profile_main"]
    snap = await texts(http, cam, "<trt:GetSnapshotUri><trt:ProfileToken>profile_main"
                       "</trt:ProfileToken></trt:GetSnapshotUri>", "Uri")
    assert snap == [cam.snapshot_url.replace("127.0.0.1", cam.lan_host)]
    assert await texts(http, cam, "<tds:GetNetworkInterfaces/>", "Address") == [cam.lan_host]


async def test_wrong_port_xaddrs_name_port_80(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.WRONG_PORT_XADDR))
    services = await texts(http, cam, GET_SERVICES, "XAddr")
    assert {urlsplit(x).netloc for x in services} == {"127.0.0.1"}
    assert {urlsplit(x).path for x in services} == {"/onvif/device_service",
                                                    "/onvif/media_service"}
    snap = await texts(http, cam, "<trt:GetSnapshotUri><trt:ProfileToken>profile_main"
                       "</trt:ProfileToken></trt:GetSnapshotUri>", "Uri")
    assert snap == ["http://127.0.0.1/snapshot/profile_main.jpg"]
    # The RTSP server's own port is right: only the web port is misconfigured.
    stream = await texts(http, cam, "<trt:GetStreamUri><trt:ProfileToken>profile_main"
                         "</trt:ProfileToken></trt:GetStreamUri>", "Uri")
    assert stream == [cam.stream_uri_for("profile_main")]


async def test_getcapabilities_fails_while_getservices_works(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.GETCAPABILITIES_FAILS))
    status, doc = await post_soap(http, cam.onvif_url, signed(cam, GET_CAPS))
    assert status == 500
    assert fault_codes(doc) == ["env:Receiver", "ter:ActionNotSupported"]
    assert len(await texts(http, cam, GET_SERVICES, "XAddr")) == 2
    # Unauthenticated it is still refused as not authorised first, like any request.
    status, doc = await post_soap(http, cam.onvif_url, soap_envelope(GET_CAPS))
    assert status == 400 and "ter:NotAuthorized" in fault_codes(doc)


async def test_h265_only_profiles(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    cam = await start_camera(quirky(CameraQuirk.H265_ONLY))
    assert {p.encoding for p in cam.spec.profiles} == {"H265"}
    assert await texts(http, cam, "<trt:GetProfiles/>", "Encoding") == ["H265", "H265"]


async def test_snapshot_stall_sends_headers_then_nothing(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.SNAPSHOT_STALL))
    digest = aiohttp.DigestAuthMiddleware(USER, PASSWORD)
    async with aiohttp.ClientSession(middlewares=(digest,)) as http:
        async with http.get(cam.snapshot_url) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/jpeg"
            assert resp.content_length is not None and resp.content_length > 1000
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.8):
                    await resp.content.read(1)
