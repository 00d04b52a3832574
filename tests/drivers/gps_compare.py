"""Compare the project's TPVs with gpsd's, by the rules of tests/data/gps/README.md.

- fix: TPV with mode >= 2 and numeric lat and lon; epoch: a fix time in whole ms.
- expected: the distinct timed gpsd fix epochs (gpsd's untimed fixes only excuse).
- pairing by time +-1 ms; else the same time of day on a date that differs by whole
  1024-week GPS rollovers, or by whole centuries on the same day and month.
- matched: one project TPV of the epoch passes against one gpsd TPV of it: mode equal,
  lat/lon within 1e-6 deg, speed within 0.01 m/s and track within 0.1 deg where the
  receiver itself sent them for that epoch (RMC or VTG).
- extra: a project fix epoch with no gpsd epoch to pair with and no valid sentence behind
  it (good checksum, a claim of a fix, same time of day and position), and not matching
  one of gpsd's untimed fixes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

ROLLOVER_MS = 1024 * 7 * 86_400_000
DAY_MS = 86_400_000
POS_TOL = 1e-6


@dataclass
class LogFacts:
    """What the receiver itself sent, from the raw log (good checksums only)."""

    # time of day (ms) -> positions claimed as fixes at that time
    fixes: dict[int, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    # times of day (ms) whose epoch carries receiver speed/track (RMC, or VTG after it)
    velocity: set[int] = field(default_factory=set)


@dataclass
class Result:
    expected: int
    matched: int
    extras: int
    backed_unprinted: int
    unmatched: list[str]

    @property
    def ratio(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    def passes(self) -> bool:
        return self.ratio >= 0.95 and self.extras <= 0.01 * self.expected


def _ddmm(value: str, hemi: str) -> float | None:
    try:
        head, _, _ = value.partition(".")
        deg = int(head[:-2] or "0")
        result = deg + float(value[len(head) - 2 :]) / 60.0
    except ValueError:
        return None
    return -result if hemi in ("S", "W") else result


def _tod_ms(text: str) -> int | None:
    try:
        h, m, s = int(text[0:2]), int(text[2:4]), float(text[4:])
    except ValueError:
        return None
    return round(((h * 60 + m) * 60 + s) * 1000)


def log_facts(raw: bytes) -> LogFacts:
    facts = LogFacts()
    last_tod: int | None = None
    for line in raw.split(b"\n"):
        for chunk in line.split(b"$"):
            try:
                text = chunk.decode("ascii").strip()
            except UnicodeDecodeError:
                continue
            body, star, cs = text.partition("*")
            if not star or len(cs) != 2:
                continue
            if f"{reduce(lambda a, c: a ^ ord(c), body, 0):02X}" != cs.upper():
                continue
            f = body.split(",")
            kind = f[0][2:]
            try:
                if kind == "RMC" and len(f) > 9:
                    tod, ok, pos = _tod_ms(f[1]), f[2] == "A", (f[3], f[4], f[5], f[6])
                    if tod is not None and f[7] and f[8]:
                        facts.velocity.add(tod)
                elif kind == "GGA" and len(f) > 6:
                    tod, ok, pos = _tod_ms(f[1]), f[6] not in ("", "0"), (f[2], f[3], f[4], f[5])
                elif kind == "GNS" and len(f) > 6:
                    ok = f[6][:1] not in ("", "N")
                    tod, pos = _tod_ms(f[1]), (f[2], f[3], f[4], f[5])
                elif kind == "GLL" and len(f) > 6:
                    tod, ok, pos = _tod_ms(f[5]), f[6] == "A", (f[1], f[2], f[3], f[4])
                elif kind == "VTG" and len(f) > 5:
                    if last_tod is not None and f[1] and f[5]:
                        facts.velocity.add(last_tod)
                    continue
                else:
                    continue
            except IndexError:
                continue
            if tod is None:
                continue
            last_tod = tod
            lat, lon = _ddmm(pos[0], pos[1]), _ddmm(pos[2], pos[3])
            if ok and lat is not None and lon is not None:
                facts.fixes[tod].append((lat, lon))
    return facts


def _ms(time: str) -> int:
    when = dt.datetime.strptime(time.rstrip("Z")[:23], "%Y-%m-%dT%H:%M:%S.%f")
    return round(when.replace(tzinfo=dt.UTC).timestamp() * 1000)


def tpvs(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            if obj.get("class") == "TPV":
                out.append(obj)
    return out


def _is_fix(tpv: dict[str, Any]) -> bool:
    return (tpv.get("mode", 0) >= 2 and isinstance(tpv.get("lat"), (int, float))
            and isinstance(tpv.get("lon"), (int, float)))


def _epochs(objs: list[dict[str, Any]]) -> tuple[dict[int, list[dict[str, Any]]],
                                                 list[dict[str, Any]]]:
    timed: dict[int, list[dict[str, Any]]] = defaultdict(list)
    untimed = []
    for tpv in objs:
        if not _is_fix(tpv):
            continue
        if "time" in tpv:
            timed[_ms(tpv["time"])].append(tpv)
        else:
            untimed.append(tpv)
    return timed, untimed


def _date_ok(ours: int, theirs: int) -> bool:
    """Same time of day; date off by whole GPS rollovers or whole centuries (same d/m)."""
    if abs((ours - theirs) % DAY_MS) > 1 and abs((ours - theirs) % DAY_MS - DAY_MS) > 1:
        return False
    diff = ours - theirs
    k = round(diff / ROLLOVER_MS)
    if k and abs(diff - k * ROLLOVER_MS) <= 1:
        return True
    a = dt.datetime.fromtimestamp(ours / 1000, dt.UTC)
    b = dt.datetime.fromtimestamp(theirs / 1000, dt.UTC)
    return (a.month, a.day) == (b.month, b.day) and (a.year - b.year) % 100 == 0


def _close(a: Any, b: Any, tol: float) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol


def _passes(ours: dict[str, Any], theirs: dict[str, Any], velocity: bool) -> bool:
    if ours.get("mode") != theirs.get("mode"):
        return False
    if not (_close(ours["lat"], theirs["lat"], POS_TOL)
            and _close(ours["lon"], theirs["lon"], POS_TOL)):
        return False
    if velocity:
        for key, tol in (("speed", 0.01), ("track", 0.1)):
            if key in theirs and not _close(ours.get(key), theirs[key], tol):
                return False
    return True


def compare(ours_text: str, gpsd_text: str, raw_log: bytes) -> Result:
    facts = log_facts(raw_log)
    ours, ours_untimed = _epochs(tpvs(ours_text))
    gpsd, gpsd_untimed = _epochs(tpvs(gpsd_text))
    paired_ours: set[int] = set()
    matched, unmatched = 0, []
    for t, theirs in sorted(gpsd.items()):
        candidates = [o for o in (t - 1, t, t + 1) if o in ours]
        if not candidates:
            candidates = [o for o in ours if _date_ok(o, t)]
        paired_ours.update(candidates)
        velocity = (t % DAY_MS) in facts.velocity
        if any(_passes(o, g, velocity) for c in candidates for o in ours[c] for g in theirs):
            matched += 1
        else:
            unmatched.append(dt.datetime.fromtimestamp(t / 1000, dt.UTC).isoformat())
    extras = backed = 0
    for t, mine in ours.items():
        if t in paired_ours:
            continue
        if _backed(mine, t % DAY_MS, facts) or _excused(mine, gpsd_untimed):
            backed += 1
        else:
            extras += 1
    for tpv in ours_untimed:
        if _excused([tpv], gpsd_untimed):
            continue
        if not any(_close(tpv["lat"], la, POS_TOL) and _close(tpv["lon"], lo, POS_TOL)
                   for pos in facts.fixes.values() for la, lo in pos):
            extras += 1
    return Result(len(gpsd), matched, extras, backed, unmatched)


def _backed(mine: list[dict[str, Any]], tod: int, facts: LogFacts) -> bool:
    for t in (tod - 1, tod, tod + 1):
        for lat, lon in facts.fixes.get(t, []):
            if any(_close(m["lat"], lat, POS_TOL) and _close(m["lon"], lon, POS_TOL)
                   for m in mine):
                return True
    return False


def _excused(mine: list[dict[str, Any]], untimed: list[dict[str, Any]]) -> bool:
    return any(_passes(m, g, False) for m in mine for g in untimed)
