"""Put a camera in maintenance: for how long (1 h, 4 h, 24 h or typed) and why; or end it.

One digit (or a click on it) picks the duration (4: type one, "90m", "2h", "1h30m", "3d");
then a reason box, Enter sets it. While the camera is in maintenance, `e` ends it now. Esc
cancels. Like
tui/widgets/wanted_form.py the form makes the hub call itself, so that a refusal keeps it
open with the hub's words; it dismisses with the camera's new status.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from hub.errors import CameraActionError
from hub.health import MAINTENANCE_MAX
from hub.model import CameraStatus
from tui.app_of import app_of
from tui.format import full_time

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# Digit keys: the usual lengths of a technician's job (a visit, half a day, a day).
DURATIONS: tuple[tuple[str, timedelta], ...] = (
    ("1 h", timedelta(hours=1)),
    ("4 h", timedelta(hours=4)),
    ("24 h", timedelta(hours=24)),
)
CUSTOM = len(DURATIONS) + 1  # the digit that asks for a typed duration

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0}


def parse_duration(text: str) -> timedelta | None:
    """'90m', '2h', '1h30m', '1.5h', '3d' (a bare number is hours) -> timedelta; None if
    it does not parse, is not positive or is longer than MAINTENANCE_MAX."""
    text = text.strip().lower().replace(" ", "")
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        text += "h"
    if not re.fullmatch(r"(?:\d+(?:\.\d+)?[dhm])+", text):
        return None
    seconds = sum(float(n) * _UNIT_S[unit] for n, unit in _PART.findall(text))
    duration = timedelta(seconds=seconds)
    if duration <= timedelta(0) or duration > MAINTENANCE_MAX:
        return None
    return duration


def duration_label(duration: timedelta) -> str:
    """'45 min', '4 h', '1 h 30 min', '3 d'."""
    minutes = round(duration.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "min")) if n]
    return " ".join(parts) or "0 min"


def click_to(action: str) -> Style:
    """A click on a choice runs the form's action, as its key does."""
    return Style.from_meta({"@click": f"screen.{action}"})


def choices_text(status: CameraStatus, tz: tzinfo | None = None) -> Text:
    text = Text(end="")
    text.append(f"{status.config.name}: maintenance for how long?\n", style="bold")
    text.append("Failures are still recorded; the camera is not counted down.\n\n", style="dim")
    labels = [label for label, _ in DURATIONS] + ["other"]
    for number, label in enumerate(labels, start=1):
        click = click_to(f"pick({number})")
        text.append(f" {number} ", style=Style(reverse=True) + click)
        text.append(f" {label}", style=click)
        text.append("   " if number < CUSTOM else "\n")
    m = status.maintenance
    if m is not None:
        text.append(f"\nIn maintenance until {full_time(m.until, tz)} ({m.reason}, {m.actor}).\n")
        end = click_to("end")
        text.append(" e ", style=Style(reverse=True) + end)
        text.append(" end it now", style=end)
        text.append("\n")
    return text


class MaintenanceForm(ModalScreen[CameraStatus | None]):
    """Dismisses with the camera's new status, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        *(Binding(str(n), f"pick({n})", "Duration", show=False) for n in range(1, CUSTOM + 1)),
        Binding("e", "end", "End maintenance", show=False),
    ]

    def __init__(self, status: CameraStatus, tz: tzinfo | None = None) -> None:
        super().__init__(id="maintenance-form")
        self.status = status
        self.tz = tz
        self.duration: timedelta | None = None
        self.busy = False

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="maintenance-body"):
            yield Static(choices_text(self.status, self.tz), id="maintenance-choices")
            yield Static(Text("Esc cancels", style="dim"), id="maintenance-hint")

    def on_mount(self) -> None:
        self.query_one("#maintenance-body").border_title = "Maintenance"

    @property
    def typing(self) -> bool:
        return bool(self.query(Input))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pick", "end"):
            # While a box is open, digits and letters are text, not choices.
            return not self.typing
        return True

    def hint(self, message: str, error: bool = False) -> None:
        style = "bold red" if error else "dim"
        text = f"✘ {message}" if error else message
        self.query_one("#maintenance-hint", Static).update(Text(text, style=style))

    def _ask(self, box: Input) -> None:
        # Boxes are mounted only when asked for: one there from the start would take the
        # focus, and the digit keys with it.
        self.query_one("#maintenance-body").mount(box, before="#maintenance-hint")
        box.focus()

    def action_pick(self, number: int) -> None:
        if number == CUSTOM:
            self._ask(Input(id="maintenance-duration", placeholder="e.g. 90m, 2h, 3d"))
            self.hint(f"at most {MAINTENANCE_MAX.days} days · Enter: next · Esc: cancel")
            return
        self.duration = DURATIONS[number - 1][1]
        self._ask_reason()

    def _ask_reason(self) -> None:
        assert self.duration is not None
        self._ask(Input(id="maintenance-reason", placeholder="why: lens cleaning, new switch, …"))
        self.hint(f"for {duration_label(self.duration)} · Enter: set · Esc: cancel")

    @on(Input.Submitted, "#maintenance-duration")
    def _duration_done(self, event: Input.Submitted) -> None:
        duration = parse_duration(event.value)
        if duration is None:
            self.hint(f"a duration like 90m, 2h or 3d, at most {MAINTENANCE_MAX.days} days",
                      error=True)
            return
        self.duration = duration
        event.input.disabled = True
        self._ask_reason()

    @on(Input.Submitted, "#maintenance-reason")
    def _reason_done(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.hint("a reason is needed (it is audited)", error=True)
            return
        if self.busy or self.duration is None:
            return
        self.busy = True
        until = datetime.now(UTC) + self.duration  # the hub judges by its own clock: UTC now
        self.run_worker(self._set(until, reason), group="maintenance", exclusive=True)

    async def _set(self, until: datetime, reason: str) -> None:
        capp = self.capp
        try:
            status = await capp.client.set_maintenance(
                self.status.id, until, reason, capp.operator)
        except CameraActionError as exc:
            self.hint(str(exc), error=True)
            return
        except Exception as exc:  # a broken hub connection
            capp.report_error("setting maintenance", exc)
            return
        finally:
            self.busy = False
        self.dismiss(status)

    def action_end(self) -> None:
        if self.status.maintenance is None or self.busy:
            return
        self.busy = True
        self.run_worker(self._end(), group="maintenance", exclusive=True)

    async def _end(self) -> None:
        capp = self.capp
        try:
            status = await capp.client.clear_maintenance(self.status.id, capp.operator)
        except Exception as exc:  # CameraActionError, or a broken hub connection
            self.hint(str(exc) or type(exc).__name__, error=True)
            return
        finally:
            self.busy = False
        self.dismiss(status)

    def action_cancel(self) -> None:
        self.dismiss(None)
