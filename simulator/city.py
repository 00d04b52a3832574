"""The simulated city: every camera of a scenario on its own loopback port, one virtual clock,
and a small control HTTP server for testers to switch faults at run time.

    city = SimulatedCity(load_scenario(Path("scenarios/small.toml")))
    await city.start()
    city.write_endpoints(Path("endpoints.json"))
    ...
    await city.stop()

ALPR units of the scenario's [alpr] section (simulator/alpr_unit.py) read plates on the
virtual clock from start(); `city.alpr.deliver_to(base_url, token)` makes the HTTP units
post to a hub; an "onvif" unit's camera has its event service on and publishes the reads
as plate events to whoever subscribes (no deliver_to needed); `city.alpr.counters()`
tells what each did.

Every vehicle of the scenario gets a simulated GPS receiver: a pty at a stable symlink
(`<gps_dir>/<vehicle>.tty`) and a TCP port, see simulator/gps_device.py.

One RTSP server (simulator/rtsp_server.py) serves every camera's H.264 profiles at
rtsp://host:<rtsp port>/<camera-id>/<profile-token>, which is what ONVIF GetStreamUri
answers. Its video is prepared lazily so that start-up does not wait for libx264: a
stream is encoded (or loaded from the disk cache) when it is first opened, and the small
streams (sub-streams) are pre-warmed in the background after start.

Control API (JSON in and out, errors as {"error": "..."}; never a traceback):
    GET  /cameras    -> [{"id", "name", "site", "port", "faults": [...]}, ...]
    GET  /endpoints  -> the same document write_endpoints() writes
    POST /faults     {"camera": "centre-002", "fault": "offline", "on": true}
                     -> 200 {"camera", "faults"}; 404 unknown camera; 400 bad body
    GET  /gps        -> [{"vehicle", "device", "tty", "tcp", "faults", "stats": {...}}, ...]
    POST /gps/faults {"vehicle": "combi-1", "fault": "unplug", "on": true}
                     -> 200 {"vehicle", "faults"}; 404 unknown vehicle; 400 bad body
    GET  /streams    -> [{"camera", "profile", "url", "width", "height", "fps", "ready",
                          "faults": [...]}, ...]  (the H.264/H.265 streams it serves)
    POST /streams/faults {"camera": "centre-001", "profile": "profile_2", "fault": "stall",
                          "on": true}   ("profile" optional: every stream of the camera)
                     -> 200 {"camera", "profile", "streams": {token: [faults]}};
                        404 unknown camera or profile not served; 400 bad body
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from simulator.alpr_unit import AlprFleet
from simulator.city_control import ControlServer, os_message
from simulator.clock import MAX_SPEED, VirtualClock
from simulator.discovery import DiscoveryResponder
from simulator.errors import CityStartError, ControlError
from simulator.gps_device import SimulatedGps
from simulator.model import CameraFault, GpsFault
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer
from simulator.scenario import MIN_SPEED, Scenario
from simulator.stream_faults import StreamFault

_Device = TypeVar("_Device")

log = logging.getLogger(__name__)

ENDPOINTS_VERSION = 1
# Streams up to this size are pre-warmed after start: a 640x360 encode takes about 0.5 s
# on a 2-core laptop, a 1920x1080 one 2-4 s: main streams wait until somebody opens them.
PREWARM_MAX_PIXELS = 640 * 480


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
        discovery_port: int = 0,
        gps_dir: Path | None = None,
        rtsp_port: int = 0,
        video_cache_dir: Path | None = None,
        prewarm: bool = True,
        alpr_dir: Path | None = None,
    ) -> None:
        """`base_port`: camera i listens on base_port + i, then vehicle j's GPS on the ports
        after the cameras (default: free ports picked by the OS). `control_port`: port of the
        control server (0: a free one). `gps_dir`: where the GPS device links go (default: a
        new temporary directory, removed by stop()). `rtsp_port`: the RTSP server's port (0:
        a free one). `video_cache_dir`: encoded video cache (default ~/.cache/citywatch/
        video). `prewarm`: prepare the small streams' video in the background after start.
        `alpr_dir`: where the ALPR hotlist file goes (default: a temporary directory).
        `discovery_port`: UDP port of the WS-Discovery responder (0: a free one; the
        endpoints document names it).

        Raises CityStartError when the RTSP port cannot be bound."""
        speed = scenario.speed if speed is None else speed
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise CityStartError(
                f"speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}, got {speed:g}"
            )
        self.scenario = scenario
        self.host = host
        self.speed = speed
        self.clock = VirtualClock(scenario.start, speed)
        try:
            # Video plays in real time whatever the speed: a picture does not need to
            # be compressed in time, and 258 streams at 10x the frame rate would cost
            # the simulator and the hub ten times the packets (and a keyframe sampler
            # would alias on the 4 s video loop and call every picture frozen). The
            # sender reports still carry the camera's virtual wall clock.
            self.rtsp = RtspServer(self.clock, host=host, port=rtsp_port,
                                   cache_dir=video_cache_dir, lazy=True,
                                   media_clock=VirtualClock(scenario.start, 1.0))
        except OSError as exc:
            raise CityStartError(
                f"cannot start the RTSP server on {host}:{rtsp_port}: {os_message(exc)}"
            ) from exc
        self._prewarm = prewarm
        # The look of camera i's video is i (mod the looks there are): neighbours differ.
        self.cameras: dict[str, SimulatedCamera] = {
            spec.id: SimulatedCamera(
                spec, self.clock, host=host,
                port=0 if base_port is None else base_port + i,
                rtsp=self.rtsp, look_seed=i, seed=scenario.seed, ptz=spec.ptz,
                # Every real ONVIF camera has the event service (motion, tamper, inputs);
                # it costs nothing while nobody subscribes.
                event_service=True,
            )
            for i, spec in enumerate(scenario.cameras)
        }
        # WS-Discovery: answers Probes for every camera on a loopback UDP port (no multicast
        # group joined: tests and `citywatch discover --target` probe it unicast).
        self.discovery = DiscoveryResponder(lambda: self.cameras.values(), host=host,
                                            port=discovery_port)
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
        # ALPR units read plates from start(); HTTP units post once alpr.deliver_to() is
        # called, "onvif" units publish on their camera's event service.
        events = scenario.alpr.event_cameras
        self.alpr = AlprFleet(
            scenario.alpr, scenario.seed, self.clock, directory=alpr_dir,
            publishers={c: self.cameras[c].publish_plate for c in events},
        )
        self._control_port = control_port
        self._control = ControlServer(self)
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start every camera concurrently, the GPS receivers, the RTSP server, then the
        control server. Returns without waiting for any video to be encoded.

        Raises CityStartError (after closing whatever did start) when a port cannot be bound.
        """
        if self._started:
            return
        cams = list(self.cameras.values())
        failed = await _failures(cams, [c.start() for c in cams])
        if failed:
            await self._teardown()
            cam, exc = failed[0]
            more = f" (and {len(failed) - 1} more cameras)" if len(failed) > 1 else ""
            raise CityStartError(
                f"cannot start camera {cam.spec.id} on {self.host}:{cam.port or '?'}: "
                f"{os_message(exc)}{more}"
            ) from exc
        # Cameras take their configured faults from the spec; make sure every one is on.
        for cam in cams:
            for fault in cam.spec.faults - cam.faults:
                await cam.set_fault(fault, True)
        await self._start_vehicles()
        for what, port, begin in (
            ("RTSP server", self.rtsp.port, self.rtsp.start),
            ("control server", self._control_port, self._start_control),
            ("discovery responder", self.discovery.port, self.discovery.start),
        ):
            try:
                await begin()
            except OSError as exc:
                await self._teardown()
                raise CityStartError(
                    f"cannot start the {what} on {self.host}:{port}: {os_message(exc)}"
                ) from exc
        await self.alpr.start()
        self._started = True
        if self._prewarm:
            self.rtsp.prewarm(
                f"{cam.spec.id}/{p.token}" for cam in cams for p in cam.spec.profiles
                if p.token in cam.served_profiles and p.width * p.height <= PREWARM_MAX_PIXELS
            )
        log.info("city %s: %d cameras, %d GPS receivers up, RTSP %s:%d, control %s",
                 self.scenario.name, len(cams), len(self.vehicles), self.host, self.rtsp.port,
                 self._control.url)

    async def stop(self) -> None:
        """Close every port (control server, RTSP server, cameras). Safe to call twice."""
        await self._control.stop()
        await self._teardown()
        self._started = False

    async def _start_control(self) -> None:
        await self._control.start(self.host, self._control_port)

    async def _teardown(self) -> None:
        await self.discovery.stop()
        await self.alpr.stop()
        await self.rtsp.stop()
        await self._stop_vehicles()
        await self._stop_cameras()
        self._remove_gps_dir()

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
        failed = await _failures(gpses, [g.start() for g in gpses])
        if failed:
            await self._teardown()
            gps, exc = failed[0]
            raise CityStartError(
                f"cannot start the GPS of vehicle {gps.spec.id} (pty {gps.device.path}, "
                f"{self.host}:{gps.device.port or '?'}): {os_message(exc)}"
            ) from exc

    async def _stop_vehicles(self) -> None:
        gpses = list(self.vehicles.values())
        for gps, exc in await _failures(gpses, [g.stop() for g in gpses]):
            log.warning("GPS of vehicle %s did not stop cleanly: %s", gps.spec.id, exc)

    async def _stop_cameras(self) -> None:
        cams = list(self.cameras.values())
        for cam, exc in await _failures(cams, [c.stop() for c in cams]):
            log.warning("camera %s did not stop cleanly: %s", cam.spec.id, exc)

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
        return self._control.url

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
            "control": self._control.url,
            "rtsp_port": self.rtsp.port,
            "discovery": {"host": self.host, "port": self.discovery.port},
            "sites": [
                {"id": s.id, "name": s.name, "kind": s.kind.value,
                 "grants": [{"to": g.to, "cameras": list(g.cameras)} for g in s.grants]}
                for s in sc.sites
            ],
            "cameras": [self._camera_entry(cam) for cam in self.cameras.values()],
            "gps": [self._gps_entry(g) for g in self.vehicles.values()],
            "alpr": self.alpr.endpoints(),
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
            # Every profile; "served": False for those the RTSP server does not serve
            # (JPEG), like a camera whose codec a client cannot open.
            "streams": [
                {"profile": p.token, "name": p.name, "url": cam.stream_uri_for(p.token),
                 "encoding": p.encoding, "width": p.width, "height": p.height, "fps": p.fps,
                 "bitrate_kbps": p.bitrate_kbps, "served": p.token in cam.served_profiles}
                for p in spec.profiles
            ],
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

    # ------------------------------------------------------------------ faults

    def _camera(self, camera_id: str) -> SimulatedCamera:
        cam = self.cameras.get(camera_id)
        if cam is None:
            raise ControlError(f"unknown camera {camera_id!r}")
        return cam

    async def set_camera_fault(
        self, camera_id: str, fault: CameraFault | str, on: bool
    ) -> frozenset[CameraFault]:
        """Switch a camera fault; the camera's RTSP streams follow (OFFLINE: connections
        reset, WRONG_PASSWORD: 401). Returns the camera's faults.

        Raises ControlError (unknown camera or fault), OSError (its port was taken while
        it was offline)."""
        cam = self._camera(camera_id)
        try:
            fault = CameraFault(fault)
        except ValueError:
            raise ControlError(f"unknown camera fault {fault!r}") from None
        await cam.set_fault(fault, on)
        return cam.faults

    async def reboot_camera(self, camera_id: str) -> None:
        """The camera starts rebooting: powered off (port closed, RTSP offline, ONVIF event
        subscriptions forgotten) until camera_back(); whoever reboots it times that on the
        virtual clock (simulator/timeline.py). Raises ControlError for an unknown camera."""
        await self._camera(camera_id).set_powered(False)

    async def move_camera(
        self, camera_id: str, lat: float, lon: float, street: str | None = None
    ) -> None:
        """A temporary camera is taken down to be moved: powered off like reboot_camera()
        and set up at `lat`/`lon` (`street`: None keeps the old name), which its location
        scopes and endpoints() say once it is back (camera_back()).
        Raises ControlError for an unknown camera."""
        cam = self._camera(camera_id)
        await cam.set_powered(False)
        cam.relocate(lat, lon, street)

    async def camera_back(self, camera_id: str) -> None:
        """A rebooted or moved camera is powered on again (its faults still apply).
        Raises ControlError (unknown camera), OSError (its port was taken meanwhile)."""
        await self._camera(camera_id).set_powered(True)

    async def set_gps_fault(
        self, vehicle_id: str, fault: GpsFault | str, on: bool
    ) -> frozenset[GpsFault]:
        """Switch a fault of a vehicle's GPS receiver; returns its faults. Raises
        ControlError (unknown vehicle or fault), OSError (UNPLUG off: its TCP port was
        taken while unplugged)."""
        gps = self.vehicles.get(vehicle_id)
        if gps is None:
            raise ControlError(f"unknown vehicle {vehicle_id!r}")
        try:
            fault = GpsFault(fault)
        except ValueError:
            raise ControlError(f"unknown GPS fault {fault!r}") from None
        await gps.set_fault(fault, on)
        return frozenset(gps.faults)

    async def set_stream_fault(
        self, camera_id: str, fault: StreamFault | str, on: bool, profile: str | None = None
    ) -> dict[str, frozenset[StreamFault]]:
        """Switch a fault of one RTSP stream of a camera (`profile`: its token) or, without
        `profile`, of every stream of the camera (switched off the same way).

        Returns once the fault is in effect (the picture it selects is prepared for the
        streams that have been opened; the others get it when they are), with the faults of
        each of the camera's streams by profile token. Raises ControlError for an unknown
        camera, fault or profile, or a profile that is not served (only H.264 and H.265
        are)."""
        cam = self._camera(camera_id)
        try:
            fault = StreamFault(fault)
        except ValueError:
            raise ControlError(f"unknown stream fault {fault!r}") from None
        if profile is not None and profile not in cam.served_profiles:
            spec = next((p for p in cam.spec.profiles if p.token == profile), None)
            if spec is not None:
                raise ControlError(f"profile {profile!r} of camera {camera_id} is "
                                   f"{spec.encoding}: not served over RTSP (only H264 "
                                   "and H265 are)")
            tokens = ", ".join(p.token for p in cam.spec.profiles)
            raise ControlError(f"camera {camera_id} has no profile {profile!r} ({tokens})")
        path = camera_id if profile is None else f"{camera_id}/{profile}"
        self.rtsp.set_fault(path, fault, on)
        if on:
            await self.rtsp.faults_ready(path)
        return self.stream_faults(camera_id)

    def stream_faults(self, camera_id: str) -> dict[str, frozenset[StreamFault]]:
        """The faults of each RTSP stream of a camera (its own and a tester's), by token."""
        cam = self._camera(camera_id)
        return {t: self.rtsp.faults(f"{camera_id}/{t}") for t in cam.served_profiles}

    def streams(self) -> list[dict[str, Any]]:
        """Every served RTSP stream: camera, profile, URL, format, readiness, faults."""
        out = []
        for cam in self.cameras.values():
            for p in cam.spec.profiles:
                if p.token in cam.served_profiles:
                    path = f"{cam.spec.id}/{p.token}"
                    out.append({
                        "camera": cam.spec.id, "profile": p.token,
                        "url": cam.stream_uri_for(p.token), "encoding": p.encoding,
                        "width": p.width,
                        "height": p.height, "fps": p.fps, "ready": self.rtsp.ready(path),
                        "faults": sorted(f.value for f in self.rtsp.faults(path)),
                    })
        return out


async def _failures(
    devices: Sequence[_Device], steps: Sequence[Awaitable[object]]
) -> list[tuple[_Device, BaseException]]:
    """Run one step per device concurrently; the devices whose step raised, with why."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    return [(d, r) for d, r in zip(devices, results, strict=True)
            if isinstance(r, BaseException)]
