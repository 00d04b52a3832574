from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config import load_config
from hub.endpoints_config import load_endpoints
from hub.errors import ConfigError
from hub.model import CameraKind

GOOD = """\
[hub]
data_dir = "state"

[[sites]]
id = "city"
name = "Stad Hasselt"

[[cameras]]
id = "cam-117"
name = "Grote Markt 3"
site = "city"
kind = "temporary"
onvif = "http://127.0.0.1:8000/onvif/device_service"
username = "admin"
password_env = "CW_TEST_CAM_PASSWORD"
lat = 50.93
lon = 5.34
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def test_good_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_TEST_CAM_PASSWORD", "from-env")
    config = load_config(write(tmp_path, GOOD))
    (camera,) = config.cameras
    assert camera.kind is CameraKind.TEMPORARY
    assert camera.password == "from-env"
    assert "from-env" not in repr(camera)
    assert config.data_dir == (tmp_path / "state").resolve()
    assert [s.name for s in config.sites] == ["Stad Hasselt"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('kind = "temporary"', 'kind = "drone"'), ":12: cameras[0].kind: must be one of"),
        (('site = "city"\nkind', 'site = "nowhere"\nkind'), ":11: cameras[0].site: unknown site"),
        (('lat = 50.93', 'lat = 150.0'), ":16: cameras[0].lat: must be a number"),
        (('username = "admin"', 'usrname = "admin"'), "cameras[0].usrname: unknown key"),
        (('onvif = "http', 'onvif = "ftp'), ":13: cameras[0].onvif: must be an http"),
        (('password_env = "CW_TEST_CAM_PASSWORD"', 'password_env = "CW_UNSET_VAR_X"'),
         "password_env: environment variable 'CW_UNSET_VAR_X' is not set"),
    ],
)
def test_invalid_fields_name_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], expected: str
) -> None:
    monkeypatch.setenv("CW_TEST_CAM_PASSWORD", "x")
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('kind = "temporary"', 'kind = "x"').replace(
        'password_env = "CW_TEST_CAM_PASSWORD"', ""
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "cameras[0].kind" in str(info.value)
    assert "cameras[0].password" in str(info.value)


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[[cameras]\nid = 1"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_endpoints_file(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    cam = {
        "id": "c1", "name": "Demerstraat 4", "site": "police", "kind": "mobile",
        "onvif": "http://127.0.0.1:4000/onvif/device_service", "rtsp": "rtsp://x",
        "snapshot": "http://x", "username": "admin", "password": "pw",
    }
    path.write_text(json.dumps({"cameras": [cam], "gps": []}))
    config = load_endpoints(path)
    assert config.cameras[0].kind is CameraKind.MOBILE
    assert [s.id for s in config.sites] == ["police"]
    del cam["username"]
    path.write_text(json.dumps({"cameras": [cam]}))
    with pytest.raises(ConfigError, match=r"cameras\[0\]: missing field 'username'"):
        load_endpoints(path)
    path.write_text("{broken")
    with pytest.raises(ConfigError, match=":1: not valid JSON"):
        load_endpoints(path)
