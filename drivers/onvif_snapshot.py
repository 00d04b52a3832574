"""Fetch a camera's snapshot (the JPEG behind an ONVIF GetSnapshotUri) with bounds.

Cameras put HTTP authentication in front of the snapshot URI, and which kind varies:
Digest (most), Basic (older firmwares), none (a few), or credentials in the URI itself.
The fetch asks without credentials first and answers the challenge it gets: Digest when
offered (the password never crosses the wire), Basic only when it is all the camera offers.
A ``SnapshotFetcher`` keeps its session, so after the first challenge Digest is sent
preemptively and a preview refresh costs one request::

    async with SnapshotFetcher("operator", "secret") as fetcher:
        shot = await fetcher.fetch(uri)      # Snapshot(jpeg=..., width=..., ...)

Every failure is a ``drivers.errors.OnvifError`` subclass with ``operation="snapshot"``:
refused (OnvifUnreachable), credentials rejected (OnvifAuthError), no complete answer in
time - e.g. a snapshot URI that stalls - (OnvifTimeout), or an answer that is not a
usable JPEG or too large (OnvifProtocolError). Messages never contain credentials.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from PIL import Image, UnidentifiedImageError

from drivers.closing import AsyncClosing
from drivers.errors import OnvifAuthError, OnvifError, OnvifProtocolError, OnvifTimeout
from drivers.onvif_support import display_url, translate_error

__all__ = [
    "DEFAULT_SNAPSHOT_TIMEOUT_S",
    "MAX_SNAPSHOT_BYTES",
    "Snapshot",
    "SnapshotFetcher",
    "fetch_snapshot",
    "jpeg_size",
]

logger = logging.getLogger(__name__)

OPERATION = "snapshot"
# A 4K JPEG at high quality is 1-3 MB; 8 MB leaves room for odd encoders while keeping a
# misbehaving camera (an endless MJPEG stream behind the "snapshot" URI) from eating memory.
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
# Whole fetch, all authentication round trips included. Cameras encode a snapshot on
# demand in 0.1-1 s; 10 s tolerates a busy one and still bounds a URI that stalls.
DEFAULT_SNAPSHOT_TIMEOUT_S = 10.0
_SOI = b"\xff\xd8"  # every JPEG starts with the Start Of Image marker
# Decoding is left to a thread above this size (a 1080p JPEG decodes in ~10 ms).
_DECODE_IN_THREAD_BYTES = 256 * 1024

Middleware = Callable[
    [aiohttp.ClientRequest, Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]]],
    Awaitable[aiohttp.ClientResponse],
]


@dataclass(frozen=True)
class Snapshot:
    """One fetched snapshot, checked to be a complete JPEG."""

    jpeg: bytes
    width: int
    height: int
    elapsed_s: float  # the whole fetch, authentication round trips included
    auth: str  # what got us in: "none" | "basic" | "digest"
    # Schemes the camera's 401 challenge offered, lower case, in its order ("digest",
    # "basic"); empty when it asked for nothing.
    offered: tuple[str, ...] = field(default=())

    @property
    def digest_only(self) -> bool:
        """The camera demands HTTP Digest: clients that only do Basic are locked out."""
        return self.offered == ("digest",)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a complete JPEG; ValueError when it is not one.

    Decodes the whole picture: a truncated or corrupt JPEG (a camera that ran out of
    buffer) starts with a valid header and fails only there.
    """
    if not data.startswith(_SOI):
        raise ValueError("not a JPEG (no SOI marker)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise ValueError(f"not a JPEG ({image.format})")
            image.load()
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        # Pillow reports truncation as OSError and bad markers as SyntaxError.
        raise ValueError(f"corrupt JPEG ({exc})") from exc
    if width <= 0 or height <= 0:
        raise ValueError("JPEG without a picture size")
    return width, height


def offered_schemes(response: aiohttp.ClientResponse) -> tuple[str, ...]:
    """The HTTP auth schemes a 401 offers (WWW-Authenticate), lower case, in order."""
    schemes = []
    for value in response.headers.getall(aiohttp.hdrs.WWW_AUTHENTICATE, ()):
        scheme = value.strip().split(" ", 1)[0].lower()
        if scheme and scheme not in schemes:
            schemes.append(scheme)
    return tuple(schemes)


def _split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """The URI without userinfo, and the user/password it carried (cameras that embed them)."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) snapshot URI: {display_url(uri)}")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return uri.strip(), None, None
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=hostport))
    return clean, unquote(user), unquote(password) if colon else None


class SnapshotFetcher(AsyncClosing):
    """Fetches snapshots of one camera, reusing its HTTP session and Digest challenge."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        timeout_s: float = DEFAULT_SNAPSHOT_TIMEOUT_S,
        max_bytes: int = MAX_SNAPSHOT_BYTES,
    ) -> None:
        if timeout_s <= 0 or max_bytes <= 0:
            raise ValueError("timeout_s and max_bytes must be positive")
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._http: aiohttp.ClientSession | None = None
        self._digest: aiohttp.DigestAuthMiddleware | None = None
        self._digest_for: tuple[str, str] | None = None
        self._offered: tuple[str, ...] = ()
        # Progress of the fetch under way: (Content-Length or None, body bytes so far) once
        # the headers arrived, so a timeout can tell a stalled body from a silent camera.
        self._progress: tuple[int | None, int] | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                # Cameras use self-signed certificates; the snapshot is not a secret channel.
                connector=aiohttp.TCPConnector(limit=2, ssl=False),
                # Backstop only: fetch() runs under asyncio.timeout(timeout_s).
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout_s),
            )
        return self._http

    async def _record(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        # Sits inside the Digest middleware, so it sees the 401 that middleware answers.
        response = await handler(request)
        if response.status == 401:
            self._offered = offered_schemes(response)
        return response

    def _digest_middleware(self, user: str, password: str) -> aiohttp.DigestAuthMiddleware:
        if self._digest is None or self._digest_for != (user, password):
            self._digest = aiohttp.DigestAuthMiddleware(user, password)
            self._digest_for = (user, password)
        return self._digest

    async def fetch(self, uri: str) -> Snapshot:
        """GET ``uri`` and check the answer is a complete JPEG (see the module doc)."""
        try:
            url, uri_user, uri_password = _split_credentials(uri)
        except ValueError as exc:
            raise OnvifProtocolError(str(exc), operation=OPERATION) from exc
        shown = display_url(url)
        user = self._username or uri_user or ""
        password = self._password if self._username else (uri_password or "")
        secrets = (password, self._password)
        started = time.monotonic()
        self._progress = None
        try:
            async with asyncio.timeout(self._timeout_s):
                data, auth = await self._get(url, user, password, shown)
        except OnvifError:
            raise
        except Exception as exc:
            error = translate_error(
                OPERATION, exc, device=shown, timeout_s=self._timeout_s, secrets=secrets
            )
            if isinstance(error, OnvifTimeout):
                error = OnvifTimeout(
                    f"{OPERATION}: {self._timeout_detail()}", operation=OPERATION, device=shown
                )
            logger.debug("%s: snapshot failed: %s", shown, error)
            raise error from exc
        elapsed = time.monotonic() - started
        try:
            if len(data) > _DECODE_IN_THREAD_BYTES:
                width, height = await asyncio.to_thread(jpeg_size, data)
            else:
                width, height = jpeg_size(data)
        except ValueError as exc:
            raise OnvifProtocolError(
                f"{OPERATION}: {exc}", operation=OPERATION, device=shown
            ) from exc
        logger.debug("%s: snapshot %dx%d, %d bytes in %.2f s (%s)",
                     shown, width, height, len(data), elapsed, auth)
        return Snapshot(
            jpeg=data, width=width, height=height, elapsed_s=round(elapsed, 3), auth=auth,
            offered=self._offered,
        )

    def _timeout_detail(self) -> str:
        if self._progress is None:
            return f"no complete answer within {self._timeout_s:g} s"
        expected, received = self._progress
        of = f" of {expected}" if expected is not None else ""
        # Headers came, then the body stopped: the camera holds the socket (a stall).
        return (f"answer stalled: headers, then {received}{of} bytes within "
                f"{self._timeout_s:g} s")

    async def _get(self, url: str, user: str, password: str, shown: str) -> tuple[bytes, str]:
        http = self._session()
        middlewares: tuple[Middleware, ...] = (self._record,)
        if user:
            middlewares = (self._digest_middleware(user, password), self._record)
        async with http.get(url, middlewares=middlewares, allow_redirects=False) as resp:
            if resp.status == 401 and user and "basic" in self._offered and (
                "digest" not in self._offered
            ):
                # Basic only: the camera leaves no other way in.
                resp.release()
                headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
                async with http.get(
                    url, headers=headers, middlewares=(self._record,), allow_redirects=False
                ) as basic:
                    return await self._body(basic, shown), "basic"
            auth_used = "digest" if resp.request_info.headers.get("Authorization") else "none"
            if auth_used == "none" and resp.status == 200:
                self._offered = ()
            return await self._body(resp, shown), auth_used

    async def _body(self, resp: aiohttp.ClientResponse, shown: str) -> bytes:
        if resp.status in (401, 403):
            offered = "/".join(self._offered) or "nothing"
            raise OnvifAuthError(
                f"{OPERATION}: credentials rejected (HTTP {resp.status}, camera offers {offered})",
                operation=OPERATION,
                device=shown,
            )
        if resp.status != 200:
            raise OnvifProtocolError(
                f"{OPERATION}: HTTP {resp.status}", operation=OPERATION, device=shown
            )
        if resp.content_length is not None and resp.content_length > self._max_bytes:
            raise OnvifProtocolError(
                f"{OPERATION}: answer of {resp.content_length} bytes is larger than "
                f"{self._max_bytes}",
                operation=OPERATION,
                device=shown,
            )
        data = bytearray()
        self._progress = (resp.content_length, 0)
        while chunk := await resp.content.readany():  # until EOF: read() stops early
            data += chunk
            self._progress = (resp.content_length, len(data))
            if len(data) > self._max_bytes:
                raise OnvifProtocolError(
                    f"{OPERATION}: answer larger than {self._max_bytes} bytes",
                    operation=OPERATION,
                    device=shown,
                )
        if not data:
            raise OnvifProtocolError(
                f"{OPERATION}: empty answer", operation=OPERATION, device=shown
            )
        return bytes(data)


async def fetch_snapshot(
    uri: str,
    username: str,
    password: str,
    *,
    timeout_s: float = DEFAULT_SNAPSHOT_TIMEOUT_S,
    max_bytes: int = MAX_SNAPSHOT_BYTES,
) -> Snapshot:
    """One snapshot with a session of its own (see ``SnapshotFetcher`` for repeated ones)."""
    async with SnapshotFetcher(
        username, password, timeout_s=timeout_s, max_bytes=max_bytes
    ) as fetcher:
        return await fetcher.fetch(uri)
