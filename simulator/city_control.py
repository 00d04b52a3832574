"""The simulated city's control server: JSON over HTTP for testers to switch faults at run
time (the routes are listed in simulator/city.py's module doc and docs/scenarios.md).

Errors are {"error": "..."} with 400 (bad body), 404 (unknown camera, vehicle, route or
stream), 405, 409 (a port taken while a device was off); never a traceback.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator.errors import ControlError
from simulator.model import CameraFault, GpsFault
from simulator.stream_faults import StreamFault

if TYPE_CHECKING:
    from simulator.city import SimulatedCity

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # fault requests are a few dozen bytes
SHUTDOWN_TIMEOUT_S = 0.1  # a control request in flight at stop is cut off
_FAULT_BODY_KEYS = ("camera", "fault", "on")
_GPS_FAULT_BODY_KEYS = ("vehicle", "fault", "on")
_STREAM_FAULT_BODY_KEYS = ("camera", "profile", "fault", "on")


class ControlServer:
    """aiohttp app on its own port, acting on one SimulatedCity."""

    def __init__(self, city: SimulatedCity) -> None:
        self.city = city
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self, host: str, port: int) -> str:
        """Listen on host:port (0: a free port); returns http://host:port. OSError if the
        port cannot be bound."""
        app = web.Application(middlewares=[_json_errors], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/cameras", self._on_cameras)
        app.router.add_get("/endpoints", self._on_endpoints)
        app.router.add_post("/faults", self._on_fault)
        app.router.add_get("/gps", self._on_gps)
        app.router.add_post("/gps/faults", self._on_gps_fault)
        app.router.add_get("/streams", self._on_streams)
        app.router.add_post("/streams/faults", self._on_stream_fault)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            sock.setblocking(False)
            await web.SockSite(runner, sock).start()
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self._runner = runner
        self.url = f"http://{shown}:{bound}"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------------ handlers

    async def _on_cameras(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"id": c.spec.id, "name": c.spec.name, "site": c.spec.site, "port": c.port,
             "faults": sorted(f.value for f in c.faults)}
            for c in self.city.cameras.values()
        ])

    async def _on_endpoints(self, request: web.Request) -> web.Response:
        return web.json_response(self.city.endpoints())

    async def _on_fault(self, request: web.Request) -> web.Response:
        body = await _read_body(request, _FAULT_BODY_KEYS,
                                '{"camera": ID, "fault": "offline", "on": true}')
        camera_id = _check_id(body, "camera", "a camera id")
        fault, on = _check_fault(body, CameraFault), _check_on(body)
        if camera_id not in self.city.cameras:
            return _error(404, f"unknown camera {camera_id!r}")
        try:
            faults = await self.city.set_camera_fault(camera_id, fault, on)
        except OSError as exc:  # e.g. the port was taken while the camera was offline
            return _error(409, f"camera {camera_id}: {os_message(exc)}")
        return web.json_response(
            {"camera": camera_id, "faults": sorted(f.value for f in faults)}
        )

    async def _on_gps(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"vehicle": g.spec.id, "device": str(g.device.path), "tty": g.device.tty_name
             if g.device.is_open else None, "tcp": g.device.tcp_url,
             "faults": sorted(f.value for f in g.faults), "stats": asdict(g.device.stats)}
            for g in self.city.vehicles.values()
        ])

    async def _on_gps_fault(self, request: web.Request) -> web.Response:
        body = await _read_body(request, _GPS_FAULT_BODY_KEYS,
                                '{"vehicle": ID, "fault": "unplug", "on": true}')
        vehicle_id = _check_id(body, "vehicle", "a vehicle id")
        fault, on = _check_fault(body, GpsFault), _check_on(body)
        gps = self.city.vehicles.get(vehicle_id)
        if gps is None:
            return _error(404, f"unknown vehicle {vehicle_id!r}")
        try:
            await gps.set_fault(GpsFault(fault), on)
        except OSError as exc:  # e.g. its TCP port was taken while unplugged
            return _error(409, f"vehicle {vehicle_id}: {os_message(exc)}")
        return web.json_response(
            {"vehicle": vehicle_id, "faults": sorted(f.value for f in gps.faults)}
        )

    async def _on_streams(self, request: web.Request) -> web.Response:
        return web.json_response(self.city.streams())

    async def _on_stream_fault(self, request: web.Request) -> web.Response:
        body = await _read_body(
            request, _STREAM_FAULT_BODY_KEYS,
            '{"camera": ID, "profile": TOKEN (optional), "fault": "stall", "on": true}')
        camera_id = _check_id(body, "camera", "a camera id")
        profile = body.get("profile")
        if profile is not None and not isinstance(profile, str):
            raise _BadRequest('"profile" must be a profile token (string) or left out')
        fault, on = _check_fault(body, StreamFault), _check_on(body)
        if camera_id not in self.city.cameras:
            return _error(404, f"unknown camera {camera_id!r}")
        try:
            streams = await self.city.set_stream_fault(camera_id, fault, on, profile)
        except ControlError as exc:  # the profile is unknown or not served
            return _error(404, str(exc))
        return web.json_response({
            "camera": camera_id, "profile": profile,
            "streams": {t: sorted(f.value for f in faults) for t, faults in streams.items()},
        })


# ---------------------------------------------------------------------- request checks


class _BadRequest(Exception):
    """Answered 400 with this message by the middleware."""


async def _read_body(request: web.Request, keys: tuple[str, ...], example: str
                     ) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest(f"body must be JSON: {example}") from None
    if not isinstance(body, dict):
        raise _BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise _BadRequest(f"unknown field {unknown[0]!r}; fields are {', '.join(keys)}")
    return body


def _check_id(body: dict[str, Any], field: str, what: str) -> str:
    value = body.get(field)
    if not isinstance(value, str):
        raise _BadRequest(f'"{field}" must be {what} (string)')
    return value


def _check_fault(body: dict[str, Any], kind: type[CameraFault | GpsFault | StreamFault]
                 ) -> str:
    names = [f.value for f in kind]
    value = body.get("fault")
    if value not in names:
        raise _BadRequest(f'"fault" must be one of {", ".join(names)}, got {value!r}')
    return str(value)


def _check_on(body: dict[str, Any]) -> bool:
    on = body.get("on", True)
    if not isinstance(on, bool):
        raise _BadRequest(f'"on" must be true or false, got {on!r}')
    return on


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except _BadRequest as exc:
        return _error(400, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except Exception:
        log.exception("control request %s %s failed", request.method, request.path)
        return _error(500, "internal error (see the simulator's log)")


def os_message(exc: BaseException) -> str:
    """The OS's words for an error ("Address already in use"), else the exception's."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
