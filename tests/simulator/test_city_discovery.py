"""WS-Discovery on a whole simulated city: the real driver finds every camera that is on,
with the XAddr and scopes its ONVIF service reports."""

from __future__ import annotations

from drivers.discovery import discover
from simulator.city import SimulatedCity


async def test_discover_finds_every_camera_that_is_on(city: SimulatedCity) -> None:
    ep = city.endpoints()["discovery"]
    result = await discover(timeout_s=1.5, target=(ep["host"], ep["port"]))
    found = {d.xaddrs[0]: d for d in result.devices}
    on = {c.onvif_url: c for c in city.cameras.values() if "centre-002" != c.spec.id}
    assert set(found) == set(on)  # centre-002 is offline from the start: silent
    for url, device in found.items():
        assert device.name == on[url].spec.name
        assert device.source == "127.0.0.1"
    assert result.rejected == 0
