"""Enter a wanted plate: plate, reason, days. The hub's refusal is shown in the form.

The form makes the `add_wanted` call itself so that a refused plate keeps the form open
with what was typed; it dismisses with the new plate and its search-back reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Input, Label, Static

from hub.alpr_model import Read, WantedPlate
from hub.errors import WantedPlateError
from tui.app_of import app_of

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# A wanted plate lasts 1-100 days (DESIGN.md); a week unless the operator says otherwise.
MIN_DAYS = 1
MAX_DAYS = 100
DEFAULT_DAYS = 7

Added = tuple[WantedPlate, list[Read]]


def parse_days(value: str) -> int | None:
    """Whole days in MIN_DAYS..MAX_DAYS, or None."""
    try:
        days = int(value.strip())
    except ValueError:
        return None
    return days if MIN_DAYS <= days <= MAX_DAYS else None


class WantedForm(ModalScreen[Added | None]):
    """Three inputs; Enter in the last (or ctrl+s) submits, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Add"),
    ]

    def __init__(self) -> None:
        super().__init__(id="wanted-form")
        self.busy = False

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="wanted-body"):
            yield Label("Plate (`*` = one unknown character)")
            yield Input(id="wanted-plate", placeholder="1ABC234 or 1AB*234")
            yield Label("Reason")
            yield Input(id="wanted-reason", placeholder="why: hit and run, missing person, …")
            yield Label(f"Days ({MIN_DAYS}-{MAX_DAYS})")
            yield Input(
                str(DEFAULT_DAYS),
                id="wanted-days",
                type="integer",
                validators=[Integer(minimum=MIN_DAYS, maximum=MAX_DAYS)],
            )
            yield Static(Text("Enter: next / add · Esc: cancel", style="dim"), id="wanted-error")

    def on_mount(self) -> None:
        self.query_one("#wanted-body").border_title = "New wanted plate"
        self.query_one("#wanted-plate", Input).focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#wanted-{name}", Input).value.strip()

    def show_error(self, message: str) -> None:
        self.query_one("#wanted-error", Static).update(Text(f"✘ {message}", style="bold red"))

    @on(Input.Submitted, "#wanted-plate")
    def _plate_done(self) -> None:
        self.query_one("#wanted-reason", Input).focus()

    @on(Input.Submitted, "#wanted-reason")
    def _reason_done(self) -> None:
        self.query_one("#wanted-days", Input).focus()

    @on(Input.Submitted, "#wanted-days")
    def _days_done(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        if self.busy:
            return
        plate, reason = self.value("plate"), self.value("reason")
        days = parse_days(self.value("days"))
        if not plate:
            self.show_error("a plate is needed")
            self.query_one("#wanted-plate", Input).focus()
            return
        if not reason:
            self.show_error("a reason is needed (it is audited)")
            self.query_one("#wanted-reason", Input).focus()
            return
        if days is None:
            self.show_error(f"days must be a whole number from {MIN_DAYS} to {MAX_DAYS}")
            self.query_one("#wanted-days", Input).focus()
            return
        self.busy = True
        self.run_worker(self._add(plate, reason, days), group="add", exclusive=True)

    async def _add(self, plate: str, reason: str, days: int) -> None:
        capp = self.capp
        try:
            wanted, seen = await capp.client.add_wanted(plate, reason, days, capp.operator)
        except WantedPlateError as exc:
            self.show_error(str(exc))
            return
        except Exception as exc:
            capp.report_error("adding a wanted plate", exc)
            return
        finally:
            self.busy = False
        self.dismiss((wanted, seen))

    def action_cancel(self) -> None:
        self.dismiss(None)
