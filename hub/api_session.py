"""One authenticated HTTP session with a hub's API (the client side of hub/api.py).

Every request carries the bearer token in a header (never in a URL, so it is in no log
of any proxy), has an explicit timeout, and fails with a hub.errors.ApiClientError:
HubUnreachable when the hub cannot be reached, ApiAuthError (401), ApiForbidden (403),
ApiNotFound (404) or ApiRequestError for any other refusal. Messages name the hub's URL
and never the token.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from hub.errors import (
    ApiAuthError,
    ApiClientError,
    ApiForbidden,
    ApiNotFound,
    ApiRequestError,
    HubUnreachable,
)

log = logging.getLogger(__name__)

# A hub on the same network accepts a connection in milliseconds; 5 s covers a slow VPN
# without leaving the operator staring at a frozen screen.
CONNECT_TIMEOUT_S = 5.0
# Whole request (connect + answer): REST answers come from memory or one SQLite query.
REQUEST_TIMEOUT_S = 15.0
# Camera actions wait for the camera itself: a diagnosis probes ONVIF and RTSP in turn
# (tens of seconds on a slow camera), a reboot waits for its SOAP answer.
SLOW_REQUEST_TIMEOUT_S = 90.0
# WebSocket: the hub pings every 15 s; pinging at the same rate from our side notices a
# silently dead connection (a hub host that vanished) within 1.5 periods.
WS_HEARTBEAT_S = 15.0
# Closing a WebSocket politely must not hang a shutdown.
WS_CLOSE_TIMEOUT_S = 2.0
# An {"error"} body longer than this is not a message but something else; cut it.
MAX_ERROR_CHARS = 300

Params = Mapping[str, str | int | float]


class ApiSession:
    """`async with ApiSession(url, token) as api: await api.get_json("/api/cameras")`.

    One aiohttp ClientSession for every call; `ssl_context` verifies a hub with a
    private CA (None: the system's trust store for https URLs).
    """

    def __init__(self, base_url: str, token: str, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the token
        return f"ApiSession({self.base_url!r})"

    async def __aenter__(self) -> ApiSession:
        self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def open(self) -> None:
        """Create the HTTP session (needs a running loop); `async with` does this."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S,
                                            sock_connect=CONNECT_TIMEOUT_S)
            self._session = aiohttp.ClientSession(timeout=timeout, headers=self._headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise ApiClientError(f"the session with {self.base_url} is closed")
        return self._session

    def url(self, path: str) -> str:
        return self.base_url + path

    # requests -----------------------------------------------------------------------

    async def get_json(self, path: str, params: Params | None = None, *,
                       timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        return await self._request("GET", path, params=params, timeout_s=timeout_s)

    async def post_json(self, path: str, body: Any = None, *,
                        timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        return await self._request("POST", path, json=body if body is not None else {},
                                   timeout_s=timeout_s)

    async def put_json(self, path: str, body: Any, *,
                       timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        return await self._request("PUT", path, json=body, timeout_s=timeout_s)

    async def delete(self, path: str, params: Params | None = None, *,
                     timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        """The answer's JSON, or None when the hub sent no JSON body."""
        return await self._request("DELETE", path, params=params, timeout_s=timeout_s)

    async def get_bytes(self, path: str, params: Params | None = None, *,
                        timeout_s: float = REQUEST_TIMEOUT_S) -> bytes:
        """A binary answer (a JPEG); errors as for the JSON calls."""
        body = await self._request("GET", path, params=params, timeout_s=timeout_s,
                                   raw=True)
        assert isinstance(body, bytes)
        return body

    async def _request(self, method: str, path: str, *, params: Params | None = None,
                       json: Any = None, timeout_s: float, raw: bool = False) -> Any:
        url = self.url(path)
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=CONNECT_TIMEOUT_S)
        try:
            async with self.http.request(method, url, params=params, json=json,
                                         timeout=timeout, ssl=self._ssl) as response:
                if response.status >= 400:
                    raise await self._refusal(method, path, response)
                if raw:
                    return await response.read()
                if response.content_type != "application/json":
                    await response.read()
                    return None
                return await response.json()
        except ApiClientError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise self.unreachable(exc) from exc

    async def _refusal(self, method: str, path: str,
                       response: aiohttp.ClientResponse) -> ApiClientError:
        message = response.reason or "refused"
        try:
            body = await response.json(content_type=None)
        except (ValueError, aiohttp.ClientError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = body["error"][:MAX_ERROR_CHARS]
        log.debug("api: %s %s refused with %s: %s", method, path, response.status, message)
        return self.refusal(response.status, message)

    def refusal(self, status: int, message: str) -> ApiClientError:
        """The error for an HTTP refusal `status` of the hub."""
        if status == 401:
            return ApiAuthError(f"the hub at {self.base_url} refused the token ({message})")
        if status == 403:
            return ApiForbidden(message)
        if status == 404:
            return ApiNotFound(message)
        return ApiRequestError(status, message)

    def unreachable(self, exc: BaseException) -> HubUnreachable:
        """A network failure as HubUnreachable naming the URL (aiohttp's own messages name
        host and port, never headers)."""
        if isinstance(exc, TimeoutError):
            why = "no answer in time"
        elif isinstance(exc, aiohttp.ClientConnectorCertificateError):
            why = f"TLS certificate not accepted: {exc.certificate_error}"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            why = f"cannot connect: {exc.strerror or exc.os_error}"
        elif isinstance(exc, aiohttp.ServerDisconnectedError):
            why = "the hub closed the connection"
        elif isinstance(exc, ValueError):
            why = f"unreadable answer: {exc}"
        else:
            why = str(exc) or type(exc).__name__
        return HubUnreachable(f"hub {self.base_url} unreachable: {why}")

    # WebSocket ----------------------------------------------------------------------

    async def ws_connect(self, path: str,
                         params: Params | None = None) -> aiohttp.ClientWebSocketResponse:
        """Open a WebSocket of the API (the token in the header, like every request)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await self.http.ws_connect(
                    self.url(path), params=params, ssl=self._ssl,
                    heartbeat=WS_HEARTBEAT_S,
                    timeout=aiohttp.ClientWSTimeout(ws_close=WS_CLOSE_TIMEOUT_S),
                )
        except aiohttp.WSServerHandshakeError as exc:
            # The hub refused the upgrade (aiohttp does not read the {"error"} body).
            if exc.status >= 400:
                raise self.refusal(exc.status, f"{path}: {exc.message}") from exc
            raise self.unreachable(exc) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self.unreachable(exc) from exc
