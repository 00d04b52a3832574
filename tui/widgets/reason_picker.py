"""Why is this hit rejected? One digit (or a click on it) picks the reason; "other" asks
for a few words."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from hub.alpr_model import RejectReason

# Digit keys in the order operators meet the reasons most (DESIGN.md, operator workflow).
REASONS: tuple[RejectReason, ...] = (
    RejectReason.MISREAD,
    RejectReason.WRONG_STATE,
    RejectReason.VEHICLE_MISMATCH,
    RejectReason.DUPLICATE,
    RejectReason.OTHER,
)

RejectChoice = tuple[RejectReason, str]


def pick_on_click(number: int) -> Style:
    """A click on a reason's line runs the picker's `pick`, as its digit does."""
    return Style.from_meta({"@click": f"screen.pick({number})"})


def choices_text(plate: str) -> Text:
    text = Text(end="")
    text.append(f"Reject {plate}: why?\n\n", style="bold")
    for number, reason in enumerate(REASONS, start=1):
        click = pick_on_click(number)
        text.append(f" {number} ", style=Style(reverse=True) + click)
        text.append(f" {reason.value}", style=click)
        text.append("\n")
    text.append("\nEsc cancels", style="dim")
    return text


class ReasonPicker(ModalScreen[RejectChoice | None]):
    """Dismisses with (reason, text), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        *(
            Binding(str(n), f"pick({n})", reason.value, show=False)
            for n, reason in enumerate(REASONS, start=1)
        ),
    ]

    def __init__(self, plate: str) -> None:
        super().__init__(id="reason-picker")
        self.plate = plate

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-body"):
            yield Static(choices_text(self.plate), id="reason-choices")
            hint = Static(id="reason-hint")
            hint.display = False  # an empty line under "Esc cancels" until there is a hint
            yield hint

    def on_mount(self) -> None:
        self.query_one("#reason-body").border_title = "Reject"

    @property
    def asking_text(self) -> bool:
        return bool(self.query("#reason-text"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick":
            # While typing the "other" text, digits are text, not choices.
            return not self.asking_text
        return True

    def action_pick(self, number: int) -> None:
        reason = REASONS[number - 1]
        if reason is not RejectReason.OTHER:
            self.dismiss((reason, ""))
            return
        # The text box exists only now: had it been there from the start, it would have
        # taken the focus, and the digits with it.
        box = Input(id="reason-text", placeholder="reason in a few words, Enter to reject")
        self.query_one("#reason-body").mount(box, before="#reason-hint")
        box.focus()

    @on(Input.Submitted, "#reason-text")
    def _text_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            hint = self.query_one("#reason-hint", Static)
            hint.update(Text("\"other\" needs a few words", style="bold red"))
            hint.display = True
            return
        self.dismiss((RejectReason.OTHER, text))

    def action_cancel(self) -> None:
        self.dismiss(None)
