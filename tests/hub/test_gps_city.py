"""A patrol car end to end: the simulated city's receiver on a pty → the hub's vehicle.

Unplug/replug and the tunnel are switched through the simulator's public fault API; the
hub is judged only by its public state (vehicle status, geotag of a read time).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hub.core import Hub
from hub.endpoints_config import config_from_endpoints
from hub.geotag import GeotagMethod
from hub.gps_supervisor import GpsTiming
from hub.model import FixState, VehicleStatus
from simulator.city import SimulatedCity
from simulator.model import GpsFault
from simulator.scenario import load_scenario

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.toml"
# Inside Hasselt's ring and its suburbs, generously.
HASSELT_LAT = (50.88, 50.98)
HASSELT_LON = (5.25, 5.42)
# The issue: the fix resumes <= 5 s after the receiver is plugged back in.
REPLUG_FIX_WITHIN_S = 5.0


async def start_city(tmp_path: Path) -> SimulatedCity:
    (tmp_path / "gps").mkdir()
    city = SimulatedCity(load_scenario(SMALL), gps_dir=tmp_path / "gps")
    await city.start()
    return city


async def start_hub(city: SimulatedCity, tmp_path: Path) -> Hub:
    """A hub on the city's endpoints; cameras are other tests' business: vehicles only."""
    config = config_from_endpoints(city.endpoints(), "simulator")
    assert config.vehicles, "small.toml has a patrol car"
    hub = await Hub.open(list(config.sites), [], tmp_path / "data",
                         vehicles=list(config.vehicles),
                         gps_timing=GpsTiming(reconnect_interval_s=0.2))
    await hub.start()
    return hub


@pytest.fixture
async def city_and_hub(tmp_path: Path) -> AsyncIterator[tuple[SimulatedCity, Hub]]:
    city = await start_city(tmp_path)
    hub = await start_hub(city, tmp_path)
    try:
        yield city, hub
    finally:
        await hub.stop()
        await city.stop()


async def wait_for_state(hub: Hub, vehicle_id: str, want: FixState,
                         timeout_s: float = 10.0,
                         also: Callable[[VehicleStatus], bool] = lambda s: True
                         ) -> VehicleStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = hub.vehicle(vehicle_id)
        assert status is not None
        if status.state is want and also(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{vehicle_id} not {want} within {timeout_s} s: {hub.vehicle(vehicle_id)}")


async def test_patrol_car_fix_unplug_replug_and_tunnel(
    city_and_hub: tuple[SimulatedCity, Hub],
) -> None:
    city, hub = city_and_hub
    vehicle_id = next(iter(city.vehicles))
    gps = city.vehicles[vehicle_id]

    status = await wait_for_state(hub, vehicle_id, FixState.FIX,
                                  also=lambda s: len(hub.recent_track(vehicle_id)) >= 3)
    assert status.position is not None
    assert HASSELT_LAT[0] < status.position.lat < HASSELT_LAT[1]
    assert HASSELT_LON[0] < status.position.lon < HASSELT_LON[1]
    # A read between two fixes is interpolated and lands in Hasselt.
    track = hub.recent_track(vehicle_id)
    a, b = track[-2], track[-1]
    tag = hub.geotag(vehicle_id, a.at + (b.at - a.at) / 2)
    assert tag.method is GeotagMethod.INTERPOLATED and tag.has_position
    assert tag.lat is not None and min(a.lat, b.lat) - 1e-9 <= tag.lat <= max(a.lat, b.lat) + 1e-9

    # Unplugged: "no device"; plugged back: a fix again within the promised time.
    await gps.set_fault(GpsFault.UNPLUG, True)
    gone = await wait_for_state(hub, vehicle_id, FixState.NO_DEVICE)
    assert gone.detail
    await gps.set_fault(GpsFault.UNPLUG, False)
    replugged = time.monotonic()
    await wait_for_state(hub, vehicle_id, FixState.FIX, timeout_s=REPLUG_FIX_WITHIN_S + 2)
    assert time.monotonic() - replugged <= REPLUG_FIX_WITHIN_S

    # Tunnel: the receiver talks but has no fix; a read long after the last fix gets no
    # position (stale), never the old one silently.
    await gps.set_fault(GpsFault.OUTAGE, True)
    tunnel = await wait_for_state(hub, vehicle_id, FixState.NO_FIX)
    assert tunnel.position is not None  # the last fix is kept, with its age, as such
    late = hub.recent_track(vehicle_id)[-1].at + timedelta(seconds=30)
    stale = hub.geotag(vehicle_id, late)
    assert stale.method is GeotagMethod.STALE and not stale.has_position
    await gps.set_fault(GpsFault.OUTAGE, False)
    await wait_for_state(hub, vehicle_id, FixState.FIX)


async def test_vehicle_unplugged_when_the_hub_starts_is_waited_for(tmp_path: Path) -> None:
    city = await start_city(tmp_path)
    vehicle_id = next(iter(city.vehicles))
    gps = city.vehicles[vehicle_id]
    await gps.set_fault(GpsFault.UNPLUG, True)  # the pty link is gone before the hub opens it
    hub = await start_hub(city, tmp_path)
    try:
        await wait_for_state(hub, vehicle_id, FixState.NO_DEVICE)
        await asyncio.sleep(0.5)
        await gps.set_fault(GpsFault.UNPLUG, False)
        await wait_for_state(hub, vehicle_id, FixState.FIX, timeout_s=REPLUG_FIX_WITHIN_S + 2)
    finally:
        await hub.stop()
        await city.stop()
