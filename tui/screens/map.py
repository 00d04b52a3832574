"""The city map: ring road, cameras as dots, patrol cars as labelled markers, live.

The canvas is a `BrailleCanvas`; beside it (wide terminals) or below it (80x24) the
list of vehicles with fix state, speed and the age of the last fix. Updates arrive on
the app's tick: vehicles that changed are patched into the list and the scene is
rebuilt once; ages are refreshed at most once a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from hub.alpr_model import Alert, AlertState
from hub.model import CameraStatus, FixState, VehicleStatus
from tui.app_of import app_of
from tui.format import (
    FIX_STYLE,
    FIX_SYMBOL,
    STATE_STYLE,
    age_label,
    fix_text,
    speed_label,
)
from tui.geo import HASSELT_R70, HASSELT_RADIALS, BBox, LatLon
from tui.widgets.braille import BrailleCanvas, Dot, Marker, Polyline, Scene

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# How much of each vehicle's past is drawn behind it, and at most how many points.
TRAIL_WINDOW = timedelta(minutes=15)
TRAIL_POINTS = 900
# Ages ("last fix 3.2 s") tick without any change from the hub: redraw them this often.
AGE_REFRESH_S = 1.0

_ORDER = (FixState.FIX, FixState.NO_FIX, FixState.STALE, FixState.NO_DEVICE)


def map_title(vehicles: Iterable[VehicleStatus], cameras: int) -> Text:
    """'Map  4 vehicles  ● 1 fix  ○ 1 no fix  ◌ 1 stale  ✘ 1 no device  · 12 cameras'."""
    statuses = list(vehicles)
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append("Map", style="bold")
    text.append(f"  {len(statuses)} vehicles ")
    for state in _ORDER:
        count = sum(1 for s in statuses if s.state is state)
        text.append(f" {FIX_SYMBOL[state]} {count} {state.value}", style=FIX_STYLE[state])
    text.append(f"  · {cameras} cameras", style="dim")
    return text


# Hits still waiting for an operator are on the map; handled ones are not.
OPEN_ALERT_STATES = frozenset({AlertState.NEW, AlertState.ACKNOWLEDGED})


def build_scene(
    vehicles: Iterable[VehicleStatus],
    trails: dict[str, list[LatLon]],
    cameras: Iterable[CameraStatus],
    hits: Iterable[Alert] = (),
) -> Scene:
    """Everything the canvas shows, in geographic coordinates; open hotlist hits are
    drawn where their read was taken (a patrol car's read: where its GPS put it)."""
    lines: list[Polyline] = [Polyline(HASSELT_R70, "grey50", 1)]
    lines += [Polyline(road, "grey35", 1) for road in HASSELT_RADIALS]
    extent: list[LatLon] = list(HASSELT_R70)
    for points in trails.values():
        if len(points) > 1:
            lines.append(Polyline(tuple(points), "blue", 2))
            extent += points
    dots: list[Dot] = []
    for cam in cameras:
        if cam.config.lat is not None and cam.config.lon is not None:
            dots.append(Dot(cam.config.lat, cam.config.lon,
                            STATE_STYLE.get(cam.state, ""), 3))
            extent.append((cam.config.lat, cam.config.lon))
    markers: list[Marker] = []
    for v in vehicles:
        if v.position is None:
            continue  # never had a fix: in the list only
        style = "bold reverse green" if v.state is FixState.FIX else FIX_STYLE[v.state]
        markers.append(
            Marker(v.position.lat, v.position.lon, FIX_SYMBOL[v.state], v.config.name, style)
        )
        extent.append((v.position.lat, v.position.lon))
    for alert in hits:
        read = alert.read
        if alert.state in OPEN_ALERT_STATES and read.lat is not None and read.lon is not None:
            markers.append(Marker(read.lat, read.lon, "!", read.plate, "bold reverse red"))
            extent.append((read.lat, read.lon))
    return Scene(BBox.around(extent), tuple(lines), tuple(dots), tuple(markers))


class MapScreen(Screen[None]):
    """Patrol cars and cameras on a map of the city; Esc or q goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self) -> None:
        super().__init__(id="map-screen")
        self.tracks_loaded = False
        self._ages_at: datetime | None = None

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        yield Static(id="map-title")
        with Container(id="map-body"):
            yield BrailleCanvas(id="map-canvas")
            yield DataTable[Text](id="vehicles", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def canvas(self) -> BrailleCanvas:
        return self.query_one("#map-canvas", BrailleCanvas)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#vehicles", DataTable)

    def on_mount(self) -> None:
        self.query_one("#map-body").border_title = "Hasselt"
        table = self.table
        table.add_column("Vehicle", key="name")
        table.add_column("Fix", key="fix")
        table.add_column("Speed", key="speed")
        table.add_column("Last fix", key="age")
        for status in self.capp.vehicles.values():
            table.add_row(*self._cells(status), key=status.id)
        self.redraw()
        self.run_worker(self._load_tracks(), group="tracks", exclusive=True)

    async def _load_tracks(self) -> None:
        await self.capp.load_trails(self.capp.clock() - TRAIL_WINDOW)
        self.tracks_loaded = True
        self.redraw()

    # updates ---------------------------------------------------------------------------

    def _cells(self, status: VehicleStatus) -> tuple[Text, Text, Text, Text]:
        age = status.fix_age_s(self.capp.clock())
        return (
            Text(status.config.name, no_wrap=True, overflow="ellipsis", end=""),
            fix_text(status.state),
            Text(speed_label(status), justify="right", no_wrap=True, end=""),
            Text(age_label(age), justify="right", no_wrap=True, end=""),
        )

    def apply_vehicles(self, vehicle_ids: Iterable[str]) -> None:
        """Patch the rows of changed vehicles and redraw the map once."""
        table = self.table
        keys = {row.value for row in table.rows}
        for vid in vehicle_ids:
            status = self.capp.vehicles.get(vid)
            if status is None:
                continue
            cells = self._cells(status)
            if vid in keys:
                for column, cell in zip(("name", "fix", "speed", "age"), cells, strict=True):
                    table.update_cell(vid, column, cell)
            else:
                table.add_row(*cells, key=vid)
        self.redraw()

    def refresh_ages(self, force: bool = False) -> None:
        """Once a second: the 'last fix' column grows without any message from the hub."""
        now = self.capp.clock()
        if not force and self._ages_at is not None:
            if (now - self._ages_at).total_seconds() < AGE_REFRESH_S:
                return
        self._ages_at = now
        table = self.table
        for row in table.rows:
            status = self.capp.vehicles.get(str(row.value))
            if status is not None:
                age = age_label(status.fix_age_s(now))
                table.update_cell(row, "age", Text(age, justify="right", no_wrap=True, end=""))

    def redraw(self) -> None:
        capp = self.capp
        self.query_one("#map-title", Static).update(
            map_title(capp.vehicles.values(), len(capp.statuses))
        )
        trails = {vid: [(p.lat, p.lon) for p in trail] for vid, trail in capp.trails.items()}
        self.canvas.show(build_scene(capp.vehicles.values(), trails, capp.statuses.values(),
                                     capp.alerts.values()))

    def on_screen_resume(self) -> None:
        # Hidden screens are not updated; catch up once when shown again.
        self.apply_vehicles(list(self.capp.vehicles))
        self.refresh_ages(force=True)

    def action_back(self) -> None:
        self.dismiss()

