"""PTZ per camera group in a scenario: `ptz = true | false | "continuous"` (a dome that
only moves continuously, a real quirk of cheap domes), seen through the real driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import OnvifNotSupported
from drivers.onvif import OnvifDevice
from simulator.city import SimulatedCity
from simulator.errors import ScenarioError
from simulator.scenario import parse_scenario

SCENARIO = """
[scenario]
name = "PTZ"
seed = 4
start = 2026-03-02T08:00:00Z
duration = "10m"
speed = 20.0

[[sites]]
id = "city"
name = "Stad Hasselt"
kind = "city"

[[camera_groups]]
id = "dome"
site = "city"
kind = "fixed"
count = 1
vendor = "hikvision"
streets = ["Grote Markt"]
password = "p"
ptz = @PTZ@
"""


def _city(ptz: str, video_cache: Path) -> SimulatedCity:
    scenario = parse_scenario(SCENARIO.replace("@PTZ@", ptz))
    return SimulatedCity(scenario, video_cache_dir=video_cache, prewarm=False)


async def test_continuous_only_dome(video_cache: Path) -> None:
    city = _city('"continuous"', video_cache)
    await city.start()
    cam = city.cameras["dome-001"]
    device = OnvifDevice(cam.onvif_url, "admin", "p")
    try:
        ptz = device.ptz()
        (node,) = await ptz.nodes()
        assert node.supports("continuous")
        assert not node.supports("absolute") and not node.supports("relative")
        await ptz.continuous_move(pan=0.5, timeout_s=2)
        with pytest.raises(OnvifNotSupported):
            await ptz.absolute_move(pan=0.2, tilt=0.1)
    finally:
        await device.close()
        await city.stop()


async def test_ptz_false_has_no_ptz_service(video_cache: Path) -> None:
    city = _city("false", video_cache)
    await city.start()
    device = OnvifDevice(city.cameras["dome-001"].onvif_url, "admin", "p")
    try:
        with pytest.raises(OnvifNotSupported):
            await device.ptz().status()
    finally:
        await device.close()
        await city.stop()


def test_bad_ptz_value_is_located() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(SCENARIO.replace("@PTZ@", '"yes"'), "ptz.toml")
    assert 'ptz.toml:22: camera_groups[0].ptz: must be true, false or "continuous"' in str(
        err.value)
