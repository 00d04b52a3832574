"""Stream samplers in worker processes: the hub side of `drivers.stream_worker`.

A hub sampling a city's streams in its own process handles every stream's packets and
keyframe decodes on its own GIL (with the PyAV engine, ~250 reader threads contending
for it made its event loop, and a TUI on it, lag by seconds). `StreamWorkerPool` moves
the samplers into a few worker processes ("spawn", not fork: the hub has threads) so the
hub only unpickles small `StreamSample`/`StreamEvent` objects. `StreamWorkerPool.sampler`
is a sampler factory with the signature of `drivers.stream.StreamSampler`, for
`hub.stream_supervisor.StreamSupervisor`.

Each worker's connection is read on the hub's loop (`loop.add_reader`), never blocking
it. A worker that dies ends every stream it hosted with an ERROR event (the supervisor's
reconnect/backoff takes over) and is replaced. Credentials travel over the connection
only; worker log records are handed to the hub's loggers (same handlers, same file).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from drivers.errors import StreamError
from drivers.stream import StreamEvent, StreamEventKind, StreamSample
from drivers.stream_reader import redact_url
from drivers.stream_worker import EXIT_WAIT_S, worker_main

log = logging.getLogger(__name__)

Item = StreamSample | StreamEvent

# "exit" lets a worker close its samplers (each waits for its reader thread); give it
# that long plus a margin before terminate, then a second before kill.
STOP_JOIN_S = EXIT_WAIT_S + 1.0
TERMINATE_JOIN_S = 1.0
# A worker that dies within this long of its start is restarted only after
# RESTART_DELAY_S, so a worker that cannot run does not spin the CPU in restarts.
RESTART_MIN_LIFE_S = 10.0
RESTART_DELAY_S = 2.0
# After CONNECTED a sampler sends a sample every window_s; this many silent windows
# (plus a margin for a busy machine) mean its worker is hung, not the stream stalled.
SILENT_WINDOWS = 5
SILENCE_MARGIN_S = 10.0
# Before CONNECTED an open may queue behind a worker's other opens (six at a time, each
# up to open_timeout_s against dead hosts); past this, give up and let the supervisor retry.
CONNECT_LIMIT_S = 300.0

_FINAL = (StreamEventKind.ENDED, StreamEventKind.ERROR)


def _error(detail: str, url: str) -> StreamEvent:
    return StreamEvent(StreamEventKind.ERROR, detail, StreamError(detail, url=url))


@dataclass
class _Worker:
    """One worker process, its connection and the sessions it hosts."""

    index: int
    process: BaseProcess
    conn: Connection
    started_at: float
    hosted: set[int] = field(default_factory=set)  # sessions the worker still runs
    alive: bool = True

    def send(self, message: tuple[Any, ...]) -> bool:
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # broken pipe / closed: the reader notices the death
            return False
        return True


class StreamWorkerPool:
    """A fixed number of stream worker processes; streams go to the least loaded one."""

    def __init__(self, workers: int, *, quiet: bool = True) -> None:
        if workers < 1:
            raise ValueError("a stream worker pool needs at least one worker")
        self.size = workers
        self._quiet = quiet
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker | None] = [None] * workers
        self._routes: dict[int, asyncio.Queue[tuple[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._restarts: set[asyncio.TimerHandle] = set()
        self.restarts = 0  # workers replaced after a death (for tests and diagnosis)

    async def start(self) -> None:
        """Start the worker processes (they import PyAV in the background)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        for index in range(self.size):
            self._spawn(index)

    async def stop(self) -> None:
        """Ask every worker to exit; terminate, then kill, one that does not in time."""
        self._stopping = True
        for handle in self._restarts:
            handle.cancel()
        self._restarts.clear()
        workers = [w for w in self._workers if w is not None]
        self._workers = [None] * self.size
        for worker in workers:
            worker.send(("exit",))
        await asyncio.gather(*(asyncio.to_thread(self._reap, w) for w in workers))
        for worker in workers:
            self._drop(worker, "the stream worker pool stopped")

    def sampler(self, url: str, *, username: str | None = None, password: str | None = None,
                **kwargs: float) -> PooledSampler:
        """A sampler (the `StreamSampler` interface) that runs in one of the workers."""
        return PooledSampler(self, url, username, password, kwargs)

    def hosted(self) -> list[int]:
        """Sessions each live worker is still running (dead or missing workers: 0)."""
        return [len(w.hosted) if w is not None and w.alive else 0 for w in self._workers]

    def pids(self) -> list[int | None]:
        return [w.process.pid if w is not None else None for w in self._workers]

    # sessions -------------------------------------------------------------------------

    def _open(self, sid: int, start: tuple[Any, ...]) -> asyncio.Queue[tuple[str, Any]] | None:
        """Route `sid` to the least loaded live worker and start it there."""
        live = [w for w in self._workers if w is not None and w.alive]
        if not live:
            return None
        worker = min(live, key=lambda w: len(w.hosted))
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._routes[sid] = queue
        worker.hosted.add(sid)
        if not worker.send(start):
            worker.hosted.discard(sid)
            del self._routes[sid]
            return None
        return queue

    def _close(self, sid: int, stop: bool) -> None:
        """Forget `sid`; with `stop`, tell its worker to stop the sampler."""
        self._routes.pop(sid, None)
        if stop:
            for worker in self._workers:
                if worker is not None and worker.alive and sid in worker.hosted:
                    worker.send(("stop", sid))

    # workers --------------------------------------------------------------------------

    def _spawn(self, index: int) -> None:
        assert self._loop is not None
        parent, child = self._ctx.Pipe(duplex=True)
        level = logging.getLogger("drivers").getEffectiveLevel()
        process = self._ctx.Process(target=worker_main, args=(child, level, self._quiet),
                                    name=f"citywatch-stream-{index}", daemon=True)
        process.start()
        child.close()  # only the worker holds its end now: its death is EOF here
        worker = _Worker(index, process, parent, time.monotonic())
        self._workers[index] = worker
        self._loop.add_reader(parent.fileno(), self._on_readable, worker)
        log.info("stream worker %d started (pid %s)", index, process.pid)

    def _on_readable(self, worker: _Worker) -> None:
        try:
            while worker.alive and worker.conn.poll():
                self._dispatch(worker, worker.conn.recv())
        except (EOFError, OSError):
            self._died(worker)

    def _dispatch(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        match message:
            case ("item", int(sid), item):
                queue = self._routes.get(sid)
                if queue is not None:
                    queue.put_nowait(("item", item))
            case ("end", int(sid), detail):
                worker.hosted.discard(sid)
                queue = self._routes.get(sid)
                if queue is not None:
                    queue.put_nowait(("end", detail))
            case ("stopped", int(sid)):
                worker.hosted.discard(sid)
            case ("log", dict(attrs)):
                record = logging.makeLogRecord(attrs)
                logger = logging.getLogger(record.name)
                if logger.isEnabledFor(record.levelno):
                    logger.handle(record)
            case _:
                log.error("stream worker %d: unexpected message %r", worker.index, message[:1])

    def _died(self, worker: _Worker) -> None:
        if not worker.alive:
            return
        if self._stopping:  # the exit we asked for
            self._drop(worker, "the stream worker pool stopped")
            return
        worker.process.join(0)  # reap it if it has exited, without waiting
        code = worker.process.exitcode
        log.error("stream worker %d (pid %s) died (exit code %s); %d streams end",
                  worker.index, worker.process.pid, code, len(worker.hosted))
        self._drop(worker, f"stream worker died (exit code {code})")
        if self._workers[worker.index] is not worker:
            return
        self._workers[worker.index] = None
        assert self._loop is not None
        lived = time.monotonic() - worker.started_at
        delay = 0.0 if lived >= RESTART_MIN_LIFE_S else RESTART_DELAY_S
        handle: asyncio.TimerHandle | None = None

        def restart() -> None:
            if handle is not None:
                self._restarts.discard(handle)
            if not self._stopping and self._workers[worker.index] is None:
                self.restarts += 1
                self._spawn(worker.index)

        handle = self._loop.call_later(delay, restart)
        self._restarts.add(handle)

    def _drop(self, worker: _Worker, why: str) -> None:
        """Stop reading `worker` and end every session it hosted with an error."""
        if worker.alive:
            worker.alive = False
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(worker.conn.fileno())
            worker.conn.close()
        for sid in worker.hosted:
            queue = self._routes.get(sid)
            if queue is not None:
                queue.put_nowait(("end", why))
        worker.hosted.clear()

    @staticmethod
    def _reap(worker: _Worker) -> None:
        """(In a thread.) Wait for the worker to exit; terminate, then kill, if it does not."""
        worker.process.join(STOP_JOIN_S)
        if worker.process.is_alive():
            log.warning("stream worker %d did not exit in %.0f s: terminating",
                        worker.index, STOP_JOIN_S)
            worker.process.terminate()
            worker.process.join(TERMINATE_JOIN_S)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(TERMINATE_JOIN_S)


class PooledSampler:
    """`drivers.stream.StreamSampler`'s interface, the sampling done in a pool worker."""

    def __init__(self, pool: StreamWorkerPool, url: str, username: str | None,
                 password: str | None, kwargs: dict[str, float]) -> None:
        self._pool = pool
        self._url = url
        self._username = username
        self._password = password
        self._kwargs = dict(kwargs)
        self.url = redact_url(url)
        self.window_s = float(kwargs.get("window_s", 2.0))
        self._sid: int | None = None

    async def samples(self) -> AsyncIterator[Item]:
        """Samples and events until cancelled, or until an ENDED/ERROR event (the last)."""
        sid = next(self._pool._ids)
        queue = self._pool._open(sid, ("start", sid, self._url, self._username,
                                       self._password, self._kwargs))
        if queue is None:
            yield _error("no stream worker is running", self.url)
            return
        self._sid = sid
        running = True  # the worker may still be sampling: stop it when we leave
        limit = CONNECT_LIMIT_S
        try:
            while True:
                try:
                    async with asyncio.timeout(limit):
                        kind, payload = await queue.get()
                except TimeoutError:
                    yield _error(f"no word from the stream worker for {limit:.0f} s", self.url)
                    return
                if kind == "end":
                    running = False
                    if payload is not None:
                        yield _error(str(payload), self.url)
                    return
                yield payload
                if isinstance(payload, StreamEvent):
                    if payload.kind is StreamEventKind.CONNECTED:
                        limit = SILENT_WINDOWS * self.window_s + SILENCE_MARGIN_S
                    elif payload.kind in _FINAL:
                        running = False  # the worker's session ends by itself
                        return
        finally:
            self._sid = None
            self._pool._close(sid, stop=running)

    async def close(self) -> None:
        """Stop a running session (iterating `samples` and closing it does the same)."""
        sid = self._sid
        if sid is not None:
            self._sid = None
            queue = self._pool._routes.get(sid)
            self._pool._close(sid, stop=True)
            if queue is not None:  # wake a consumer waiting in samples(): it ends
                queue.put_nowait(("end", None))
