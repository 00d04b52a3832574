"""GPS driver: strict NMEA 0183 in, gpsd-compatible TPV/SKY reports out.

- drivers.gps_parse: framing and the protocol table (strict field validation);
- drivers.gps_epoch: grouping into fix epochs like gpsd (NmeaEpochAssembler, parse_stream);
- drivers.gps_source: serial/pty, TCP, log file and stdin sources with unplug/replug
  (GpsReader).
"""

from __future__ import annotations

from drivers.gps_epoch import NmeaEpochAssembler, iter_lines, parse_stream
from drivers.gps_model import (
    SKY,
    TPV,
    DeviceEvent,
    DeviceState,
    FixMode,
    ParseStats,
    Report,
    Satellite,
)
from drivers.gps_source import GpsReader

__all__ = [
    "SKY",
    "TPV",
    "DeviceEvent",
    "DeviceState",
    "FixMode",
    "GpsReader",
    "NmeaEpochAssembler",
    "ParseStats",
    "Report",
    "Satellite",
    "iter_lines",
    "parse_stream",
]
