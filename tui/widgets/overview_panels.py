"""The overview's panels: plain line panels (sites, patrol cars, hotlists) and
selectable line lists (worst cameras, alert ticker). Both patch only the lines whose
text changed, so that a tick at city scale repaints a few lines, not the screen."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static

# Cells an OptionList keeps around each line of its own (the widget's padding is
# outside its scrollable content region already).
OPTION_PADDING = 0


class LinePanel(Static):
    """A bordered panel of one-line texts; redrawn only when a line changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lines: list[Text] = []

    @property
    def line_width(self) -> int:
        return max(0, self.content_size.width)

    @property
    def capacity(self) -> int:
        """Lines that fit without scrolling."""
        return max(1, self.content_size.height)

    def show_lines(self, lines: list[Text]) -> bool:
        """Show `lines`; False (and nothing drawn) when they are what is shown."""
        if lines == self._lines:
            return False
        self._lines = lines
        # The panel's size comes from the grid, never from its text: no layout pass.
        self.update(Text("\n", end="").join(lines), layout=False)
        return True

    @property
    def lines(self) -> list[Text]:
        return list(self._lines)


class LineList(OptionList):
    """A selectable panel whose line i is the i-th item of a ranking (worst cameras,
    newest alerts). Lines are patched in place: only changed prompts are replaced, the
    list grows or shrinks at its end; `keys[i]` says what line i stands for.

    ← → move to the previous / next panel (Tab and Shift+Tab too)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "app.focus_previous", "Previous panel", show=False),
        Binding("right", "app.focus_next", "Next panel", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys: list[str] = []
        self._shown: list[Text] = []
        self.patched = 0  # lines replaced since mount (tests check the patching)

    @property
    def line_width(self) -> int:
        return max(0, self.scrollable_content_region.width - OPTION_PADDING)

    @property
    def capacity(self) -> int:
        """Lines that fit without scrolling."""
        return max(1, self.scrollable_content_region.height)

    def show_lines(self, keys: list[str], lines: list[Text]) -> None:
        """Make line i show `lines[i]` for `keys[i]`; unchanged lines are left alone."""
        old = self._shown
        common = min(len(old), len(lines))
        for index in range(common):
            if old[index] != lines[index]:
                self.replace_option_prompt_at_index(index, lines[index])
                self.patched += 1
        if len(lines) > common:
            self.add_options(lines[common:])
        for index in range(len(old) - 1, common - 1, -1):
            self.remove_option_at_index(index)
        self.keys = list(keys)
        self._shown = list(lines)
        if self.highlighted is None and lines and self.has_focus:
            self.highlighted = 0

    @property
    def lines(self) -> list[Text]:
        return list(self._shown)

    def key_at(self, index: int | None) -> str | None:
        if index is None or not 0 <= index < len(self.keys):
            return None
        return self.keys[index]

    def on_focus(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0
