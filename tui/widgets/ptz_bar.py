"""One line about a camera's PTZ: where the head is and the presets keys 1-9 go to."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from hub.camera_control import PtzPosition, PtzPresetInfo

# Keys 1-9 pick the first nine presets.
MAX_PRESET_KEYS = 9


def _coord(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def ptz_text(
    position: PtzPosition | None, presets: Sequence[PtzPresetInfo], message: str
) -> Text:
    """'PTZ pan +0.12 tilt -0.05 zoom +0.30 moving · 1 Overview 2 Gate', or the message."""
    text = Text("PTZ ", style="bold")
    if message:
        text.append(message, style="dim italic")
        return text
    if position is None:
        text.append("…", style="dim")
    else:
        text.append(f"pan {_coord(position.pan)} tilt {_coord(position.tilt)} "
                    f"zoom {_coord(position.zoom)}")
        if position.moving:
            text.append(" moving", style="bold yellow")
    for number, preset in enumerate(presets[:MAX_PRESET_KEYS], start=1):
        text.append(" · " if number == 1 else "  ")
        text.append(str(number), style="reverse")
        text.append(f" {preset.name or preset.token}")
    return text


class PtzBar(Static):
    """Shows the PTZ state the detail screen gives it; `supported` is None until known."""

    DEFAULT_CSS = """
    PtzBar {
        height: auto;
        max-height: 2;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.position: PtzPosition | None = None
        self.presets: tuple[PtzPresetInfo, ...] = ()
        self.message = "loading…"
        self.supported: bool | None = None

    def on_mount(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        self.update(ptz_text(self.position, self.presets, self.message))

    def set_position(self, position: PtzPosition) -> None:
        self.position = position
        self.supported = True
        self.message = ""
        self._redraw()

    def set_presets(self, presets: Sequence[PtzPresetInfo]) -> None:
        self.presets = tuple(presets)
        self._redraw()

    def not_supported(self) -> None:
        self.supported = False
        self.position = None
        self.presets = ()
        self.message = "not a PTZ camera"
        self._redraw()

    def failed(self, reason: str) -> None:
        self.message = reason
        self._redraw()
