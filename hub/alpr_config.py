"""ALPR settings of a hub: which sender is which camera, retention, hotlists to load.

A vendor read names its camera in the vendor's terms (OpenALPR: a number, Plate
Recognizer: a string or nothing). `AlprSender` maps those to our cameras and vehicles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.errors import ConfigError

# Reads are personal data: kept 90 days unless the config says otherwise (DESIGN.md, Store).
DEFAULT_READ_RETENTION = timedelta(days=90)

SENDER_KEYS = frozenset({"source", "id", "camera", "vehicle"})
ALPR_KEYS = frozenset({"senders", "retention_days", "hotlists"})
SOURCES = frozenset({"citywatch", "openalpr", "platerecognizer", "onvif"})


@dataclass(frozen=True)
class AlprSender:
    """A unit that sends reads: `(source, id)` as it appears on the wire -> our ids."""

    source: str
    id: str
    camera: str
    vehicle: str | None = None


@dataclass(frozen=True)
class HotlistFile:
    """A hotlist file the hub imports at start (e.g. the simulator's generated list)."""

    path: Path
    name: str
    covert: bool = False


@dataclass(frozen=True)
class AlprConfig:
    """Everything about plates a hub needs besides its cameras."""

    senders: tuple[AlprSender, ...] = ()
    retention: timedelta = DEFAULT_READ_RETENTION
    hotlists: tuple[HotlistFile, ...] = ()


def alpr_from_toml(raw: Any, base: Path, where: str) -> AlprConfig:
    """The `[alpr]` table of a hub config: senders, retention_days, hotlists."""
    if raw is None:
        return AlprConfig()
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: alpr: must be a table")
    for key in sorted(set(raw) - ALPR_KEYS):
        problems.append(f"{where}: alpr.{key}: unknown key")
    retention = DEFAULT_READ_RETENTION
    days = raw.get("retention_days")
    if days is not None:
        if isinstance(days, int) and not isinstance(days, bool) and days >= 1:
            retention = timedelta(days=days)
        else:
            problems.append(f"{where}: alpr.retention_days: must be a whole number ≥ 1")
    senders = _senders(raw.get("senders", []), f"{where}: alpr.senders", problems)
    hotlists: list[HotlistFile] = []
    for i, entry in enumerate(raw.get("hotlists", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            problems.append(f"{where}: alpr.hotlists[{i}]: needs file = \"PATH\"")
            continue
        path = (base / entry["file"]).resolve()
        hotlists.append(HotlistFile(path, str(entry.get("name") or path.stem),
                                    bool(entry.get("covert", False))))
    if problems:
        raise ConfigError("\n".join(problems))
    return AlprConfig(tuple(senders), retention, tuple(hotlists))


def alpr_from_endpoints(raw: Any, source: str) -> AlprConfig:
    """The "alpr" part of a simulator endpoints file: {"units": [...], "hotlist": PATH}."""
    if raw is None:
        return AlprConfig()
    if isinstance(raw, list):  # a bare list of units
        raw = {"units": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: alpr: expected an object")
    problems: list[str] = []
    units = [
        {"source": u.get("format"), "id": u.get("sender_id", u.get("unit")),
         "camera": u.get("camera"), "vehicle": u.get("vehicle")}
        if isinstance(u, dict) else u
        for u in raw.get("units", [])
    ]
    senders = _senders(units, f"{source}: alpr.units", problems)
    hotlists = []
    hotlist = raw.get("hotlist")
    if isinstance(hotlist, str) and hotlist:
        hotlists.append(HotlistFile(Path(hotlist), Path(hotlist).stem))
    elif isinstance(hotlist, dict) and isinstance(hotlist.get("file"), str):
        hotlists.append(HotlistFile(Path(hotlist["file"]), str(hotlist.get("name") or "simulated")))
    if problems:
        raise ConfigError("\n".join(problems))
    return AlprConfig(senders=tuple(senders), hotlists=tuple(hotlists))


def _senders(raw: Any, where: str, problems: list[str]) -> list[AlprSender]:
    if not isinstance(raw, list):
        problems.append(f"{where}: expected a list")
        return []
    senders = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.append(f"{where}[{i}]: expected a table")
            continue
        source, ident, camera = entry.get("source"), entry.get("id"), entry.get("camera")
        vehicle = entry.get("vehicle")
        if source not in SOURCES:
            problems.append(f"{where}[{i}].source: one of {', '.join(sorted(SOURCES))}")
            continue
        if ident is None or isinstance(ident, bool) or str(ident) == "":
            problems.append(f"{where}[{i}].id: missing")
            continue
        if not camera and not vehicle:
            problems.append(f"{where}[{i}]: needs camera or vehicle")
            continue
        senders.append(AlprSender(str(source), str(ident), str(camera or vehicle),
                                  str(vehicle) if vehicle else None))
    return senders
