"""Plates packed into integers for the matcher's sorted index: the canonical plate read
as a base-36 number, grouped by length, with its letter/digit shape kept as bits.
Vectorised with numpy: packing a national list of a million plates takes a fraction of
a second, where a dict of them took 0.6 s (bench.matcher).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hub.plates import LOOKALIKE_GROUPS

_CANONICAL = str.maketrans({c: g[0] for g in LOOKALIKE_GROUPS for c in g[1:]})
SEP = "\x1f"  # joins a batch of plates for one translate / one packing call

# Keys of the sorted index: a canonical plate of characters 0-9/A-Z read as a base-36
# number behind a leading "1" (which keeps "0A" apart from "A" and sorts shorter plates
# first). 36**11 < 2**63, so every plate the file formats allow
# (hub.hotlist_bulk.MAX_PLATE_LENGTH, 10) fits an int64. Measured with bench.matcher:
# inserting a million plates into a dict took 0.6 s on this machine, this index ~0.25 s.
PACKED_LENGTH = 10
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Byte -> base-36 value of the character as read / of its canonical character (-1: not
# 0-9/A-Z; 255 stands for every non-ASCII character).
_VALUE = np.full(256, -1, dtype=np.int8)
_CANONICAL_VALUE = np.full(256, -1, dtype=np.int8)
for _c in _DIGITS:
    _VALUE[ord(_c)] = _DIGITS.index(_c)
    _CANONICAL_VALUE[ord(_c)] = _DIGITS.index(_c.translate(_CANONICAL))
_FIRST_LETTER = _DIGITS.index("A")

Ints = npt.NDArray[np.int64]


def packed(key: str) -> int | None:
    """The sorted index's key of a canonical plate; None for one that does not pack."""
    if len(key) <= PACKED_LENGTH and key.isascii() and key.isalnum() and \
            (key.isupper() or key.isdigit()):  # no lower case: int() would accept it
        return int("1" + key, 36)
    return None


@dataclass(frozen=True)
class SameLength:
    """Plates of one length, packed: `packed(canonical form) == 36**length + keys[i]`
    for the plate at `rows[i]`; bit length-1-j of `letters[i]` says character j is a
    letter (the plate's letter/digit shape)."""

    length: int
    rows: Ints
    keys: Ints
    letters: Ints


def pack_by_length(joined: str, n: int) -> tuple[list[SameLength], Ints]:
    """n `SEP`-joined plates packed, grouped by length (shortest first), and the rows
    of the plates that do not pack. Grouping spares masking each character position."""
    if joined.isascii():
        buf = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    else:
        wide = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        buf = np.minimum(wide, 255).astype(np.uint8)
    ends = np.append(np.flatnonzero(buf == ord(SEP)), len(buf))
    if len(ends) != n or not n:  # (a plate holding the separator: none packs)
        return [], np.arange(n)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    groups, rest = [], [np.flatnonzero((lengths < 1) | (lengths > PACKED_LENGTH))]
    counts = np.bincount(np.minimum(lengths, PACKED_LENGTH + 1))
    for length in np.flatnonzero(counts[1:PACKED_LENGTH + 1]).tolist():
        rows = np.flatnonzero(lengths == length + 1)
        at = starts[rows]
        keys = np.zeros(len(rows), dtype=np.int64)
        letters = np.zeros(len(rows), dtype=np.int64)
        lowest = np.zeros(len(rows), dtype=np.int8)
        for _ in range(length + 1):
            code = buf[at]
            value = _VALUE[code]
            np.minimum(lowest, value, out=lowest)
            keys *= 36
            keys += _CANONICAL_VALUE[code]
            letters <<= 1
            letters |= value >= _FIRST_LETTER
            at += 1
        fits = lowest >= 0
        groups.append(SameLength(length + 1, rows[fits], keys[fits], letters[fits]))
        rest.append(rows[~fits])
    return groups, np.sort(np.concatenate(rest))


def shape_text(length: int, letters: int) -> str:
    """A `SameLength` shape as the matcher's shape table writes it: (4, 0b1110) -> "LLLD"."""
    return "".join("L" if letters >> (length - 1 - j) & 1 else "D" for j in range(length))


def sorted_index(groups: list[SameLength], n: int) -> tuple[Ints, Ints]:
    """(packed keys ascending, their rows) of the groups; rows of one key ascending."""
    keys, rows = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    bits = max(1, n.bit_length())
    for group in groups:
        base = 36 ** group.length
        if base << bits <= 1 << 63:  # key and row fit one int64: a plain (SIMD) sort
            both = group.keys << bits | group.rows
            both.sort()
            keys.append((both >> bits) + base)
            rows.append(both & ((1 << bits) - 1))
        else:  # long plates of a huge list: stable sort keeps rows ascending
            order = np.argsort(group.keys, kind="stable")
            keys.append(group.keys[order] + base)
            rows.append(group.rows[order])
    return np.concatenate(keys), np.concatenate(rows)


def shape_bits(shape: str) -> tuple[int, int] | None:
    """Inverse of `shape_text`: "LLLD" -> (4, 0b1110); None for a shape no packed plate
    has (other characters, or longer than PACKED_LENGTH)."""
    if not 0 < len(shape) <= PACKED_LENGTH or shape.strip("LD"):
        return None
    return len(shape), int(shape.replace("L", "1").replace("D", "0"), 2)


def without_one(keys: Ints, length: int) -> list[Ints]:
    """Packed keys (with their length's leading "1") of plates of `length` > 1 given as
    `SameLength.keys`, each with character j left out, for j = 0 .. length-1."""
    out = []
    for j in range(length):
        tail = 36 ** (length - 1 - j)  # the characters after j
        out.append(keys // (tail * 36) * tail + keys % tail + 36 ** (length - 1))
    return out
