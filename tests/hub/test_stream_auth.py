"""A camera's password changed under a playing stream: the simulator drops the sessions
(as a real camera does), the sampler reconnects and meets the 401, the hub shows the
camera down with "auth failed" (stream side), and ok again once the password matches.
Real ONVIF, RTSP and PyAV, as in tests/hub/test_stream_health.py (whose rig this uses)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hub.health_thresholds import HealthThresholds
from hub.model import CameraStatus, HealthReason, HealthSide, HealthState
from simulator.rtsp_server import StreamFault
from tests.hub.test_stream_health import Rig, rig, set_fault, wait_for

__all__ = ["rig"]  # the fixture, used by name

S, R = HealthState, HealthReason
# The targets for a stream that stops (stall: 5 s) and for recovery (10 s).
DETECT_TARGET_S = 5.0
RECOVER_TARGET_S = 10.0


def auth_failed(status: CameraStatus) -> bool:
    return status.state is S.DOWN and status.reason is R.AUTH_FAILED


def flowing(status: CameraStatus) -> bool:
    return status.state is S.OK and status.stream is not None


async def test_auth_change_is_one_change_down_and_one_back(
    rig: Callable[..., Awaitable[Rig]],
) -> None:
    """Short thresholds: exactly ok -> down (auth failed, stream) -> ok in the history."""
    r = await rig(1)
    camera = r.cameras[0]
    cam_id = camera.spec.id
    await wait_for(r.hub, cam_id, flowing)
    set_fault(r, camera, StreamFault.AUTH_CHANGE, True)
    bad = await wait_for(r.hub, cam_id, lambda s: s.state is not S.OK)
    assert (bad.state, bad.reason, bad.side) == (S.DOWN, R.AUTH_FAILED, HealthSide.STREAM)
    assert r.server.stats["auth_failures"] >= 1  # the reconnect met the 401
    set_fault(r, camera, StreamFault.AUTH_CHANGE, False)
    await wait_for(r.hub, cam_id, lambda s: s.state is S.OK)
    history = await r.hub.store.history(cam_id)
    assert [(h.new_state, h.reason, h.side) for h in reversed(history)] == [
        (S.OK, R.NONE, HealthSide.NONE),
        (S.DOWN, R.AUTH_FAILED, HealthSide.STREAM),
        (S.OK, R.NONE, HealthSide.NONE),
    ]


async def test_auth_change_within_the_targets_with_production_thresholds(
    rig: Callable[..., Awaitable[Rig]],
) -> None:
    """Default thresholds and reconnect pacing: down within 5 s, ok within 10 s."""
    r = await rig(1, HealthThresholds())
    camera = r.cameras[0]
    cam_id = camera.spec.id
    await wait_for(r.hub, cam_id, flowing)
    loop = asyncio.get_running_loop()
    set_fault(r, camera, StreamFault.AUTH_CHANGE, True)
    t0 = loop.time()
    await wait_for(r.hub, cam_id, auth_failed)
    detected = loop.time() - t0
    set_fault(r, camera, StreamFault.AUTH_CHANGE, False)
    t1 = loop.time()
    await wait_for(r.hub, cam_id, lambda s: s.state is S.OK)
    recovered = loop.time() - t1
    assert detected <= DETECT_TARGET_S, f"auth failed after {detected:.1f} s"
    assert recovered <= RECOVER_TARGET_S, f"ok after {recovered:.1f} s"
