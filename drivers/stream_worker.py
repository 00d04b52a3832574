"""Entry point of a stream-sampling worker process (the hub's `hub.stream_workers` pool).

A worker runs one asyncio loop hosting many `drivers.stream.StreamSampler`s, so that
their packet handling (RTP engine: on this loop; PyAV engine: a reader thread each) and
keyframe decodes contend for this process's GIL, not the hub's. It talks to the
hub over one duplex `multiprocessing` connection, whose messages are small tuples:

in (hub -> worker)::

    ("start", sid, url, username, password, kwargs)   # kwargs: StreamSampler keywords
    ("stop", sid)
    ("exit",)

out (worker -> hub)::

    ("item", sid, StreamSample | StreamEvent)
    ("end", sid, None)          # samples() returned (its last item was ENDED or ERROR)
    ("end", sid, "detail")      # samples() raised: a bug, reported as text
    ("stopped", sid)            # a "stop" has been carried out (its session is closed)
    ("log", {LogRecord attributes})

Credentials arrive only over the connection (never in argv or the environment) and are
never logged. The worker never writes to the terminal: its records travel to the hub,
which logs them with its own handlers, and its stdout/stderr point at /dev/null (FFmpeg
may print there; the hub's TUI owns the terminal). When the hub goes away (end of file
on the connection) the worker stops its samplers and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncGenerator
from multiprocessing.connection import Connection
from typing import Any, cast

from drivers.stream import StreamEvent, StreamSample, StreamSampler

log = logging.getLogger(__name__)

# Closing every sampler at exit waits for each session (up to JOIN_WAIT_S each, in
# parallel); the hub kills a worker that takes longer than its own join timeout anyway.
EXIT_WAIT_S = 5.0


class _PipeLogHandler(logging.Handler):
    """Hands records to the hub over the connection, from whichever thread logs them.

    Sending happens on the worker's loop thread only (call_soon_threadsafe), so the
    connection is never written by two threads at once.
    """

    def __init__(self, worker: _Worker) -> None:
        super().__init__()
        self._worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attrs = dict(record.__dict__)
            attrs["msg"] = record.getMessage()  # args may not pickle: send the text
            attrs["args"] = None
            if record.exc_info:
                attrs["exc_text"] = logging.Formatter().formatException(record.exc_info)
            attrs["exc_info"] = None
            self._worker.send_threadsafe(("log", attrs))
        except Exception:  # a logging handler must never raise into the caller
            self.handleError(record)


class _Worker:
    """The samplers of one worker process and its end of the connection."""

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.loop = loop
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.done = asyncio.Event()
        self._closed = False

    def send(self, message: tuple[Any, ...]) -> None:
        if self._closed:
            return
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # the hub has gone: nothing left to report to
            self._closed = True
            self.done.set()

    def send_threadsafe(self, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker is ending
            self.loop.call_soon_threadsafe(self.send, message)

    def on_readable(self) -> None:
        """Carry out every command waiting on the connection."""
        try:
            while self.conn.poll():
                self.handle(self.conn.recv())
        except (EOFError, OSError):  # the hub closed its end (it stopped or died)
            self._closed = True
            self.done.set()

    def handle(self, command: tuple[Any, ...]) -> None:
        match command:
            case ("start", int(sid), str(url), username, password, dict(kwargs)):
                sampler = StreamSampler(url, username=username, password=password, **kwargs)
                self.tasks[sid] = self.loop.create_task(self.run(sid, sampler),
                                                        name=f"sampler {sid}")
            case ("stop", int(sid)):
                task = self.tasks.get(sid)
                if task is None:
                    self.send(("stopped", sid))
                else:
                    task.cancel()
            case ("exit",):
                self.done.set()
            case _:
                log.error("stream worker: unknown command %r", command[:1])

    async def run(self, sid: int, sampler: StreamSampler) -> None:
        detail: str | None = None
        samples = cast(AsyncGenerator[StreamSample | StreamEvent, None], sampler.samples())
        try:
            async with contextlib.aclosing(samples) as items:
                async for item in items:
                    self.send(("item", sid, item))
        except asyncio.CancelledError:
            self.tasks.pop(sid, None)
            self.send(("stopped", sid))
            raise
        except Exception as exc:  # a bug: the hub turns it into an ERROR event
            log.exception("stream worker: sampler of %s failed", sampler.url)
            detail = f"sampler failed: {type(exc).__name__}"
        self.tasks.pop(sid, None)
        self.send(("end", sid, detail))

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=EXIT_WAIT_S)


async def _serve(conn: Connection, log_level: int) -> None:
    loop = asyncio.get_running_loop()
    worker = _Worker(conn, loop)
    handler = _PipeLogHandler(worker)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    loop.add_reader(conn.fileno(), worker.on_readable)
    try:
        await worker.done.wait()
    finally:
        loop.remove_reader(conn.fileno())
        await worker.close()


def _silence_terminal() -> None:
    """Point stdout and stderr (fds 1 and 2, which FFmpeg writes to) at /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    finally:
        os.close(devnull)


def worker_main(conn: Connection, log_level: int = logging.INFO,
                quiet: bool = True) -> None:
    """Run a worker until the hub sends "exit" or closes the connection.

    `quiet`: silence fds 1 and 2 (the default; a test may keep them for diagnosis).
    """
    # Ctrl-C reaches the whole process group; the hub decides when its workers end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if quiet:
        _silence_terminal()
    try:
        asyncio.run(_serve(conn, log_level))
    finally:
        conn.close()
    sys.exit(0)
