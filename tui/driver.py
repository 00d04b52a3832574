"""The terminal driver of the TUI: Textual's Linux driver, with Esc noticed in ~50 ms.

A terminal sends Esc as the same byte that starts every arrow key, mouse report and
function key, so a lone ESC is only an Esc once nothing followed it for ESCDELAY. Textual
8.2.8's input thread checks that only when its `select` times out, every 100 ms; with
its default ESCDELAY of 100 ms a lone Esc took 114 ms p50 to reach the screen (and sat
above every other key in `python -m bench.tui_scale`). This driver polls every
`INPUT_POLL_S`, and `tui/__init__.py` sets a shorter ESCDELAY unless the user chose one.

`run_input_thread` is Textual's own (textual/drivers/linux_driver.py, 8.2.8, pinned in
pyproject.toml) with the poll interval as the only change; tests/tui/test_driver.py fails
when the pinned Textual's method is no longer the one this was taken from.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

# How often the input thread looks for a finished escape sequence when no byte arrives.
# 20 ms: well under what a person notices, and 50 wake-ups a second of an idle thread
# cost nothing measurable.
INPUT_POLL_S = 0.02


class PromptEscapeDriver(LinuxDriver):
    """LinuxDriver whose input thread polls every INPUT_POLL_S instead of 100 ms."""

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual's loop, polling faster)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)

        fileno = self.fileno
        event_read = selectors.EVENT_READ

        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick

        decode = getincrementaldecoder("utf-8")().decode
        read = os.read

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]],
            final: bool = False,
        ) -> None:
            for last, (_selector_key, mask) in loop_last(selector_events):
                if mask & event_read:
                    unicode_data = decode(read(fileno, 1024 * 4), final=final and last)
                    if not unicode_data:
                        break  # stdin is piped and ended
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():  # a lone ESC becomes Esc here, ESCDELAY after it came
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(INPUT_POLL_S))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(INPUT_POLL_S), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
