"""The latest ONVIF events of one camera, newest first: time, kind, topic, state."""

from __future__ import annotations

from collections import deque
from datetime import tzinfo
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from hub.errors import CameraActionError
from tui.format import clock_time

if TYPE_CHECKING:
    from hub.camera_control import CameraEvent
    from hub.client import HubClient

# Enough to see what a camera has been saying for the last minutes; older ones are gone
# (the hub's health history keeps what matters).
MAX_EVENTS = 50
# Rows drawn: the panel is one of several on the screen.
SHOWN_EVENTS = 10

KIND_MARK: dict[str, tuple[str, str]] = {
    "motion": ("»", "yellow"),
    "tamper": ("!", "bold red"),
    "video_loss": ("■", "red"),
    "digital_input": ("◆", "cyan"),
    "plate": ("▭", "green"),
    "analytics": ("◇", "magenta"),
    "other": ("·", "dim"),
}


def short_topic(topic: str) -> str:
    """'tns1:VideoSource/MotionAlarm' → 'VideoSource/MotionAlarm' (the prefix says nothing)."""
    return topic.partition(":")[2] or topic


def active_text(active: bool | None) -> Text:
    if active is None:
        return Text("—", style="dim")
    return Text("on", style="bold") if active else Text("off", style="dim")


class EventList(Static):
    """`add` events as they arrive; `message` says why there are none (yet), or why
    they stopped. `follow` subscribes through the hub client while the widget lives."""

    DEFAULT_CSS = """
    EventList {
        height: auto;
    }
    """

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, tz: tzinfo | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.tz = tz
        self.events: deque[CameraEvent] = deque(maxlen=MAX_EVENTS)
        self.message = "waiting for events…"

    def on_mount(self) -> None:
        self._redraw()

    def add(self, event: CameraEvent) -> None:
        self.events.appendleft(event)
        self.message = ""
        self._redraw()

    def follow(self, client: HubClient, camera_id: str) -> None:
        """Subscribe to the camera's events until the widget goes (the subscription ends
        with the worker, which Textual cancels when the screen is removed)."""
        self.run_worker(self._follow(client, camera_id), group="events", exclusive=True,
                        exit_on_error=False)

    async def _follow(self, client: HubClient, camera_id: str) -> None:
        try:
            # Cancelling the worker (the screen went) raises inside the hub's generator
            # while it waits for the camera: its subscription ends there.
            async for event in client.camera_events(camera_id):
                self.add(event)
        except CameraActionError as exc:  # no PullPoint, credentials rejected
            self.show_message(str(exc))
            return
        except Exception as exc:  # a broken hub connection must not take the UI down
            self.show_message(f"events unavailable: {exc or type(exc).__name__}")
            return
        self.show_message("event stream ended")

    def show_message(self, message: str) -> None:
        self.message = message
        self._redraw()

    def _redraw(self) -> None:
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)  # time
        table.add_column(no_wrap=True, width=1)  # kind
        table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)  # topic
        table.add_column(no_wrap=True, justify="right")  # state
        for event in list(self.events)[:SHOWN_EVENTS]:
            mark, style = KIND_MARK.get(event.kind, KIND_MARK["other"])
            table.add_row(
                clock_time(event.time, self.tz), Text(mark, style=style),
                short_topic(event.topic), active_text(event.active),
            )
        if self.message:
            table.add_row("", "", Text(self.message, style="dim italic"), "")
        self.update(table)
