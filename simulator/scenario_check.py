"""Value checking shared by the scenario section parsers (scenario.py, scenario_vehicles.py).

A `Checker` collects (field path, message) problems while walking parsed TOML; the loader
turns them into `file:line: field: message` using the TOML line index.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any


@dataclass(frozen=True)
class Bounds:
    """A lat/lon box; positions of the scenario must lie inside it."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max

    def __str__(self) -> str:
        return (f"lat {self.lat_min:g}..{self.lat_max:g}, "
                f"lon {self.lon_min:g}..{self.lon_max:g}")



MISSING: Any = object()
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
SLUG_HINT = "lowercase letters, digits, '-' and '_', starting with a letter or digit"


def describe(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def choices(options: Iterable[str]) -> str:
    return ", ".join(f'"{o}"' for o in options)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> float | None:
    """Seconds in "2h", "90m", "45s", "1h30m", "01:30:00" or a number of seconds; else None."""
    if is_number(value):
        return float(value)
    if not isinstance(value, str):
        return None
    s = value.strip().lower()
    m = re.fullmatch(r"(\d+):([0-5]\d):([0-5]\d)", s)
    if m:
        return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
    if not s or not re.fullmatch(r"(?:\d+(?:\.\d+)?\s*[hms]\s*)+", s):
        return None
    parts = _DURATION_PART.findall(s)
    units = [u for _, u in parts]
    if units != sorted(set(units), key="hms".index):
        return None  # repeated or out of order, like "30m1h"
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


class Checker:
    """Collects problems as (field path, message) while walking the parsed TOML."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def err(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def table(
        self, value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """`value` must be a table with only `allowed` keys and all `required` ones."""
        if not isinstance(value, dict):
            self.err(path, f"must be a table, got {describe(value)}")
            return None
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                self.err(join(path, key), f"unknown key{suggest(key, allowed)}"
                         f" (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.err(join(path, key), "required key is missing")
        return value

    def array_of_tables(self, value: Any, path: str) -> list[Any]:
        if value is MISSING:
            return []
        if not isinstance(value, list):
            self.err(path, f"must be an array of tables ([[{path}]]), got {describe(value)}")
            return []
        return value

    def check(
        self, d: dict[str, Any], key: str, path: str, ok: Callable[[Any], bool], expect: str,
        default: Any = MISSING,
    ) -> Any:
        """d[key] if `ok(value)`; else record "must be {expect}, got ..." and return None."""
        if key not in d:
            return None if default is MISSING else default  # missing: reported by table()
        value = d[key]
        if not ok(value):
            self.err(join(path, key), f"must be {expect}, got {describe(value)}")
            return None
        return value

    def string(self, d: dict[str, Any], key: str, path: str, default: Any = MISSING) -> Any:
        return self.check(d, key, path, lambda v: isinstance(v, str) and v.strip() != "",
                          "a non-empty string", default)

    def slug(self, d: dict[str, Any], key: str, path: str) -> Any:
        return self.check(d, key, path, lambda v: isinstance(v, str) and bool(SLUG.fullmatch(v)),
                          f"an id of {SLUG_HINT}")

    def choice(self, d: dict[str, Any], key: str, path: str, options: Iterable[str],
               default: Any = MISSING) -> Any:
        options = list(options)
        if key not in d:
            return None if default is MISSING else default
        value = d[key]
        if not isinstance(value, str) or value not in options:
            hint = suggest(value, options) if isinstance(value, str) else ""
            self.err(join(path, key),
                     f"must be one of {choices(options)}, got {describe(value)}{hint}")
            return None
        return value

    def latlon(self, value: Any, path: str, axis: str, bounds: Bounds | None) -> float | None:
        lo, hi = (-90.0, 90.0) if axis == "lat" else (-180.0, 180.0)
        word = "latitude" if axis == "lat" else "longitude"
        if not is_number(value) or not lo <= value <= hi:
            self.err(path, f"must be a {word} between {lo:g} and {hi:g}, got {describe(value)}")
            return None
        if bounds is not None:
            blo, bhi = ((bounds.lat_min, bounds.lat_max) if axis == "lat"
                        else (bounds.lon_min, bounds.lon_max))
            if not blo <= value <= bhi:
                self.err(path, f"{value:g} is outside the scenario bounds ({bounds})")
                return None
        return float(value)

    def range_pair(self, value: Any, path: str, axis: str, bounds: Bounds | None
                   ) -> tuple[float, float] | None:
        if not isinstance(value, list) or len(value) != 2:
            self.err(path, f"must be a [min, max] pair, got {describe(value)}")
            return None
        lo = self.latlon(value[0], f"{path}[0]", axis, bounds)
        hi = self.latlon(value[1], f"{path}[1]", axis, bounds)
        if lo is None or hi is None:
            return None
        if lo >= hi:
            self.err(path, f"min must be less than max, got [{lo:g}, {hi:g}]")
            return None
        return lo, hi


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
