"""A yes/no question: y or Enter says yes, n or Esc says no."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class Confirm(ModalScreen[bool]):
    """Dismisses with True (confirmed) or False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, title: str = "Confirm") -> None:
        super().__init__(id="confirm")
        self.question = question
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body"):
            text = Text(self.question, end="")
            text.append("\n\n y ", style="reverse")
            text.append(" yes   ")
            text.append(" n ", style="reverse")
            text.append(" no")
            yield Static(text, id="confirm-question")

    def on_mount(self) -> None:
        self.query_one("#confirm-body").border_title = self.title_text

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
