"""Hotlist fields and the columnar bulk pass that parses a million rows at once.

Split from hub.hotlists (which reads files and formats): the parsers of single fields
(dates, priority, covert), the per-file layout and context, and the bulk pass - one str
operation per column instead of per line, each distinct value parsed once, rows sharing
attribute values sharing one attribute tuple - and, ahead of it, the byte path
(`bulk_bytes`) for the clean national list: the file tokenised in numpy, no Python
string made per field. Any irregularity sends a file back to the str path, which finds
and explains every odd line, so the two agree on every file the byte path takes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from itertools import repeat
from typing import Any, cast

import numpy as np
import numpy.typing as npt

MIN_PRIORITY, MAX_PRIORITY = 0, 100
# EU plates have at most 8 characters (DE); 10 leaves room for other countries' vanity
# plates while a longer "plate" is a shifted column or free text.
MAX_PLATE_LENGTH = 10

# Separators seen on exported plates; anything else goes through hub.plates.normalize.
_SEPARATOR_CHARS = " -.·\t_/"
FAST_SEPARATORS = str.maketrans("", "", _SEPARATOR_CHARS)
_TRUE = frozenset({"1", "true", "yes", "y", "covert"})
_FALSE = frozenset({"", "0", "false", "no", "n", "overt"})
_US_MERIDIEM = {"AM": 0, "PM": 12}
_END_OF_DAY = time(23, 59, 59, 999999)

# Attributes shared by many entries (same list, category, dates...): one tuple each.
# (list, category, priority, state, effective, expiry, covert, extra)
Attrs = tuple[
    str, str, int, str | None, datetime | None, datetime | None, bool, tuple[tuple[str, str], ...]
]



class LineError(Exception):
    """One line is unusable; caught per line and counted, never raised to callers."""



def parse_date(text: str, *, end_of_day: bool = False) -> datetime | None:
    """ISO 8601 or US `MM/DD/YYYY[ HH:MM[:SS][ AM|PM]]`; naive times are UTC; "" is None.

    A date without a time is the start of that day, or its end for an expiry
    (`end_of_day`): an entry "expiring 2026-01-31" still applies on the 31st."""
    text = text.strip()
    if not text:
        return None
    try:
        if "/" in text:
            value, has_time = _parse_us(text)
        else:
            value = datetime.fromisoformat(text)
            has_time = "T" in text or " " in text or ":" in text
    except (ValueError, OverflowError) as exc:  # OverflowError: "1/1/99999999999999999999"
        raise LineError(f"bad date {text!r}") from exc
    if not has_time and end_of_day:
        value = datetime.combine(value.date(), _END_OF_DAY, value.tzinfo)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_us(text: str) -> tuple[datetime, bool]:
    """Genetec's US export form: `1/31/2026`, `01/31/2026 10:00`, `1/31/2026 10:00:00 PM`."""
    parts = text.split()
    month, day, year = (int(p) for p in parts[0].split("/"))
    if year < 1000:
        raise ValueError("two-digit year")
    if len(parts) == 1:
        return datetime(year, month, day), False
    clock = [int(p) for p in parts[1].split(":")]
    if not 2 <= len(clock) <= 3:
        raise ValueError("bad time")
    hour, minute, second = clock[0], clock[1], clock[2] if len(clock) == 3 else 0
    if len(parts) == 3:
        meridiem = parts[2].upper()
        if meridiem not in _US_MERIDIEM or not 1 <= hour <= 12:
            raise ValueError("bad AM/PM time")
        hour = hour % 12 + _US_MERIDIEM[meridiem]
    elif len(parts) > 3:
        raise ValueError("trailing text")
    return datetime(year, month, day, hour, minute, second), True


def parse_priority(text: str) -> int:
    """0..100; raises LineError otherwise."""
    try:
        value = int(text)
    except ValueError as exc:
        raise LineError(f"bad priority {text.strip()!r}") from exc
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise LineError(f"priority {value} outside {MIN_PRIORITY}..{MAX_PRIORITY}")
    return value


def parse_covert(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise LineError(f"bad covert flag {text.strip()!r}")


@dataclass(frozen=True)
class Layout:
    """Where a file's fields are: column indices (None = absent) and extra columns."""

    width: int  # fields of a well-formed row
    plate: int
    category: int | None
    state: int | None
    effective: int | None
    expiry: int | None
    priority: int | None = None
    covert: int | None = None
    list: int | None = None
    extra: tuple[tuple[int, str], ...] = ()


class Context:
    """List-wide defaults and the cache of parsed dates (a list repeats few dates)."""

    def __init__(self, name: str, covert: bool, priority: int) -> None:
        self.name, self.covert, self.priority = name, covert, priority
        self._dates: dict[tuple[str, bool], datetime | None] = {}

    def date(self, text: str, end_of_day: bool) -> datetime | None:
        key = (text, end_of_day)
        try:
            return self._dates[key]
        except KeyError:
            value = self._dates[key] = parse_date(text, end_of_day=end_of_day)
            return value



Codes = npt.NDArray[np.int64]  # per row: the number of its value in a column
Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]
Words = npt.NDArray[np.uint64]  # per row: a field's bytes packed into machine words

_SEP = "\x1f"  # ASCII unit separator: joins a column for one bulk str operation
_EOL = "\x1e"  # ASCII record separator: marks line ends in a bulk split
# Line breaks str.splitlines knows besides \n and \r\n: with any of them in a file, the
# bulk split by "\n" would disagree with it, so such files take the line-by-line path.
_OTHER_LINE_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
                      "\u2029")
# Characters that send a file off the byte path: other line breaks, and NUL (the byte
# path pads fields with it).
_ODD_CHARACTERS = ("\x00", *_OTHER_LINE_BREAKS)


# A column's distinct values are numbered; combined row codes stay below this so the
# mixed-radix product of several columns cannot overflow int64 (renumbered beyond it).
_MAX_COMBINED_CODE = 1 << 40


def _column_codes(values: Sequence[object], convert: Callable[[Any], object],
                  bad: set[int]) -> tuple[list[object], Codes | None]:
    """A column as (distinct converted values, each row's index into them); the index
    array is None when the whole column is one value (a national list: one category,
    one expiry...). Each distinct raw value is converted once; rows whose value fails to
    convert go to `bad`."""
    first = values[0]
    # One value throughout? Two spot checks spare the full C-level scan a varying column.
    if values[-1] == first and values[len(values) // 2] == first and \
            values.count(first) == len(values):
        try:
            return [convert(first)], None
        except LineError:
            bad.update(range(len(values)))
            return [None], None
    numbered: dict[object, int] = {}  # converted value -> its number
    code_of: dict[object, int] = {}  # raw value -> number of its converted value
    failed: set[object] = set()
    for raw in set(values):
        try:
            value = convert(raw)
        except LineError:
            failed.add(raw)
            value = None
        code_of[raw] = numbered.setdefault(value, len(numbered))
    codes = np.fromiter(map(code_of.__getitem__, values), dtype=np.int64, count=len(values))
    if failed:
        bad.update(i for i, v in enumerate(values) if v in failed)
    return list(numbered), codes


def _bulk_plates(column: list[str], bad: set[int]) -> list[str]:
    """The plate column normalised with whole-column str operations; rows whose plate is
    empty, too long or not alphanumeric (wildcards, odd characters) go to `bad`."""
    joined = _SEP.join(column)
    if not joined.isupper():  # exports are upper case: skip the copy when they are
        joined = joined.upper()
    if any(c in joined for c in _SEPARATOR_CHARS):  # most exports have none: skip the copy
        joined = joined.translate(FAST_SEPARATORS)
    plates = joined.split(_SEP)
    if len(plates) != len(column):  # a field held the separator: check each one
        bad.update(range(len(column)))
        return list(column)
    # Checked on the joined text (C-level scans), not per plate: every plate non-empty,
    # none longer than MAX_PLATE_LENGTH, all alphanumeric.
    empty = not joined or joined.startswith(_SEP) or joined.endswith(_SEP) or \
        _SEP + _SEP in joined
    if empty or max(map(len, plates)) > MAX_PLATE_LENGTH or \
            not joined.replace(_SEP, "").isalnum():
        bad.update(i for i, p in enumerate(plates)
                   if not p.isalnum() or len(p) > MAX_PLATE_LENGTH)
    return plates


def bulk_rows(cols: list[list[str]], lay: Layout, ctx: Context,
              bad: set[int]) -> tuple[list[str], list[Attrs]]:
    """The columnar pass over rows of the expected width: one str operation per column
    instead of per line, each distinct value parsed once. Rows it cannot vouch for are
    added to `bad`; the caller parses those one by one for their reason."""
    n = len(cols[0])
    plates = _bulk_plates(cols[lay.plate], bad)
    # Per attribute, in Attrs order: its distinct values and the rows' indices into them.
    columns: list[tuple[list[object], Codes | None]] = []

    def column(index: int | None, convert: Callable[[str], object], default: object) -> None:
        # A column past the rows' width (a 3-field AutoVu file) is absent like None.
        columns.append(([default], None) if index is None or index >= len(cols)
                       else _column_codes(cols[index], convert, bad))

    column(lay.list, lambda v: v.strip() or ctx.name, ctx.name)
    column(lay.category, str.strip, "")
    column(lay.priority, lambda v: parse_priority(v) if v.strip() else ctx.priority,
           ctx.priority)
    column(lay.state, lambda v: v.strip().upper() or None, None)
    column(lay.effective, lambda v: ctx.date(v, False), None)
    column(lay.expiry, lambda v: ctx.date(v, True), None)
    column(lay.covert, lambda v: ctx.covert or parse_covert(v), ctx.covert)
    used = [(i, name) for i, name in lay.extra
            if i < len(cols) and _SEP.join(cols[i]).strip(_SEP + " ")]
    if used:  # rare: per-row tuples, numbered like any other column
        extra = [tuple((name, cols[i][r].strip()) for i, name in used if cols[i][r].strip())
                 for r in range(n)]
        columns.append(_column_codes(extra, lambda v: v, bad))
    else:
        columns.append(([()], None))
    records, inverse = _share_attrs(columns, n, bad)
    if inverse is None:
        return plates, [records[0]] * n
    return plates, list(map(records.__getitem__, inverse.tolist()))


def _share_attrs(columns: list[tuple[list[object], Codes | None]], n: int,
                 bad: set[int]) -> tuple[list[Attrs], Codes | None]:
    """One Attrs tuple per distinct combination of the columns' values (columns in Attrs
    order) and each row's index into them (None: one combination for every row). Rows
    whose expiry is before their effective date go to `bad`."""
    # The columns' codes combine into one number per row (mixed radix), numbered again
    # by np.unique.
    combined: Codes | None = None
    radix = 1
    for values, codes in columns:
        if codes is None:
            continue
        combined = codes if combined is None else combined + codes * radix
        radix *= len(values)
        if radix > _MAX_COMBINED_CODE:  # keep the product small: renumber what we have
            uniq, combined = np.unique(combined, return_inverse=True)
            radix = len(uniq)
    inverse: Codes | None = None
    if combined is None:  # every attribute is one value for the whole list
        picks = [[values[0]] for values, _ in columns]
    else:
        if radix <= _DENSE_CODES:  # number the combinations in use through a table
            owner = np.full(radix, -1, dtype=np.int64)
            owner[combined] = np.arange(n)
            used = np.flatnonzero(owner >= 0)
            number = np.zeros(radix, dtype=np.int64)
            number[used] = np.arange(len(used))
            reps, inverse = owner[used], number[combined]
        else:
            _, reps, inverse = np.unique(combined, return_index=True, return_inverse=True)
        # Per column, the value of each distinct combination (taken from a row of it).
        picks = [[values[0]] * len(reps) if codes is None
                 else list(map(values.__getitem__, codes[reps].tolist()))
                 for values, codes in columns]
    records: list[Attrs] = []
    for k, record in enumerate(zip(*picks, strict=True)):
        start, end = record[4], record[5]
        if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
            bad.update(range(n) if inverse is None else np.flatnonzero(inverse == k).tolist())
        records.append(cast(Attrs, record))  # columns were added in Attrs order
    return records, inverse


def _has_comment(body: str) -> bool:
    """Whether a line of `body` is a "#" comment (one C-level scan)."""
    return body.startswith("#") or "\n#" in body


def split_regular(body: str, first_number: int, sep: str, width: int
                  ) -> tuple[list[list[str]], list[int], list[tuple[int, list[str]]]]:
    """Columns of the lines of `body` with `width` fields (one bulk split for them all),
    their line numbers, and the other lines split one by one."""
    body = body.replace("\r\n", "\n").rstrip("\n")
    if body and not any(c in body for c in _OTHER_LINE_BREAKS) and not _has_comment(body):
        # Line ends become a marker field: when every line has `width` fields, the
        # marker sits at every (width+1)-th place, checked with one slice and count.
        lines_n = body.count("\n") + 1
        flat = body.replace("\n", sep + _EOL + sep).split(sep)
        if len(flat) == lines_n * (width + 1) - 1 and \
                flat[width::width + 1].count(_EOL) == lines_n - 1:
            numbers = list(range(first_number, first_number + lines_n))
            return [flat[i::width + 1] for i in range(width)], numbers, []
    lines = body.splitlines()
    numbers = list(range(first_number, first_number + len(lines)))
    counts = list(map(str.count, lines, repeat(sep)))
    # A "#" line is a comment whatever its fields (an entry commented out): set aside as
    # odd, where the row parser skips it.
    counts = [-1 if line.startswith("#") else c for line, c in zip(lines, counts, strict=True)]
    regular = [line for line, c in zip(lines, counts, strict=True) if c == width - 1]
    reg_numbers = [k for k, c in zip(numbers, counts, strict=True) if c == width - 1]
    odd = [(k, line.split(sep)) for k, line, c in zip(numbers, lines, counts, strict=True)
           if c != width - 1]
    flat = sep.join(regular).split(sep) if regular else []
    return [flat[i::width] for i in range(width)], reg_numbers, odd


# Fields longer than this (free text) leave a file to the str path: the byte path packs
# every field of a column into fixed-width machine words.
_MAX_BYTE_FIELD = 32
# Distinct values of a column are numbered by hashing each row's key into a table of
# 2**_SLOT_BITS slots (small enough to stay in the CPU cache); a column whose distinct
# values collide there - likely beyond a few hundred of them - is numbered by a sort
# instead (measured: ten hashing passes cost a tenth of a million-row sort).
_SLOT_BITS = 16
# Combined attribute codes below this are numbered through a table of this size (8 MB);
# above it by a sort.
_DENSE_CODES = 1 << 20
_WORD = np.dtype("<u8")  # byte order fixed: the masks keep a word's first bytes
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=_WORD)  # k bytes
_FOLD = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier folding a field's words into one
_UPPER = np.arange(256, dtype=np.uint8)
_UPPER[ord("a"):ord("z") + 1] -= 32
_PLATE_CHAR = np.zeros(256, dtype=bool)  # what a clean exported plate consists of
_PLATE_CHAR[[ord(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"]] = True


def _field_words(words8: Words, starts: Ints, ends: Ints) -> tuple[list[Words], int] | None:
    """One column's fields as little-endian uint64 words (zero padded; the first 8 bytes
    of every field, the next 8...), and the longest field's length; None when a field
    is too long for the byte path. `words8[i]` is the 8 bytes from file offset i, so
    each word is one 1-D gather."""
    lengths = ends - starts
    longest = int(lengths.max(initial=0))
    if longest > _MAX_BYTE_FIELD:
        return None
    same_length = int(lengths.min(initial=0)) == longest  # dates, codes: one mask
    words = []
    for w in range(max(1, -(-longest // 8))):
        word = words8[starts + 8 * w]
        # Drop the next fields' bytes.
        word &= _BYTE_MASKS[min(max(longest - 8 * w, 0), 8)] if same_length else \
            _BYTE_MASKS[np.minimum(np.maximum(lengths - 8 * w, 0), 8)]
        words.append(word)
    return words, longest


def _number_rows(words: list[Words]) -> tuple[Ints, Ints] | None:
    """(each row's number, a row of each number) for rows of packed words; None in the
    (astronomically rare) case two different fields folded to one key."""
    keys = words[0].copy()
    for word in words[1:]:  # fold wider fields into one word per row
        keys *= _FOLD
        keys ^= word
    n = len(keys)
    if (keys == keys[0]).all():  # one value (a national list's category, expiry...)
        codes, reps = np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64)
    else:
        slot = (keys * _FOLD) >> np.uint64(64 - _SLOT_BITS)
        owner = np.zeros(1 << _SLOT_BITS, dtype=np.int64)  # a row of each slot in use
        owner[slot] = np.arange(n)
        if (keys[owner[slot]] == keys).all():  # one key per slot in use
            used = np.zeros(1 << _SLOT_BITS, dtype=np.bool_)
            used[slot] = True
            slots = np.flatnonzero(used)
            number = np.zeros(1 << _SLOT_BITS, dtype=np.int64)
            number[slots] = np.arange(len(slots))
            codes, reps = number[slot], owner[slots]
        else:
            _, reps, inverse = np.unique(keys, return_index=True, return_inverse=True)
            codes = inverse.reshape(-1).astype(np.int64)
    if len(words) > 1 and not all((word == word[reps][codes]).all() for word in words):
        return None
    return codes, reps


def bulk_bytes(text: str, sep: str, width: int, lay: Layout, ctx: Context,
               start: int = 0) -> tuple[list[str], list[Attrs]] | None:
    """The fast path for the common national list: plain ASCII, `\\n` line ends, every
    line `width` fields, clean plates, short fields, every value valid. It tokenises in
    numpy without making a Python string per field (the str path's main cost) and
    returns what bulk_rows would; None as soon as anything is irregular, leaving the
    file to the str path, which finds and explains every odd line. The lines are
    `text[start:]` (an offset, not a slice: a national list's text is not copied)."""
    end = len(text)
    while end > start and text[end - 1] == "\n":  # trailing blank lines
        end -= 1
    # (str.isascii is a flag lookup; find with an offset copies nothing.)
    if end == start or not (text.isascii() or text[start:].isascii()) or \
            any(text.find(c, start) >= 0 for c in _ODD_CHARACTERS) or \
            text.startswith("#", start) or text.find("\n#", start) >= 0:
        return None
    data, offset = (text, start) if text.isascii() else (text[start:], 0)
    size = end - start
    # One copy of the lines, ended by a line end whether or not the file has one, and
    # padded so every field start has _MAX_BYTE_FIELD bytes after it.
    padded: Bytes = np.zeros(size + 1 + _MAX_BYTE_FIELD + 8, dtype=np.uint8)
    padded[:size] = np.frombuffer(data.encode("ascii"), dtype=np.uint8, count=size,
                                  offset=offset)
    padded[size] = ord("\n")
    buf = padded[:size + 1]
    # words8[i] is the (unaligned) little-endian word at offset i: a view, nothing copied.
    words8: Words = np.ndarray(shape=(len(padded) - 7,), dtype=_WORD, buffer=padded,
                               strides=(1,))
    is_bound = buf == ord(sep)
    is_bound |= buf == ord("\n")
    bounds = np.flatnonzero(is_bound)
    del is_bound  # (big temporaries go as soon as they are used: fresh memory costs)
    if len(bounds) % width:
        return None
    n = len(bounds) // width
    # Every line has `width` fields exactly when each row's bounds are width - 1
    # separators and a line end.
    kinds = buf[bounds].reshape(n, width)
    if not ((kinds[:, :-1] == ord(sep)).all() and (kinds[:, -1] == ord("\n")).all()):
        return None

    def column(index: int) -> tuple[Ints, Ints]:
        """(starts, ends) of field `index` of every line, offsets into `buf`."""
        if index:
            return bounds[index - 1::width] + 1, bounds[index::width]
        line_starts = np.zeros(n, dtype=np.int64)
        line_starts[1:] = bounds[width - 1:-1:width] + 1
        return line_starts, bounds[index::width]

    plate_starts, plate_ends = column(lay.plate)
    packed = _field_words(words8, plate_starts, plate_ends)
    if packed is None or packed[1] > MAX_PLATE_LENGTH or \
            int((plate_ends - plate_starts).min()) < 1:
        return None
    plate_words = np.stack(packed[0], axis=1)
    chars = _UPPER[plate_words.view(np.uint8)].reshape(n, -1)[:, :MAX_PLATE_LENGTH]
    used = chars != 0
    if not _PLATE_CHAR[chars[used]].all():
        return None
    # UCS-4 code units viewed as fixed-width str: numpy drops the zero padding.
    plate_text = np.ascontiguousarray(chars, dtype=np.uint32).view(f"<U{chars.shape[1]}")
    plates: list[str] = plate_text.reshape(-1).tolist()

    converters: list[tuple[int | None, Callable[[str], object], object]] = [
        (lay.list, lambda v: v.strip() or ctx.name, ctx.name),
        (lay.category, str.strip, ""),
        (lay.priority, lambda v: parse_priority(v) if v.strip() else ctx.priority,
         ctx.priority),
        (lay.state, lambda v: v.strip().upper() or None, None),
        (lay.effective, lambda v: ctx.date(v, False), None),
        (lay.expiry, lambda v: ctx.date(v, True), None),
        (lay.covert, lambda v: ctx.covert or parse_covert(v), ctx.covert),
    ]
    for extra_index, _ in lay.extra:  # extra fields in use: the str path builds tuples
        if extra_index < width:
            extra_starts, extra_ends = column(extra_index)
            if (extra_ends > extra_starts).any():
                return None
    columns: list[tuple[list[object], Ints | None]] = []
    try:
        for index, convert, default in converters:
            if index is None or index >= width:
                columns.append(([default], None))
                continue
            col_starts, col_ends = column(index)
            packed = _field_words(words8, col_starts, col_ends)
            if packed is None:
                return None
            numbered = _number_rows(packed[0])
            if numbered is None:
                return None
            codes, reps = numbered
            values = [convert(text[start + s:start + e]) for s, e in
                      zip(col_starts[reps].tolist(), col_ends[reps].tolist(), strict=True)]
            columns.append((values, None if len(values) == 1 else codes))
    except LineError:
        return None
    columns.append(([()], None))  # extra fields: none in use (checked above)
    bad: set[int] = set()
    records, inverse = _share_attrs(columns, n, bad)
    if bad:
        return None
    if inverse is None:
        return plates, [records[0]] * n
    return plates, list(map(records.__getitem__, inverse.tolist()))
