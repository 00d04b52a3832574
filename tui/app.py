"""citywatch TUI: the cameras of a hub, live, through the `HubClient` interface only."""

from __future__ import annotations

import asyncio
import gc
import getpass
import importlib
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.screen import Screen

from hub.alpr_model import Alert
from hub.errors import ApiForbidden
from hub.model import CameraStatus, Site, TrackPoint, VehicleStatus
from tui.alert_feed import AlertFeed
from tui.commands import ActionCommands, CameraCommands
from tui.driver import PromptEscapeDriver
from tui.feeds import follow_feed
from tui.history import TABLE_CELLS, TABLE_SPAN, RecentStates
from tui.idle_gc import GC_CHECK_S, IdleCollector
from tui.link_indicator import RemoteLinkIndicator
from tui.navigation import DARK_THEME, HOMES, OVERVIEW_SCREEN, ScreenNavigation
from tui.screens.cameras import CamerasScreen
from tui.screens.map import TRAIL_POINTS, MapScreen
from tui.screens.overview import OverviewScreen
from tui.widgets.alpr_text import URGENT_PRIORITY
from tui.widgets.overview_toasts import HitToaster

if TYPE_CHECKING:
    from hub.client import HubClient
    from tui.screens.detail import CameraDetailScreen

# The camera detail pulls in the ONVIF and RTSP drivers (through hub.client): ~1 s of
# imports, a third of the start-up. It is imported in a thread after the first screen.
DETAIL_MODULE = "tui.screens.detail"
# The reads search key on the main screen: `s` there already sorts the cameras.
SEARCH_KEY = "f"


def detail_screen(screen: Screen[None]) -> CameraDetailScreen | None:
    """`screen` if it is a camera detail; no such screen exists before its module."""
    module = sys.modules.get(DETAIL_MODULE)
    if module is not None and isinstance(screen, module.CameraDetailScreen):
        return cast("CameraDetailScreen", screen)
    return None


def default_operator() -> str:
    """The login name of whoever runs the TUI: the actor of their alert transitions."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (some containers)
        return "unknown operator"


class CitywatchApp(AlertFeed, ScreenNavigation, RemoteLinkIndicator):
    """The overview (home), cameras table, camera detail and ALPR screens over any
    `HubClient`.

    Changes from `client.changes()` are consumed by one long-lived worker which only
    records the newest status and marks the camera dirty; a timer applies the dirty
    cameras every `tick` seconds inside one `batch_update()`.
    """

    CSS_PATH = "app.tcss"
    # Ctrl+P: cameras by a few letters of name or street, every screen and action by name,
    # searches and wanted plates by the typed text (tui.commands).
    COMMANDS = App.COMMANDS | {CameraCommands, ActionCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        # a, f, w, v: on the overview and the cameras screen only (check_action): elsewhere
        # the keys mean other things.
        Binding("a", "open_alerts", "Alerts"),
        # Not in the footer: 80 columns hold no more keys; the help lists it.
        Binding(SEARCH_KEY, "open_reads", "Reads", show=False),
        Binding("w", "open_hotlists", "Wanted"),
        Binding("v", "open_wall", "Wall"),
        # Anywhere (not while typing: an Input takes printable keys first).
        Binding("A", "ack_newest_alert", "Ack newest", show=False),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        # Last in line: a screen's own Esc (clear a filter, close a dialog) comes first.
        Binding("escape", "go_back", "Back", show=False),
    ]

    def __init__(
        self,
        client: HubClient,
        *,
        title: str = "citywatch",
        tz: tzinfo | None = None,
        tick: float = 0.5,
        clock: Callable[[], datetime] | None = None,
        operator: str | None = None,
        bell: bool = True,
        home: str = OVERVIEW_SCREEN,
    ) -> None:
        super().__init__()
        if home not in HOMES:
            raise ValueError(f"home must be one of {', '.join(HOMES)}, not {home!r}")
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.client = client
        self.title = title
        self.tz = tz  # None: the local zone of this machine
        self.tick = tick
        self.theme = DARK_THEME
        self.sites: list[Site] = []
        self.statuses: dict[str, CameraStatus] = {}
        self.dirty: set[str] = set()
        # Cameras changed while the cameras screen was covered: patching it then would
        # repaint the screen on top (its summary's layout refresh), ~20 KB each tick.
        self.covered_dirty: set[str] = set()
        self.ticks = 0
        self._site_names: dict[str, str] = {}
        self._changes: AsyncIterator[CameraStatus] | None = None
        self.recent = RecentStates()  # states seen lately, for the "last hour" strips
        self._strip_bucket: int | None = None
        # Vehicles: newest status, dirty ids, and the recent trail of each (for the map).
        self.vehicles: dict[str, VehicleStatus] = {}
        self.dirty_vehicles: set[str] = set()
        self.trails: dict[str, deque[TrackPoint]] = {}
        self._vehicle_changes: AsyncIterator[VehicleStatus] | None = None
        # ALPR: who is at the keyboard (audited with every transition), the alerts.
        self.operator = operator or default_operator()
        self.bell_alerts = bell  # ring the terminal bell for new urgent alerts
        self.bell_priority = URGENT_PRIORITY
        self.alerts: dict[int, Alert] = {}
        self.dirty_alerts: set[int] = set()
        self.alerts_loaded = False
        self._alert_changes: AsyncIterator[Alert] | None = None
        self._acking: set[int] = set()  # alerts `A` asked the hub to acknowledge
        self.hit_toasts = HitToaster(self._toast, self.camera_name)
        # A remote hub's link: the base title, and what the indicator says now.
        self.base_title = title
        self.link_text = ""
        # The screen the app starts on and Esc returns to: "overview" or "cameras".
        self.home = home
        self.idle_gc = IdleCollector()

    # start-up --------------------------------------------------------------------------

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for this terminal; on Linux/macOS the one that notices a
        lone Esc sooner (tui/driver.py). TEXTUAL_DRIVER still picks any other."""
        driver = super().get_driver_class()
        if driver is LinuxDriver:
            return PromptEscapeDriver
        return driver

    def get_default_screen(self) -> Screen[None]:
        return OverviewScreen() if self.home == OVERVIEW_SCREEN else CamerasScreen()

    def on_load(self) -> None:
        # Subscribe before reading the snapshot so that no change slips in between.
        self._changes = self._subscribe()
        self._load_snapshot()
        self.dirty.clear()  # the cameras screen starts from this snapshot
        self._vehicle_changes = self._subscribe_vehicles()
        self._load_vehicles()
        self.dirty_vehicles.clear()
        self._alert_changes = self._subscribe_alerts()

    def on_mount(self) -> None:
        self.set_interval(self.tick, self.apply_changes, name="apply changes")
        self.call_after_refresh(self._freeze_startup_objects)
        self.run_worker(
            self._follow_changes(), name="changes", group="changes", exit_on_error=False
        )
        self.run_worker(
            self._follow_vehicles(), name="vehicles", group="vehicles", exit_on_error=False
        )
        self.run_worker(self._follow_alerts(), name="alerts", group="alerts", exit_on_error=False)
        self.run_worker(self._follow_removals(), name="removals", group="removals",
                        exit_on_error=False)
        self.run_worker(
            lambda: importlib.import_module(DETAIL_MODULE),
            name="imports", thread=True, exit_on_error=False,
        )
        self.start_link_indicator()

    def _freeze_startup_objects(self) -> None:
        """Keep what start-up built (a thousand statuses, their rows) out of every later
        full garbage collection: with them, one took 360-500 ms, landing on whichever key
        allocated most (the alert queue's `a`); without them 75-200 ms (bench.tui_scale).
        From here on full collections wait for a pause in the keys (tui/idle_gc.py)."""
        gc.collect()
        gc.freeze()
        self.idle_gc.start()
        self.set_interval(GC_CHECK_S, self.idle_gc.check, name="idle gc")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.idle_gc.key_pressed()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self.idle_gc.stop()
        gc.unfreeze()  # collectable again once the app is gone (tests run many apps)

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
        now = self.clock()
        for status in cameras:
            if self.statuses.get(status.id) != status:
                self._take(status, now)
        listed = {status.id for status in cameras}
        for camera_id in [c for c in self.statuses if c not in listed]:
            self._drop(camera_id)  # left the hub while we were away (a revoked grant)
        return True

    def _drop(self, camera_id: str) -> None:
        """Forget a camera that left the hub; the cameras screen removes its row."""
        if self.statuses.pop(camera_id, None) is not None:
            self.dirty.add(camera_id)

    def _take(self, status: CameraStatus, now: datetime) -> None:
        self.statuses[status.id] = status
        self.recent.observe(status, now)
        self.dirty.add(status.id)

    def site_name(self, site_id: str) -> str:
        return self._site_names.get(site_id, "")

    # live updates ----------------------------------------------------------------------

    async def _follow_changes(self) -> None:
        """The one long-lived consumer of `client.changes()`."""
        changes, self._changes = self._changes, None

        async def catch_up() -> None:
            self._load_snapshot()  # what we missed while away

        if await follow_feed(self.report_error, "changes", changes, self._subscribe, catch_up,
                          lambda status: self._take(status, self.clock())):
            self.notify("The hub stopped sending updates.", severity="warning")

    async def _follow_removals(self) -> None:
        """Cameras that leave the hub (a partner revoked its grant) leave the screens."""
        try:
            removals = self.client.camera_removals()
        except Exception as exc:  # the UI boundary: a client without removals
            self.report_error("subscribing to camera removals", exc)
            return
        try:
            async for camera_id in removals:
                name = self.statuses[camera_id].config.name if camera_id in self.statuses else ""
                self._drop(camera_id)
                if name:
                    self.notify(f"{name} is no longer shared with this hub.", timeout=6)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.report_error("following camera removals", exc)

    async def _follow_vehicles(self) -> None:
        """The one long-lived consumer of `client.vehicle_changes()`; when the hub ends
        it, the camera feed says so already."""
        changes, self._vehicle_changes = self._vehicle_changes, None

        async def catch_up() -> None:
            self._load_vehicles()

        await follow_feed(self.report_error, "vehicles", changes, self._subscribe_vehicles,
                          catch_up, self._take_vehicle)

    def apply_changes(self) -> None:
        """Timer tick: patch the dirty cameras and vehicles into the screens showing them."""
        if not self.screen_stack:
            return  # the app is closing: a last tick can come after the screens are gone
        self.ticks += 1
        self.hit_toasts.flush()
        self._apply_vehicles()
        self._apply_alerts()
        self._shift_strips()
        if not self.dirty:
            return
        dirty, self.dirty = self.dirty, set()
        top = self.screen
        cameras = self.cameras_screen()
        if cameras is not None and cameras is not top:
            # Covered or kept off the stack: patched when shown again (on_screen_resume).
            self.covered_dirty |= dirty
        try:
            with self.batch_update():
                for screen in self.screen_stack:
                    on_top = screen is top
                    # Hidden cameras/overview screens catch up when shown again.
                    if isinstance(screen, CamerasScreen):
                        if on_top:
                            screen.apply_changes(dirty)
                    elif isinstance(screen, OverviewScreen):
                        if on_top:
                            screen.apply_changes(dirty)
                    elif (detail := detail_screen(screen)) and detail.camera_id in dirty:
                        status = self.statuses.get(detail.camera_id)
                        if status is not None:
                            detail.update_status(status)
                    elif screen is self.screen and isinstance(screen, MapScreen):
                        screen.redraw()  # camera dots change colour
        except Exception as exc:  # never let one bad status kill the UI
            self.report_error("applying changes", exc)

    def _shift_strips(self) -> None:
        """When the "last hour" strips move by one cell, redraw those that changed lately.

        A camera without a change in the window shows the same strip either way.
        """
        now = self.clock()
        bucket_s = (TABLE_SPAN / TABLE_CELLS).total_seconds()
        bucket = int(now.timestamp() // bucket_s)
        if bucket == self._strip_bucket:
            return
        first = self._strip_bucket is None
        self._strip_bucket = bucket
        if not first:
            since = now - TABLE_SPAN - timedelta(seconds=bucket_s)
            self.dirty.update(self.recent.changed_since(since))

    def on_camera_detail_screen_history_loaded(
        self, message: CameraDetailScreen.HistoryLoaded
    ) -> None:
        """The detail read a camera's history: its strip in the table can use it too."""
        self.recent.seed(message.camera_id, message.transitions)
        self.dirty.add(message.camera_id)

    # vehicles --------------------------------------------------------------------------

    def _subscribe_vehicles(self) -> AsyncIterator[VehicleStatus] | None:
        try:
            return self.client.vehicle_changes()
        except Exception as exc:
            self.report_error("subscribing to vehicle changes", exc)
            return None

    def _load_vehicles(self) -> bool:
        try:
            vehicles = list(self.client.vehicles())
        except Exception as exc:
            self.report_error("loading vehicles", exc)
            return False
        for status in vehicles:
            self._take_vehicle(status)
        return True

    def _take_vehicle(self, status: VehicleStatus) -> None:
        if self.vehicles.get(status.id) == status:
            return
        self.vehicles[status.id] = status
        self.dirty_vehicles.add(status.id)
        pos = status.position
        if pos is not None:
            trail = self.trails.setdefault(status.id, deque(maxlen=TRAIL_POINTS))
            if not trail or pos.at > trail[-1].at:
                trail.append(pos)

    async def load_trails(self, since: datetime) -> None:
        """Fill the vehicles' trails from the hub's track history (the map asks once)."""
        for vehicle_id in list(self.vehicles):
            try:
                points = await self.client.track(vehicle_id, since)
            except Exception as exc:
                self.report_error(f"track of {vehicle_id}", exc)
                continue
            trail = self.trails.get(vehicle_id, deque())
            last = points[-1].at if points else None
            newer = [p for p in trail if last is None or p.at > last]
            self.trails[vehicle_id] = deque([*points, *newer], maxlen=TRAIL_POINTS)

    def _apply_vehicles(self) -> None:
        screen = self.screen
        if isinstance(screen, OverviewScreen):
            changed = bool(self.dirty_vehicles)
            self.dirty_vehicles.clear()  # the map starts from the statuses when opened
            try:
                with self.batch_update():
                    if changed:
                        screen.apply_vehicles()
                    screen.refresh_ages()
            except Exception as exc:
                self.report_error("applying vehicle changes", exc)
            return
        if not isinstance(screen, MapScreen):
            return  # hidden screens are not drawn; the map catches up when shown
        dirty, self.dirty_vehicles = self.dirty_vehicles, set()
        try:
            with self.batch_update():
                if dirty:
                    screen.apply_vehicles(dirty)
                screen.refresh_ages()
        except Exception as exc:
            self.report_error("applying vehicle changes", exc)

    def camera_name(self, camera_id: str) -> str:
        """A camera's name for the ALPR screens; its id when the hub does not know it."""
        status = self.statuses.get(camera_id)
        return status.config.name if status is not None else camera_id

    # errors ----------------------------------------------------------------------------

    def report_error(self, what: str, exc: BaseException) -> None:
        """An error from the hub is a notification, never a traceback."""
        message = str(exc) or type(exc).__name__
        self.log.error(f"{what}: {exc!r}")
        if isinstance(exc, ApiForbidden):  # the role, not a fault: say so calmly
            self.notify(f"{what}: not allowed for this token ({message})",
                        title="not allowed", severity="warning", timeout=8)
            return
        self.notify(f"{what}: {message}", title="hub error", severity="error", timeout=8)
