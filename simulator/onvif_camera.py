"""One simulated ONVIF camera: an aiohttp SOAP server on its own loopback port.

Given the city's RtspServer, the camera registers its H.264 and H.265 profiles there (path
"<camera-id>/<profile-token>") and keeps its streams in step with its own faults: while
it is OFFLINE or stopped its streams are StreamFault.OFFLINE (503; playing sessions are
reset), while it has WRONG_PASSWORD they are StreamFault.AUTH_CHANGE (401). JPEG
profiles are not served (GetStreamUri still names them; the server answers 404, as for
any unknown path).

A camera with `ptz` serves the PTZ service (simulator.onvif_ptz). SystemReboot answers, then
powers the camera off for 20-40 s of scenario time (drawn from its seed) and on again.

Vendor quirks (`spec.quirks`, CameraQuirk) change what it says, not what it serves: times
without a zone (NAIVE_TIME, simulator.soap.naive_times), HTTP Digest demanded on every SOAP
request but GetSystemDateAndTime (DIGEST_ONLY), XAddrs and URIs naming its LAN address or
port 80 (`advertise`), a GetCapabilities fault, H.265 profiles, a snapshot that stalls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from aiohttp import hdrs, web

from simulator.clock import VirtualClock
from simulator.http_digest import HttpAuthenticator, unauthorized
from simulator.model import CameraFault, CameraQuirk, CameraSpec, StreamProfile
from simulator.onvif_events import (
    EVENT_ACTIONS,
    EVENTS_PATH,
    SUBSCRIPTION_PREFIX,
    EventService,
    PlateEvent,
)
from simulator.onvif_ptz import PTZ_PATH, PtzState, is_ptz_model
from simulator.onvif_services import UNAUTHENTICATED, dispatch
from simulator.onvif_snapshot import stalled_snapshot
from simulator.snapshot_overlay import Caption, render_snapshot
from simulator.soap import (
    NS_TDS,
    SOAP_CONTENT_TYPE,
    SoapFault,
    SoapRequest,
    UsernameTokenVerifier,
    envelope,
    fault_body,
    naive_times,
    parse_request,
    wsa_header,
)
from simulator.stream_faults import StreamFault
from simulator.vendors import mac_for, serial_for

if TYPE_CHECKING:
    from simulator.rtsp_server import RtspServer

log = logging.getLogger(__name__)

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
# Axis and gSOAP cameras serve everything here; dispatch is on the Body anyway.
SHARED_PATH = "/onvif/services"
# Handlers still running when the port closes are cut off, like a camera losing power.
SHUTDOWN_TIMEOUT_S = 0.1
MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_RTSP_PORT = 554  # where a camera's RTSP server is when none is attached
# Origin of the stream faults the camera sets itself (kept apart from a tester's).
STREAM_FAULT_ORIGIN = "camera"
_SO_REUSEPORT = getattr(socket, "SO_REUSEPORT", None)
# Scenario seconds a camera stays down after SystemReboot (as the scenario timeline's reboots).
REBOOT_S = (20, 40)
# Scenario seconds between the SystemReboot answer and the port closing: firmware answers,
# then stops its services (Axis says "Rebooting in 5 seconds.").
REBOOT_SHUTDOWN_S = 1.0
# Real seconds at least before the port closes, so the answer leaves the socket first.
MIN_SHUTDOWN_REAL_S = 0.05
# NAT_XADDR: the LAN the camera believes it is on (a typical installer's 192.168.1.0/24);
# host part drawn per camera from this range, away from routers (.1) and broadcast.
NAT_LAN = "192.168.1"
NAT_HOSTS = (20, 250)
# WRONG_PORT_XADDR: the port a camera configured for the web UI default names.
WRONG_XADDR_PORT = 80


class SimulatedCamera:
    """A camera the drivers cannot tell from hardware: ONVIF device + media, snapshots."""

    def __init__(
        self,
        spec: CameraSpec,
        clock: VirtualClock,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rtsp_port: int | None = None,
        rtsp: RtspServer | None = None,
        look_seed: int = 0,
        event_service: bool = False,
        ptz: bool | None = None,
        seed: int = 0,
    ) -> None:
        """`rtsp`: the server that serves this camera's H.264/H.265 profiles (their look is
        `look_seed`); `rtsp_port` (default: that server's port, else 554) is what
        GetStreamUri names. `event_service`: the camera has the ONVIF event service
        (PullPoint, plate events; see simulator.onvif_events) and advertises it.
        `ptz`: it is a PTZ dome (None: when its vendor model is one, see is_ptz_model).
        `seed`: the scenario seed; with the camera id it draws reboot durations."""
        if not spec.profiles:
            raise ValueError(f"camera {spec.id} has no stream profiles")
        if CameraQuirk.H265_ONLY in spec.quirks:  # as the scenario maps it (h265_profiles)
            spec = dataclasses.replace(spec, profiles=tuple(
                dataclasses.replace(p, encoding="H265") if p.encoding == "H264" else p
                for p in spec.profiles))
        self.spec = spec
        self.clock = clock
        self.host = host
        self.rtsp = rtsp
        if rtsp_port is None:
            rtsp_port = DEFAULT_RTSP_PORT if rtsp is None else rtsp.port
        self.rtsp_port = rtsp_port
        self._port = port
        self._faults: set[CameraFault] = set(spec.faults)
        self._runner: web.AppRunner | None = None
        # Bound but never listening: keeps the port ours while OFFLINE, yet connecting
        # to it is refused (the kernel answers RST when nothing listens).
        self._reserve: socket.socket | None = None
        self._started = False
        # Powered off by a reboot or a move (simulator/timeline.py), apart from the OFFLINE
        # fault so that switching one back does not end the other.
        self._powered = True
        self._lock = asyncio.Lock()
        self._wsse = UsernameTokenVerifier()
        self._http_auth = HttpAuthenticator(realm=f"{spec.vendor.manufacturer} {spec.vendor.model}")
        self._clock_offset = timedelta(seconds=spec.clock_offset_s)
        # Per-camera cache of time-independent SOAP answers (see onvif_services).
        self.response_cache: dict[tuple[str, str], str] = {}
        self.serial = serial_for(spec.vendor, spec.id)
        self.mac = mac_for(spec.vendor, spec.id)
        slug = "".join(c if c.isalnum() else "-" for c in spec.id.lower())
        self.hostname = slug if slug[:1].isalpha() else f"cam-{slug}"
        self._look = hashlib.sha256(spec.id.encode()).digest()[0] % 16
        self.served_profiles: tuple[str, ...] = ()  # tokens the RTSP server serves
        # Switchable after construction too (the city may enable it for ALPR cameras).
        self.event_service = event_service
        self.events = EventService(self)
        self.seed = seed
        if ptz is None:  # the argument, else the spec, else the vendor model decides
            ptz = is_ptz_model(spec.vendor.model) if spec.ptz is None else spec.ptz
        self._ptz = ptz
        self.ptz_state = PtzState(clock, continuous_only=spec.ptz_continuous_only)
        self.ptz_state.add_preset("Overview", (0.0, 0.0, 0.0))
        rng = random.Random(f"citywatch-ptz:{seed}:{spec.id}")
        self.ptz_state.add_preset(
            spec.street[:64] or "Street",
            (round(rng.uniform(-1, 1), 3), round(rng.uniform(-0.6, 0.2), 3),
             round(rng.uniform(0.1, 0.6), 3)),
        )
        self._reboots = 0
        self._reboot_down_s = 0
        self._reboot_task: asyncio.Task[None] | None = None
        if rtsp is not None:
            served = [p for p in spec.profiles if p.encoding.upper() in ("H264", "H265")]
            for p in served:
                rtsp.add_stream(f"{spec.id}/{p.token}", p, username=spec.username,
                                password=spec.password, look_seed=look_seed)
            self.served_profiles = tuple(p.token for p in served)
            self._sync_streams()

    # ------------------------------------------------------------ public interface

    @property
    def faults(self) -> frozenset[CameraFault]:
        return frozenset(self._faults)

    @property
    def port(self) -> int:
        return self._port

    @property
    def powered(self) -> bool:
        """False while the camera is powered off (rebooting, being moved)."""
        return self._powered

    @property
    def ptz(self) -> bool:
        """Whether the camera is a PTZ dome serving the PTZ service."""
        return self._ptz

    @ptz.setter
    def ptz(self, on: bool) -> None:
        self._ptz = on
        self.response_cache.clear()  # GetProfiles/GetScopes name the PTZ configuration

    @property
    def rebooting(self) -> bool:
        """True from a SystemReboot answer until the camera is back."""
        return self._reboot_task is not None and not self._reboot_task.done()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def onvif_url(self) -> str:
        return self.base_url + DEVICE_PATH

    @property
    def media_url(self) -> str:
        return self.base_url + MEDIA_PATH

    @property
    def snapshot_url(self) -> str:
        return self.snapshot_url_for(self.spec.profiles[0].token)

    @property
    def rtsp_url(self) -> str:
        return self.stream_uri_for(self.spec.profiles[0].token)

    @property
    def events_url(self) -> str:
        return self.base_url + EVENTS_PATH

    @property
    def ptz_url(self) -> str:
        return self.base_url + PTZ_PATH

    def schedule_reboot(self) -> float:
        """Start a reboot (SystemReboot): down shortly, back after the drawn duration.
        Returns the scenario seconds until the camera answers again (approximately)."""
        if self.rebooting:  # asked again before going down: the same reboot
            return REBOOT_SHUTDOWN_S + self._reboot_down_s
        self._reboots += 1
        rng = random.Random(f"citywatch-reboot:{self.seed}:{self.spec.id}:{self._reboots}")
        self._reboot_down_s = rng.randint(*REBOOT_S)
        self._reboot_task = asyncio.get_running_loop().create_task(
            self._reboot(self._reboot_down_s), name=f"reboot {self.spec.id}"
        )
        return REBOOT_SHUTDOWN_S + self._reboot_down_s

    async def _reboot(self, down_s: float) -> None:
        loop = asyncio.get_running_loop()
        shutdown = max(MIN_SHUTDOWN_REAL_S, self.clock.real_seconds(REBOOT_SHUTDOWN_S))
        # Back at a fixed moment: closing the port (up to SHUTDOWN_TIMEOUT_S) is not added.
        back_at = loop.time() + shutdown + self.clock.real_seconds(down_s)
        try:
            await asyncio.sleep(shutdown)
            log.info("%s: rebooting, down for %.0f s", self.spec.name, down_s)
            await self.set_powered(False)
            await asyncio.sleep(max(0.0, back_at - loop.time()))
            await self.set_powered(True)
        except OSError as exc:  # the port was taken while the camera was down
            log.warning("%s: could not come back from a reboot: %s", self.spec.name, exc)

    def publish_plate(
        self,
        plate: str,
        at: datetime | None = None,
        country: str | None = None,
        likelihood: float = 0.9,
        *,
        plate_type: str | None = "Normal",
        issuing_entity: str | None = None,
        video_source: str = "VideoSource_1",
    ) -> int:
        """Report a recognised plate to every live event subscription (Profile M topic
        tns1:RuleEngine/Recognition/LicensePlate); returns how many subscriptions got it.

        `at` is scenario (true) time, reported on the camera's own clock (plus its drift);
        None means now. Without the event service nobody can subscribe: returns 0.
        """
        if not self.event_service:
            return 0
        stamp = self.camera_now() if at is None else at + self._clock_offset
        return self.events.publish(
            PlateEvent(
                plate=plate, at=stamp, country=country, likelihood=likelihood,
                plate_type=plate_type, issuing_entity=issuing_entity,
                video_source=video_source,
            )
        )

    def set_digital_input(self, token: str, on: bool) -> int:
        """Set a digital input ("DigitalInput_1"), as a door contact or PIR does; event
        subscribers get tns1:Device/Trigger/DigitalInput. Returns the messages queued;
        ValueError for an unknown input."""
        return self.events.set_digital_input(token, on)

    @property
    def quirks(self) -> frozenset[CameraQuirk]:
        return self.spec.quirks

    @property
    def lan_host(self) -> str:
        """The private address a NAT_XADDR camera believes it has (fixed per camera)."""
        lo, hi = NAT_HOSTS
        draw = int.from_bytes(hashlib.sha256(self.spec.id.encode()).digest()[:4], "big")
        return f"{NAT_LAN}.{lo + draw % (hi - lo)}"

    def advertise(self, url: str) -> str:
        """`url` (one of ours) as the camera names it in XAddrs and media URIs: its LAN
        address (NAT_XADDR), or port 80 for its HTTP services (WRONG_PORT_XADDR)."""
        parts = urlsplit(url)
        port = parts.port
        if CameraQuirk.NAT_XADDR in self.quirks:
            return urlunsplit(parts._replace(netloc=f"{self.lan_host}:{port}" if port
                                             else self.lan_host))
        if CameraQuirk.WRONG_PORT_XADDR in self.quirks and parts.scheme in ("http", "https"):
            host = parts.hostname or ""
            host = f"[{host}]" if ":" in host else host
            # Written as firmware does: port 80 of http is left implicit.
            default = parts.scheme == "http" and WRONG_XADDR_PORT == 80
            netloc = host if default else f"{host}:{WRONG_XADDR_PORT}"
            return urlunsplit(parts._replace(netloc=netloc))
        return url

    def snapshot_url_for(self, token: str) -> str:
        return f"{self.base_url}/snapshot/{token}.jpg"

    def stream_uri_for(self, token: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"rtsp://{host}:{self.rtsp_port}/{self.spec.id}/{token}"

    def set_clock_offset(self, offset_s: float) -> None:
        """Set the camera's clock `offset_s` off scenario time, as an NTP resync or a
        technician does on a running camera."""
        self._clock_offset = timedelta(seconds=offset_s)

    def camera_now(self) -> datetime:
        """The camera's own clock: scenario time plus its drift."""
        return self.clock.now() + self._clock_offset

    @property
    def _password(self) -> str:
        if CameraFault.WRONG_PASSWORD in self._faults:
            # Somebody changed it on the device; derived so it is stable but never equal.
            return self.spec.password + "#changed-on-device"
        return self.spec.password

    async def start(self) -> None:
        """Bind the port (port 0 picks a free one, kept for later restarts) and serve."""
        async with self._lock:
            if self._started:
                return
            self._reserve_port()
            self._started = True
            if CameraFault.OFFLINE not in self._faults and self._powered:
                await self._listen()
            self._sync_streams()

    async def stop(self) -> None:
        """Close the port and every open connection."""
        task, self._reboot_task = self._reboot_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self._lock:
            self._started = False
            self.events.drop_all()  # a camera switched off forgets its subscriptions
            self._sync_streams()
            await self._unlisten()
            if self._reserve is not None:
                self._reserve.close()
                self._reserve = None

    async def set_fault(self, fault: CameraFault, on: bool) -> None:
        """Switch a fault on or off at run time."""
        async with self._lock:
            was_offline = CameraFault.OFFLINE in self._faults
            if on:
                self._faults.add(fault)
            else:
                self._faults.discard(fault)
            log.info("%s: fault %s %s", self.spec.name, fault.value, "on" if on else "off")
            self._sync_streams()
            if fault is CameraFault.OFFLINE and self._started and self._powered:
                if on and not was_offline:
                    await self._unlisten()
                elif not on and was_offline:
                    await self._listen()

    async def set_powered(self, on: bool) -> None:
        """Power the camera off (port closed, streams offline, event subscriptions
        forgotten, as a reboot does) or on again; its faults stay as they are.
        Raises OSError when the port was taken while it was off."""
        async with self._lock:
            if on == self._powered:
                return
            self._powered = on
            log.info("%s: powered %s", self.spec.name, "on" if on else "off")
            if not on:
                self.events.drop_all()
                self.ptz_state.stop()
            else:
                self.ptz_state.power_cycle()
            self._sync_streams()
            if not self._started:
                return
            if not on:
                await self._unlisten()
            elif CameraFault.OFFLINE not in self._faults:
                await self._listen()

    def relocate(self, lat: float, lon: float, street: str | None = None) -> None:
        """Set the camera up at a new position (a temporary camera moved): its location
        scopes and the city's endpoints say so from now on. `street` None: unchanged."""
        self.spec = dataclasses.replace(
            self.spec, lat=lat, lon=lon, street=self.spec.street if street is None else street
        )
        self.response_cache.clear()  # GetScopes is cached as a time-independent answer

    def _sync_streams(self) -> None:
        """Make the camera's RTSP streams agree with its state (see the module doc)."""
        if self.rtsp is None:
            return
        offline = (not self._started or not self._powered
                   or CameraFault.OFFLINE in self._faults)
        wrong_password = CameraFault.WRONG_PASSWORD in self._faults
        for fault, on in ((StreamFault.OFFLINE, offline),
                          (StreamFault.AUTH_CHANGE, wrong_password)):
            self.rtsp.set_fault(self.spec.id, fault, on, origin=STREAM_FAULT_ORIGIN)

    # ------------------------------------------------------------ sockets

    def _new_socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if _SO_REUSEPORT is not None:
            sock.setsockopt(socket.SOL_SOCKET, _SO_REUSEPORT, 1)
        return sock

    def _reserve_port(self) -> None:
        if self._reserve is not None:
            return
        sock = self._new_socket()
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        if _SO_REUSEPORT is not None:
            self._reserve = sock
        else:
            sock.close()  # cannot share the port without SO_REUSEPORT; rebind on listen

    async def _listen(self) -> None:
        if self._runner is not None:
            return
        sock = self._new_socket()
        try:
            sock.bind((self.host, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        runner = web.AppRunner(
            self._make_app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def _unlisten(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the listening socket and every connection

    # ------------------------------------------------------------ HTTP handlers

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for path in (DEVICE_PATH, MEDIA_PATH, SHARED_PATH, EVENTS_PATH, PTZ_PATH):
            app.router.add_post(path, self._on_soap)
        app.router.add_post(SUBSCRIPTION_PREFIX + "{number}", self._on_soap)
        app.router.add_get("/snapshot/{token}.jpg", self._on_snapshot)
        return app

    async def _slow(self) -> None:
        if CameraFault.SLOW in self._faults:
            await asyncio.sleep(self.spec.slow_delay_s)  # real seconds, on purpose

    async def _on_soap(self, request: web.Request) -> web.Response:
        await self._slow()
        try:
            data = await request.read()  # too large: aiohttp answers 413 itself
        except ConnectionResetError:
            # The client gave up (its own timeout) while the request was still arriving:
            # nobody to answer, and no reason for aiohttp to log a traceback.
            log.debug("%s: client went away before its request was complete", self.spec.name)
            raise web.HTTPBadRequest() from None
        req: SoapRequest | None = None
        try:
            try:
                req = parse_request(data)
                if (req.namespace, req.action) not in UNAUTHENTICATED:
                    if CameraQuirk.DIGEST_ONLY in self.quirks:
                        refused = self._check_http_digest(request)
                        if refused is not None:
                            return refused
                    else:
                        self._check_token(req)
                key = (req.namespace, req.action)
                if key == (NS_TDS, "GetCapabilities") and (
                    CameraQuirk.GETCAPABILITIES_FAILS in self.quirks
                ):
                    # Firmwares that dropped the ONVIF 1.x call answer a Receiver fault.
                    raise SoapFault("Receiver", ("ter:ActionNotSupported",),
                                    "GetCapabilities is not supported, use GetServices")
                if self.event_service and key in EVENT_ACTIONS:
                    # Async: PullMessages long-polls until messages arrive or it times out.
                    body = await self.events.dispatch(
                        req.namespace, req.action, req.body, request.path
                    )
                else:
                    body = dispatch(self, req.namespace, req.action, req.body)
                if CameraQuirk.NAIVE_TIME in self.quirks:
                    body = naive_times(body)
                return self._soap_response(envelope(body, self._wsa(req)), 200)
            except SoapFault as fault:
                return self._soap_response(
                    envelope(fault_body(fault), self._wsa(req, fault=True)), fault.http_status
                )
        except Exception:
            # Outermost boundary: a bug in a handler becomes a SOAP fault, never a 500 page.
            action = req.action if req else "?"
            log.exception("%s: internal error answering %s", self.spec.name, action)
            internal = SoapFault("Receiver", ("ter:Action",), "Action failed")
            return self._soap_response(envelope(fault_body(internal)), internal.http_status)

    def _check_http_digest(self, request: web.Request) -> web.Response | None:
        """DIGEST_ONLY: None when the request carries valid HTTP Digest credentials, else
        the 401 with a Digest-only challenge (a WS-Security token alone does not count)."""
        verdict = self._http_auth.check(
            request.headers.get(hdrs.AUTHORIZATION), request.method, request.raw_path,
            self.spec.username, self._password, basic=False,
        )
        if verdict == "ok":
            return None
        log.debug("%s: SOAP request without valid HTTP Digest refused", self.spec.name)
        return unauthorized(self._http_auth, verdict, basic=False)

    def _wsa(self, req: SoapRequest | None, fault: bool = False) -> str:
        # NO_WS_ADDRESSING: firmware that answers without wsa:Action / wsa:RelatesTo.
        if CameraQuirk.NO_WS_ADDRESSING in self.quirks:
            return ""
        return wsa_header(req, fault=fault)

    def _check_token(self, req: SoapRequest) -> None:
        try:
            self._wsse.verify(
                req.token,
                self.spec.username,
                self._password,
                self.camera_now(),
                speed=self.clock.speed,
            )
        except SoapFault:
            user = req.token.username if req.token else None
            log.debug("%s: %s refused for user %r", self.spec.name, req.action, user)
            raise

    @staticmethod
    def _soap_response(data: bytes, status: int) -> web.Response:
        return web.Response(
            body=data, status=status, headers={hdrs.CONTENT_TYPE: SOAP_CONTENT_TYPE}
        )

    def _profile(self, token: str) -> StreamProfile | None:
        return next((p for p in self.spec.profiles if p.token == token), None)

    async def _on_snapshot(self, request: web.Request) -> web.StreamResponse:
        await self._slow()
        profile = self._profile(request.match_info["token"])
        if profile is None:
            raise web.HTTPNotFound()
        verdict = self._http_auth.check(
            request.headers.get(hdrs.AUTHORIZATION),
            request.method,
            request.raw_path,
            self.spec.username,
            self._password,
            basic=CameraQuirk.DIGEST_ONLY not in self.quirks,
        )
        if verdict != "ok":
            return unauthorized(self._http_auth, verdict,
                                basic=CameraQuirk.DIGEST_ONLY not in self.quirks)
        # The OSD shows the camera's name, its clock and (domes) where it points now.
        caption = Caption.of(self.spec.name, self.camera_now(),
                             self.ptz_state.position() if self._ptz else None)
        jpeg = await asyncio.to_thread(
            render_snapshot, profile.width, profile.height, self._look, caption
        )
        if CameraQuirk.SNAPSHOT_STALL in self.quirks:
            log.debug("%s: snapshot answer stalls after its headers", self.spec.name)
            return await stalled_snapshot(request, len(jpeg))
        return web.Response(body=jpeg, content_type="image/jpeg")
