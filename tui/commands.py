"""The command palette (ctrl+p): every action of the TUI by typing, cameras by a few letters.

Two providers for `CitywatchApp.COMMANDS`:
- `CameraCommands`: "grote" + Enter opens Grote Markt's detail (its snapshot, PTZ, history);
  "diagnose grote" runs its diagnosis. Matches name, street, site and id (commands_match.py).
- `ActionCommands`: the screens, "Add wanted plate", "Search reads for 1AB", acknowledge the
  newest alert, theme, help. A query that looks like a plate offers searching and wanting it.

Commands run the app's actions by name and are only offered when the app has them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.screen import Screen
from textual.style import Style

from tui.commands_match import CameraIndex, CameraMatch, spans
from tui.format import STATE_STYLE, STATE_SYMBOL
from tui.screens.hotlists import HotlistsScreen
from tui.screens.reads import ReadsScreen

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# Down cameras offered before anything is typed: what a technician opens the palette for.
DISCOVER_CAMERAS = 5
# Cameras offered to "diagnose <letters>": the best few; diagnosing is deliberate.
DIAGNOSE_HITS = 5
# A companion command follows its main one, just below it: "Diagnose <camera>" after the
# best camera of a query, "Add wanted plate 1AB" after "Search reads for 1AB".
JUST_BELOW = 0.99
# A command named by its leading words ("search reads 1AB", "diagnose grote") is what was
# asked for: above every fuzzy match (those score below ~60 for any sensible query).
PREFIX_SCORE = 100.0
# A query that looks like a plate offers "Search reads for" it: below every camera whose
# field holds the text (2 letters in a row score 6 at least), above scattered letters.
PLATE_SCORE = 5.0
# Any other text can still be searched for in the reads: offered last.
FALLBACK_SCORE = 0.5
# Leading words that name a command, and which of them must be present.
DIAGNOSE_WORDS = frozenset({"diagnose", "diag"})
SEARCH_WORDS = frozenset({"search", "reads", "find", "for"})
SEARCH_NEEDS = frozenset({"search", "reads", "find"})
WANTED_WORDS = frozenset({"add", "new", "wanted", "plate"})
WANTED_NEEDS = frozenset({"wanted"})
# A reads pattern or plate: letters, digits, `*`/`?` wildcards, separators; no spaces.
SEARCHABLE = re.compile(r"[A-Za-z0-9*?][A-Za-z0-9*?.\-]{1,11}")

SEARCH_HELP = "find reads by partial plate; Enter on one shows its images"
WANTED_HELP = "notify me as soon as this plate is seen; searched back at once"
DIAGNOSE_HELP = "ONVIF reachability, clock, profiles, stream probe: findings in the detail"


def citywatch(app: App[object]) -> CitywatchApp:
    from tui.app import CitywatchApp

    assert isinstance(app, CitywatchApp)
    return app


def looks_like_plate(text: str) -> bool:
    """'1AB', '1-ABC-234', '*23?': a reads pattern with a digit or a wildcard ('grote' is
    a camera more likely than a plate)."""
    return bool(SEARCHABLE.fullmatch(text)) and any(c.isdigit() or c in "*?" for c in text)


def after_words(query: str, words: frozenset[str], needs: frozenset[str]) -> str:
    """What follows the leading `words` of `query` ("search reads for 1AB" -> "1AB"), if
    one of `needs` is among them; else ""."""
    parts = query.split()
    taken = 0
    while taken < len(parts) and parts[taken].lower() in words:
        taken += 1
    if not needs & {p.lower() for p in parts[:taken]}:
        return ""
    return " ".join(parts[taken:])


async def run_app_action(app: App[object], action: str) -> None:
    """Run `action_<action>` of the app. Called directly, not through `run_action`: the
    app's check_action keeps some keys to the main screen (`a` means acknowledge in the
    alert queue), while a command chosen in the palette is meant wherever it is chosen."""
    method: Callable[[], object] | None = getattr(app, f"action_{action}", None)
    if method is None:  # offered only when present; the app changed under us
        app.notify(f"{action.replace('_', ' ')} is not available.", severity="warning")
        return
    result = method()
    if inspect.isawaitable(result):
        await result


async def search_reads(app: App[object], pattern: str) -> None:
    """The reads screen with `pattern` typed and searched."""
    screen = app.screen
    if isinstance(screen, ReadsScreen):
        screen.search_for(pattern)
    else:
        await app.push_screen(ReadsScreen(query=pattern))


async def add_wanted(app: App[object], plate: str) -> None:
    """The hotlists screen with the wanted-plate form open, `plate` filled in."""
    screen = app.screen
    if isinstance(screen, HotlistsScreen):
        await screen.open_wanted_form(plate)
    else:
        await app.push_screen(HotlistsScreen(add_plate=plate))


def _label(match: CameraMatch, style: Style, name_only: bool = False) -> Content:
    """'✘ Havermarkt · Zuivelmarkt · Stad Hasselt · cam-003', typed letters highlighted;
    '✘ Havermarkt (cam-003)' with `name_only`."""
    entry = match.entry
    label = Content(entry.label)
    for start, end in spans(match.offsets):
        label = label.stylize(style, start, end)
    if name_only:
        label = Content.assemble(label[: len(entry.name)], (f" ({entry.camera_id})", "dim"))
    symbol = Text(STATE_SYMBOL.get(entry.state, "?"), style=STATE_STYLE.get(entry.state, ""))
    return Content.assemble(Content.from_rich_text(symbol), " ", label)


def _plain(match: CameraMatch) -> str:
    return f"{STATE_SYMBOL.get(match.entry.state, '?')} {match.entry.label}"


class CameraCommands(Provider):
    """Open a camera (or diagnose it) by a few letters of its name, street, site or id."""

    def __init__(self, screen: Screen[Any], match_style: Style | None = None) -> None:
        super().__init__(screen, match_style)
        self.index = CameraIndex(())

    async def startup(self) -> None:
        # The cameras as the palette opens; a state changing while it is open is shown in
        # the detail it leads to.
        capp = citywatch(self.app)
        self.index = CameraIndex.of(capp.statuses.values(), capp.site_name)

    @property
    def _style(self) -> Style:
        return self.match_style or Style(reverse=True)

    async def discover(self) -> Hits:
        for entry in self.index.worst(DISCOVER_CAMERAS):
            match = CameraMatch(entry, 0.0, ())
            yield DiscoveryHit(_label(match, self._style), partial(self._open, entry.camera_id),
                               text=_plain(match), help="down: open the camera")

    async def search(self, query: str) -> Hits:
        camera_query = after_words(query, DIAGNOSE_WORDS, DIAGNOSE_WORDS)
        if camera_query:  # "diagnose grote": only diagnoses, of the best few cameras
            for match in self.index.search(camera_query, DIAGNOSE_HITS):
                yield self._diagnose_hit(match, PREFIX_SCORE + match.score)
            return
        for rank, match in enumerate(self.index.search(query)):
            yield Hit(match.score, _label(match, self._style),
                      partial(self._open, match.entry.camera_id), text=_plain(match))
            if rank == 0:
                yield self._diagnose_hit(match, match.score * JUST_BELOW)

    def _diagnose_hit(self, match: CameraMatch, score: float) -> Hit:
        entry = match.entry
        prompt = Content.assemble("Diagnose ", _label(match, self._style, name_only=True))
        symbol = STATE_SYMBOL.get(entry.state, "?")
        return Hit(score, prompt, partial(self._diagnose, entry.camera_id),
                   text=f"Diagnose {symbol} {entry.name} ({entry.camera_id})",
                   help=DIAGNOSE_HELP)

    def _open(self, camera_id: str) -> None:
        citywatch(self.app).open_camera(camera_id)

    def _diagnose(self, camera_id: str) -> None:
        from tui.app import detail_screen

        capp = citywatch(self.app)
        capp.open_camera(camera_id)
        screen = detail_screen(capp.screen)  # type: ignore[arg-type]  # Screen[object]
        if screen is not None and screen.camera_id == camera_id:  # else: notified why
            screen.call_after_refresh(screen.action_diagnose)


@dataclass(frozen=True)
class AppCommand:
    """A palette command that runs one app action."""

    name: str
    help: str
    action: str  # CitywatchApp.action_<action>


HOTLISTS_ACTION = "open_hotlists"  # "Add wanted plate" is listed after it
APP_COMMANDS: tuple[AppCommand, ...] = (
    AppCommand("Overview", "sites, counts, worst cameras, live alerts", "open_overview"),
    AppCommand("Cameras", "the cameras table: filter, sort, open one", "open_cameras"),
    AppCommand("Alerts", "hotlist and wanted-plate hits: acknowledge, accept, reject",
               "open_alerts"),
    AppCommand("Map", "patrol cars and cameras", "open_map"),
    AppCommand("Camera wall", "live snapshots of the latest alerts' cameras (or the "
               "cameras screen's filter)", "open_wall"),
    AppCommand("Reads search", "find reads by partial plate as you type", "open_reads"),
    AppCommand("Hotlists and wanted plates", "loaded hotlists; add or end wanted plates",
               HOTLISTS_ACTION),
    AppCommand("Acknowledge newest alert", "the newest new alert, as you", "ack_newest_alert"),
    AppCommand("Toggle dark/light theme", "switch between the dark and the light theme",
               "toggle_theme"),
    AppCommand("Help: all keys", "every key of every screen", "help"),
)
ADD_WANTED = "Add wanted plate"


class ActionCommands(Provider):
    """The app's screens and actions by name, and searches/wanted plates by typed text."""

    def __init__(self, screen: Screen[Any], match_style: Style | None = None) -> None:
        super().__init__(screen, match_style)
        self.commands: tuple[AppCommand, ...] = ()

    async def startup(self) -> None:
        app = self.app
        self.commands = tuple(c for c in APP_COMMANDS if hasattr(app, f"action_{c.action}"))

    def _named(self) -> list[tuple[str, str, Callable[[], Awaitable[None]]]]:
        """(name, help, callback) of every named command; adding a wanted plate right
        after the hotlists screen."""
        app = self.app
        named: list[tuple[str, str, Callable[[], Awaitable[None]]]] = []
        for command in self.commands:
            named.append((command.name, command.help,
                          partial(run_app_action, app, command.action)))
            if command.action == HOTLISTS_ACTION:
                named.append((ADD_WANTED, WANTED_HELP, partial(add_wanted, app, "")))
        if len(named) == len(self.commands):  # no hotlists screen: last, then
            named.append((ADD_WANTED, WANTED_HELP, partial(add_wanted, app, "")))
        return named

    async def discover(self) -> Hits:
        for name, help_text, callback in self._named():
            yield DiscoveryHit(name, callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._named():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)
        for hit in self._typed(query):
            yield hit

    def _typed(self, query: str) -> list[Hit]:
        """Commands about the typed text itself: search the reads for it, want it."""
        pattern = after_words(query, SEARCH_WORDS, SEARCH_NEEDS)
        plate = after_words(query, WANTED_WORDS, WANTED_NEEDS)
        if pattern or plate:
            hits = []
            if pattern and SEARCHABLE.fullmatch(pattern):
                hits.append(self._search_hit(pattern, PREFIX_SCORE))
            if plate and SEARCHABLE.fullmatch(plate):
                hits.append(self._wanted_hit(plate.upper(), PREFIX_SCORE))
            return hits
        if looks_like_plate(query):
            return [self._search_hit(query, PLATE_SCORE),
                    self._wanted_hit(query.upper(), PLATE_SCORE * JUST_BELOW)]
        if SEARCHABLE.fullmatch(query):
            return [self._search_hit(query, FALLBACK_SCORE)]
        return []

    def _search_hit(self, pattern: str, score: float) -> Hit:
        text = f"Search reads for {pattern}"
        prompt = Content.assemble("Search reads for ", (pattern, "bold"))
        return Hit(score, prompt, partial(search_reads, self.app, pattern), text=text,
                   help=SEARCH_HELP)

    def _wanted_hit(self, plate: str, score: float) -> Hit:
        text = f"{ADD_WANTED} {plate}"
        prompt = Content.assemble(f"{ADD_WANTED} ", (plate, "bold"))
        return Hit(score, prompt, partial(add_wanted, self.app, plate), text=text,
                   help=WANTED_HELP)
