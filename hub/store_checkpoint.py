"""WAL checkpoints off the writer's path.

SQLite's automatic checkpoint runs inside the commit that crosses the threshold, on the
writer's thread, and with synchronous=NORMAL it fsyncs the database file: every few
seconds at 1,000 reads/s one group commit took hundreds of milliseconds, and every read
waiting for it was acknowledged that much later. Here a thread of its own, with its own
connection, checkpoints PASSIVE-ly (never blocking the writer or readers) at a fixed pace.

A PASSIVE checkpoint alone never lets the WAL start over under steady writes: SQLite
rewinds the WAL only when a write transaction begins with every frame checkpointed, and
commits arrive faster than a checkpoint copies (measured: at 1,000 reads/s the WAL grew
by ~17 MB/s without end). So once the WAL is WAL_RESTART_FRAMES long, a RESTART
checkpoint follows the PASSIVE one: it holds the writer off only while it copies the
frames committed since (~10 ms measured), and the next commit rewinds the WAL.
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
# WAL length (frames: pages) that makes a checkpoint rewind it: ~32 MB at 4 KB pages,
# about two seconds of writes at 1,000 reads/s, so the writer is held off (~10 ms) at
# most every other checkpoint, and the WAL file stays that size.
WAL_RESTART_FRAMES = 8192
# How long a RESTART checkpoint waits for a transaction in progress (it holds new writers
# off meanwhile): longer than a group commit, far shorter than the ack budget. One that
# gives up is tried again the next round.
RESTART_WAIT_S = 0.1


class WalCheckpointer:
    """Checkpoints the WAL of `path` every `interval` seconds until `stop()`."""

    def __init__(self, path: Path, interval: float = CHECKPOINT_INTERVAL_S,
                 restart_frames: int = WAL_RESTART_FRAMES) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        self.checkpoints = 0
        self.restarts = 0  # RESTART checkpoints (for tests)
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
            db = sqlite3.connect(self.path, timeout=RESTART_WAIT_S, check_same_thread=True,
                                 isolation_level=None)
        except sqlite3.Error as exc:
            log.error("store %s: checkpointer cannot open the database: %s", self.path, exc)
            return
        try:
            while not self._stop.wait(self.interval):
                try:
                    self._checkpoint(db)
                except sqlite3.Error as exc:  # busy or full disk: the next round retries
                    log.warning("store %s: checkpoint failed: %s", self.path, exc)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        # (busy, frames in the WAL, frames checkpointed); busy=1: a RESTART gave up
        # waiting for the writer, and the next round tries again.
        _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if frames >= self.restart_frames:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            self.restarts += not busy
