"""The real `citywatch` TUI over a synthetic city-sized hub, for bench/tui_scale.py.

`ScaleHub` implements hub.client.HubClient in memory: N cameras whose statuses change
at a steady rate (stream samples, and now and then a state flip) and a stream of alert
changes (new alerts, and other operators acknowledging and closing older ones, so the
open queue stays bounded as in a staffed control room). Run it in a terminal:

    .venv/bin/python -m bench.tui_scale_app --cameras 1000 --changes 20 --alerts 50
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from hub.alpr_model import (
    Alert,
    AlertState,
    Hit,
    HotlistEntry,
    HotlistInfo,
    ImageKind,
    MatchKind,
    Read,
    RejectReason,
    WantedPlate,
)
from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
from hub.diagnose import Report
from hub.errors import AlertTransitionError, CameraActionError
from hub.model import (
    CameraConfig,
    CameraKind,
    CameraStatus,
    DeviceFacts,
    HealthReason,
    HealthState,
    HealthTransition,
    Site,
    StreamMetrics,
    TrackPoint,
    VehicleStatus,
)

T = TypeVar("T")

SITES = (Site("city", "Stad"), Site("police", "Politiezone"), Site("uni", "Universiteit"),
         Site("port", "Haven"), Site("rail", "Spoor"))
MODELS = (("AXIS", "P1448-LE"), ("Hikvision", "DS-2CD2386G2-IU"), ("Dahua", "IPC-HFW5442E"),
          ("Bosch", "FLEXIDOME IP 8000i"), ("Hanwha", "XNO-6120R"))
LISTS = (("stolen", 90), ("wanted", 95), ("uninsured", 40), ("expired", 20), ("intel", 70))
# Feed ticks per second: changes are published in small bursts, as a hub's feed does.
FEED_HZ = 10
# One camera change in this many flips its state (the rest are stream samples): a city
# of 1,000 cameras sees a few state changes per second on a bad day.
FLIP_EVERY = 10
# Of the alert changes, this share are new alerts; the rest are other operators'
# acknowledgements and closures of older ones (which keeps the open queue bounded).
NEW_SHARE = 0.5
# Open alerts when the TUI starts.
START_ALERTS = 200
SECRET = "bench-secret"


def _camera(n: int, rng: random.Random, now: datetime) -> CameraStatus:
    cid = f"cam-{n:04d}"
    maker, model = MODELS[n % len(MODELS)]
    config = CameraConfig(
        id=cid, name=f"Camera {n:04d} {('Markt', 'Ring', 'Station', 'Kaai', 'Poort')[n % 5]}",
        site=SITES[n % len(SITES)].id, kind=CameraKind.FIXED,
        onvif_url=f"http://127.0.0.1:{10000 + n}/onvif/device_service",
        username="admin", password=SECRET, lat=50.9 + n / 10000, lon=5.3 + n / 10000,
    )
    facts = DeviceFacts(maker, model, "1.0", f"SN{n:06d}", f"HW{n}", 0.1, (), None, None, ())
    state = HealthState.DOWN if rng.random() < 0.03 else HealthState.OK
    reason = HealthReason.UNREACHABLE if state is HealthState.DOWN else HealthReason.NONE
    return CameraStatus(config=config, state=state, reason=reason, last_seen=now,
                        changed_at=now - timedelta(hours=2), facts=facts,
                        stream=_stream(rng, now) if state is HealthState.OK else None)


def _stream(rng: random.Random, now: datetime) -> StreamMetrics:
    return StreamMetrics(now, round(rng.uniform(24.0, 25.0), 1), round(rng.uniform(3800, 4200)),
                         2.0, 110.0, False, 25.0, 4000.0)


class _Fanout(Generic[T]):
    """Subscribers each get every published item (unbounded queues: the TUI keeps up)."""

    def __init__(self) -> None:
        self.queues: list[asyncio.Queue[T]] = []

    def publish(self, item: T) -> None:
        for queue in self.queues:
            queue.put_nowait(item)

    async def subscribe(self) -> AsyncIterator[T]:
        queue: asyncio.Queue[T] = asyncio.Queue()
        self.queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self.queues.remove(queue)


class ScaleHub:
    """An in-memory HubClient at city scale; the load starts with the first subscriber."""

    def __init__(self, cameras: int, changes_per_s: float, alerts_per_s: float,
                 seed: int = 1) -> None:
        self.rng = random.Random(seed)
        now = datetime.now(UTC)
        self._cameras = {s.id: s for s in (_camera(n, self.rng, now)
                                           for n in range(1, cameras + 1))}
        self.changes_per_s = changes_per_s
        self.alerts_per_s = alerts_per_s
        self._feed: _Fanout[CameraStatus] = _Fanout()
        self._alert_feed: _Fanout[Alert] = _Fanout()
        self._alerts: dict[int, Alert] = {}
        self._open: deque[int] = deque()  # open alert ids, oldest first
        self._next_alert = 1
        self._load: asyncio.Task[None] | None = None
        for _ in range(START_ALERTS):
            self._new_alert(now)

    # load --------------------------------------------------------------------------------

    def _start_load(self) -> None:
        if self._load is None:
            self._load = asyncio.get_running_loop().create_task(self._run_load())

    async def _run_load(self) -> None:
        ids = list(self._cameras)
        cam_debt = alert_debt = 0.0
        while True:
            await asyncio.sleep(1 / FEED_HZ)
            now = datetime.now(UTC)
            cam_debt += self.changes_per_s / FEED_HZ
            while cam_debt >= 1:
                cam_debt -= 1
                self._feed.publish(self._change(self.rng.choice(ids), now))
            alert_debt += self.alerts_per_s / FEED_HZ
            while alert_debt >= 1:
                alert_debt -= 1
                if self.rng.random() < NEW_SHARE or not self._open:
                    self._alert_feed.publish(self._new_alert(now))
                else:
                    self._alert_feed.publish(self._other_operator(now))

    def _change(self, cid: str, now: datetime) -> CameraStatus:
        old = self._cameras[cid]
        if self.rng.randrange(FLIP_EVERY) == 0:
            up = old.state is not HealthState.OK
            new = dataclasses.replace(
                old, state=HealthState.OK if up else HealthState.DOWN,
                reason=HealthReason.NONE if up else HealthReason.STALLED, changed_at=now,
                last_seen=now if up else old.last_seen,
                stream=_stream(self.rng, now) if up else None)
        elif old.state is HealthState.OK:
            new = dataclasses.replace(old, last_seen=now, stream=_stream(self.rng, now))
        else:
            new = dataclasses.replace(old, detail=f"connect timed out ({now:%H:%M:%S})")
        self._cameras[cid] = new
        return new

    def _new_alert(self, now: datetime) -> Alert:
        aid = self._next_alert
        self._next_alert += 1
        name, priority = LISTS[aid % len(LISTS)]
        plate = f"{aid % 9 + 1}-{chr(65 + aid % 26)}{chr(65 + aid // 26 % 26)}X-{aid % 1000:03d}"
        norm = plate.replace("-", "")
        read = Read(id=aid, plate=plate, normalized=norm, at=now,
                    camera_id=f"cam-{aid % len(self._cameras) + 1:04d}", source="citywatch",
                    confidence=0.9, country="BE", geotag="fixed")
        alert = Alert(aid, read, Hit(HotlistEntry(norm, name, "bench", priority), MatchKind.EXACT),
                      AlertState.NEW, now, now)
        self._alerts[aid] = alert
        self._open.append(aid)
        return alert

    def _other_operator(self, now: datetime) -> Alert:
        """The oldest open alert moves on: acknowledged, then closed (accepted first)."""
        aid = self._open[0]
        old = self._alerts[aid]
        if old.state is AlertState.NEW:
            state = AlertState.ACKNOWLEDGED
        else:
            state = AlertState.ACCEPTED
            self._open.popleft()
        new = dataclasses.replace(old, state=state, updated_at=now, actor="colleague")
        self._alerts[aid] = new
        return new

    # HubClient ---------------------------------------------------------------------------

    def sites(self) -> list[Site]:
        return list(SITES)

    def cameras(self) -> list[CameraStatus]:
        return list(self._cameras.values())

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self._cameras.get(camera_id)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        return []

    def changes(self) -> AsyncIterator[CameraStatus]:
        self._start_load()
        return self._feed.subscribe()

    def camera_removals(self) -> AsyncIterator[str]:
        return _Fanout[str]().subscribe()  # the city keeps its cameras: never yields

    async def set_maintenance(self, camera_id: str, until: datetime, reason: str,
                              actor: str) -> CameraStatus:
        raise CameraActionError("not in the benchmark")

    async def clear_maintenance(self, camera_id: str, actor: str) -> CameraStatus:
        raise CameraActionError("not in the benchmark")

    def vehicles(self) -> list[VehicleStatus]:
        return []

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        return None

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        return []

    def vehicle_changes(self) -> AsyncIterator[VehicleStatus]:
        return _Fanout[VehicleStatus]().subscribe()  # no vehicles: never yields

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        ids = list(self._open) if open_only else list(self._alerts)
        found = [self._alerts[i] for i in ids]
        found.sort(key=lambda a: (-a.priority, -a.raised_at.timestamp(), -a.id))
        return found[:limit]

    def alert_changes(self) -> AsyncIterator[Alert]:
        self._start_load()
        return self._alert_feed.subscribe()

    async def transition_alert(self, alert_id: int, to: AlertState, actor: str,
                               reason: RejectReason | None = None, text: str = "") -> Alert:
        old = self._alerts.get(alert_id)
        if old is None:
            raise AlertTransitionError(f"alert {alert_id} is unknown")
        new = dataclasses.replace(old, state=to, actor=actor, reason=reason, reason_text=text,
                                  updated_at=datetime.now(UTC))
        self._alerts[alert_id] = new
        self._alert_feed.publish(new)
        return new

    async def search_reads(self, pattern: str, since: datetime | None = None,
                           camera_id: str | None = None, limit: int = 100) -> list[Read]:
        return []

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        return None

    async def wanted(self) -> list[WantedPlate]:
        return []

    async def add_wanted(self, plate: str, reason: str, days: int,
                         actor: str) -> tuple[WantedPlate, list[Read]]:
        raise CameraActionError("not in the benchmark")

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        return None

    def hotlists(self) -> list[HotlistInfo]:
        return []

    async def camera_snapshot(self, camera_id: str) -> bytes:
        raise CameraActionError("not in the benchmark")

    async def ptz_status(self, camera_id: str) -> PtzPosition:
        raise CameraActionError("not in the benchmark")

    async def ptz_presets(self, camera_id: str) -> tuple[PtzPresetInfo, ...]:
        return ()

    async def ptz_move(self, camera_id: str, pan: float = 0.0, tilt: float = 0.0,
                       zoom: float = 0.0) -> PtzPosition:
        raise CameraActionError("not in the benchmark")

    async def ptz_goto_preset(self, camera_id: str, token: str) -> None:
        raise CameraActionError("not in the benchmark")

    async def reboot_camera(self, camera_id: str, actor: str) -> str:
        raise CameraActionError("not in the benchmark")

    async def diagnose_camera(self, camera_id: str) -> Report:
        raise CameraActionError("not in the benchmark")

    def camera_events(self, camera_id: str) -> AsyncIterator[CameraEvent]:
        return _Fanout[CameraEvent]().subscribe()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--changes", type=float, default=20.0, help="camera changes/s")
    parser.add_argument("--alerts", type=float, default=50.0, help="alert changes/s")
    parser.add_argument("--profile", help="write a cProfile of the whole run to this file")
    args = parser.parse_args(argv)
    from tui.app import CitywatchApp  # after parsing: --help stays fast

    hub = ScaleHub(args.cameras, args.changes, args.alerts)
    app = CitywatchApp(hub, title="citywatch", operator="bench", home="cameras")
    if not args.profile:
        app.run()
        return
    import cProfile

    with cProfile.Profile() as profile:
        app.run()
    profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
