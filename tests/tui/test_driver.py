"""tui/driver.py: a lone Esc byte becomes the Esc key without waiting for Textual's
100 ms poll, escape sequences stay whole keys, and the copied input loop is still the
pinned Textual's."""

from __future__ import annotations

import hashlib
import inspect
import os
import pty
import queue
import threading
import time
import tty
from collections.abc import Iterator

import pytest
from textual import events
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from tui.app import CitywatchApp
from tui.driver import INPUT_POLL_S, PromptEscapeDriver

# sha256 of textual 8.2.8's LinuxDriver.run_input_thread source, which
# PromptEscapeDriver.run_input_thread copies with a shorter poll. If Textual changes it,
# look at the new one, carry the change over, and record the new hash here.
TEXTUAL_INPUT_LOOP_SHA256 = "d796af6d69db337d6fa6bd463984f7d17188d991dbb22f60efb92a8a9619507c"
WAIT_S = 5.0


class RecordingDriver(PromptEscapeDriver):
    """The input loop alone: no app, no terminal modes; keys go to a queue."""

    def __init__(self, fileno: int) -> None:  # no Driver.__init__: no app, no signals
        self.fileno = fileno
        self._debug = False
        self.exit_event = threading.Event()
        self.keys: queue.Queue[str] = queue.Queue()

    def process_message(self, message: Message) -> None:
        if isinstance(message, events.Key):
            self.keys.put(message.key)


@pytest.fixture
def driver() -> Iterator[tuple[RecordingDriver, int]]:
    master, slave = pty.openpty()
    tty.setraw(slave)  # as the driver's application mode does: bytes as they come
    recording = RecordingDriver(slave)
    thread = threading.Thread(target=recording.run_input_thread, daemon=True)
    thread.start()
    try:
        yield recording, master
    finally:
        recording.exit_event.set()
        thread.join(WAIT_S)
        os.close(master)
        os.close(slave)
    assert not thread.is_alive()


def test_the_copied_input_loop_is_the_pinned_textuals() -> None:
    source = inspect.getsource(LinuxDriver.run_input_thread)
    assert hashlib.sha256(source.encode()).hexdigest() == TEXTUAL_INPUT_LOOP_SHA256


def test_the_app_uses_it_on_a_linux_terminal() -> None:
    from tests.tui.conftest import FakeHub

    assert CitywatchApp(FakeHub()).driver_class is PromptEscapeDriver


def test_a_lone_escape_is_the_escape_key(driver: tuple[RecordingDriver, int]) -> None:
    recording, master = driver
    os.write(master, b"\x1b")
    assert recording.keys.get(timeout=WAIT_S) == "escape"


def test_escape_sequences_stay_whole_keys(driver: tuple[RecordingDriver, int]) -> None:
    recording, master = driver
    os.write(master, b"\x1b[A\x1b[6~x")
    keys = [recording.keys.get(timeout=WAIT_S) for _ in range(3)]
    assert keys == ["up", "pagedown", "x"]
    time.sleep(INPUT_POLL_S * 5)  # nothing left over that turns into an Esc later
    assert recording.keys.empty()
