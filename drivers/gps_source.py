"""Where NMEA comes from: a serial device or pty, TCP, a log file or stdin.

Nothing here blocks the event loop: devices are opened non-blocking with pyserial (which
also sets raw mode and the baud rate) and read when the loop says the fd is readable; TCP
uses asyncio streams; files are read in chunks in a worker thread; stdin is a pipe
(connect_read_pipe) or, when redirected from a file, read like a file.

A device or TCP receiver that vanishes (ENOENT, EIO, EOF, refused) gives
DeviceEvent(NO_DEVICE, why); the reader then retries every retry_interval_s and gives
DeviceEvent(PRESENT) when it is back. Files and stdin end with DeviceEvent(ENDED).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

from drivers.gps_epoch import NmeaEpochAssembler
from drivers.gps_model import DeviceEvent, DeviceState, ParseStats, Report

CHUNK = 65536
MAX_PENDING = 4096  # bytes without a line end before the partial line is dropped as overlong
CONNECT_TIMEOUT_S = 5.0
QUIET_CHECK_S = 2.0  # a silent device is checked for presence this often


Connection = tuple[Callable[[], Awaitable[bytes]], Callable[[], None]]


class _Vanished(Exception):
    """The device or connection went away."""


def classify(source: str, *, missing_is_device: bool = False) -> str:
    """'stdin', 'tcp', 'file' or 'device'.

    A missing path under /dev is an unplugged device. Elsewhere (a pty link such as the
    simulator's, a udev alias) it is one too when the caller says a device is expected -
    the hub does, for vehicle receivers - and otherwise a missing file.
    """
    if source == "-":
        return "stdin"
    if source.startswith("tcp://"):
        return "tcp"
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return "device" if missing_is_device or source.startswith("/dev/") else "file"
    return "device" if stat.S_ISCHR(mode) else "file"


def _tcp_address(source: str) -> tuple[str, int]:
    rest = source[len("tcp://"):].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad TCP address {source!r}: expected tcp://host:port")
    return host.strip("[]") or "localhost", int(port)


class _Lines:
    """Cut a byte stream into lines; bounded, so garbage without line ends cannot grow it."""

    def __init__(self, stats: ParseStats) -> None:
        self._buf = b""
        self._stats = stats

    def push(self, data: bytes) -> list[bytes]:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        if len(self._buf) > MAX_PENDING:
            self._stats.lines += 1
            self._stats.reject("overlong")
            self._buf = b""
        return lines

    def drop(self) -> None:
        """The source went away: a partial line is a truncated sentence."""
        if self._buf.strip():
            self._stats.lines += 1
            self._stats.reject("no checksum (truncated)")
        self._buf = b""

    def rest(self) -> list[bytes]:
        rest, self._buf = self._buf, b""
        return [rest] if rest else []


class GpsReader:
    """Reports (TPV, SKY, DeviceEvent) from one NMEA source. Never raises for bad data."""

    def __init__(self, source: str, *, reconnect: bool = True,
                 retry_interval_s: float = 1.0, baudrate: int = 9600,
                 expect_device: bool = False) -> None:
        """`expect_device`: a missing path is an unplugged receiver (wait for it), not a
        missing log file."""
        self.source = source
        self.kind = classify(source, missing_is_device=expect_device)
        self.reconnect = reconnect
        self.retry_interval_s = retry_interval_s
        self.baudrate = baudrate
        live = self.kind in ("device", "tcp")
        self._asm = NmeaEpochAssembler(reference=dt.date.today() if live else None)
        self.stats: ParseStats = self._asm.stats
        self._lines = _Lines(self.stats)

    async def reports(self) -> AsyncIterator[Report]:
        if self.kind in ("file", "stdin"):
            async for report in self._stream_reports():
                yield report
        else:
            async for report in self._live_reports():
                yield report

    # ------------------------------------------------------------------ files and stdin
    async def _stream_reports(self) -> AsyncIterator[Report]:
        try:
            async for chunk in self._stream_chunks():
                for line in self._lines.push(chunk):
                    for report in self._asm.feed(line):
                        yield report
        except OSError as exc:
            yield DeviceEvent(DeviceState.NO_DEVICE, f"cannot read {self.source}: "
                              f"{exc.strerror or exc}")
        for line in self._lines.rest():
            for report in self._asm.feed(line):
                yield report
        yield DeviceEvent(DeviceState.ENDED, self.source)

    async def _stream_chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        if self.kind == "stdin":
            fd = sys.stdin.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                async for chunk in self._pipe_chunks(fd):
                    yield chunk
                return
            handle: BinaryIO = os.fdopen(os.dup(fd), "rb")
        else:
            handle = await loop.run_in_executor(None, _open_binary, self.source)
        with handle:
            while chunk := await loop.run_in_executor(None, handle.read, CHUNK):
                yield chunk

    async def _pipe_chunks(self, fd: int) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=CHUNK)
        pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe)
        try:
            while chunk := await reader.read(CHUNK):
                yield chunk
        finally:
            transport.close()

    # ------------------------------------------------------------------ devices and TCP
    async def _live_reports(self) -> AsyncIterator[Report]:
        present: bool | None = None
        while True:
            try:
                read, close = await self._connect()
            except (OSError, TimeoutError, ValueError) as exc:
                if present is not False:
                    yield DeviceEvent(DeviceState.NO_DEVICE, _why(self.source, exc))
                    present = False
                if not self.reconnect or isinstance(exc, ValueError):
                    yield DeviceEvent(DeviceState.ENDED, self.source)
                    return
                await asyncio.sleep(self.retry_interval_s)
                continue
            yield DeviceEvent(DeviceState.PRESENT, self.source)
            present = True
            why = "gone"
            try:
                while True:
                    chunk = await read()
                    for line in self._lines.push(chunk):
                        for report in self._asm.feed(line):
                            yield report
            except _Vanished as exc:
                why = str(exc)
            except OSError as exc:
                why = _why(self.source, exc)
            finally:
                close()
                self._lines.drop()
            yield DeviceEvent(DeviceState.NO_DEVICE, why)
            present = False
            if not self.reconnect:
                yield DeviceEvent(DeviceState.ENDED, self.source)
                return
            await asyncio.sleep(self.retry_interval_s)

    async def _connect(self) -> Connection:
        if self.kind == "tcp":
            return await self._connect_tcp()
        return await self._connect_device()

    async def _connect_tcp(self) -> Connection:
        host, port = _tcp_address(self.source)
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)

        async def read() -> bytes:
            data = await reader.read(CHUNK)
            if not data:
                raise _Vanished(f"{self.source}: connection closed")
            return data

        def close() -> None:
            writer.close()

        return read, close

    async def _connect_device(self) -> Connection:
        import serial  # pyserial

        loop = asyncio.get_running_loop()
        path = self.source
        identity = _identity(path)
        try:
            port = serial.Serial(path, baudrate=self.baudrate, timeout=0)
        except serial.SerialException as exc:
            err = exc.errno if isinstance(exc.errno, int) else errno.ENODEV
            raise OSError(err, str(exc.strerror or exc)) from None
        fd = port.fileno()

        def ready(fut: asyncio.Future[bytes]) -> None:
            if fut.done():
                return
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                fut.set_exception(exc)
                return
            fut.set_result(data)

        async def read() -> bytes:
            while True:
                fut: asyncio.Future[bytes] = loop.create_future()
                loop.add_reader(fd, ready, fut)
                # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation
                # that arrives as the future completes, and a busy receiver makes
                # that race likely enough to hang shutdown.
                try:
                    async with asyncio.timeout(QUIET_CHECK_S):
                        data = await fut
                except TimeoutError:
                    if _identity(path) != identity:
                        raise _Vanished(f"{path}: device vanished") from None
                    continue
                finally:
                    loop.remove_reader(fd)
                if not data:
                    raise _Vanished(f"{path}: device closed (EOF)")
                return data

        def close() -> None:
            with contextlib.suppress(Exception):
                port.close()

        return read, close


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")  # closed by the caller's `with`


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_rdev or st.st_ino


def _why(source: str, exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{source}: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"{source}: timed out"
    return f"{source}: {exc}"
