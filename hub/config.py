"""Hub configuration: a TOML file listing real cameras (a simulator endpoints file:
hub/endpoints_config.py).

Example (docs/config.md has the full reference)::

    [hub]
    data_dir = "/var/lib/citywatch"

    [[sites]]
    id = "city"
    name = "Stad Hasselt"

    [[cameras]]
    id = "cam-117"
    name = "Grote Markt 3"
    site = "city"
    kind = "fixed"
    onvif = "http://10.1.2.117/onvif/device_service"
    username = "admin"
    password_env = "CAM117_PASSWORD"   # or password = "..."

    [[vehicles]]
    id = "combi-3"
    name = "Combi 3"
    site = "police"
    source = "/dev/ttyUSB0"            # or "tcp://10.1.9.3:2947", a log file
    camera = "cam-mobile-3"            # optional: the ALPR camera riding on it

    [[partners]]                       # a partner hub whose granted cameras we import
    id = "uhasselt"
    name = "UHasselt campus"
    url = "https://hub.uhasselt.example:8787"
    token_env = "UHASSELT_TOKEN"       # or token = "..."
    ca_file = "uhasselt-ca.pem"        # optional: trust this CA for https
"""

from __future__ import annotations

import os
import re
import ssl
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.alpr_config import AlprConfig, alpr_from_toml
from hub.errors import ConfigError
from hub.health_thresholds import DEFAULT_THRESHOLDS, HealthPolicy, thresholds_from
from hub.model import CameraConfig, CameraKind, Site, VehicleConfig

CAMERA_KEYS = frozenset(
    {"id", "name", "site", "kind", "onvif", "username", "password", "password_env",
     "street", "lat", "lon", "group"}
)
SITE_KEYS = frozenset({"id", "name"})
VEHICLE_KEYS = frozenset({"id", "name", "site", "source", "camera"})
PARTNER_KEYS = frozenset({"id", "name", "url", "token", "token_env", "ca_file"})
HUB_KEYS = frozenset({"data_dir"})
TOP_KEYS = frozenset({"hub", "sites", "cameras", "vehicles", "health", "alpr", "partners"})
# Federated camera ids are "<partner id>:<their id>": a partner id must not contain the
# separator, or the owner of an id would be ambiguous.
PARTNER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PartnerConfig:
    """A partner hub whose granted cameras this hub imports (hub/federation.py)."""

    id: str
    name: str
    url: str  # the partner hub's API base, http(s)://host:port
    token: str = field(repr=False)  # a partner token of the partner hub: never logged
    ca_file: Path | None = None  # CA to trust for an https partner (else the system's)


@dataclass(frozen=True)
class HubConfig:
    """Everything the hub needs to start."""

    sites: tuple[Site, ...]
    cameras: tuple[CameraConfig, ...]
    data_dir: Path | None = None
    vehicles: tuple[VehicleConfig, ...] = ()
    # Health thresholds: [health] defaults, [health.groups.NAME] per CameraConfig.group.
    health: HealthPolicy = field(default_factory=HealthPolicy)
    # Plates: which ALPR sender is which camera, read retention, hotlists to load.
    alpr: AlprConfig = field(default_factory=AlprConfig)
    # Partner hubs whose granted cameras this hub shows, read-only.
    partners: tuple[PartnerConfig, ...] = ()


class _Problems:
    """Collects every problem of a file so the user fixes them in one go."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.messages: list[str] = []

    def add(self, field: str, message: str, table: str | None = None, index: int = 0) -> None:
        line = self._line_of(table, index, field.rsplit(".", 1)[-1]) if table else None
        where = f"{self.path}:{line}" if line else str(self.path)
        self.messages.append(f"{where}: {field}: {message}")

    def _line_of(self, table: str, index: int, key: str) -> int | None:
        """Line of `key` inside the index-th [[table]] (or of the header itself)."""
        header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        seen = -1
        start = None
        for number, text in enumerate(self.lines, start=1):
            if header.match(text):
                seen += 1
                if seen == index:
                    start = number
                    continue
            if start is not None:
                if text.lstrip().startswith("["):
                    break
                if re.match(rf"^\s*{re.escape(key)}\s*=", text):
                    return number
        return start

    def raise_if_any(self) -> None:
        if self.messages:
            raise ConfigError("\n".join(self.messages))


def load_config(path: Path) -> HubConfig:
    """Read and validate a hub config file; every problem is reported in one ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    problems = _Problems(path, text)
    for key in sorted(set(data) - TOP_KEYS):
        problems.add(key, "unknown key")
    hub = data.get("hub", {})
    data_dir = None
    if not isinstance(hub, dict):
        problems.add("hub", "must be a table")
    else:
        for key in sorted(set(hub) - HUB_KEYS):
            problems.add(f"hub.{key}", "unknown key")
        if "data_dir" in hub:
            if isinstance(hub["data_dir"], str) and hub["data_dir"]:
                data_dir = (path.parent / hub["data_dir"]).resolve()
            else:
                problems.add("hub.data_dir", "must be a non-empty string")
    sites = _sites(data.get("sites", []), problems)
    site_ids = {s.id for s in sites}
    cameras = _cameras(data.get("cameras", []), site_ids, problems)
    vehicles = _vehicles(data.get("vehicles", []), site_ids, {c.id for c in cameras}, problems)
    health = _health(data.get("health"), problems)
    partners = _partners(data.get("partners", []), path.parent, site_ids, problems)
    alpr = AlprConfig()
    try:
        alpr = alpr_from_toml(data.get("alpr"), path.parent, str(path))
    except ConfigError as exc:
        problems.messages.append(str(exc))
    if not cameras and not vehicles and not partners and not problems.messages:
        problems.add("cameras", "no [[cameras]] configured")
    problems.raise_if_any()
    return HubConfig(
        sites=tuple(sites), cameras=tuple(cameras), data_dir=data_dir, vehicles=tuple(vehicles),
        health=health, alpr=alpr, partners=tuple(partners),
    )


def _sites(raw: Any, problems: _Problems) -> list[Site]:
    sites: list[Site] = []
    if not isinstance(raw, list):
        problems.add("sites", "must be an array of tables ([[sites]])")
        return sites
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.add(f"sites[{i}]", "must be a table", "sites", i)
            continue
        for key in sorted(set(entry) - SITE_KEYS):
            problems.add(f"sites[{i}].{key}", "unknown key", "sites", i)
        site_id = entry.get("id")
        if not isinstance(site_id, str) or not site_id:
            problems.add(f"sites[{i}].id", "required, a non-empty string", "sites", i)
            continue
        name = entry.get("name", site_id)
        sites.append(Site(id=site_id, name=str(name)))
    return sites


Bad = Callable[[str, str], None]


def _table_entries(
    raw: Any, table: str, allowed: frozenset[str], problems: _Problems
) -> Iterator[tuple[dict[str, Any], Bad]]:
    """Each [[table]] entry that is a table, with a reporter of its problems; unknown
    keys are reported already."""
    if not isinstance(raw, list):
        problems.add(table, f"must be an array of tables ([[{table}]])")
        return
    for i, entry in enumerate(raw):
        def bad(key: str, message: str, i: int = i) -> None:
            problems.add(f"{table}[{i}].{key}", message, table, i)

        if not isinstance(entry, dict):
            problems.add(f"{table}[{i}]", "must be a table", table, i)
            continue
        for key in sorted(set(entry) - allowed):
            bad(key, "unknown key")
        yield entry, bad


def _id_and_site(
    entry: dict[str, Any], bad: Bad, seen: set[str], site_ids: set[str], what: str
) -> tuple[str, str]:
    """The entry's unique id and its (known) site."""
    entry_id = _required_str(entry, "id", bad)
    if entry_id and entry_id in seen:
        bad("id", f"duplicate {what} id {entry_id!r}")
    seen.add(entry_id)
    site = _required_str(entry, "site", bad)
    if site and site_ids and site not in site_ids:
        bad("site", f"unknown site {site!r} (known: {', '.join(sorted(site_ids))})")
    return entry_id, site


def _cameras(raw: Any, site_ids: set[str], problems: _Problems) -> list[CameraConfig]:
    cameras: list[CameraConfig] = []
    seen: set[str] = set()
    for entry, bad in _table_entries(raw, "cameras", CAMERA_KEYS, problems):
        before = len(problems.messages)
        cam_id, site = _id_and_site(entry, bad, seen, site_ids, "camera")
        kind_text = entry.get("kind", "fixed")
        try:
            kind = CameraKind(kind_text)
        except ValueError:
            bad("kind", f"must be one of fixed, temporary, mobile, got {kind_text!r}")
            kind = CameraKind.FIXED
        url = _required_str(entry, "onvif", bad)
        if url and not _is_http_url(url):
            bad("onvif", "must be an http(s):// device_service URL")
        username = _required_str(entry, "username", bad)
        password = _password(entry, bad)
        group = entry.get("group", "")
        if not isinstance(group, str):
            bad("group", "must be a string (a camera group name)")
        lat, lon = entry.get("lat"), entry.get("lon")
        for key, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
            if value is not None and (
                not isinstance(value, int | float) or not -limit <= value <= limit
            ):
                bad(key, f"must be a number between -{limit:g} and {limit:g}")
        if len(problems.messages) > before:
            continue
        cameras.append(
            CameraConfig(
                id=cam_id,
                name=str(entry.get("name", cam_id)),
                site=site,
                kind=kind,
                onvif_url=url,
                username=username,
                password=password,
                street=str(entry.get("street", "")),
                lat=float(lat) if lat is not None else None,
                lon=float(lon) if lon is not None else None,
                group=group,
            )
        )
    return cameras


def _vehicles(
    raw: Any, site_ids: set[str], camera_ids: set[str], problems: _Problems
) -> list[VehicleConfig]:
    vehicles: list[VehicleConfig] = []
    seen: set[str] = set()
    for entry, bad in _table_entries(raw, "vehicles", VEHICLE_KEYS, problems):
        before = len(problems.messages)
        vehicle_id, site = _id_and_site(entry, bad, seen, site_ids, "vehicle")
        source = _required_str(entry, "source", bad)
        camera = entry.get("camera")
        if camera is not None:
            if not isinstance(camera, str) or not camera:
                bad("camera", "must be a non-empty string (a camera id)")
            elif camera not in camera_ids:
                bad("camera", f"unknown camera {camera!r}")
        name = entry.get("name", vehicle_id)
        if not isinstance(name, str):
            bad("name", "must be a string")
        if len(problems.messages) > before:
            continue
        vehicles.append(
            VehicleConfig(id=vehicle_id, name=str(name), site=site, source=source, camera=camera)
        )
    return vehicles


def _partners(
    raw: Any, base: Path, site_ids: set[str], problems: _Problems
) -> list[PartnerConfig]:
    partners: list[PartnerConfig] = []
    seen: set[str] = set()
    for entry, bad in _table_entries(raw, "partners", PARTNER_KEYS, problems):
        before = len(problems.messages)
        partner_id = _required_str(entry, "id", bad)
        if partner_id and not PARTNER_ID_PATTERN.match(partner_id):
            bad("id", "letters, digits, '_', '.' and '-' only (it prefixes camera ids)")
        elif partner_id in seen:
            bad("id", f"duplicate partner id {partner_id!r}")
        elif partner_id in site_ids:
            bad("id", f"{partner_id!r} is one of our [[sites]]: a partner is a site of its own")
        seen.add(partner_id)
        name = entry.get("name", partner_id)
        if not isinstance(name, str) or not name:
            bad("name", "must be a non-empty string")
        url = _required_str(entry, "url", bad)
        if url and not _is_http_url(url):
            bad("url", "must be the partner hub's http(s):// address")
        elif urlsplit(url).username or urlsplit(url).password:
            bad("url", "must not carry credentials (use token_env)")
        token = _secret(entry, "token", "token_env", bad)
        ca_file = None
        if "ca_file" in entry:
            ca = entry["ca_file"]
            if not isinstance(ca, str) or not ca:
                bad("ca_file", "must be a non-empty string (a PEM file)")
            elif not (base / ca).is_file():
                bad("ca_file", f"no such file: {ca}")
            elif not url.startswith("https://"):
                bad("ca_file", "only for an https:// url")
            else:
                ca_file = (base / ca).resolve()
                try:
                    ssl.create_default_context(cafile=str(ca_file))
                except (OSError, ssl.SSLError) as exc:
                    bad("ca_file", f"not a PEM CA certificate: {exc}")
        if len(problems.messages) > before:
            continue
        partners.append(PartnerConfig(id=partner_id, name=str(name), url=url.rstrip("/"),
                                      token=token, ca_file=ca_file))
    return partners


def _required_str(entry: dict[str, Any], key: str, bad: Bad) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        bad(key, "required, a non-empty string")
        return ""
    return value


def _password(entry: dict[str, Any], bad: Bad) -> str:
    return _secret(entry, "password", "password_env", bad, allow_empty=True)


def _secret(entry: dict[str, Any], key: str, env_key: str, bad: Bad,
            allow_empty: bool = False) -> str:
    """A secret given by an environment variable's name (`env_key`, preferred: it stays
    out of the file) or in the file (`key`). Messages name the key, never the value."""
    if env_key in entry:
        name = entry[env_key]
        if not isinstance(name, str) or name not in os.environ:
            bad(env_key, f"environment variable {name!r} is not set")
            return ""
        if not allow_empty and not os.environ[name]:
            bad(env_key, f"environment variable {name!r} is empty")
        return os.environ[name]
    value = entry.get(key)
    if not isinstance(value, str) or not (allow_empty or value):
        bad(key, f"required (or {env_key}), a {'' if allow_empty else 'non-empty '}string")
        return ""
    return value


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# Health thresholds ----------------------------------------------------------------------


def _health(raw: Any, problems: _Problems) -> HealthPolicy:
    """[health] defaults and [health.groups.NAME] overrides (keys: docs/config.md)."""
    if raw is None:
        return HealthPolicy()
    if not isinstance(raw, dict):
        problems.add("health", "must be a table ([health])")
        return HealthPolicy()
    own = {k: v for k, v in raw.items() if k != "groups"}
    default, found = thresholds_from(own, DEFAULT_THRESHOLDS)
    for key, message in found:
        _health_problem(problems, ("health",), key, message)
    groups_raw = raw.get("groups", {})
    if not isinstance(groups_raw, dict):
        _health_problem(problems, ("health",), "groups", "must be a table of groups")
        return HealthPolicy(default)
    groups = {}
    for name, entry in groups_raw.items():
        if not isinstance(entry, dict):
            _health_problem(problems, ("health", "groups"), name, "must be a table")
            continue
        thresholds, found = thresholds_from(entry, default)
        for key, message in found:
            _health_problem(problems, ("health", "groups", name), key, message)
        groups[name] = thresholds
    return HealthPolicy(default, groups)


def _health_problem(problems: _Problems, table: tuple[str, ...], key: str, message: str) -> None:
    line = _table_key_line(problems.lines, table, key)
    where = f"{problems.path}:{line}" if line else str(problems.path)
    problems.messages.append(f"{where}: {'.'.join((*table, key))}: {message}")


def _table_key_line(lines: list[str], table: tuple[str, ...], key: str) -> int | None:
    """Line of `key = ...` inside the [a.b.c] table, else of its header, else None."""
    names = [rf'(?:{re.escape(n)}|"{re.escape(n)}")' for n in table]
    header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(names) + r"\s*\]")
    start = None
    for number, text in enumerate(lines, start=1):
        if start is None:
            if header.match(text):
                start = number
            continue
        if text.lstrip().startswith("["):
            break
        if re.match(rf'^\s*(?:{re.escape(key)}|"{re.escape(key)}")\s*=', text):
            return number
    return start
