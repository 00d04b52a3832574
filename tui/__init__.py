"""citywatch's terminal UI (Textual), talking to a hub through `hub.client.HubClient`."""

import os

# How long a lone ESC byte waits for the rest of an escape sequence before it is the Esc
# key (ms). Textual reads ESCDELAY when it is first imported (its default is 100 ms, and
# its input thread added up to 100 ms more: see tui/driver.py). A key's escape sequence
# reaches the terminal in one write, over SSH in one packet, so 40 ms is still ample; a
# user's own ESCDELAY wins.
ESCAPE_DELAY_MS = 40
os.environ.setdefault("ESCDELAY", str(ESCAPE_DELAY_MS))
