"""Simulated ALPR units: they read passing plates on the virtual clock and deliver each read
to the hub as a real unit would: posted over HTTP in their vendor's format, or published
as an ONVIF Profile M plate event by their camera.

    fleet = AlprFleet(scenario.alpr, scenario.seed, clock, publishers={cam_id: publish})
    await fleet.start()                       # units start reading; reads wait in queues
    fleet.deliver_to("http://127.0.0.1:8080", token="...")   # the HTTP units post
    fleet.counters()                          # per unit: generated, delivered, rejected, ...
    await fleet.stop()

Wire formats of the HTTP units ("citywatch", "openalpr", "platerecognizer"): see
simulator/alpr_wire.py. Delivery is one request at a time per unit (like a device):
connection errors, timeouts, 408/429 and 5xx are retried with exponential backoff (a read
that keeps getting 5xx is dropped after a few tries); other 4xx are counted as rejected and
not retried. While the hub is unreachable reads wait in a bounded queue that drops the
oldest.

An "onvif" unit sits on a fixed camera with the ONVIF event service: it hands each read
(the text the camera saw, the read time on the virtual clock, the country and the
confidence as likelihood) to its camera's publisher, which queues a
`tns1:RuleEngine/Recognition/LicensePlate` event on every live PullPoint subscription. A
read counts as delivered once at least one subscription got it. While nobody subscribes
the read stays queued (same bound, oldest dropped) and the unit looks again shortly, so
reads made before the hub subscribes are not lost. It needs no deliver_to().

The truth behind every read (plate, misread kind) stays in the unit's `log`, never on the
wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from simulator.alpr_plates import Misread, Plate, PlateTraffic, ReadKind, country_of, normalize
from simulator.alpr_wire import PATHS, Outgoing, SimRead, encode
from simulator.clock import VirtualClock
from simulator.errors import ControlError
from simulator.scenario_alpr import ONVIF, AlprSpec, AlprUnitSpec

__all__ = ["PATHS", "AlprFleet", "AlprUnit", "Outgoing", "PlatePublisher", "RetryPolicy",
           "SimRead", "UnitCounters", "encode"]

log = logging.getLogger(__name__)

# Publishes one plate event on a camera: (text seen, read time on the virtual clock,
# country, likelihood 0..1) -> how many live subscriptions got it. SimulatedCamera's
# publish_plate has this shape.
PlatePublisher = Callable[[str, datetime, str | None, float], int]

# Statuses a device retries although they are 4xx: the server asks to come back later.
RETRY_4XX = frozenset({408, 429})
# Reads whose truth the unit remembers (tests and the simulator's own checks look at the
# last few). ~0.5 kB a read: 10,000 per unit kept growing through the soak's hour (issue
# 10) and would hold ~60 MB for a dozen units on a long run; 1,000 is 50 scenario minutes
# of Hasselt's busiest unit (20 reads a minute).
LOG_SIZE = 1_000
# Log a rejection at warning level the first time and then once per this many.
REJECT_LOG_EVERY = 100


@dataclass(frozen=True)
class RetryPolicy:
    """How a unit talks to the hub. Real seconds (the hub is real, not simulated)."""

    initial_s: float = 0.5  # first backoff; doubles up to max_s
    max_s: float = 10.0
    max_server_errors: int = 5  # 5xx answers to one read before it is dropped
    connect_s: float = 3.0
    total_s: float = 10.0  # a read with a 200 kB overview is a few ms on a LAN
    # "onvif": how soon to look again for an event subscriber. A quarter second gets reads
    # queued before the hub subscribed to it well within its first long-poll; a look is one
    # walk over the camera's few subscriptions.
    no_subscriber_s: float = 0.25


@dataclass
class UnitCounters:
    """What a unit did since it started. An "onvif" unit: delivered = reached at least
    one event subscription; it is never rejected and drops only from a full queue."""

    generated: int = 0
    delivered: int = 0
    rejected: int = 0  # 4xx (not retried)
    dropped: int = 0  # pushed out of the full queue, or given up after repeated 5xx
    retried: int = 0  # HTTP attempts after the first, for any read

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class AlprUnit:
    """One ALPR unit: makes reads on the virtual clock, queues and delivers them."""

    def __init__(self, spec: AlprUnitSpec, traffic: PlateTraffic, clock: VirtualClock, *,
                 retry: RetryPolicy | None = None,
                 publisher: PlatePublisher | None = None) -> None:
        """`publisher`: the camera's plate-event publisher; required for an "onvif" unit,
        refused for the others (they post over HTTP). Raises ValueError."""
        if (spec.format == ONVIF) != (publisher is not None):
            raise ValueError(
                f"ALPR unit {spec.id}: an {ONVIF!r} unit needs its camera's event publisher"
                if publisher is None else
                f"ALPR unit {spec.id} posts {spec.format!r} over HTTP: it takes no publisher")
        self.spec = spec
        self.traffic = traffic
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.counters = UnitCounters()
        self.log: deque[SimRead] = deque(maxlen=LOG_SIZE)
        # Plates/misreads and arrival times come from separate streams: the sequence of
        # reads is the same whenever the unit starts.
        base = f"citywatch-alpr:{traffic.seed}:unit:{spec.id}"
        self._rng = random.Random(base)
        self._timing = random.Random(f"{base}:timing")
        self._queue: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._publisher = publisher
        self._target: tuple[str, str | None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: asyncio.Task[None] | None = None
        self._reachable = True

    @property
    def publishes_events(self) -> bool:
        """True for an "onvif" unit (its camera publishes the reads)."""
        return self._publisher is not None

    # ------------------------------------------------------------------ reads

    def next_read(self, at: datetime) -> SimRead:
        """The unit's next read, made at `at` (deterministic sequence per seed and unit)."""
        # Millisecond resolution: what every vendor format can carry (OpenALPR: epoch ms).
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        truth, hot, seen = self.traffic.read(self._rng)
        heading = round(self._rng.choice((0.0, 180.0)) + self._rng.uniform(-40, 40), 1) % 360
        read = SimRead(self.counters.generated + 1, at, truth, seen, hot, heading)
        self.counters.generated += 1
        self.log.append(read)
        return read

    def next_gap(self, elapsed_s: float) -> float:
        """Scenario seconds from `elapsed_s` to the next car (Poisson arrivals)."""
        traffic = self.traffic.spec.traffic
        rate = self.spec.reads_per_minute / 60.0
        t = elapsed_s
        for _ in range(24):
            hour = (self.clock.start + timedelta(seconds=t)).hour
            factor = traffic.rate_factor(hour)
            if factor > 0:
                return t - elapsed_s + self._timing.expovariate(rate * factor)
            t = math.floor(t / 3600 + 1) * 3600  # no traffic this hour: try the next
        return 3600.0  # unreachable: the scenario checks some hour has traffic

    def encode(self, read: SimRead) -> Outgoing:
        """The read as the unit's vendor puts it on the wire (renders JPEGs: run it in
        a thread when on the event loop). Raises ValueError for an "onvif" unit."""
        return encode(self.spec, read, self._target[0] if self._target else "")

    async def _outgoing(self, read: SimRead) -> Outgoing:
        if self._publisher is not None:
            return Outgoing(read, b"", "")  # the camera encodes the event
        return await asyncio.to_thread(self.encode, read)

    async def produce(self, count: int) -> list[SimRead]:
        """Make `count` reads now (times: the clock's now) and queue them."""
        reads = []
        for _ in range(count):
            read = self.next_read(self.clock.now())
            self._enqueue(await self._outgoing(read))
            reads.append(read)
        self._start_sender()
        return reads

    async def inject(self, plate: str, seen: str | None = None, confidence: float = 0.92,
                     country: str | None = None) -> SimRead:
        """A read of `plate` made now (a scenario's timeline puts that car past the unit),
        read as `seen` (None: correctly) with `confidence`; queued like any other read.
        `country` None: guessed from the plate's format."""
        now = self.clock.now()
        at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        text = seen if seen is not None else plate
        truth, read_as = normalize(plate), normalize(text)
        # What kind of misread it is, from the lengths (the truth is kept, never sent).
        kind = (ReadKind.CLEAN if read_as == truth else ReadKind.DROP
                if len(read_as) < len(truth) else ReadKind.EXTRA
                if len(read_as) > len(truth) else ReadKind.SWAP)
        hot = truth in {r.plate.normalized for r in self.traffic.hotlist}
        # Own stream for the heading: the unit's traffic sequence stays as it was.
        rng = random.Random(f"citywatch-alpr:{self.traffic.seed}:inject:{self.spec.id}:{plate}")
        heading = round(rng.choice((0.0, 180.0)) + rng.uniform(-40, 40), 1) % 360
        read = SimRead(self.counters.generated + 1, at,
                       Plate(plate, country or country_of(plate)),
                       Misread(text, kind, confidence), hot, heading)
        self.counters.generated += 1
        self.log.append(read)
        self._enqueue(await self._outgoing(read))
        self._start_sender()
        return read

    async def _run(self) -> None:
        """Read cars as they pass: sleep (on the virtual clock) to each arrival."""
        t = self.clock.elapsed()
        while True:
            t += self.next_gap(t)
            wait = self.clock.real_seconds(t - self.clock.elapsed())
            if wait > 0:
                await asyncio.sleep(wait)
            read = self.next_read(self.clock.start + timedelta(seconds=t))
            self._enqueue(await self._outgoing(read))

    # ------------------------------------------------------------------ queue

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _enqueue(self, item: Outgoing) -> None:
        if len(self._queue) >= self.spec.queue:
            self._queue.popleft()
            self.counters.dropped += 1
            if self.counters.dropped == 1:
                log.warning("ALPR unit %s: queue full (%d reads), dropping the oldest",
                            self.spec.id, self.spec.queue)
        self._queue.append(item)
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start reading cars. An HTTP unit delivers once deliver_to() is called, an
        "onvif" unit as soon as its camera has an event subscriber."""
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._run(), name=f"alpr-{self.spec.id}"))
        self._start_sender()

    def deliver_to(self, base_url: str, token: str | None) -> None:
        """Post reads to the hub at `base_url` (with `Authorization: Bearer token`).
        Ignored by an "onvif" unit: the hub subscribes to its camera instead."""
        if self._publisher is not None:
            log.debug("ALPR unit %s publishes ONVIF events: deliver_to ignored", self.spec.id)
            return
        self._target = (base_url.rstrip("/"), token)
        self._start_sender()

    def _start_sender(self) -> None:
        if self._sender is not None:
            return
        loop: Callable[[], Coroutine[Any, Any, None]]
        if self._publisher is not None:
            loop = self._publish_loop
        elif self._target is not None:
            loop = self._send_loop
        else:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: start() will do it
            asyncio.get_running_loop()
            self._sender = asyncio.create_task(loop(), name=f"alpr-{self.spec.id}-send")

    async def stop(self) -> None:
        """Stop reading and delivering; queued reads are discarded."""
        tasks = [*self._tasks, *([self._sender] if self._sender else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._sender = None

    # ------------------------------------------------------------------ delivery

    async def _next_item(self) -> Outgoing:
        """The oldest queued read, left in the queue (waits for one)."""
        while not self._queue:
            self._wake.clear()
            await self._wake.wait()
        return self._queue[0]

    async def _publish_loop(self) -> None:
        """Hand reads to the camera's event service, oldest first; while nobody has
        subscribed they stay queued and the unit looks again shortly."""
        assert self._publisher is not None
        while True:
            read = (await self._next_item()).read
            reached = self._publisher(read.seen.text, read.at, read.truth.country,
                                      read.seen.confidence)
            if reached > 0:
                # Nothing awaited since _next_item: the head is still this read.
                self._queue.popleft()
                self.counters.delivered += 1
                self._set_reachable(True, "")
                await asyncio.sleep(0)  # a backlog drains without holding the loop
            else:
                self._set_reachable(False, "no event subscription")
                await asyncio.sleep(self.retry.no_subscriber_s)

    async def _send_loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.retry.total_s, connect=self.retry.connect_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await self._next_item()
                await self._deliver(session, self._queue.popleft())

    async def _deliver(self, session: aiohttp.ClientSession, item: Outgoing) -> None:
        delay = self.retry.initial_s
        server_errors = 0
        while True:
            assert self._target is not None
            base, token = self._target
            headers = {"Content-Type": item.content_type}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                async with session.post(base + PATHS[self.spec.format], data=item.body,
                                        headers=headers) as resp:
                    status = resp.status
                    text = "" if status < 400 else (await resp.text())[:200]
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._set_reachable(False, f"{type(exc).__name__}: {exc}")
            else:
                self._set_reachable(True, "")
                if status < 300:
                    self.counters.delivered += 1
                    return
                if status >= 500:
                    server_errors += 1
                    if server_errors >= self.retry.max_server_errors:
                        self.counters.dropped += 1
                        log.warning("ALPR unit %s: read %d dropped after %d answers HTTP %d",
                                    self.spec.id, item.read.seq, server_errors, status)
                        return
                elif status not in RETRY_4XX:
                    self.counters.rejected += 1
                    if self.counters.rejected % REJECT_LOG_EVERY == 1:
                        log.warning("ALPR unit %s: hub rejected a read (%d so far): HTTP %d %s",
                                    self.spec.id, self.counters.rejected, status, text)
                    return
            self.counters.retried += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry.max_s)

    def _set_reachable(self, ok: bool, why: str) -> None:
        if ok == self._reachable:
            return
        self._reachable = ok
        if self._publisher is not None:
            # Waiting for a subscriber is the normal state before the hub starts.
            log.info("ALPR unit %s: %s on camera %s", self.spec.id,
                     "event subscriber connected" if ok else f"{why}; queueing reads",
                     self.spec.camera)
        elif ok:
            log.info("ALPR unit %s: hub reachable again", self.spec.id)
        else:
            log.warning("ALPR unit %s: hub unreachable (%s); queueing reads", self.spec.id, why)


# ---------------------------------------------------------------------- the fleet


class AlprFleet:
    """Every ALPR unit of a scenario, plus the hotlist file their traffic draws from."""

    def __init__(self, spec: AlprSpec, seed: int, clock: VirtualClock, *,
                 directory: Path | None = None, retry: RetryPolicy | None = None,
                 publishers: Mapping[str, PlatePublisher] | None = None) -> None:
        """`directory`: where a relative hotlist file name is written (default: a new
        temporary directory, removed by stop()). `publishers`: by camera id, the plate
        event publisher of each camera that carries an "onvif" unit.

        Raises ValueError when an "onvif" unit's camera has no publisher."""
        self.spec = spec
        self.traffic = PlateTraffic(spec, seed)
        publishers = publishers or {}
        missing = [u for u in spec.units if u.format == ONVIF and u.camera not in publishers]
        if missing:
            raise ValueError(", ".join(f"ALPR unit {u.id} publishes ONVIF events but camera "
                                       f"{u.camera} has no event publisher" for u in missing))
        self.units = {
            u.id: AlprUnit(u, self.traffic, clock, retry=retry,
                           publisher=publishers[u.camera] if u.format == ONVIF else None)
            for u in spec.units
        }
        self._dir = directory
        self._own_dir = False
        self.hotlist_path: Path | None = None

    async def start(self) -> None:
        """Write the hotlist file (if the scenario has one) and start every unit."""
        h = self.spec.hotlist
        if h is not None and self.hotlist_path is None:
            path = Path(h.file)
            if not path.is_absolute():
                if self._dir is None:
                    self._dir = Path(tempfile.mkdtemp(prefix="citywatch-alpr-"))
                    self._own_dir = True
                path = self._dir / path
            self.hotlist_path = await asyncio.to_thread(self.traffic.write_hotlist, path)
        await asyncio.to_thread(lambda: self.traffic.hotlist)  # made before units draw
        for unit in self.units.values():
            await unit.start()
        if self.units:
            log.info("%d ALPR units reading, %d hotlist plates in %s", len(self.units),
                     len(self.traffic.hotlist), self.hotlist_path)

    def unit(self, unit_id: str) -> AlprUnit:
        """The unit with this id. Raises ControlError for an unknown one."""
        unit = self.units.get(unit_id)
        if unit is None:
            raise ControlError(f"unknown ALPR unit {unit_id!r}")
        return unit

    def deliver_to(self, base_url: str, token: str | None = None) -> None:
        """Every HTTP unit posts its reads to the hub at `base_url` from now on ("onvif"
        units need no target: they deliver to whoever subscribes to their camera)."""
        for unit in self.units.values():
            if not unit.publishes_events:
                unit.deliver_to(base_url, token)

    async def stop(self) -> None:
        for unit in self.units.values():
            await unit.stop()
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self._own_dir, self.hotlist_path = None, False, None

    def counters(self) -> dict[str, dict[str, int]]:
        """Per unit: generated, delivered, rejected, dropped, retried, queued."""
        return {uid: {**u.counters.as_dict(), "queued": u.queued}
                for uid, u in self.units.items()}

    def endpoints(self) -> dict[str, Any]:
        """The "alpr" part of the city's endpoints: units (with the ids they send; an
        "onvif" unit's reads come from the event service of the camera it names) and
        the hotlist file."""
        return {
            "units": [{"unit": u.id, "camera": u.camera, "vehicle": u.vehicle,
                       "format": u.format, "sender_id": u.sender_id,
                       "multipart": u.multipart} for u in self.spec.units],
            "hotlist": str(self.hotlist_path) if self.hotlist_path else None,
        }
