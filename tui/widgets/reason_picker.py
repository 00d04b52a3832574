"""Why is this hit rejected? One digit picks the reason; "other" asks for a few words."""

from __future__ import annotations

from typing import ClassVar

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


def choices_text(plate: str) -> Text:
    text = Text(end="")
    text.append(f"Reject {plate}: why?\n\n", style="bold")
    for number, reason in enumerate(REASONS, start=1):
        text.append(f" {number} ", style="reverse")
        text.append(f" {reason.value}\n")
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
            yield Static(id="reason-hint")

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
            self.query_one("#reason-hint", Static).update(
                Text("\"other\" needs a few words", style="bold red")
            )
            return
        self.dismiss((RejectReason.OTHER, text))

    def action_cancel(self) -> None:
        self.dismiss(None)
