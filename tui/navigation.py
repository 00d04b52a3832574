"""Moving between the app's screens: which keys apply where, the screens that are made
once and kept, and Esc one screen back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from textual.app import App
from textual.screen import Screen
from textual.widgets import Input

from hub.model import CameraStatus
from tui.screens.alerts import AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.screens.help import HelpScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.map import MapScreen
from tui.screens.overview import OverviewScreen
from tui.screens.reads import ReadsScreen

if TYPE_CHECKING:
    from hub.client import HubClient

# Names of the installed (kept) screens; the overview and the cameras are also the homes.
ALERTS_SCREEN = "alerts"
CAMERAS_SCREEN = "cameras"
OVERVIEW_SCREEN = "overview"
HOMES = (OVERVIEW_SCREEN, CAMERAS_SCREEN)
# The two themes ctrl+t switches between (app.tcss uses theme variables only).
DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"
# Keys of the home screens only: elsewhere a, f, w and v mean other things.
HOME_ACTIONS = frozenset({"open_alerts", "open_reads", "open_hotlists", "open_wall"})


class ScreenNavigation(App[None]):
    """The screen-changing actions of `CitywatchApp` (its keys, the palette's commands)."""

    # Set by CitywatchApp.
    client: HubClient
    statuses: dict[str, CameraStatus]
    dirty_vehicles: set[str]
    tz: tzinfo | None
    clock: Callable[[], datetime]

    if TYPE_CHECKING:
        def site_name(self, site_id: str) -> str: ...
        def report_error(self, what: str, exc: BaseException) -> None: ...

    def action_open_map(self) -> None:
        if not isinstance(self.screen, MapScreen):
            self.dirty_vehicles.clear()  # the map starts from the current statuses
            self.push_screen(MapScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in HOME_ACTIONS:
            return isinstance(self.screen, CamerasScreen | OverviewScreen)
        if action == "ack_newest_alert":
            return not isinstance(self.focused, Input)  # typing an A is no acknowledgement
        if action == "go_back":
            return len(self.screen_stack) > 1
        return True

    def cameras_screen(self) -> CamerasScreen | None:
        """The cameras screen, if one was made: the home, or installed by `c`."""
        if self.is_screen_installed(CAMERAS_SCREEN):
            screen = self.get_screen(CAMERAS_SCREEN)
            return screen if isinstance(screen, CamerasScreen) else None
        if self.screen_stack and isinstance(self.screen_stack[0], CamerasScreen):
            return self.screen_stack[0]
        return None

    def _back_to(self, kind: type[Screen[None]]) -> bool:
        """Pop screens until one of `kind` is on top; False if none is on the stack."""
        if not any(isinstance(screen, kind) for screen in self.screen_stack):
            return False
        while len(self.screen_stack) > 1 and not isinstance(self.screen, kind):
            self.pop_screen()
        return True

    def action_open_overview(self) -> None:
        if isinstance(self.screen, OverviewScreen) or self._back_to(OverviewScreen):
            return
        # Started on the cameras screen (home="cameras"): the overview goes on top of it.
        if not self.is_screen_installed(OVERVIEW_SCREEN):
            self.install_screen(OverviewScreen(), OVERVIEW_SCREEN)
        self.push_screen(OVERVIEW_SCREEN)

    def action_open_cameras(self) -> None:
        if isinstance(self.screen, CamerasScreen) or self._back_to(CamerasScreen):
            return
        # Made once and kept, like the alert queue: 1,000 rows are not built per `c`.
        if not self.is_screen_installed(CAMERAS_SCREEN):
            self.install_screen(CamerasScreen(), CAMERAS_SCREEN)
        self.push_screen(CAMERAS_SCREEN)

    def action_go_back(self) -> None:
        """Esc where the screen has no Esc of its own: one screen back, down to the home."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.theme == DARK_THEME else DARK_THEME

    def action_open_alerts(self) -> None:
        if isinstance(self.screen, AlertsScreen):
            return
        # Made once and kept (installed): building the queue of up to ALERT_KEEP alerts
        # took ~1 s per `a` at city scale; a kept screen only catches up on resume.
        if not self.is_screen_installed(ALERTS_SCREEN):
            self.install_screen(AlertsScreen(), ALERTS_SCREEN)
        self.push_screen(ALERTS_SCREEN)

    def action_open_wall(self) -> None:
        """The camera wall: the cameras of the cameras screen's filter when one is set,
        else those behind the latest alerts."""
        from tui.screens.wall import ALERTS, WallScreen  # av/numpy-free, but rarely used

        if isinstance(self.screen, WallScreen):
            return
        cameras = self.cameras_screen()
        source = cameras.filter_text.strip() if cameras is not None else ""
        self.push_screen(WallScreen(source=source or ALERTS))

    def action_open_reads(self) -> None:
        if not isinstance(self.screen, ReadsScreen):
            self.push_screen(ReadsScreen())

    def action_open_hotlists(self) -> None:
        if not isinstance(self.screen, HotlistsScreen):
            self.push_screen(HotlistsScreen())

    def open_camera(self, camera_id: str) -> None:
        from tui.screens.detail import CameraDetailScreen  # usually imported by now

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
            CameraDetailScreen(
                status,
                site_name=self.site_name(status.config.site),
                tz=self.tz,
                clock=self.clock,
            )
        )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
