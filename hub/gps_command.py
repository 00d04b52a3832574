"""`citywatch gps SOURCE [--json]`: read NMEA, print fixes, summary on stderr.

With --json: one gpsd JSON object per line (TPV and SKY, "class" first), like gpsd's
watcher. Without: one readable line per new fix state, e.g.
``12:00:01Z 3D 50.930700N 5.337800E 12.3 km/h 271°``.
Exit 0 at the end of a file or stdin and on Ctrl-C; 1 when the source cannot be read.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import TextIO

from drivers.gps import TPV, DeviceEvent, DeviceState, GpsReader, ParseStats
from drivers.gps_source import classify

EXIT_OK = 0
EXIT_FAILURE = 1


def format_tpv(tpv: TPV) -> str:
    """One readable line for a TPV."""
    when = tpv.time.strftime("%H:%M:%S") + "Z" if tpv.time else "--:--:--Z"
    if not tpv.has_fix or tpv.lat is None or tpv.lon is None:
        return f"{when} no fix"
    parts = [
        when,
        f"{int(tpv.mode)}D",
        f"{abs(tpv.lat):.6f}{'N' if tpv.lat >= 0 else 'S'}",
        f"{abs(tpv.lon):.6f}{'E' if tpv.lon >= 0 else 'W'}",
    ]
    if tpv.speed is not None:
        parts.append(f"{tpv.speed * 3.6:.1f} km/h")
    if tpv.track is not None:
        parts.append(f"{tpv.track:.0f}°")
    if tpv.alt_msl is not None:
        parts.append(f"alt {tpv.alt_msl:.1f} m")
    return " ".join(parts)


def summary(stats: ParseStats) -> str:
    reasons = ", ".join(f"{reason} {n}" for reason, n in
                        sorted(stats.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    text = f"sentences {stats.sentences}, rejected {stats.rejected}"
    if reasons:
        text += f" ({reasons})"
    text += f", ignored {stats.ignored}, fixes {stats.fixes}"
    return text


class _Printer:
    """Readable output: gpsd-style TPVs grow during an epoch (GGA, then RMC adds speed),
    so an epoch's line is printed when the next epoch starts, or at the end."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.pending: TPV | None = None
        self.last = ""

    def tpv(self, tpv: TPV) -> None:
        same_epoch = self.pending is not None and (
            tpv.time == self.pending.time
            or (self.pending.time is None and tpv.sources[:len(self.pending.sources)]
                == self.pending.sources))  # dated by a later sentence of the same epoch
        if self.pending is not None and not same_epoch:
            self.flush()
        self.pending = tpv

    def flush(self) -> None:
        if self.pending is not None:
            line = format_tpv(self.pending)
            if line != self.last:
                print(line, file=self.out, flush=True)
                self.last = line
            self.pending = None


async def _run(reader: GpsReader, as_json: bool, out: TextIO, err: TextIO) -> int:
    code = EXIT_OK
    printer = _Printer(out)
    try:
        async for report in reader.reports():
            if isinstance(report, DeviceEvent):
                if report.state == DeviceState.ENDED:
                    break
                if report.state == DeviceState.NO_DEVICE and reader.kind in ("file", "stdin"):
                    print(f"citywatch gps: {report.detail}", file=err)
                    code = EXIT_FAILURE
                    continue
                printer.flush()
                print(f"citywatch gps: {report.state}: {report.detail}", file=err, flush=True)
            elif as_json:
                print(json.dumps(report.as_gpsd(), separators=(",", ":")), file=out, flush=True)
            elif isinstance(report, TPV):
                printer.tpv(report)
    finally:
        printer.flush()
    return code


def run_gps(source: str, as_json: bool) -> int:
    """The body of `citywatch gps`."""
    kind = classify(source)
    if kind == "file":
        try:
            with open(source, "rb"):
                pass
        except OSError as exc:
            print(f"citywatch gps: cannot read {source}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILURE
        if os.path.isdir(source):
            print(f"citywatch gps: cannot read {source}: is a directory", file=sys.stderr)
            return EXIT_FAILURE
    reader = GpsReader(source)
    try:
        code = asyncio.run(_run(reader, as_json, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        code = EXIT_OK
    except BrokenPipeError:
        # Output closed (e.g. piped into head): not an error of ours.
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        code = EXIT_OK
    print(summary(reader.stats), file=sys.stderr)
    return code
