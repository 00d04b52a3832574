"""ApiSession against a small aiohttp server: the token travels in the header, refusals
become the hub.errors classes, an unreachable hub is HubUnreachable naming the URL and
never the token."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from hub.api_session import ApiSession
from hub.errors import (
    ApiAuthError,
    ApiForbidden,
    ApiNotFound,
    ApiRequestError,
    HubUnreachable,
)

TOKEN = "s3cret-session-token"


async def _cameras(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    return web.json_response({"cameras": [{"id": "cam-1"}], "q": request.query.get("q")})


async def _status(request: web.Request) -> web.Response:
    status = int(request.match_info["status"])
    return web.json_response({"error": f"refused with {status}"}, status=status)


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"method": request.method, "body": await request.json()})


async def _delete(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def _jpeg(request: web.Request) -> web.Response:
    return web.Response(body=b"\xff\xd8jpeg\xff\xd9", content_type="image/jpeg")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1.5)
    return web.json_response({})


async def _ws(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.json_response({"error": "no"}, status=401)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str("hi")
    await ws.close()
    return ws


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/api/cameras", _cameras)
    app.router.add_get("/api/status/{status}", _status)
    app.router.add_route("*", "/api/echo", _echo)
    app.router.add_delete("/api/thing", _delete)
    app.router.add_get("/api/image", _jpeg)
    app.router.add_get("/api/slow", _slow)
    app.router.add_get("/api/ws", _ws)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_json_bytes_and_methods_with_the_token_in_the_header(base_url: str) -> None:
    async with ApiSession(base_url + "/", TOKEN) as api:
        assert await api.get_json("/api/cameras", {"q": "x"}) == {
            "cameras": [{"id": "cam-1"}], "q": "x"}
        assert await api.post_json("/api/echo", {"a": 1}) == {"method": "POST",
                                                               "body": {"a": 1}}
        assert await api.put_json("/api/echo", {"b": 2}) == {"method": "PUT", "body": {"b": 2}}
        assert await api.delete("/api/thing") is None
        assert await api.get_bytes("/api/image") == b"\xff\xd8jpeg\xff\xd9"
        assert TOKEN not in repr(api)


@pytest.mark.parametrize(("status", "error"), [(401, ApiAuthError), (403, ApiForbidden),
                                               (404, ApiNotFound), (409, ApiRequestError),
                                               (502, ApiRequestError)])
async def test_refusals_become_hub_errors(base_url: str, status: int,
                                          error: type[Exception]) -> None:
    async with ApiSession(base_url, TOKEN) as api:
        with pytest.raises(error) as caught:
            await api.get_json(f"/api/status/{status}")
    message = str(caught.value)
    assert f"refused with {status}" in message and TOKEN not in message
    if isinstance(caught.value, ApiRequestError):
        assert caught.value.status == status
    if status == 401:
        assert base_url in message


async def test_a_wrong_token_is_an_auth_error_naming_the_url(base_url: str) -> None:
    async with ApiSession(base_url, "wrong-token") as api:
        with pytest.raises(ApiAuthError, match="refused the token") as caught:
            await api.get_json("/api/cameras")
    assert base_url in str(caught.value) and "wrong-token" not in str(caught.value)


async def test_no_hub_listening_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with ApiSession(url, TOKEN) as api:
        with pytest.raises(HubUnreachable) as caught:
            await api.get_json("/api/cameras")
        with pytest.raises(HubUnreachable):
            await api.ws_connect("/api/ws")
    assert url in str(caught.value) and TOKEN not in str(caught.value)


async def test_a_hub_that_does_not_answer_in_time_is_unreachable(base_url: str) -> None:
    async with ApiSession(base_url, TOKEN) as api:
        started = asyncio.get_running_loop().time()
        with pytest.raises(HubUnreachable, match="no answer in time"):
            await api.get_json("/api/slow", timeout_s=0.3)
        assert asyncio.get_running_loop().time() - started < 2


async def test_websocket_with_header_token_and_refused_token(base_url: str) -> None:
    async with ApiSession(base_url, TOKEN) as api:
        ws = await api.ws_connect("/api/ws")
        message = await ws.receive_str(timeout=2)
        assert message == "hi"
        await ws.close()
    async with ApiSession(base_url, "wrong-token") as api:
        with pytest.raises(ApiAuthError):
            await api.ws_connect("/api/ws")
