"""A yes/no question: y or Enter says yes, n or Esc says no; or a click on either."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


def answer_on_click(yes: bool) -> Style:
    """A click on an answer runs the dialog's `answer`, as its key does."""
    return Style.from_meta({"@click": f"screen.answer({yes})"})


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
            text.append("\n\n")
            yes, no = answer_on_click(True), answer_on_click(False)
            text.append(" y ", style=Style(reverse=True) + yes)
            text.append(" yes", style=yes)
            text.append("   ")
            text.append(" n ", style=Style(reverse=True) + no)
            text.append(" no", style=no)
            yield Static(text, id="confirm-question")

    def on_mount(self) -> None:
        self.query_one("#confirm-body").border_title = self.title_text

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
