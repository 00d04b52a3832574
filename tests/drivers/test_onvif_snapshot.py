"""drivers.onvif_snapshot: JPEG snapshots behind Digest/Basic auth, with size and time bounds.

Against the simulated camera's snapshot URI (Digest + Basic offered) and small aiohttp
servers for what the simulator does not do (Basic only, Digest only, broken answers).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import hdrs, web
from PIL import Image

from drivers.errors import OnvifAuthError, OnvifProtocolError, OnvifTimeout, OnvifUnreachable
from drivers.onvif_snapshot import SnapshotFetcher, fetch_snapshot, jpeg_size
from simulator.onvif_snapshot import HttpAuthenticator, snapshot_size
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

from .conftest import free_port

pytestmark = pytest.mark.timeout(60)


def jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, "JPEG")
    return out.getvalue()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Factory: serve one GET handler on /snap.jpg; returns the URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/snap.jpg", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/snap.jpg"

    yield start
    for runner in runners:
        await runner.cleanup()


def auth_handler(
    body: bytes, schemes: tuple[str, ...], seen: list[str] | None = None
) -> Handler:
    """A camera offering ``schemes`` ("digest", "basic") in its 401 challenge."""
    authenticator = HttpAuthenticator(realm="test camera")

    async def handle(request: web.Request) -> web.Response:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if seen is not None:
            seen.append(header.split(" ", 1)[0].lower() if header else "none")
        allowed = header and header.split(" ", 1)[0].lower() in schemes
        if allowed and authenticator.check(
            header, request.method, request.raw_path, USER, PASSWORD
        ) == "ok":
            return web.Response(body=body, content_type="image/jpeg")
        offers = [c for c in authenticator.challenge() if c.split(" ", 1)[0].lower() in schemes]
        response = web.Response(status=401, text="401 Unauthorized")
        for value in offers:
            response.headers.add(hdrs.WWW_AUTHENTICATE, value)
        return response

    return handle


# -- the simulated camera ------------------------------------------------------------------


async def test_simulated_camera_snapshot_is_a_jpeg_of_the_profile(
    start_camera: StartCamera,
) -> None:
    cam = await start_camera(make_spec())
    shot = await fetch_snapshot(cam.snapshot_url_for("profile_sub"), USER, PASSWORD)
    assert shot.jpeg.startswith(b"\xff\xd8")
    assert (shot.width, shot.height) == snapshot_size(640, 360)
    assert shot.auth == "digest"  # offered first, and the password stays off the wire
    assert shot.offered == ("digest", "basic")
    assert not shot.digest_only
    assert 0 < shot.elapsed_s < 5
    main = await fetch_snapshot(cam.snapshot_url, USER, PASSWORD)
    assert (main.width, main.height) == snapshot_size(1920, 1080) == (1280, 720)


async def test_wrong_password_is_an_auth_error_without_the_password(
    start_camera: StartCamera,
) -> None:
    cam = await start_camera(make_spec())
    wrong = "Not-the-Pa55word"
    with pytest.raises(OnvifAuthError) as caught:
        await fetch_snapshot(cam.snapshot_url, USER, wrong)
    assert caught.value.operation == "snapshot"
    assert "401" in str(caught.value)
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)


async def test_fetcher_reuses_the_digest_challenge(serve: Serve) -> None:
    seen: list[str] = []
    url = await serve(auth_handler(jpeg(), ("digest", "basic"), seen))
    async with SnapshotFetcher(USER, PASSWORD) as fetcher:
        first = await fetcher.fetch(url)
        second = await fetcher.fetch(url)
    assert first.auth == second.auth == "digest"
    # Challenge once, then Digest sent straight away: one request per later snapshot.
    assert seen == ["none", "digest", "digest"]
    assert second.offered == ("digest", "basic")


# -- what the camera demands -------------------------------------------------------------


async def test_basic_only_camera_gets_basic(serve: Serve) -> None:
    url = await serve(auth_handler(jpeg(), ("basic",)))
    shot = await fetch_snapshot(url, USER, PASSWORD)
    assert (shot.auth, shot.offered) == ("basic", ("basic",))
    assert (shot.width, shot.height) == (64, 48)


async def test_digest_only_camera_is_reported_as_such(serve: Serve) -> None:
    url = await serve(auth_handler(jpeg(), ("digest",)))
    shot = await fetch_snapshot(url, USER, PASSWORD)
    assert shot.auth == "digest" and shot.digest_only


async def test_open_snapshot_needs_no_credentials(serve: Serve) -> None:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=jpeg(32, 32), content_type="image/jpeg")

    url = await serve(handle)
    shot = await fetch_snapshot(url, "", "")
    assert (shot.auth, shot.offered, shot.width) == ("none", (), 32)


async def test_credentials_in_the_uri_are_used_and_never_shown(serve: Serve) -> None:
    url = await serve(auth_handler(jpeg(), ("digest",)))
    with_creds = url.replace("http://", "http://operator:S3cret%26%3Cpass%3E@")
    shot = await fetch_snapshot(with_creds, "", "")
    assert shot.auth == "digest"
    with pytest.raises(OnvifAuthError) as caught:
        await fetch_snapshot(url.replace("http://", "http://operator:wrong-one@"), "", "")
    assert "wrong-one" not in str(caught.value) and "operator" not in str(caught.value)


# -- broken answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<html>login</html>", "text/html", "no SOI marker"),
        (jpeg(640, 480)[:2000], "image/jpeg", "corrupt JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png", "no SOI marker"),
    ],
    ids=["html", "truncated", "png"],
)
async def test_not_a_complete_jpeg_is_a_protocol_error(
    serve: Serve, body: bytes, content_type: str, expected: str
) -> None:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    url = await serve(handle)
    with pytest.raises(OnvifProtocolError, match=expected):
        await fetch_snapshot(url, USER, PASSWORD)


def test_jpeg_size_reads_the_picture() -> None:
    assert jpeg_size(jpeg(100, 50)) == (100, 50)
    with pytest.raises(ValueError, match="corrupt"):
        jpeg_size(b"\xff\xd8\xff\xe0garbage")


async def test_http_error_status_is_a_protocol_error(serve: Serve) -> None:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="not found")

    url = await serve(handle)
    with pytest.raises(OnvifProtocolError, match="HTTP 404"):
        await fetch_snapshot(url, USER, PASSWORD)


@pytest.mark.parametrize("chunked", [False, True])
async def test_answer_larger_than_the_bound_is_refused(serve: Serve, chunked: bool) -> None:
    big = jpeg(800, 600)

    async def handle(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=big, content_type="image/jpeg")
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "image/jpeg"})
        response.enable_chunked_encoding()  # no Content-Length: the read must stop itself
        await response.prepare(request)
        for i in range(0, len(big), 1024):
            await response.write(big[i : i + 1024])
        await response.write_eof()
        return response

    url = await serve(handle)
    with pytest.raises(OnvifProtocolError, match="larger than 1000"):
        await fetch_snapshot(url, USER, PASSWORD, max_bytes=1000)
    assert (await fetch_snapshot(url, USER, PASSWORD)).width == 800


async def test_stalling_snapshot_uri_times_out(serve: Serve) -> None:
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        # Headers and the first bytes, then nothing: a snapshot URI that stalls.
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "image/jpeg"})
        response.content_length = 50_000
        await response.prepare(request)
        await response.write(jpeg()[:100])
        await release.wait()
        return response

    url = await serve(handle)
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(OnvifTimeout, match=r"within 0\.5 s"):
            await fetch_snapshot(url, USER, PASSWORD, timeout_s=0.5)
    finally:
        release.set()
    assert asyncio.get_running_loop().time() - started < 2


async def test_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/snap.jpg"
    with pytest.raises(OnvifUnreachable) as caught:
        await fetch_snapshot(url, USER, PASSWORD, timeout_s=2)
    assert caught.value.operation == "snapshot"


async def test_not_an_http_uri_is_refused() -> None:
    with pytest.raises(OnvifProtocolError, match="not an http"):
        await fetch_snapshot("rtsp://127.0.0.1/stream", USER, PASSWORD)
