"""ONVIF client driver (Profile S/T device + media services) on onvif-zeep-async.

One ``OnvifDevice`` per camera. Every request runs under its own ``asyncio.timeout`` and every
failure leaves this module as a ``drivers.errors.OnvifError`` subclass naming the operation.

Cost model (see the module's tests and the report for figures): the WSDL documents are parsed
once per process (``warm_up``, ~0.3 s CPU, off the event loop) and shared; a device then costs
two zeep service proxies (well under 1 ms each) plus its requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from drivers.closing import AsyncClosing
from drivers.errors import OnvifAuthError, OnvifError, OnvifProtocolError, OnvifTimeout
from drivers.onvif_model import (
    DeviceInformation,
    DeviceSnapshot,
    MediaProfile,
    OnvifService,
    parse_capabilities,
    parse_profile,
    parse_services,
    text,
)
from drivers.onvif_ptz import OnvifPtz
from drivers.onvif_support import (
    SERVICES,
    ONVIFService,
    binding_name,
    camera_utc,
    digest_middlewares,
    display_url,
    ensure_warm,
    install_response_checks,
    netloc_of,
    rewrite_media_uri,
    translate_error,
    warm_up,
    wsdl_path,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DeviceInformation",
    "DeviceSnapshot",
    "MediaProfile",
    "OnvifDevice",
    "OnvifPtz",
    "OnvifService",
    "warm_up",
]

logger = logging.getLogger(__name__)

# Per request. A healthy camera answers in well under a second on a LAN; slow firmwares
# (GetProfiles on older Hikvision/Dahua, cameras under load) take 2-3 s. 5 s tolerates those
# while a dead or stalled camera is declared within one health-poll period of the hub.
DEFAULT_TIMEOUT_S: float = 5.0

_MEDIA2_NS = "http://www.onvif.org/ver20/media/wsdl"
_STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}

# At most this many devices run connect()/snapshot() at the same time (per event loop).
# Decoding answers (zeep) costs ~20 ms of CPU per device; with hundreds of cameras starting
# at once, unbounded concurrency makes every request wait for the others' parsing and trip its
# own timeout. A bounded set keeps each request's wait short; total throughput is unchanged.
MAX_CONCURRENT_CONNECTS = 24
_connect_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _connect_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _connect_slots.get(loop)
    if slot is None:
        slot = _connect_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_CONNECTS)
    return slot


_ssl_context: ssl.SSLContext | None = None


def _no_verify_ssl() -> ssl.SSLContext:
    # Cameras use self-signed certificates: no verification, hence no CA store to load.
    # One context shared by all devices.
    global _ssl_context
    if _ssl_context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _ssl_context = context
    return _ssl_context


# A camera clock that moved more than this since we measured it can explain a refused
# WS-Security token (cameras allow a few seconds to minutes of skew); less is measurement
# noise (the camera reports whole seconds).
CLOCK_MOVED_S = 2.0


class OnvifDevice(AsyncClosing):
    """One ONVIF device reached at ``url`` (its device_service URL)."""

    def __init__(
        self, url: str, username: str, password: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) device URL: {display_url(url)}")
        # Credentials never live in the URL we keep (they would leak into logs/errors).
        self._parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        self._url = self._parts.geturl()
        self.url = display_url(url)
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self._http: aiohttp.ClientSession | None = None
        self._svc: dict[str, Any] = {}  # service name -> onvif.client.ONVIFService
        self._xaddrs: dict[str, str] = {}
        self._services: tuple[OnvifService, ...] = ()
        # (host, port) the camera advertises for its device service when that is not where
        # we reach it (a wrong port): its http URIs naming it mean the device too.
        self._aliases: frozenset[tuple[str, int]] = frozenset()
        self._dt_diff: dt.timedelta | None = None
        self._clock_offset_s: float | None = None
        self._connected = False
        self._connect_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OnvifDevice({self.url!r})"

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(self, operation: str, request: Callable[[], Awaitable[Any]]) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await request()
        except OnvifError:
            raise
        except Exception as exc:
            error = translate_error(
                operation,
                exc,
                device=self.url,
                timeout_s=self._timeout_s,
                secrets=(self._password,),
            )
            logger.debug("%s: %s failed: %s", self.url, operation, error)
            raise error from exc

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                # force_close: a new TCP connection per request, so check() notices a closed
                # port at once instead of riding a pooled keep-alive socket; cameras drop idle
                # keep-alive connections anyway, and polls are seconds apart.
                connector=aiohttp.TCPConnector(force_close=True, ssl=_no_verify_ssl()),
                # Backstop only: every call also runs under asyncio.timeout(timeout_s).
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout_s),
                middlewares=digest_middlewares(self._username, self._password),
            )
        return self._http

    async def _service(self, name: str, operation: str) -> Any:
        """The library's service proxy for ``name`` ("devicemgmt", "media"), created once."""
        service = self._svc.get(name)
        if service is not None:
            return service
        if name == "devicemgmt":
            xaddr = self._url  # the URL we were given, not what the camera advertises
        else:
            await self._ensure_connected()
            ns = SERVICES[name]["ns"]
            found = self._xaddrs.get(ns) or (
                self._xaddrs.get(_MEDIA2_NS) if name == "media" else None
            )
            if not found:
                raise OnvifProtocolError(
                    f"{operation}: device advertises no {name} service",
                    operation=operation,
                    device=self.url,
                )
            xaddr = found
        await ensure_warm((name,))
        try:
            service = ONVIFService(
                xaddr,
                self._username,
                self._password,
                wsdl_path(name),
                encrypt=True,
                no_cache=True,  # WSDLs are local files; the sqlite cache only costs disk I/O
                dt_diff=self._dt_diff,
                binding_name=binding_name(name),
                binding_key=(name, None),
            )
            # Share one HTTP session per device instead of the library's session per service.
            own_session = service._session
            session = self._session()
            service._session = service.transport.session = session
            service._connector = session.connector
            service.transport._client_timeout = session.timeout
            await own_session.close()
            await service.setup()
            install_response_checks(service)
        except Exception as exc:
            raise translate_error(
                operation,
                exc,
                device=self.url,
                timeout_s=self._timeout_s,
                secrets=(self._password,),
            ) from exc
        self._svc[name] = service
        return service

    def _set_dt_diff(self, diff: dt.timedelta) -> None:
        self._dt_diff = diff
        for service in self._svc.values():
            service.dt_diff = diff
            wsse = getattr(service.zeep_client, "wsse", None)
            if wsse is not None:
                wsse.dt_diff = diff

    # -- public API -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Learn the camera clock, then the service XAddrs (GetServices, else GetCapabilities)."""
        async with _connect_slot(), self._connect_lock:
            await self._connect()

    async def _ensure_connected(self) -> None:
        if self._connected:
            return
        async with self._connect_lock:
            if not self._connected:  # another task may have connected while we waited
                await self._connect()

    async def _connect(self) -> None:
        started = time.perf_counter()
        self._connected = False
        await self._service("devicemgmt", "GetSystemDateAndTime")
        try:
            await self.clock_offset()
        except (OnvifProtocolError, OnvifAuthError) as exc:
            # WS-Security may still work if the clocks agree; the requests will tell.
            logger.warning("%s: camera clock unknown, not compensating: %s", self.url, exc)
        services = await self._discover_services()
        xaddrs = {s.namespace: s.xaddr for s in services}
        if xaddrs != self._xaddrs:
            # Proxies bound to old addresses are dropped (not closed: the HTTP session is shared).
            self._svc = {k: v for k, v in self._svc.items() if k == "devicemgmt"}
        self._services, self._xaddrs = services, xaddrs
        self._connected = True
        logger.debug(
            "%s: connected in %.3f s, clock offset %s s, %d services",
            self.url,
            time.perf_counter() - started,
            self._clock_offset_s,
            len(services),
        )

    async def _discover_services(self) -> tuple[OnvifService, ...]:
        devicemgmt = await self._service("devicemgmt", "GetServices")
        try:
            raw = await self._call(
                "GetServices", lambda: devicemgmt.GetServices({"IncludeCapability": False})
            )
            services = parse_services(raw, self._parts)
            if services:
                self._note_aliases(
                    getattr(s, "XAddr", None) for s in raw or ()
                    if str(getattr(s, "Namespace", "")).strip() == SERVICES["devicemgmt"]["ns"]
                )
                return services
            logger.debug("%s: GetServices listed no service, trying GetCapabilities", self.url)
        except (OnvifProtocolError, OnvifAuthError) as exc:
            # Axis faults on GetServices; some firmwares say NotAuthorized for what they lack.
            logger.debug("%s: GetServices failed (%s), trying GetCapabilities", self.url, exc)
        raw = await self._call(
            "GetCapabilities", lambda: devicemgmt.GetCapabilities({"Category": "All"})
        )
        try:
            services = parse_capabilities(raw, self._parts)
            self._note_aliases((getattr(getattr(raw, "Device", None), "XAddr", None),))
            return services
        except Exception as exc:
            raise translate_error(
                "GetCapabilities",
                exc,
                device=self.url,
                timeout_s=self._timeout_s,
                secrets=(self._password,),
            ) from exc

    def _note_aliases(self, xaddrs: Any) -> None:
        reached = netloc_of(self._url)
        found = {netloc_of(str(x)) for x in xaddrs if x}
        self._aliases = frozenset(n for n in found if n is not None and n != reached)

    async def clock_offset(self) -> float:
        """Camera clock minus ours, in seconds; also applied to WS-Security from now on."""
        devicemgmt = await self._service("devicemgmt", "GetSystemDateAndTime")
        sent = time.time()
        try:
            raw = await self._call(
                "GetSystemDateAndTime", lambda: devicemgmt.authless_GetSystemDateAndTime()
            )
        except OnvifAuthError:
            # Some cameras (Axis) want every request authenticated, even this one.
            sent = time.time()
            raw = await self._call(
                "GetSystemDateAndTime", lambda: devicemgmt.GetSystemDateAndTime()
            )
        received = time.time()
        try:
            camera = camera_utc(raw)
        except Exception as exc:
            raise translate_error(
                "GetSystemDateAndTime",
                exc,
                device=self.url,
                timeout_s=self._timeout_s,
                secrets=(self._password,),
            ) from exc
        # The camera truncates to whole seconds: its true time is half a second later on
        # average; ours is taken halfway through the round trip.
        offset = camera.timestamp() + 0.5 - (sent + received) / 2
        offset = round(offset, 3)
        self._clock_offset_s = offset
        self._set_dt_diff(dt.timedelta(seconds=offset))
        return offset

    async def device_information(self) -> DeviceInformation:
        devicemgmt = await self._service("devicemgmt", "GetDeviceInformation")
        raw = await self._call("GetDeviceInformation", lambda: devicemgmt.GetDeviceInformation())
        info = DeviceInformation(
            manufacturer=text(getattr(raw, "Manufacturer", None)),
            model=text(getattr(raw, "Model", None)),
            firmware_version=text(getattr(raw, "FirmwareVersion", None)),
            serial_number=text(getattr(raw, "SerialNumber", None)),
            hardware_id=text(getattr(raw, "HardwareId", None)),
        )
        if not info.manufacturer and not info.model:
            raise OnvifProtocolError(
                "GetDeviceInformation: response lacks Manufacturer and Model",
                operation="GetDeviceInformation",
                device=self.url,
            )
        return info

    async def services(self) -> tuple[OnvifService, ...]:
        await self._ensure_connected()
        return self._services

    async def profiles(self) -> tuple[MediaProfile, ...]:
        media = await self._service("media", "GetProfiles")
        raw = await self._call("GetProfiles", lambda: media.GetProfiles())
        try:
            return tuple(parse_profile(p) for p in raw or ())
        except Exception as exc:
            raise translate_error(
                "GetProfiles",
                exc,
                device=self.url,
                timeout_s=self._timeout_s,
                secrets=(self._password,),
            ) from exc

    async def _media_uri(self, operation: str, profile_token: str) -> str:
        media = await self._service("media", operation)
        if operation == "GetStreamUri":
            params: dict[str, Any] = {"StreamSetup": _STREAM_SETUP, "ProfileToken": profile_token}
        else:
            params = {"ProfileToken": profile_token}
        raw = await self._call(operation, lambda: getattr(media, operation)(params))
        uri = rewrite_media_uri(str(getattr(raw, "Uri", None) or ""), self._parts, self._aliases)
        if not uri:
            raise OnvifProtocolError(
                f"{operation}: response has no usable Uri", operation=operation, device=self.url
            )
        return uri

    async def stream_uri(self, profile_token: str) -> str:
        return await self._media_uri("GetStreamUri", profile_token)

    async def snapshot_uri(self, profile_token: str) -> str:
        return await self._media_uri("GetSnapshotUri", profile_token)

    async def snapshot(self) -> DeviceSnapshot:
        """Connect if needed, then device information, profiles and the main profile's URIs."""
        async with _connect_slot():
            return await self._snapshot()

    async def _snapshot(self) -> DeviceSnapshot:
        await self._ensure_connected()
        info = await self.device_information()
        profiles = await self.profiles()
        stream = snapshot = None
        if profiles:
            token = profiles[0].token
            try:
                stream = await self.stream_uri(token)
            except OnvifProtocolError as exc:
                logger.warning("%s: no stream URI for %s: %s", self.url, token, exc)
            try:
                snapshot = await self.snapshot_uri(token)
            except (OnvifProtocolError, OnvifTimeout) as exc:
                # Optional feature; plenty of cameras lack or break it.
                logger.info("%s: no snapshot URI for %s: %s", self.url, token, exc)
        return DeviceSnapshot(
            info=info,
            clock_offset_s=self._clock_offset_s,
            services=self._services,
            profiles=profiles,
            stream_uri=stream,
            snapshot_uri=snapshot,
        )

    async def check(self) -> DeviceInformation:
        """Cheap authenticated liveness check (GetDeviceInformation, new TCP connection).

        Raises OnvifAuthError when the password changed, OnvifUnreachable when the port is
        closed, OnvifTimeout when the camera hangs.
        """
        await self._ensure_connected()
        try:
            return await self.device_information()
        except OnvifAuthError:
            # WS-Security tokens are judged on the camera's clock, which moves under us
            # (an NTP resync, a technician, a reboot into 1970): measure it again before
            # calling the password wrong.
            if not await self._clock_moved():
                raise
            return await self.device_information()

    async def _clock_moved(self) -> bool:
        """Re-measure the camera clock; True when it moved enough to explain a refusal."""
        before = self._clock_offset_s
        try:
            after = await self.clock_offset()
        except OnvifError:
            return False
        moved = before is None or abs(after - before) > CLOCK_MOVED_S
        if moved:
            logger.info("%s: camera clock moved by %s s; WS-Security follows it", self.url,
                        "?" if before is None else f"{after - before:+.1f}")
        return moved

    async def has_service(self, namespace: str) -> bool:
        """Whether the device advertises the service of ``namespace`` (connects if needed)."""
        return any(s.namespace == namespace for s in await self.services())

    async def request(self, service: str, operation: str, params: Any = None) -> Any:
        """Send ``operation`` of ``service`` ("ptz", "imaging", ...: onvif library names) to
        the advertised XAddr, under the timeout; the raw zeep answer, or an OnvifError."""
        # Connected first even for the device service: the login learns the camera's clock,
        # and a camera whose clock is off refuses a WS-Security header dated on ours.
        await self._ensure_connected()
        proxy = await self._service(service, operation)
        method = getattr(proxy, operation)
        return await self._call(operation, lambda: method() if params is None else method(params))

    def ptz(self, profile_token: str | None = None) -> OnvifPtz:
        """PTZ control through ``profile_token`` (None: the first profile with PTZ)."""
        return OnvifPtz(self, profile_token)

    async def reboot(self) -> str:
        """SystemReboot; the camera's message ("Rebooting in 90 seconds"). It goes away soon
        after answering: expect OnvifUnreachable/OnvifTimeout until it is back."""
        raw = await self.request("devicemgmt", "SystemReboot")
        return text(raw if isinstance(raw, str) else getattr(raw, "Message", raw))

    async def close(self) -> None:
        services, self._svc = self._svc, {}
        for service in services.values():
            try:
                await service.close()
            except Exception as exc:  # closing must not fail the caller
                logger.debug("%s: closing a service failed: %s", self.url, exc)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._connected = False
