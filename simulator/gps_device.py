"""A patrol car's GPS receiver on the wire: a pseudo-terminal pair (like gpsfake) and a TCP port.

    gps = SimulatedGps(spec, clock, directory=Path("/tmp/citywatch-gps-x"))
    await gps.start()
    gps.device.path     # /tmp/citywatch-gps-x/combi-1.tty -> /dev/pts/7 (stable across replug)
    gps.device.tcp_url  # tcp://127.0.0.1:40123, every client gets the same stream
    await gps.set_fault(GpsFault.UNPLUG, True)

Writes never block the event loop: the pty master is non-blocking and a sentence that does
not fit is dropped and counted (a pty nobody reads fills up in seconds); TCP clients have a
bounded buffer each, beyond which their sentences are dropped too. Faults: see GpsFault.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import random
import termios
import time
import tty
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from simulator.clock import VirtualClock
from simulator.model import GpsFault, VehicleSpec
from simulator.nmea_receiver import Epoch, NmeaReceiver
from simulator.vehicles import VehicleMotion

log = logging.getLogger(__name__)

CLIENT_BUFFER = 64 * 1024  # bytes queued per TCP client before its sentences are dropped
STALE_FLUSH_S = 1.0  # a pty full this long has no reader: discard its backlog
MAX_REAL_HZ = 10.0  # epochs per real second at most, whatever the speed-up
JUMP_M = 350.0  # displacement while the "jump" fault is on
CORRUPT_SHARE = 0.2  # share of sentences damaged while the "corrupt" fault is on
NOISE_M = 1.2  # smooth position wander, like a real receiver's


@dataclass
class DeviceStats:
    """Counters of one device; drops are sentences (or spliced pieces) not delivered."""

    sentences: int = 0
    pty_dropped: int = 0
    pty_flushed_bytes: int = 0
    tcp_dropped: int = 0
    tcp_clients: int = 0
    opened: int = 0


class GpsDevice:
    """A pty pair exposed at a stable symlink, plus a TCP server; both carry the same bytes."""

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = path
        self.host = host
        self.port = port
        self.tty_name: str | None = None  # the current /dev/pts/N
        self.stats = DeviceStats()
        self._master: int | None = None
        self._slave: int | None = None
        self._pending = b""  # rest of a sentence the pty took only partly
        self._full_since: float | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def is_open(self) -> bool:
        return self._master is not None

    @property
    def tcp_url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def open(self) -> None:
        """Create the pty pair and the TCP server (same path and port as before, if any)."""
        if self.is_open:
            return
        self._open_pty()
        try:
            self._server = await asyncio.start_server(
                self._on_client, self.host, self.port, reuse_address=True
            )
        except OSError:
            self._close_pty()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        self.stats.opened += 1

    async def close(self) -> None:
        """Unplug: the pty vanishes (readers get EIO, the path ENOENT), TCP is refused."""
        self._close_pty()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._clients):
            w.transport.abort()
        self._clients.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

    # --- pty

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        try:
            # Raw: no echo (which would send our own sentences back), no CR/LF rewriting.
            tty.setraw(slave)
            os.set_blocking(master, False)
            name = os.ttyname(slave)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(name)
            tmp.replace(self.path)  # atomic: a reader never sees a missing path on replug
        except OSError:
            os.close(master)
            os.close(slave)
            raise
        # We keep the slave open ourselves, so a reader closing it does not hang up the pty.
        self._master, self._slave, self.tty_name = master, slave, name
        self._pending, self._full_since = b"", None
        asyncio.get_running_loop().add_reader(master, self._discard_input)

    def _close_pty(self) -> None:
        master, slave = self._master, self._slave
        self._master = self._slave = None
        if master is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(master)
        # Remove the link first: the pts number is free for reuse by the next openpty.
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_symlink() and os.readlink(self.path) == self.tty_name:
                self.path.unlink()
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]

    def _discard_input(self) -> None:
        """Whatever a reader writes to the receiver (gpsd probes) is read and ignored."""
        if self._master is None:
            return
        with contextlib.suppress(OSError):
            os.read(self._master, 4096)

    def _write_pty(self, data: bytes) -> None:
        master = self._master
        if master is None:
            return
        try:
            if self._pending:
                n = os.write(master, self._pending)
                self._pending = self._pending[n:]
            if self._pending:
                raise BlockingIOError(errno.EAGAIN, "pty full")
            n = os.write(master, data)
            self._pending = data[n:]  # finish the sentence next time: never a torn line
            self._full_since = None
        except BlockingIOError:
            self.stats.pty_dropped += 1
            now = time.monotonic()
            if self._full_since is None:
                self._full_since = now
            elif now - self._full_since > STALE_FLUSH_S and self._slave is not None:
                # Nobody reads: drop the backlog, so that a reader opening later gets
                # current sentences, not minutes-old ones (a UART overruns the same way).
                with contextlib.suppress(termios.error, OSError):
                    termios.tcflush(self._slave, termios.TCIFLUSH)
                self.stats.pty_flushed_bytes += len(self._pending)
                self._pending, self._full_since = b"", None
        except OSError as exc:
            self.stats.pty_dropped += 1
            log.debug("gps %s: pty write failed: %s", self.path.name, exc)

    # --- TCP

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        self.stats.tcp_clients = len(self._clients)
        try:
            while await reader.read(4096):  # ignore what clients send; notice them leave
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(writer)
            self.stats.tcp_clients = len(self._clients)
            writer.transport.abort()

    def _write_tcp(self, data: bytes) -> None:
        for w in list(self._clients):
            t = w.transport
            if t.is_closing():
                self._clients.discard(w)
            elif t.get_write_buffer_size() + len(data) > CLIENT_BUFFER:
                self.stats.tcp_dropped += 1  # a slow client loses sentences, not the loop
            else:
                t.write(data)

    def write(self, chunk: bytes) -> None:
        """One sentence (or damaged piece) to every reader; never blocks, drops instead."""
        if not self.is_open:
            return
        self.stats.sentences += 1
        self._write_pty(chunk)
        self._write_tcp(chunk)


class SimulatedGps:
    """One vehicle: motion on the virtual clock -> receiver sentences -> its device."""

    def __init__(self, spec: VehicleSpec, clock: VirtualClock, directory: Path,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.spec = spec
        self.clock = clock
        self.motion = VehicleMotion(spec)
        self.receiver = NmeaReceiver(spec.receiver, key=f"{spec.seed}:{spec.id}")
        self.device = GpsDevice(directory / f"{spec.id}.tty", host, port)
        self.faults: set[GpsFault] = set()
        rng = random.Random(f"citywatch-gps:{spec.seed}:{spec.id}")
        self._jump_bearing = rng.uniform(0, 2 * math.pi)
        self._noise_phase = rng.uniform(0, 2 * math.pi)
        self._corrupt_rng = random.Random(f"citywatch-gps-corrupt:{spec.seed}:{spec.id}")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        if GpsFault.UNPLUG not in self.faults:
            await self.device.open()
        self._task = asyncio.create_task(self._run(), name=f"gps-{self.spec.id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.device.close()

    async def set_fault(self, fault: GpsFault, on: bool) -> None:
        """Switch a fault; UNPLUG closes the pty and TCP port, and reopens them when off."""
        if fault is GpsFault.UNPLUG:
            if on:
                await self.device.close()
            elif self._task is not None:
                await self.device.open()  # OSError if the port was taken meanwhile
        if on:
            self.faults.add(fault)
        else:
            self.faults.discard(fault)

    # --- what the receiver says at a given epoch (pure apart from corruption)

    def epoch(self, k: int) -> Epoch:
        """Epoch number k of the receiver's grid (k / rate_hz scenario seconds)."""
        rate = self.spec.receiver.rate_hz
        elapsed = k / rate
        m = self.motion.at(elapsed)
        lat, lon = m.lat, m.lon
        # A little smooth wander, as a real receiver shows even when standing still.
        w = elapsed / 17.0 + self._noise_phase
        lat += NOISE_M * math.sin(w) / 110_540
        lon += NOISE_M * math.cos(1.3 * w) / (111_320 * math.cos(math.radians(lat)))
        if GpsFault.JUMP in self.faults:
            lat += JUMP_M * math.cos(self._jump_bearing) / 110_540
            lon += JUMP_M * math.sin(self._jump_bearing) / (111_320 * math.cos(math.radians(lat)))
        fix = GpsFault.OUTAGE not in self.faults and not any(
            o.covers(elapsed) for o in self.spec.outages)
        at = self.clock.start + timedelta(microseconds=round(k * 1_000_000 / rate))
        return Epoch(at, lat, lon, m.alt_m, m.speed_mps, m.course_deg, fix, k % rate == 0)

    def chunks(self, k: int) -> list[bytes]:
        """What goes on the wire for epoch k, corruption applied."""
        frames = self.receiver.frames(self.epoch(k))
        if GpsFault.CORRUPT not in self.faults:
            return frames
        return [self._corrupt(f) for f in frames]

    def _corrupt(self, line: bytes) -> bytes:
        rng = self._corrupt_rng
        if rng.random() >= CORRUPT_SHARE:
            return line
        how = rng.choice(("checksum", "truncated", "spliced"))
        if how == "checksum":
            star = line.rindex(b"*")
            bad = int(line[star + 1: star + 3], 16) ^ rng.randint(1, 255)
            return line[: star + 1] + f"{bad:02X}".encode() + b"\r\n"
        cut = rng.randrange(4, max(5, len(line) - 6))
        # Truncated: the line ends early. Spliced: the next sentence starts right after.
        return line[:cut] + (b"\r\n" if how == "truncated" else b"")

    async def _run(self) -> None:
        rate = self.spec.receiver.rate_hz
        # At high speed-ups write fewer epochs (still on the grid) rather than flooding.
        stride = max(1, math.ceil(rate * self.clock.speed / MAX_REAL_HZ))
        if stride > 1:  # whole seconds only, so every written epoch has its GSA/GSV
            stride = math.ceil(stride / rate) * rate
        k = math.ceil(self.clock.elapsed() * rate / stride) * stride
        while True:
            wait = self.clock.real_seconds(k / rate - self.clock.elapsed())
            if wait > 0:
                await asyncio.sleep(wait)
            if self.device.is_open:
                for chunk in self.chunks(k):
                    self.device.write(chunk)
            # Skip epochs missed while the loop was busy instead of bursting to catch up.
            k = max(k + stride, math.floor(self.clock.elapsed() * rate / stride + 1) * stride)
