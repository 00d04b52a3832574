"""A camera's live view in the detail screen: the snapshot (refreshed every few seconds
while the screen is shown) and its PTZ line, with the PTZ/preset/reboot actions the
screen's keys call. Everything goes through the hub client; errors become notifications
or a line in the panel, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo

from textual.app import ComposeResult
from textual.containers import Vertical

from hub.camera_control import PtzPosition
from hub.client import HubClient
from hub.errors import CameraActionError, CameraNotSupported
from tui.widgets.ptz_bar import PtzBar
from tui.widgets.snapshot_view import SnapshotView

# A preview, not video: every few seconds is enough to see what the camera sees and
# costs the camera one JPEG encode per refresh.
SNAPSHOT_REFRESH_S = 5.0
# After a preset, the position is polled this often until the head stops (or the limit).
PRESET_POLL_S = 0.5
PRESET_POLL_LIMIT_S = 15.0
NOT_PTZ = "not a PTZ camera"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class CameraPanel(Vertical):
    """Snapshot + PTZ of one camera, through `client`."""

    def __init__(
        self,
        client: HubClient,
        camera_id: str,
        *,
        tz: tzinfo | None,
        clock: Callable[[], datetime],
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.client = client
        self.camera_id = camera_id
        self.tz = tz
        self.clock = clock
        self.snapshots = 0  # snapshots drawn (tests wait on it)
        self._snapshot_busy = False

    def compose(self) -> ComposeResult:
        yield SnapshotView(id="snapshot")
        yield PtzBar(id="ptz")

    @property
    def snapshot(self) -> SnapshotView:
        return self.query_one("#snapshot", SnapshotView)

    @property
    def ptz(self) -> PtzBar:
        return self.query_one("#ptz", PtzBar)

    def on_mount(self) -> None:
        self.snapshot.show_loading()
        self.refresh_snapshot()
        self.run_worker(self._load_ptz(), group="ptz-load", exit_on_error=False)
        self.set_interval(SNAPSHOT_REFRESH_S, self._timed_refresh, name="snapshot refresh")

    # snapshot ---------------------------------------------------------------------------

    def _timed_refresh(self) -> None:
        if self.screen.is_current:  # nobody looks at a covered screen: spare the camera
            self.refresh_snapshot()

    def refresh_snapshot(self) -> None:
        """Fetch a new snapshot unless one is on its way (a stalling camera must not pile
        up requests)."""
        if self._snapshot_busy:
            return
        self._snapshot_busy = True
        self.run_worker(self._fetch_snapshot(), group="snapshot", exit_on_error=False)

    async def _fetch_snapshot(self) -> None:
        try:
            jpeg = await self.client.camera_snapshot(self.camera_id)
            await self.snapshot.show(jpeg, self.clock(), self.tz)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # CameraActionError, or a broken hub connection
            self.snapshot.failed(_reason(exc))
        finally:
            self._snapshot_busy = False
        self.snapshots += 1

    # PTZ ----------------------------------------------------------------------------------

    async def _load_ptz(self) -> None:
        try:
            position = await self.client.ptz_status(self.camera_id)
            self.ptz.set_position(position)
            self.ptz.set_presets(await self.client.ptz_presets(self.camera_id))
        except CameraNotSupported:
            self.ptz.not_supported()
        except Exception as exc:  # unreachable now: the keys will try again
            self.ptz.failed(_reason(exc))

    def _ptz_refused(self) -> bool:
        if self.ptz.supported is False:
            self.notify(NOT_PTZ, severity="warning", timeout=3)
            return True
        return False

    def move(self, pan: float, tilt: float, zoom: float) -> None:
        """One key press: a short move burst (a newer press replaces a running one)."""
        if not self._ptz_refused():
            self.run_worker(self._move(pan, tilt, zoom), group="ptz", exclusive=True,
                            exit_on_error=False)

    async def _move(self, pan: float, tilt: float, zoom: float) -> None:
        await self._ptz_call(self.client.ptz_move(self.camera_id, pan, tilt, zoom))

    def goto_preset(self, number: int) -> None:
        """Go to the `number`th preset (1-based, as the PTZ line lists them)."""
        if self._ptz_refused():
            return
        presets = self.ptz.presets
        if not 1 <= number <= len(presets):
            self.notify(f"no preset {number}", severity="warning", timeout=3)
            return
        self.run_worker(self._goto(presets[number - 1].token), group="ptz", exclusive=True,
                        exit_on_error=False)

    async def _goto(self, token: str) -> None:
        if not await self._ptz_call(self.client.ptz_goto_preset(self.camera_id, token)):
            return
        waited = 0.0
        while waited < PRESET_POLL_LIMIT_S:
            await asyncio.sleep(PRESET_POLL_S)
            waited += PRESET_POLL_S
            if not await self._ptz_call(self.client.ptz_status(self.camera_id)):
                return
            if self.ptz.position is not None and not self.ptz.position.moving:
                return

    async def _ptz_call(self, call: Awaitable[object]) -> bool:
        """Await a PTZ call of the client; show the position it returns; False on error."""
        try:
            result = await call
        except CameraNotSupported as exc:  # no PTZ, or not this move: the hub says which
            self.notify(_reason(exc), severity="warning", timeout=4)
            return False
        except CameraActionError as exc:
            self.notify(_reason(exc), title="PTZ", severity="error", timeout=6)
            return False
        except Exception as exc:  # a broken hub connection
            self.notify(f"PTZ: {_reason(exc)}", title="hub error", severity="error", timeout=6)
            return False
        if isinstance(result, PtzPosition):
            self.ptz.set_position(result)
        return True

    # reboot --------------------------------------------------------------------------------

    def reboot(self, actor: str) -> None:
        """Reboot the camera (the screen asked for confirmation first)."""
        self.run_worker(self._reboot(actor), group="reboot", exit_on_error=False)

    async def _reboot(self, actor: str) -> None:
        try:
            message = await self.client.reboot_camera(self.camera_id, actor)
        except Exception as exc:  # CameraActionError, or a broken hub connection
            self.notify(f"reboot failed: {_reason(exc)}", severity="error", timeout=8)
            return
        self.notify(f"reboot: {message or 'requested'}", title="camera reboots", timeout=8)
        self.snapshot.failed("camera rebooting")
