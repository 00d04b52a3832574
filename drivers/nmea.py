"""NMEA 0183 framing shared by the GPS driver and the simulated receivers.

Only the wire format lives here (checksum, talkers, sentence framing); parsing of the
sentence fields and fix logic belong to drivers/gps.py.
"""

from __future__ import annotations

from functools import reduce

# Talker IDs we accept (NMEA 0183 4.11): GPS, combined GNSS, GLONASS, Galileo, BeiDou (two
# spellings in the field), QZSS.
TALKERS: frozenset[str] = frozenset({"GP", "GN", "GL", "GA", "GB", "BD", "QZ"})

# Longest legal sentence: 82 characters including "$" and CRLF (NMEA 0183 §5.3).
MAX_SENTENCE_LENGTH = 82

# Longest sentence the driver accepts, like gpsd's NMEA_MAX: survey receivers (Trimble RTK,
# 8-decimal minutes) exceed the 82 of the standard; longer ones are splices.
MAX_LINE_LENGTH = 102


def checksum(body: str) -> str:
    """Two upper-case hex digits: XOR of every character between "$" and "*"."""
    return f"{reduce(lambda acc, ch: acc ^ ord(ch), body, 0):02X}"


def frame(body: str) -> bytes:
    """A complete sentence on the wire: ``$BODY*CS\\r\\n``."""
    return f"${body}*{checksum(body)}\r\n".encode("ascii")
