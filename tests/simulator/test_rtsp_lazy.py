"""A lazy RtspServer (the city's): nothing is encoded at start; the first DESCRIBE of a
stream waits for its video, in order with later requests on the connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator import rtsp_server
from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtsp_server import RtspServer, StreamFault
from simulator.video import Variant
from tests.simulator.test_rtsp_server import PASSWORD, USER, RawClient

# A stream kind no other test uses: the per-test cache below starts empty.
TINY = StreamProfile("profile_1", "mainStream", 176, 144, 5, "H264", 128)
PATH = "cam-lazy/profile_1"


@pytest.fixture
async def lazy(tmp_path: Path) -> AsyncIterator[RtspServer]:
    srv = RtspServer(VirtualClock(), cache_dir=tmp_path, lazy=True)
    srv.add_stream(PATH, TINY, username=USER, password=PASSWORD)
    await srv.start()  # returns at once: nothing to encode yet
    yield srv
    await srv.stop()


async def test_first_describe_waits_for_the_video(lazy: RtspServer) -> None:
    assert not lazy.ready(PATH) and lazy.library.encoded == 0
    client = await RawClient.connect(lazy, PATH)
    try:
        assert (await client.request("OPTIONS")).code == 200
        challenge = await client.request("DESCRIBE")  # no credentials: nothing is encoded
        assert challenge.code == 401 and lazy.library.encoded == 0
        client.nonce = challenge.get("www-authenticate").split('nonce="')[1].split('"')[0]  # type: ignore[union-attr]
        # DESCRIBE (held while encoding) and GET_PARAMETER sent back to back: answered in order.
        n = client.cseq
        await client.send_raw(
            f"DESCRIBE {client.url} RTSP/1.0\r\nCSeq: {n + 1}\r\n"
            f"Authorization: {client.authorization('DESCRIBE', client.url)}\r\n\r\n"
            f"GET_PARAMETER {client.url} RTSP/1.0\r\nCSeq: {n + 2}\r\n\r\n".encode())
        first, second = await client.read_response(), await client.read_response()
        assert (first.code, first.get("cseq"), second.code, second.get("cseq")) == (
            200, str(n + 1), 200, str(n + 2))
        assert "a=framerate:5" in first.body.decode()
        assert lazy.stats["requests_held"] == 1 and lazy.library.encoded == 1
        assert lazy.ready(PATH) and not lazy.ready(PATH, Variant.BLACK)
        # A picture fault's variant is prepared when the fault first needs it.
        lazy.set_fault(PATH, StreamFault.BLACK, True)
        await lazy.faults_ready(PATH)
        assert lazy.ready(PATH, Variant.BLACK)
    finally:
        await client.close()


async def test_describe_gets_503_when_the_video_is_not_ready_in_time(
    lazy: RtspServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rtsp_server, "DESCRIBE_HOLD_S", 0.0)
    client = await RawClient.connect(lazy, PATH)
    try:
        response = await client.describe()
        assert response.code == 503 and response.get("retry-after") == "2"
        for _ in range(100):  # the encode goes on in the background
            if lazy.ready(PATH):
                break
            await asyncio.sleep(0.05)
        assert (await client.describe()).code == 200
    finally:
        await client.close()


async def test_camera_origin_faults_are_kept_apart(lazy: RtspServer) -> None:
    lazy.set_fault("cam-lazy", StreamFault.OFFLINE, True, origin="camera")
    lazy.set_fault(PATH, StreamFault.OFFLINE, True)
    lazy.set_fault("cam-lazy", StreamFault.OFFLINE, False, origin="camera")
    assert lazy.faults(PATH) == {StreamFault.OFFLINE}
    client = await RawClient.connect(lazy, PATH)
    try:
        assert (await client.request("OPTIONS")).code == 503
    finally:
        await client.close()
    lazy.set_fault(PATH, StreamFault.OFFLINE, False)
    assert lazy.faults(PATH) == frozenset()
