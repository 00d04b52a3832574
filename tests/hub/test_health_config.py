"""Health thresholds in the hub config: [health], [health.groups.NAME], camera groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config import load_config
from hub.core import Hub
from hub.endpoints_config import load_endpoints
from hub.errors import ConfigError
from hub.health_thresholds import DEFAULT_THRESHOLDS, HealthPolicy, HealthThresholds
from hub.model import CameraConfig, CameraKind, Site

CAMERAS = """\
[[sites]]
id = "city"

[[cameras]]
id = "cam-1"
site = "city"
onvif = "http://127.0.0.1:8000/onvif/device_service"
username = "admin"
password = "x"
group = "tunnel"

[[cameras]]
id = "cam-2"
site = "city"
onvif = "http://127.0.0.1:8001/onvif/device_service"
username = "admin"
password = "x"
"""

HEALTH = """
[health]
down_after_s = 2.5
ok_after_s = 6

[health.groups.tunnel]
down_after_s = 1
stall_after_s = 1.5

[health.groups.partner]
stream = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_health_table(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CAMERAS))
    assert config.health.for_group("tunnel") == DEFAULT_THRESHOLDS
    assert [c.group for c in config.cameras] == ["tunnel", ""]


def test_group_overrides_apply_on_top_of_the_health_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CAMERAS + HEALTH))
    base = config.health.for_group("")
    assert (base.down_after_s, base.ok_after_s) == (2.5, 6.0)
    assert base.stall_after_s == DEFAULT_THRESHOLDS.stall_after_s
    tunnel = config.health.for_group("tunnel")
    assert (tunnel.down_after_s, tunnel.stall_after_s, tunnel.ok_after_s) == (1.0, 1.5, 6.0)
    assert config.health.for_group("partner").stream is False
    assert config.health.for_group("no-such-group") == base


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("down_after_s = 1\n", "down_after_s = -1\n"),
         ":24: health.groups.tunnel.down_after_s: must be 0 or more"),
        (("down_after_s = 2.5", 'down_after_s = "soon"'), ":20: health.down_after_s: must be a"),
        (("stream = false", "stream = 0"), ":28: health.groups.partner.stream: must be true or"),
        (("stream = false", "strem = false"), ":28: health.groups.partner.strem: unknown key"),
        (("ok_after_s = 6", "ok_after_s = 1"), ":21: health.ok_after_s: must be more than stall"),
        (("ok_after_s = 6", "low_fps_ratio = 1.5"), ":21: health.low_fps_ratio: must be from 0"),
        (("ok_after_s = 6", "baseline_windows = 2.5"), "health.baseline_windows: must be a whole"),
    ],
)
def test_bad_values_name_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, (CAMERAS + HEALTH).replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value), str(info.value)


def test_camera_group_must_be_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, CAMERAS.replace('group = "tunnel"', "group = 7"))
    with pytest.raises(ConfigError, match=r":10: cameras\[0\].group: must be a string"):
        load_config(path)


def test_group_from_an_endpoints_file(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"cameras": [
        {"id": "c1", "site": "city", "onvif": "http://127.0.0.1:1/onvif/device_service",
         "username": "u", "password": "p", "group": "ring-road"},
        {"id": "c2", "site": "city", "onvif": "http://127.0.0.1:2/onvif/device_service",
         "username": "u", "password": "p"},
    ]}))
    config = load_endpoints(path)
    assert [c.group for c in config.cameras] == ["ring-road", ""]


async def test_the_hub_gives_each_camera_its_groups_thresholds(tmp_path: Path) -> None:
    tunnel = HealthThresholds(down_after_s=1.0)
    policy = HealthPolicy(groups={"tunnel": tunnel})
    cameras = [
        CameraConfig(id=f"cam-{i}", name=f"Cam {i}", site="city", kind=CameraKind.FIXED,
                     onvif_url="http://127.0.0.1:9/onvif/device_service", username="u",
                     password="p", group=group)
        for i, group in enumerate(("tunnel", ""))
    ]
    hub = await Hub.open([Site("city", "City")], cameras, tmp_path, health=policy)
    try:
        assert hub._trackers["cam-0"].thresholds is tunnel
        assert hub._trackers["cam-1"].thresholds == DEFAULT_THRESHOLDS
    finally:
        await hub.stop()
