"""An in-memory hub double with deterministic camera actions (snapshot, PTZ, presets,
reboot, diagnose, events) for the TUI tests: conftest's FakeHub plus those."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta

from PIL import Image, ImageDraw

from drivers.onvif_model import DeviceInformation
from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
from hub.diagnose import Finding, ProfileReport, Report, Severity
from hub.errors import CameraActionError, CameraNotSupported
from tests.tui.conftest import T0, FakeHub

SIZE = (80, 24)
PTZ_CAMERA = "cam-001"
FIXED_CAMERA = "cam-002"  # answers "not a PTZ camera"
BROKEN_CAMERA = "cam-003"  # down: every action fails
LOCKED_CAMERA = "cam-007"  # its password changed: every action is refused


def make_snapshot_jpeg() -> bytes:
    """A deterministic 'street': sky, houses, road, a white car."""
    img = Image.new("RGB", (320, 180), (110, 150, 200))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 100, 319, 179), fill=(70, 70, 75))
    for i, colour in enumerate([(150, 60, 50), (190, 170, 120), (120, 100, 90)]):
        draw.rectangle((10 + i * 100, 40, 90 + i * 100, 100), fill=colour)
    draw.rectangle((130, 130, 190, 155), fill=(235, 235, 235))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


SNAPSHOT_JPEG = make_snapshot_jpeg()
PRESETS = (PtzPresetInfo("1", "Overview"), PtzPresetInfo("2", "Entrance"))


# As the driver makes them from a camera's PullMessages answer.
EVENTS = (
    CameraEvent("tns1:VideoSource/MotionAlarm", T0 - timedelta(seconds=3), "Changed",
                (("Source", "VideoSource_1"),), (("State", "true"),)),
    CameraEvent("tns1:Device/Trigger/DigitalInput", T0 - timedelta(seconds=2), "Changed",
                (("InputToken", "DI_1"),), (("LogicalState", "false"),)),
    CameraEvent("tns1:VideoSource/GlobalSceneChange/ImagingService", T0 - timedelta(seconds=1),
                "Changed", (("Source", "VideoSource_1"),), (("State", "true"),)),
)


def make_report() -> Report:
    return Report(
        url="http://127.0.0.1:8001/onvif/device_service",
        device=DeviceInformation("AXIS", "P1448-LE", "10.12.182", "ACCC8E000001", "7A1"),
        clock_offset_s=3601.2,
        services=(),
        profiles=(ProfileReport("Profile_1", "main", "H264", 2688, 1520, 25.0,
                                "rtsp://127.0.0.1:9001/main", None),),
        ptz=True, pullpoint=False, topics=(), stream=None, snapshot=None,
        findings=(
            Finding(Severity.INFO, "auth_digest_only", "snapshot needs HTTP Digest"),
            Finding(Severity.ERROR, "clock_drift", "camera clock is 3601 s ahead"),
            Finding(Severity.WARNING, "no_pullpoint", "no PullPoint: events need polling"),
        ),
    )


class CameraHub(FakeHub):
    """FakeHub plus camera actions: a PTZ dome, a fixed camera and a broken one."""

    def __init__(self) -> None:
        super().__init__()
        self.position = PtzPosition(0.0, 0.0, 0.0, False)
        self.moves: list[tuple[str, float, float, float]] = []
        self.gotos: list[tuple[str, str]] = []
        self.reboots: list[tuple[str, str]] = []
        self.snapshot_calls: list[str] = []
        self.event_streams = 0
        self.events_closed = 0
        self.diagnose_delay = 0.0

    def _check(self, camera_id: str, ptz: bool = False) -> None:
        if camera_id == BROKEN_CAMERA:
            raise CameraActionError("Havermarkt: connect to 10.1.0.3:80 timed out")
        if camera_id == LOCKED_CAMERA:
            raise CameraActionError("Ring R70 Zuid ALPR: credentials rejected")
        if ptz and camera_id != PTZ_CAMERA:
            raise CameraNotSupported("Kolonel Dusartplein: PTZ move: not a PTZ camera")

    async def camera_snapshot(self, camera_id: str) -> bytes:
        self.snapshot_calls.append(camera_id)
        self._check(camera_id)
        return SNAPSHOT_JPEG

    async def ptz_status(self, camera_id: str) -> PtzPosition:
        self._check(camera_id, ptz=True)
        return self.position

    async def ptz_presets(self, camera_id: str) -> tuple[PtzPresetInfo, ...]:
        self._check(camera_id, ptz=True)
        return PRESETS

    async def ptz_move(
        self, camera_id: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0
    ) -> PtzPosition:
        self.moves.append((camera_id, pan, tilt, zoom))
        self._check(camera_id, ptz=True)
        p = self.position
        assert p.pan is not None and p.tilt is not None and p.zoom is not None
        self.position = PtzPosition(round(p.pan + pan * 0.1, 3), round(p.tilt + tilt * 0.1, 3),
                                    round(p.zoom + zoom * 0.1, 3), False)
        return self.position

    async def ptz_goto_preset(self, camera_id: str, token: str) -> None:
        self.gotos.append((camera_id, token))
        self._check(camera_id, ptz=True)
        self.position = PtzPosition(0.0, 0.0, 0.0, False)

    async def reboot_camera(self, camera_id: str, actor: str) -> str:
        self.reboots.append((camera_id, actor))
        self._check(camera_id)
        return "Rebooting in 30 seconds"

    async def diagnose_camera(self, camera_id: str) -> Report:
        self._check(camera_id)
        await asyncio.sleep(self.diagnose_delay)
        return make_report()

    async def camera_events(self, camera_id: str) -> AsyncIterator[CameraEvent]:
        self._check(camera_id)
        self.event_streams += 1
        try:
            for event in EVENTS:
                yield event
            await asyncio.Event().wait()  # open until the screen goes
        finally:
            self.events_closed += 1
