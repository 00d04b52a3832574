"""Detection and recovery latency per stream fault type: simulator + hub health engine.

The small city (scenarios/small.toml; centre-002 is offline and not used) and a hub with
stream health on and the production thresholds (hub/health_thresholds.py) run in this
process, the hub's store in a temporary directory. Once the healthy cameras are ok with
stream metrics and a learned bit-rate baseline, each fault type is injected `--repeats`
times with `SimulatedCity.set_stream_fault` (every stream of the camera). The cameras
work in parallel, each on its own queue of injections, one at a time:

- inject at t0; detection = the first poll (every 0.1 s) at which `hub.camera(id)` is not
  ok; its reason is recorded (and whether it is the one the fault should give);
- hold the fault until HOLD_S after t0 (longer if it was detected late); a fault not
  detected within DETECT_LIMIT_S is a miss and switched off then;
- switch off at t1; recovery = the first poll at which the camera is ok again;
- after SETTLE_S more, the stored history since t0 is read: state changes (old state !=
  new state) per injection; one fault should give two (ok -> bad, bad -> ok).

Latencies from time.monotonic. Percentiles are nearest-rank (with 3 repeats, p95 is the
worst). Targets (reported, not asserted): stall detected <= 5 s, freeze and black
<= 10 s, recovery <= 10 s (p95), one state change per fault and one per its end.
Prints one JSON line.

    .venv/bin/python -m bench.stream_latency [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.core import Hub
from hub.endpoints_config import config_from_endpoints
from hub.model import HealthReason, HealthState
from simulator.city import SimulatedCity
from simulator.scenario import load_scenario
from simulator.stream_faults import StreamFault

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "small.toml"
EXCLUDED = frozenset({"centre-002"})  # offline in the scenario

F, R = StreamFault, HealthReason
# Fault -> the reason it should be reported with.
FAULTS: tuple[tuple[StreamFault, HealthReason], ...] = (
    (F.STALL, R.STALLED),
    (F.BLACK, R.BLACK),
    (F.FREEZE, R.FROZEN),
    (F.FPS_DROP, R.LOW_FPS),
    (F.BITRATE_DROP, R.LOW_BITRATE),
    (F.NO_KEYFRAMES, R.NO_KEYFRAMES),
    (F.REFUSE, R.REFUSED),
    (F.DISCONNECT, R.NO_DATA),
)
TARGETS_S = {F.STALL: 5.0, F.BLACK: 10.0, F.FREEZE: 10.0}
RECOVERY_TARGET_S = 10.0

POLL_S = 0.1
HOLD_S = 18.0  # fault on for at least this long
HOLD_AFTER_DETECT_S = 4.0  # ... and at least this long after it was detected
DETECT_LIMIT_S = 30.0  # not detected within this: a miss
RECOVER_LIMIT_S = 30.0  # not ok again within this after the fault ends: no recovery
SETTLE_S = 5.0  # after recovery, before the history is read and the next injection
READY_LIMIT_S = 120.0  # start-up: cameras ok with metrics and a bit-rate baseline


@dataclass
class Injection:
    fault: StreamFault
    camera: str
    detect_s: float | None = None
    reason: str | None = None
    state: str | None = None
    expected_reason_s: float | None = None  # when the expected reason was first shown
    recover_s: float | None = None
    state_changes: int = 0
    changes_while_on: int = 0
    reason_changes: int = 0  # same-state transitions (another reason shown)
    path: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def ready(hub: Hub, camera_id: str) -> bool:
    status = hub.camera(camera_id)
    return (status is not None and status.state is HealthState.OK and status.stream is not None
            and status.stream.baseline_bitrate_kbps is not None)


async def wait_until(predicate: Any, limit_s: float) -> float | None:
    """Seconds until predicate() holds (polled every POLL_S), None after limit_s."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start >= limit_s:
            return None
        await asyncio.sleep(POLL_S)


async def inject(city: SimulatedCity, hub: Hub, fault: StreamFault, expected: HealthReason,
                 camera_id: str) -> Injection:
    result = Injection(fault, camera_id)
    await wait_until(lambda: ready(hub, camera_id), 60.0)  # from a clean, ok camera
    t0_wall = datetime.now(UTC)
    t0 = time.monotonic()
    await city.set_stream_fault(camera_id, fault, True)
    detected_at: float | None = None
    while time.monotonic() - t0 < DETECT_LIMIT_S:
        status = hub.camera(camera_id)
        assert status is not None
        now = time.monotonic()
        if status.state is not HealthState.OK:
            if detected_at is None:
                detected_at = now
                result.detect_s = round(now - t0, 2)
                result.reason, result.state = status.reason.value, status.state.value
            if status.reason is expected:
                result.expected_reason_s = round(now - t0, 2)
                break
        if detected_at is not None and now - detected_at >= HOLD_AFTER_DETECT_S:
            break  # detected with another reason; keep going to the hold below
        await asyncio.sleep(POLL_S)
    off_at = t0 + HOLD_S
    if detected_at is not None:
        off_at = max(off_at, detected_at + HOLD_AFTER_DETECT_S)
    while time.monotonic() < off_at:
        status = hub.camera(camera_id)
        if (result.expected_reason_s is None and status is not None
                and status.reason is expected):
            result.expected_reason_s = round(time.monotonic() - t0, 2)
        await asyncio.sleep(POLL_S)
    t1_wall = datetime.now(UTC)
    await city.set_stream_fault(camera_id, fault, False)
    t1 = time.monotonic()

    def is_ok() -> bool:
        status = hub.camera(camera_id)
        return status is not None and status.state is HealthState.OK

    if detected_at is not None:
        # Measured from the switch-off; a camera that was never bad recovers at once.
        waited = await wait_until(is_ok, RECOVER_LIMIT_S)
        result.recover_s = round(time.monotonic() - t1, 2) if waited is not None else None
    else:
        await wait_until(is_ok, RECOVER_LIMIT_S)
    await asyncio.sleep(SETTLE_S)
    history = [t for t in await hub.store.history(camera_id, 100) if t.at >= t0_wall]
    history.reverse()  # oldest first
    for t in history:
        if t.old_state != t.new_state:
            result.state_changes += 1
            if t.at <= t1_wall:
                result.changes_while_on += 1
        else:
            result.reason_changes += 1
        result.path.append(f"{t.old_state.value}->{t.new_state.value}"
                           f"({t.reason.value or '-'})")
    log(f"{camera_id} {fault.value}: detect {result.detect_s} s ({result.reason}), "
        f"recover {result.recover_s} s, {' '.join(result.path)}")
    return result


async def camera_worker(city: SimulatedCity, hub: Hub, camera_id: str,
                        queue: asyncio.Queue[tuple[StreamFault, HealthReason]],
                        out: list[Injection]) -> None:
    while True:
        try:
            fault, expected = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        out.append(await inject(city, hub, fault, expected, camera_id))


def summarise(injections: list[Injection]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for fault, expected in FAULTS:
        runs = [i for i in injections if i.fault is fault]
        detected = [i.detect_s for i in runs if i.detect_s is not None]
        recovered = [i.recover_s for i in runs if i.recover_s is not None]
        reasons: dict[str, int] = {}
        for i in runs:
            if i.reason is not None:
                key = f"{i.state}:{i.reason}"
                reasons[key] = reasons.get(key, 0) + 1
        changes = [i.state_changes for i in runs]
        entry: dict[str, Any] = {
            "injections": len(runs),
            "cameras": sorted({i.camera for i in runs}),
            "expected_reason": expected.value,
            "detect_p50_s": percentile(detected, 0.5),
            "detect_p95_s": percentile(detected, 0.95),
            "expected_reason_p50_s": percentile(
                [i.expected_reason_s for i in runs if i.expected_reason_s is not None], 0.5),
            "reasons_seen": reasons,
            "recover_p50_s": percentile(recovered, 0.5),
            "recover_p95_s": percentile(recovered, 0.95),
            "state_changes_max": max(changes, default=0),
            "state_changes_mean": round(sum(changes) / len(changes), 2) if changes else None,
            "state_changes_while_on_max": max((i.changes_while_on for i in runs), default=0),
            "reason_changes_total": sum(i.reason_changes for i in runs),
            "misses": sum(1 for i in runs if i.detect_s is None),
            "not_recovered": sum(1 for i in runs if i.detect_s is not None
                                 and i.recover_s is None),
        }
        if fault in TARGETS_S:
            entry["detect_target_s"] = TARGETS_S[fault]
        figures[fault.value] = entry
    return figures


async def measure(repeats: int) -> dict[str, Any]:
    started = time.monotonic()
    city = SimulatedCity(load_scenario(SCENARIO))
    await city.start()
    config = config_from_endpoints(city.endpoints(), "simulator")
    cameras = [c.id for c in config.cameras if c.id not in EXCLUDED]
    injections: list[Injection] = []
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            hub = await Hub.open(list(config.sites), list(config.cameras), Path(data_dir),
                                 vehicles=[], stream_health=True, health=config.health)
            await hub.start()
            try:
                ready_s = await wait_until(lambda: all(ready(hub, c) for c in cameras),
                                           READY_LIMIT_S)
                not_ready = [c for c in cameras if not ready(hub, c)]
                cameras = [c for c in cameras if c not in not_ready]
                log(f"ready after {ready_s} s: {cameras}; not ready: {not_ready}")
                if not cameras:
                    raise RuntimeError("no camera became ok with stream metrics")
                # Repeat-major order: each fault type lands on a different camera per repeat.
                queue: asyncio.Queue[tuple[StreamFault, HealthReason]] = asyncio.Queue()
                for _ in range(repeats):
                    for item in FAULTS:
                        queue.put_nowait(item)
                await asyncio.gather(*(camera_worker(city, hub, c, queue, injections)
                                       for c in cameras))
            finally:
                await hub.stop()
    finally:
        await city.stop()
    return {
        "scenario": SCENARIO.name,
        "cameras": cameras,
        "repeats": repeats,
        "ready_s": round(ready_s, 1) if ready_s is not None else None,
        "recovery_target_s": RECOVERY_TARGET_S,
        "faults": summarise(injections),
        "wall_s": round(time.monotonic() - started, 1),
        "cpu_s": round(time.process_time(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="injections per fault type")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    print(json.dumps(asyncio.run(measure(args.repeats))))


if __name__ == "__main__":
    main()
