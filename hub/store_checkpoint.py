"""WAL checkpoints off the writer's path.

SQLite's automatic checkpoint runs inside the commit that crosses the threshold, on the
writer's thread, and with synchronous=NORMAL it fsyncs the database file: every few
seconds at 1,000 reads/s one group commit took hundreds of milliseconds, and every read
waiting for it was acknowledged that much later. Here a thread of its own, with its own
connection, checkpoints PASSIVE-ly (never blocking the writer or readers) at a fixed pace.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# Checkpoint this often: the WAL then holds about a second of writes (a few MB at the
# highest ingest rates), so readers stay fast and a restart replays little.
CHECKPOINT_INTERVAL_S = 1.0


class WalCheckpointer:
    """Checkpoints the WAL of `path` every `interval` seconds until `stop()`."""

    def __init__(self, path: Path, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, check_same_thread=True, isolation_level=None)
        except sqlite3.Error as exc:
            log.error("store %s: checkpointer cannot open the database: %s", self.path, exc)
            return
        try:
            while not self._stop.wait(self.interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy or full disk: the next round retries
                    log.warning("store %s: checkpoint failed: %s", self.path, exc)
        finally:
            db.close()
