"""citywatch TUI: the cameras of a hub, live, through the `HubClient` interface only."""

from __future__ import annotations

import asyncio
import gc
import getpass
import importlib
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar, cast

from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input

from hub.alpr_model import Alert, AlertState, RejectReason
from hub.errors import AlertTransitionError, ApiForbidden
from hub.model import CameraStatus, Site, TrackPoint, VehicleStatus
from tui.commands import ActionCommands, CameraCommands
from tui.history import TABLE_CELLS, TABLE_SPAN, RecentStates
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.screens.help import HelpScreen
from tui.screens.hotlists import HotlistsScreen
from tui.screens.map import TRAIL_POINTS, MapScreen
from tui.screens.overview import OverviewScreen
from tui.screens.reads import ReadsScreen
from tui.widgets.alpr_text import URGENT_PRIORITY, list_label
from tui.widgets.overview_toasts import TOAST_TIMEOUT_S, HitToaster

if TYPE_CHECKING:
    from hub.client import HubClient
    from tui.screens.detail import CameraDetailScreen

T = TypeVar("T")

# Waits before subscribing again after the change stream failed.
RESUBSCRIBE_DELAYS = (1.0, 5.0, 10.0, 60.0)
# Alerts read when the TUI starts (the hub sorts them, most urgent first).
ALERT_LIMIT = 200
# Alerts kept in memory; beyond this the oldest handled ones are forgotten (the hub
# keeps them all), so that a long shift cannot grow the TUI without bound.
ALERT_KEEP = 2000
# The camera detail pulls in the ONVIF and RTSP drivers (through hub.client): ~1 s of
# imports, a third of the start-up. It is imported in a thread after the first screen.
DETAIL_MODULE = "tui.screens.detail"
# The reads search key on the main screen: `s` there already sorts the cameras.
SEARCH_KEY = "f"
# The alert queue is patched every this many ticks (1 s at the default tick). Patches are
# cheap (changed cells only; new alerts are held under a "N new" banner), so this bounds
# the title/banner repaints. The operator's own triage is shown at once.
ALERT_APPLY_EVERY = 2
# Name of the installed (kept) alert queue screen.
ALERTS_SCREEN = "alerts"
# Names of the installed home screens; `home=` picks the one the app starts on.
CAMERAS_SCREEN = "cameras"
OVERVIEW_SCREEN = "overview"
HOMES = (OVERVIEW_SCREEN, CAMERAS_SCREEN)
# The two themes ctrl+t switches between (app.tcss uses theme variables only).
DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"
# Alerts in these states are done with: the first to forget when over ALERT_KEEP.
HANDLED = frozenset({AlertState.ACCEPTED, AlertState.REJECTED, AlertState.CLOSED})
# While a remote hub is unreachable the countdown to the next attempt is redrawn this often.
LINK_COUNTDOWN_S = 1.0
# A lost link stays on screen until it is back (or this long): the title says it too.
LINK_LOST_NOTICE_S = 30.0


class LinkState(Protocol):
    """What the TUI reads of a remote client's link (hub.remote_client.ConnectionState)."""

    @property
    def connected(self) -> bool: ...
    @property
    def url(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def retry_at(self) -> float | None: ...


class RemoteLink(Protocol):
    """A client that talks to its hub over a network (RemoteHubClient): the TUI shows the
    state of the link. A local client has none of this."""

    def connection(self) -> LinkState: ...
    def connection_changes(self) -> AsyncIterator[LinkState]: ...


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


class CitywatchApp(App[None]):
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

    # start-up --------------------------------------------------------------------------

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
        link = self.remote_link()
        if link is not None:
            self.show_link(link.connection())
            self.run_worker(self._follow_link(link), name="link", group="link",
                            exit_on_error=False)
            self.set_interval(LINK_COUNTDOWN_S, self._count_down, name="link countdown")

    def _freeze_startup_objects(self) -> None:
        """Keep what start-up built (a thousand statuses, their rows) out of every later
        full garbage collection: with them, one took 360-500 ms, landing on whichever key
        allocated most (the alert queue's `a`); without them 75-200 ms (bench.tui_scale)."""
        gc.collect()
        gc.freeze()

    def on_unmount(self) -> None:
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

    async def _follow(
        self,
        what: str,
        first: AsyncIterator[T] | None,
        subscribe: Callable[[], AsyncIterator[T] | None],
        catch_up: Callable[[], Awaitable[object]],
        take: Callable[[T], None],
    ) -> bool:
        """Consume one feed of the hub for as long as it runs: resubscribe with backoff
        after an error and `catch_up` on what was missed meanwhile. Returns when the hub
        ends the feed (True) or never (cancelled with the app)."""
        failures = 0
        changes = first
        while True:
            if changes is None:
                changes = subscribe()
                if changes is not None and failures:
                    await catch_up()
            if changes is not None:
                try:
                    async for item in changes:
                        failures = 0
                        take(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.report_error(f"following {what}", exc)
                else:
                    return True
            changes = None
            delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _follow_changes(self) -> None:
        """The one long-lived consumer of `client.changes()`."""
        changes, self._changes = self._changes, None

        async def catch_up() -> None:
            self._load_snapshot()  # what we missed while away

        if await self._follow("changes", changes, self._subscribe, catch_up,
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

        await self._follow("vehicles", changes, self._subscribe_vehicles, catch_up,
                           self._take_vehicle)

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

    def action_open_map(self) -> None:
        if not isinstance(self.screen, MapScreen):
            self.dirty_vehicles.clear()  # the map starts from the current statuses
            self.push_screen(MapScreen())

    # the link to a remote hub ----------------------------------------------------------

    def remote_link(self) -> RemoteLink | None:
        """The client as a remote link, or None for an in-process hub."""
        client = self.client
        if hasattr(client, "connection_changes") and hasattr(client, "connection"):
            return cast(RemoteLink, client)
        return None

    async def _follow_link(self, link: RemoteLink) -> None:
        was_connected = link.connection().connected
        async for state in link.connection_changes():
            self.show_link(state)
            if was_connected and not state.connected:
                self.notify(f"Connection to {state.url} lost — reconnecting.\n"
                            f"{state.error or ''}".strip(), title="hub unreachable",
                            severity="warning", timeout=LINK_LOST_NOTICE_S)
            elif state.connected and not was_connected:
                self.notify(f"Connected to {state.url} again.", title="hub back")
            was_connected = state.connected
        self.show_link(link.connection())  # the client ended (token refused, closed)

    def _count_down(self) -> None:
        link = self.remote_link()
        if link is not None and not (state := link.connection()).connected:
            self.show_link(state)

    def show_link(self, state: LinkState) -> None:
        """The indicator: the sub-title says it in full, the title (on the cameras
        screen's summary line) with a mark."""
        if state.connected:
            self.link_text = f"connected to {state.url}"
            title = self.base_title
        else:
            wait = None
            if state.retry_at is not None:
                wait = max(0, round(state.retry_at - asyncio.get_running_loop().time()))
            retry = f" ({wait} s)" if wait is not None else ""
            self.link_text = f"hub unreachable — reconnecting{retry}"
            title = f"{self.base_title} ✘ reconnecting{retry}"
        self.sub_title = self.link_text
        if title != self.title:
            self.title = title
            screen = self.screen if self.screen_stack else None
            if isinstance(screen, CamerasScreen):
                screen.refresh_summary()
            elif isinstance(screen, OverviewScreen):
                screen.refresh_title()

    # alerts ----------------------------------------------------------------------------

    def _subscribe_alerts(self) -> AsyncIterator[Alert] | None:
        try:
            return self.client.alert_changes()
        except Exception as exc:
            self.report_error("subscribing to alerts", exc)
            return None

    async def _load_alerts(self) -> bool:
        """(Re)read the open alerts; those that differ are marked dirty."""
        try:
            alerts = await self.client.alerts(limit=ALERT_LIMIT)
        except ApiForbidden:
            self.notify("This token's role may not see alerts: the alert queue stays "
                        "empty.", title="alerts", severity="warning", timeout=8)
            self.alerts_loaded = True
            return True  # nothing to catch up on either
        except Exception as exc:
            self.report_error("loading alerts", exc)
            return False
        for alert in alerts:
            self.take_alert(alert, live=False)
        self.alerts_loaded = True
        return True

    def take_alert(self, alert: Alert, live: bool = True) -> None:
        """Record the newest version of an alert; ring for a new urgent one if asked."""
        old = self.alerts.get(alert.id)
        if old == alert or (old is not None and old.updated_at > alert.updated_at):
            return  # nothing new, or older news than what we have
        self.alerts[alert.id] = alert
        self.dirty_alerts.add(alert.id)
        if (
            live
            and old is None
            and self.bell_alerts
            and alert.state is AlertState.NEW
            and alert.priority >= self.bell_priority
        ):
            self.bell()
        if live and old is None and alert.state is AlertState.NEW:
            self.hit_toasts.add(alert)
        if len(self.alerts) > ALERT_KEEP:
            self._forget_handled()

    def _forget_handled(self) -> None:
        handled = sorted(
            (a for a in self.alerts.values() if a.state in HANDLED), key=lambda a: a.updated_at
        )
        for alert in handled[: len(self.alerts) - ALERT_KEEP]:
            del self.alerts[alert.id]
            self.dirty_alerts.discard(alert.id)

    async def _follow_alerts(self) -> None:
        """The one long-lived consumer of `client.alert_changes()`; the open alerts are
        read first (and again after a lost subscription)."""
        changes, self._alert_changes = self._alert_changes, None
        await self._load_alerts()
        await self._follow("alerts", changes, self._subscribe_alerts, self._load_alerts,
                           self.take_alert)

    def _apply_alerts(self, now: bool = False) -> None:
        """Patch changed alerts into the alert screen on top; hidden ones catch up when
        shown again (on_screen_resume), so the dirty set is simply dropped for them.
        Every ALERT_APPLY_EVERY ticks, or `now`."""
        if not self.dirty_alerts or (not now and self.ticks % ALERT_APPLY_EVERY):
            return
        dirty, self.dirty_alerts = self.dirty_alerts, set()
        screen = self.screen
        if not isinstance(screen, AlertsScreen | AlertDetailScreen | OverviewScreen):
            return
        alerts = [self.alerts[i] for i in sorted(dirty) if i in self.alerts]
        try:
            with self.batch_update():
                screen.apply_alerts(alerts)
        except Exception as exc:
            self.report_error("applying alert changes", exc)

    def transition_alert(
        self,
        alert_id: int,
        to: AlertState,
        reason: RejectReason | None = None,
        text: str = "",
    ) -> None:
        """Ask the hub to move an alert, as the operator; the answer arrives in a worker."""
        self.run_worker(
            self._transition(alert_id, to, reason, text), group="transitions", exit_on_error=False
        )

    async def _transition(
        self, alert_id: int, to: AlertState, reason: RejectReason | None, text: str
    ) -> None:
        try:
            alert = await self.client.transition_alert(
                alert_id, to, self.operator, reason=reason, text=text
            )
        except AlertTransitionError as exc:
            self.notify(str(exc), title=f"alert #{alert_id} not {to.value}", severity="warning")
            return
        except Exception as exc:
            self.report_error(f"alert #{alert_id}", exc)
            return
        finally:
            self._acking.discard(alert_id)
        self.take_alert(alert, live=False)
        self._apply_alerts(now=True)  # the operator's own key: no wait for a tick

    def camera_name(self, camera_id: str) -> str:
        """A camera's name for the ALPR screens; its id when the hub does not know it."""
        status = self.statuses.get(camera_id)
        return status.config.name if status is not None else camera_id

    # navigation ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_alerts", "open_reads", "open_hotlists", "open_wall"):
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

    def action_ack_newest_alert(self) -> None:
        """`A`, anywhere: acknowledge the newest alert nobody has looked at yet."""
        new = [a for a in self.alerts.values()
               if a.state is AlertState.NEW and a.id not in self._acking]
        if not new:
            self.notify("No new alerts.", title="acknowledge", timeout=3)
            return
        alert = max(new, key=lambda a: (a.raised_at, a.id))
        self._acking.add(alert.id)
        self.transition_alert(alert.id, AlertState.ACKNOWLEDGED)
        self.notify(f"#{alert.id} {alert.read.plate} ({list_label(alert.hit)}, "
                    f"priority {alert.priority}) acknowledged", title="acknowledge", timeout=4)

    def _toast(self, title: str, message: str, severity: SeverityLevel) -> None:
        self.notify(message, title=title, severity=severity, timeout=TOAST_TIMEOUT_S)

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
