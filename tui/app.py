"""citywatch TUI: the cameras of a hub, live, through the `HubClient` interface only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import tzinfo
from typing import ClassVar

from textual.app import App
from textual.binding import BindingType
from textual.screen import Screen

from hub.client import HubClient
from hub.model import CameraStatus, Site
from tui.screens.cameras import CamerasScreen
from tui.screens.detail import CameraDetailScreen
from tui.screens.help import HelpScreen

# Waits before subscribing again after the change stream failed.
RESUBSCRIBE_DELAYS = (1.0, 5.0, 10.0, 60.0)


class CitywatchApp(App[None]):
    """Cameras table + camera detail over any `HubClient`.

    Changes from `client.changes()` are consumed by one long-lived worker which only
    records the newest status and marks the camera dirty; a timer applies the dirty
    cameras every `tick` seconds inside one `batch_update()`.
    """

    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(
        self,
        client: HubClient,
        *,
        title: str = "citywatch",
        tz: tzinfo | None = None,
        tick: float = 0.5,
    ) -> None:
        super().__init__()
        self.client = client
        self.title = title
        self.tz = tz  # None: the local zone of this machine
        self.tick = tick
        self.theme = "textual-dark"
        self.sites: list[Site] = []
        self.statuses: dict[str, CameraStatus] = {}
        self.dirty: set[str] = set()
        self.ticks = 0
        self._site_names: dict[str, str] = {}
        self._changes: AsyncIterator[CameraStatus] | None = None

    # start-up --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return CamerasScreen()

    def on_load(self) -> None:
        # Subscribe before reading the snapshot so that no change slips in between.
        self._changes = self._subscribe()
        self._load_snapshot()
        self.dirty.clear()  # the cameras screen starts from this snapshot

    def on_mount(self) -> None:
        self.set_interval(self.tick, self.apply_changes, name="apply changes")
        self.run_worker(
            self._follow_changes(), name="changes", group="changes", exit_on_error=False
        )

    def _subscribe(self) -> AsyncIterator[CameraStatus] | None:
        try:
            return self.client.changes()
        except Exception as exc:
            self.report_error("subscribing to changes", exc)
            return None

    def _load_snapshot(self) -> bool:
        """(Re)read sites and cameras; cameras that differ are marked dirty."""
        try:
            sites = list(self.client.sites())
            cameras = list(self.client.cameras())
        except Exception as exc:
            self.report_error("loading cameras", exc)
            return False
        self.sites = sites
        self._site_names = {site.id: site.name for site in sites}
        for status in cameras:
            if self.statuses.get(status.id) != status:
                self.statuses[status.id] = status
                self.dirty.add(status.id)
        return True

    def site_name(self, site_id: str) -> str:
        return self._site_names.get(site_id, "")

    # live updates ----------------------------------------------------------------------

    async def _follow_changes(self) -> None:
        """The one long-lived consumer of `client.changes()`; resubscribes on errors."""
        failures = 0
        changes, self._changes = self._changes, None
        while True:
            if changes is None:
                changes = self._subscribe()
                if changes is not None and failures:
                    self._load_snapshot()  # catch up on what we missed while away
            if changes is not None:
                try:
                    async for status in changes:
                        failures = 0
                        self.statuses[status.id] = status
                        self.dirty.add(status.id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.report_error("following changes", exc)
                else:
                    self.notify("The hub stopped sending updates.", severity="warning")
                    return
            changes = None
            delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    def apply_changes(self) -> None:
        """Timer tick: patch the dirty cameras into whatever screens show them."""
        self.ticks += 1
        if not self.dirty:
            return
        dirty, self.dirty = self.dirty, set()
        try:
            with self.batch_update():
                for screen in self.screen_stack:
                    if isinstance(screen, CamerasScreen):
                        screen.apply_changes(dirty)
                    elif isinstance(screen, CameraDetailScreen) and screen.camera_id in dirty:
                        status = self.statuses.get(screen.camera_id)
                        if status is not None:
                            screen.update_status(status)
        except Exception as exc:  # never let one bad status kill the UI
            self.report_error("applying changes", exc)

    # navigation ------------------------------------------------------------------------

    def open_camera(self, camera_id: str) -> None:
        status = self.statuses.get(camera_id)
        if status is None:
            try:
                status = self.client.camera(camera_id)
            except Exception as exc:
                self.report_error(f"camera {camera_id}", exc)
                return
        if status is None:
            self.notify(f"Camera {camera_id} is unknown to the hub.", severity="warning")
            return
        self.push_screen(
            CameraDetailScreen(status, site_name=self.site_name(status.config.site), tz=self.tz)
        )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # errors ----------------------------------------------------------------------------

    def report_error(self, what: str, exc: BaseException) -> None:
        """An error from the hub is a notification, never a traceback."""
        message = str(exc) or type(exc).__name__
        self.log.error(f"{what}: {exc!r}")
        self.notify(f"{what}: {message}", title="hub error", severity="error", timeout=8)
