"""Hub configuration from a simulator endpoints document (`citywatch sim --endpoints`):
every simulated camera, GPS receiver and ALPR unit with its URLs and credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.alpr_config import alpr_from_endpoints
from hub.config import HubConfig
from hub.errors import ConfigError
from hub.model import CameraConfig, CameraKind, Site, VehicleConfig


def config_from_endpoints(data: Any, source: str) -> HubConfig:
    """Hub config from a simulator endpoints document (`citywatch sim --endpoints`)."""
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        raise ConfigError(f"{source}: not an endpoints file: expected {{\"cameras\": [...]}}")
    messages: list[str] = []
    cameras: list[CameraConfig] = []
    for i, cam in enumerate(data["cameras"]):
        try:
            cameras.append(
                CameraConfig(
                    id=str(cam["id"]),
                    name=str(cam.get("name", cam["id"])),
                    site=str(cam["site"]),
                    kind=CameraKind(cam.get("kind", "fixed")),
                    onvif_url=str(cam["onvif"]),
                    username=str(cam["username"]),
                    password=str(cam["password"]),
                    street=str(cam.get("street", "")),
                    lat=_float_or_none(cam.get("lat")),
                    lon=_float_or_none(cam.get("lon")),
                    group=str(cam.get("group") or ""),
                )
            )
        except KeyError as exc:
            messages.append(f"{source}: cameras[{i}]: missing field {exc.args[0]!r}")
        except (TypeError, ValueError) as exc:
            messages.append(f"{source}: cameras[{i}]: {exc}")
    if messages:
        raise ConfigError("\n".join(messages))
    vehicles = _gps_vehicles(data.get("gps", []), {c.id: c for c in cameras}, source)
    names = _site_names(data.get("sites"))
    site_ids = dict.fromkeys([*names, *(c.site for c in cameras), *(v.site for v in vehicles)])
    sites = tuple(Site(id=s, name=names.get(s, s)) for s in site_ids)
    alpr = alpr_from_endpoints(data.get("alpr"), source)
    return HubConfig(sites=sites, cameras=tuple(cameras), vehicles=tuple(vehicles), alpr=alpr)


# Site of a simulated vehicle whose endpoints entry names no camera to take it from.
DEFAULT_VEHICLE_SITE = "police"


def _gps_vehicles(
    raw: Any, cameras: dict[str, CameraConfig], source: str
) -> list[VehicleConfig]:
    """Vehicles from an endpoints file's "gps" list.

    Each entry: {"id", "vehicle", "device", "tcp", "camera", "receiver", "rate_hz"}. The
    receiver is read from its serial device (the pty, as in a car) and over TCP when
    there is no device path.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: gps: expected a list")
    messages: list[str] = []
    vehicles: list[VehicleConfig] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or "id" not in entry:
            messages.append(f"{source}: gps[{i}]: expected an object with an \"id\"")
            continue
        where = entry.get("device") or entry.get("tcp")
        if not isinstance(where, str) or not where:
            messages.append(f"{source}: gps[{i}]: missing field 'device' (or 'tcp')")
            continue
        camera = entry.get("camera")
        camera_id = str(camera) if camera else None
        site = cameras[camera_id].site if camera_id in cameras else DEFAULT_VEHICLE_SITE
        vehicles.append(
            VehicleConfig(
                id=str(entry["id"]),
                name=str(entry.get("vehicle") or entry["id"]),
                site=site,
                source=where,
                camera=camera_id,
            )
        )
    if messages:
        raise ConfigError("\n".join(messages))
    return vehicles


def load_endpoints(path: Path) -> HubConfig:
    """Read a simulator endpoints JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    return config_from_endpoints(data, str(path))


def _site_names(raw: Any) -> dict[str, str]:
    """Site id → name from an endpoints file's optional "sites" list."""
    if not isinstance(raw, list):
        return {}
    return {
        str(site["id"]): str(site.get("name", site["id"]))
        for site in raw
        if isinstance(site, dict) and "id" in site
    }


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
