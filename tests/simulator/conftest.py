"""Fixtures for the simulated devices: a spec factory, a running camera, raw SOAP helpers."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from simulator.city import SimulatedCity
from simulator.onvif_camera import SimulatedCamera
from simulator.scenario import load_scenario
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

__all__ = ["PASSWORD", "USER", "StartCamera", "make_spec"]

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "ter": "http://www.onvif.org/ver10/error",
}


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Encoded-video cache shared by every test of the session (the same directory as the
    RTSP server and video tests use): a 640x360 stream costs ~0.5 s to encode once."""
    path = tmp_path_factory.getbasetemp() / "citywatch-video"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
async def camera(start_camera: StartCamera) -> SimulatedCamera:
    return await start_camera(make_spec())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def soap_envelope(
    body: str,
    *,
    username: str | None = None,
    password: str | None = None,
    created: datetime | None = None,
    nonce: bytes | None = None,
    wsa_action: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """A SOAP 1.2 request as a client would send it, with an optional digest token."""
    header = ""
    if username is not None and password is not None:
        nonce = nonce if nonce is not None else os.urandom(16)
        stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = base64.b64encode(
            hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()
        ).decode()
        header += (
            '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
            'oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/'
            'wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>'
            f"<wsse:Username>{username}</wsse:Username>"
            '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
            f'username-token-profile-1.0#PasswordDigest">{digest}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>"
        )
    if wsa_action is not None:
        header += f'<wsa:Action xmlns:wsa="{NS["wsa"]}">{wsa_action}</wsa:Action>'
        header += (
            f'<wsa:MessageID xmlns:wsa="{NS["wsa"]}">'
            f"{message_id or 'urn:uuid:' + str(uuid.uuid4())}</wsa:MessageID>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{NS["env"]}" '
        f'xmlns:tds="{NS["tds"]}" xmlns:trt="{NS["trt"]}"><env:Header>{header}</env:Header>'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


async def post_soap(
    http: aiohttp.ClientSession, url: str, data: bytes
) -> tuple[int, etree._Element]:
    """POST a SOAP request; return the HTTP status and the parsed response envelope."""
    async with http.post(
        url, data=data, headers={"Content-Type": "application/soap+xml; charset=utf-8"}
    ) as resp:
        assert resp.headers["Content-Type"].startswith("application/soap+xml")
        return resp.status, etree.fromstring(await resp.read())


def fault_codes(doc: etree._Element) -> list[str]:
    """Code value then every subcode value of a SOAP fault, as prefixed text."""
    return [v.text for v in doc.iterfind(".//env:Fault/env:Code//env:Value", NS)]


SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.toml"


@pytest.fixture
async def city(video_cache: Path) -> AsyncIterator[SimulatedCity]:
    """The small scenario's city, without pre-encoding (tests encode what they open)."""
    c = SimulatedCity(load_scenario(SMALL), video_cache_dir=video_cache, prewarm=False)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()
