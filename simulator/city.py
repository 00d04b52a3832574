"""The simulated city: every camera of a scenario on its own loopback port, one virtual clock,
and a small control HTTP server for testers to switch faults at run time.

    city = SimulatedCity(load_scenario(Path("scenarios/small.toml")))
    await city.start()
    city.write_endpoints(Path("endpoints.json"))
    ...
    await city.stop()

Every vehicle of the scenario gets a simulated GPS receiver: a pty at a stable symlink
(`<gps_dir>/<vehicle>.tty`) and a TCP port, see simulator/gps_device.py.

Control API (JSON in and out, errors as {"error": "..."}; never a traceback):
    GET  /cameras    -> [{"id", "name", "site", "port", "faults": [...]}, ...]
    GET  /endpoints  -> the same document write_endpoints() writes
    POST /faults     {"camera": "centre-002", "fault": "offline", "on": true}
                     -> 200 {"camera", "faults"}; 404 unknown camera; 400 bad body
    GET  /gps        -> [{"vehicle", "device", "tty", "tcp", "faults", "stats": {...}}, ...]
    POST /gps/faults {"vehicle": "combi-1", "fault": "unplug", "on": true}
                     -> 200 {"vehicle", "faults"}; 404 unknown vehicle; 400 bad body
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from simulator.clock import MAX_SPEED, VirtualClock
from simulator.errors import CityStartError
from simulator.gps_device import SimulatedGps
from simulator.model import CameraFault, GpsFault
from simulator.onvif_camera import SimulatedCamera
from simulator.scenario import MIN_SPEED, Scenario

log = logging.getLogger(__name__)

ENDPOINTS_VERSION = 1
_FAULT_BODY_KEYS = {"camera", "fault", "on"}
_GPS_FAULT_BODY_KEYS = {"vehicle", "fault", "on"}


class SimulatedCity:
    """All devices of one scenario, started and stopped together."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        speed: float | None = None,
        host: str = "127.0.0.1",
        base_port: int | None = None,
        control_port: int = 0,
        gps_dir: Path | None = None,
    ) -> None:
        """`base_port`: camera i listens on base_port + i, then vehicle j's GPS on the ports
        after the cameras (default: free ports picked by the OS). `control_port`: port of the
        control server (0: a free one). `gps_dir`: where the GPS device links go (default: a
        new temporary directory, removed by stop())."""
        speed = scenario.speed if speed is None else speed
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise CityStartError(
                f"speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}, got {speed:g}"
            )
        self.scenario = scenario
        self.host = host
        self.speed = speed
        self.clock = VirtualClock(scenario.start, speed)
        self.cameras: dict[str, SimulatedCamera] = {
            spec.id: SimulatedCamera(
                spec, self.clock, host=host,
                port=0 if base_port is None else base_port + i,
            )
            for i, spec in enumerate(scenario.cameras)
        }
        # Without a gps_dir, start() makes a private temporary one (stop() removes it).
        self._own_gps_dir = gps_dir is None
        self.gps_dir = gps_dir
        first_gps = None if base_port is None else base_port + len(scenario.cameras)
        self.vehicles: dict[str, SimulatedGps] = {
            spec.id: SimulatedGps(
                spec, self.clock, gps_dir or Path(tempfile.gettempdir()), host=host,
                port=0 if first_gps is None else first_gps + j,
            )
            for j, spec in enumerate(scenario.vehicles)
        }
        self._control_port = control_port
        self._control: web.AppRunner | None = None
        self._control_url: str | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start every camera concurrently, then the control server.

        Raises CityStartError (after closing whatever did start) when a port cannot be bound.
        """
        if self._started:
            return
        cams = list(self.cameras.values())
        results = await asyncio.gather(*(c.start() for c in cams), return_exceptions=True)
        failed = [
            (c, r) for c, r in zip(cams, results, strict=True) if isinstance(r, BaseException)
        ]
        if failed:
            await self._stop_cameras()
            cam, exc = failed[0]
            more = f" (and {len(failed) - 1} more cameras)" if len(failed) > 1 else ""
            raise CityStartError(
                f"cannot start camera {cam.spec.id} on {self.host}:{cam.port or '?'}: "
                f"{_os_message(exc)}{more}"
            ) from exc
        # Cameras take their configured faults from the spec; make sure every one is on.
        for cam in cams:
            for fault in cam.spec.faults - cam.faults:
                await cam.set_fault(fault, True)
        await self._start_vehicles()
        try:
            await self._start_control()
        except OSError as exc:
            await self._stop_vehicles()
            await self._stop_cameras()
            self._remove_gps_dir()
            raise CityStartError(
                f"cannot start the control server on {self.host}:{self._control_port}: "
                f"{_os_message(exc)}"
            ) from exc
        self._started = True
        log.info("city %s: %d cameras, %d GPS receivers up, control %s", self.scenario.name,
                 len(cams), len(self.vehicles), self._control_url)

    async def stop(self) -> None:
        """Close every port (control server and cameras). Safe to call twice."""
        runner, self._control = self._control, None
        if runner is not None:
            await runner.cleanup()
        await self._stop_vehicles()
        await self._stop_cameras()
        self._remove_gps_dir()
        self._started = False

    def _remove_gps_dir(self) -> None:
        if self._own_gps_dir and self.gps_dir is not None:
            shutil.rmtree(self.gps_dir, ignore_errors=True)
            self.gps_dir = None

    async def _start_vehicles(self) -> None:
        gpses = list(self.vehicles.values())
        if gpses and self.gps_dir is None:
            self.gps_dir = Path(tempfile.mkdtemp(prefix="citywatch-gps-"))
            for g in gpses:
                g.device.path = self.gps_dir / g.device.path.name
        results = await asyncio.gather(*(g.start() for g in gpses), return_exceptions=True)
        failed = [
            (g, r) for g, r in zip(gpses, results, strict=True) if isinstance(r, BaseException)
        ]
        if failed:
            await self._stop_vehicles()
            await self._stop_cameras()
            self._remove_gps_dir()
            gps, exc = failed[0]
            raise CityStartError(
                f"cannot start the GPS of vehicle {gps.spec.id} (pty {gps.device.path}, "
                f"{self.host}:{gps.device.port or '?'}): {_os_message(exc)}"
            ) from exc

    async def _stop_vehicles(self) -> None:
        results = await asyncio.gather(
            *(g.stop() for g in self.vehicles.values()), return_exceptions=True
        )
        for gps, r in zip(self.vehicles.values(), results, strict=True):
            if isinstance(r, BaseException):
                log.warning("GPS of vehicle %s did not stop cleanly: %s", gps.spec.id, r)

    async def _stop_cameras(self) -> None:
        results = await asyncio.gather(
            *(c.stop() for c in self.cameras.values()), return_exceptions=True
        )
        for cam, r in zip(self.cameras.values(), results, strict=True):
            if isinstance(r, BaseException):
                log.warning("camera %s did not stop cleanly: %s", cam.spec.id, r)

    async def __aenter__(self) -> SimulatedCity:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ description

    @property
    def control_url(self) -> str | None:
        """http://host:port of the control server once started."""
        return self._control_url

    def port_range(self) -> tuple[int, int]:
        ports = [c.port for c in self.cameras.values()]
        return (min(ports), max(ports)) if ports else (0, 0)

    def endpoints(self) -> dict[str, Any]:
        """How to reach every device: what a hub (or a tester) needs to connect."""
        sc = self.scenario
        return {
            "version": ENDPOINTS_VERSION,
            "scenario": sc.name,
            "seed": sc.seed,
            "start": sc.start.isoformat(),
            "speed": self.speed,
            "control": self._control_url,
            "sites": [
                {"id": s.id, "name": s.name, "kind": s.kind.value,
                 "grants": [{"to": g.to, "cameras": list(g.cameras)} for g in s.grants]}
                for s in sc.sites
            ],
            "cameras": [self._camera_entry(cam) for cam in self.cameras.values()],
            "gps": [self._gps_entry(g) for g in self.vehicles.values()],
        }

    def _gps_entry(self, gps: SimulatedGps) -> dict[str, Any]:
        spec = gps.spec
        return {
            "id": spec.id,
            "vehicle": spec.name,
            "site": spec.site,
            "device": str(gps.device.path),
            "tcp": gps.device.tcp_url,
            "camera": spec.camera,
            "receiver": spec.receiver.kind.value,
            "rate_hz": spec.receiver.rate_hz,
            "route": spec.route,
        }

    def _camera_entry(self, cam: SimulatedCamera) -> dict[str, Any]:
        spec = cam.spec
        return {
            "id": spec.id,
            "name": spec.name,
            "site": spec.site,
            "kind": spec.kind.value,
            "onvif": cam.onvif_url,
            "rtsp": cam.rtsp_url,
            "snapshot": cam.snapshot_url,
            "username": spec.username,
            "password": spec.password,
            "street": spec.street,
            "lat": spec.lat,
            "lon": spec.lon,
            "vendor": spec.vendor.manufacturer,
            "model": spec.vendor.model,
            "port": cam.port,
            "faults": sorted(f.value for f in cam.faults),
        }

    def write_endpoints(self, path: Path | str) -> Path:
        """Write endpoints() as JSON atomically (temp file in the same directory + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.endpoints(), indent=2, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    # ------------------------------------------------------------------ control server

    async def _start_control(self) -> None:
        app = web.Application(middlewares=[_json_errors], client_max_size=64 * 1024)
        app.router.add_get("/cameras", self._on_cameras)
        app.router.add_get("/endpoints", self._on_endpoints)
        app.router.add_post("/faults", self._on_fault)
        app.router.add_get("/gps", self._on_gps)
        app.router.add_post("/gps/faults", self._on_gps_fault)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._control_port))
            sock.listen(64)
            sock.setblocking(False)
            await web.SockSite(runner, sock).start()
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._control = runner
        self._control_url = f"http://{host}:{port}"

    async def _on_cameras(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"id": c.spec.id, "name": c.spec.name, "site": c.spec.site, "port": c.port,
             "faults": sorted(f.value for f in c.faults)}
            for c in self.cameras.values()
        ])

    async def _on_endpoints(self, request: web.Request) -> web.Response:
        return web.json_response(self.endpoints())

    async def _on_fault(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "body must be JSON: "
                          '{"camera": ID, "fault": "offline", "on": true}')
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        unknown = sorted(set(body) - _FAULT_BODY_KEYS)
        if unknown:
            return _error(400, f"unknown field {unknown[0]!r}; fields are camera, fault, on")
        camera_id, fault_name, on = body.get("camera"), body.get("fault"), body.get("on", True)
        if not isinstance(camera_id, str):
            return _error(400, '"camera" must be a camera id (string)')
        faults = [f.value for f in CameraFault]
        if fault_name not in faults:
            return _error(400, f'"fault" must be one of {", ".join(faults)}, got {fault_name!r}')
        if not isinstance(on, bool):
            return _error(400, f'"on" must be true or false, got {on!r}')
        cam = self.cameras.get(camera_id)
        if cam is None:
            return _error(404, f"unknown camera {camera_id!r}")
        try:
            await cam.set_fault(CameraFault(fault_name), on)
        except OSError as exc:  # e.g. the port was taken while the camera was offline
            return _error(409, f"camera {camera_id}: {_os_message(exc)}")
        return web.json_response(
            {"camera": camera_id, "faults": sorted(f.value for f in cam.faults)}
        )

    async def _on_gps(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"vehicle": g.spec.id, "device": str(g.device.path), "tty": g.device.tty_name
             if g.device.is_open else None, "tcp": g.device.tcp_url,
             "faults": sorted(f.value for f in g.faults), "stats": asdict(g.device.stats)}
            for g in self.vehicles.values()
        ])

    async def _on_gps_fault(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "body must be JSON: "
                          '{"vehicle": ID, "fault": "unplug", "on": true}')
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        unknown = sorted(set(body) - _GPS_FAULT_BODY_KEYS)
        if unknown:
            return _error(400, f"unknown field {unknown[0]!r}; fields are vehicle, fault, on")
        vehicle_id, fault_name, on = body.get("vehicle"), body.get("fault"), body.get("on", True)
        if not isinstance(vehicle_id, str):
            return _error(400, '"vehicle" must be a vehicle id (string)')
        faults = [f.value for f in GpsFault]
        if fault_name not in faults:
            return _error(400, f'"fault" must be one of {", ".join(faults)}, got {fault_name!r}')
        if not isinstance(on, bool):
            return _error(400, f'"on" must be true or false, got {on!r}')
        gps = self.vehicles.get(vehicle_id)
        if gps is None:
            return _error(404, f"unknown vehicle {vehicle_id!r}")
        try:
            await gps.set_fault(GpsFault(fault_name), on)
        except OSError as exc:  # e.g. its TCP port was taken while unplugged
            return _error(409, f"vehicle {vehicle_id}: {_os_message(exc)}")
        return web.json_response(
            {"vehicle": vehicle_id, "faults": sorted(f.value for f in gps.faults)}
        )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except Exception:
        log.exception("control request %s %s failed", request.method, request.path)
        return _error(500, "internal error (see the simulator's log)")


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
