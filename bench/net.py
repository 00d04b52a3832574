"""Network helpers the benchmarks share."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port free right now (for a child server started next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
