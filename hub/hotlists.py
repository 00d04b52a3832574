"""Hotlist files: strict parsing of AutoVu-style `;` files and CSV into a compact table.

A national list has a million lines, so a parsed list is kept as two parallel tuples -
normalised plates and shared attribute records - and a `HotlistEntry` is built only for
the entries a read hits (`ParsedHotlist.entry`). Every unusable line is counted with its
line number and reason; a file that is not a hotlist at all raises `HotlistError`.
Parsing is CPU-bound: the hub calls `load_hotlist`, which runs it in a thread.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import enum
import io
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from hub.alpr_model import HotlistEntry
from hub.errors import HotlistError
from hub.hotlist_bulk import (
    FAST_SEPARATORS,
    MAX_PLATE_LENGTH,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Attrs,
    Context,
    Layout,
    LineError,
    bulk_bytes,
    bulk_rows,
    parse_covert,
    parse_priority,
    split_regular,
)
from hub.hotlist_bulk import parse_date as parse_date  # part of this module's API
from hub.plates import normalize

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 50  # HotlistEntry's default: a list imported without --priority
# A wildcard entry must still say something about the plate: with fewer known characters
# it would hit a large share of all reads (a witness's "1-AB*-2**" has 5 known).
MIN_KNOWN_CHARACTERS = 3
MAX_REJECTS_KEPT = 1000  # rejects listed one by one; beyond this only counted
# How many leading lines decide whether a file is a hotlist at all: a real export has its
# first entries among them, a photo or a log has none.
SNIFF_LINES = 20
SNIFF_BYTES = 64 * 1024  # more than SNIFF_LINES lines of any real export

_AUTOVU_PLATE_HEADERS = frozenset({"PLATENUMBER", "PLATE", "LICENSEPLATE", "PLATENO"})

# CSV header aliases -> our column name.
_CSV_COLUMNS = {
    "plate": "plate", "platenumber": "plate", "plate_number": "plate", "licenseplate": "plate",
    "list": "list", "hotlist": "list",
    "category": "category",
    "priority": "priority",
    "state": "state", "platestate": "state", "country": "state", "plate_state": "state",
    "effective": "effective", "effectivedate": "effective", "effective_date": "effective",
    "expiry": "expiry", "expirydate": "expiry", "expiry_date": "expiry", "expires": "expiry",
    "covert": "covert",
}


class HotlistFormat(enum.StrEnum):
    """File formats a hotlist can come in."""

    AUTOVU = "autovu"  # `Category;PlateState;PlateNumber;EffectiveDate;ExpiryDate;...`
    CSV = "csv"  # comma-separated with a header naming a `plate` column


@dataclass(frozen=True)
class Reject:
    """A line of a hotlist file that could not be used."""

    line: int
    reason: str



@dataclass(frozen=True)
class ParsedHotlist:
    """A parsed hotlist file: entry i is `plates[i]` with `attrs[i]`."""

    name: str
    source: str
    format: HotlistFormat
    covert: bool
    priority: int
    plates: tuple[str, ...]
    attrs: tuple[Attrs, ...]
    rejected: int
    rejects: tuple[Reject, ...]  # the first MAX_REJECTS_KEPT of them

    def __len__(self) -> int:
        return len(self.plates)

    def entry(self, index: int) -> HotlistEntry:
        """Entry `index` as the domain object a Hit carries."""
        return make_entry(self.plates[index], self.attrs[index])

    def entries(self) -> Iterator[HotlistEntry]:
        """Every entry (well-formed rows first, then the irregular ones that passed)."""
        for plate, attrs in zip(self.plates, self.attrs, strict=True):
            yield make_entry(plate, attrs)


def make_entry(plate: str, attrs: Attrs) -> HotlistEntry:
    """A HotlistEntry from the compact form."""
    name, category, priority, state, effective, expiry, covert, extra = attrs
    return HotlistEntry(plate=plate, list=name, category=category, priority=priority,
                        state=state, covert=covert, effective=effective, expiry=expiry,
                        extra=extra)


def entry_attrs(entry: HotlistEntry) -> Attrs:
    """The compact form of an entry (for entries not from a file, e.g. wanted plates)."""
    return (entry.list, entry.category, entry.priority, entry.state, entry.effective,
            entry.expiry, entry.covert, entry.extra)



def normalize_pattern(raw: str) -> str:
    """A file's plate as the matcher compares it: normalised, `?` written as `*`.

    Raises LineError (empty, too long, too many unknown characters)."""
    plate = raw.upper()
    if not plate.isalnum():
        plate = plate.translate(FAST_SEPARATORS)
        if not plate.isalnum():
            plate = normalize(plate, keep_wildcards=True).replace("?", "*")
            if not plate:
                raise LineError("empty plate")
            if "*" in plate and len(plate) - plate.count("*") < MIN_KNOWN_CHARACTERS:
                raise LineError(f"plate {raw.strip()!r} has too few known characters")
    if len(plate) > MAX_PLATE_LENGTH:
        raise LineError(f"plate {raw.strip()!r} longer than {MAX_PLATE_LENGTH} characters")
    return plate


def _field(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _parse_row(row: list[str], lay: Layout, ctx: Context) -> tuple[str, Attrs]:
    """One row, every check spelled out: the path for rows the bulk pass set aside."""
    if len(row) < lay.plate + 1:
        raise LineError(f"{len(row)} fields, need at least {lay.plate + 1}")
    if lay.list is not None and len(row) != lay.width:  # CSV: the header fixes the width
        raise LineError(f"{len(row)} fields, header has {lay.width}")
    plate = normalize_pattern(row[lay.plate])
    priority = ctx.priority
    if _field(row, lay.priority).strip():
        priority = parse_priority(_field(row, lay.priority))
    covert = ctx.covert or parse_covert(_field(row, lay.covert))
    effective = ctx.date(_field(row, lay.effective), False)
    expiry = ctx.date(_field(row, lay.expiry), True)
    if effective is not None and expiry is not None and expiry < effective:
        raise LineError("expiry before effective date")
    extra = tuple((n, row[i].strip()) for i, n in lay.extra if i < len(row) and row[i].strip())
    return plate, (_field(row, lay.list).strip() or ctx.name, _field(row, lay.category).strip(),
                   priority, _field(row, lay.state).strip().upper() or None, effective,
                   expiry, covert, extra)


def _clean_table(plates: list[str], attrs: list[Attrs], ctx: Context, source: str,
                 fmt: HotlistFormat) -> ParsedHotlist:
    """A list the byte path parsed whole: every line an entry, nothing rejected."""
    return ParsedHotlist(name=ctx.name, source=source, format=fmt, covert=ctx.covert,
                         priority=ctx.priority, plates=tuple(plates), attrs=tuple(attrs),
                         rejected=0, rejects=())


def _parse_rows(cols: list[list[str]], numbers: list[int], odd: list[tuple[int, list[str]]],
                lay: Layout, ctx: Context, source: str) -> ParsedHotlist:
    """Rows of the expected width in bulk (`cols`, line `numbers`), the others (`odd`)
    and the rows bulk could not vouch for one by one."""
    bad: set[int] = set()
    plates: list[str] = []
    attrs: list[Attrs] = []
    if numbers:
        # No gc pause needed: the bulk pass makes no per-row containers (rows share
        # attribute tuples, columns are numbered in numpy arrays).
        plates, attrs = bulk_rows(cols, lay, ctx, bad)
    slow = list(odd)
    if bad:
        slow += [(numbers[i], [c[i] for c in cols]) for i in bad]
        keep = [i for i in range(len(numbers)) if i not in bad]
        plates, attrs = [plates[i] for i in keep], [attrs[i] for i in keep]
        numbers = [numbers[i] for i in keep]
    rejects: list[Reject] = []
    rejected = 0
    late: list[tuple[int, str, Attrs]] = []
    for number, row in sorted(slow, key=lambda t: t[0]):
        if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
            continue
        try:
            plate, record = _parse_row(row, lay, ctx)
        except LineError as exc:
            rejected += 1
            if len(rejects) < MAX_REJECTS_KEPT:
                rejects.append(Reject(number, str(exc)))
            continue
        late.append((number, plate, record))
    if late:  # rows parsed one by one come after the bulk ones
        plates += [p for _, p, _ in late]
        attrs += [a for _, _, a in late]
    if not plates:
        where = f": line {rejects[0].line}: {rejects[0].reason}" if rejects else ""
        raise HotlistError(f"{source}: no usable entries{where}")
    return ParsedHotlist(name=ctx.name, source=source, format=HotlistFormat.AUTOVU,
                         covert=ctx.covert, priority=ctx.priority, plates=tuple(plates),
                         attrs=tuple(attrs), rejected=rejected, rejects=tuple(rejects))


def _not_a_hotlist(source: str, line: int, why: str) -> HotlistError:
    return HotlistError(f"{source}: line {line}: not a hotlist ({why})")


def decode(data: bytes, source: str) -> str:
    """Bytes of a hotlist file as text: UTF-8 (BOM dropped) or Windows-1252 exports."""
    if b"\x00" in data[:4096]:
        raise _not_a_hotlist(source, 1, "binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise _not_a_hotlist(source, data.count(b"\n", 0, exc.start) + 1,
                                 "not text") from exc


def detect_format(text: str, source: str) -> HotlistFormat:
    """AutoVu when the first data line has `;`, CSV when it is a header naming `plate`."""
    # Only the head: splitting a million-line file just to look at its first lines costs.
    for number, line in enumerate(text[:SNIFF_BYTES].splitlines()[:SNIFF_LINES], 1):
        if not line.strip() or line.startswith("#"):
            continue
        if ";" in line:
            return HotlistFormat.AUTOVU
        if "," in line:
            header = {_csv_name(cell) for cell in next(csv.reader([line]))}
            if "plate" in header:
                return HotlistFormat.CSV
            raise _not_a_hotlist(source, number, "a CSV hotlist needs a header with `plate`")
        raise _not_a_hotlist(source, number, "neither `;`-separated nor CSV")
    raise HotlistError(f"{source}: no usable entries (empty file)")


def _csv_name(cell: str) -> str:
    key = cell.strip().lower().replace(" ", "").replace("-", "_")
    return _CSV_COLUMNS.get(key, key)


MAX_FIELDS = 64  # extra AutoVu fields named beyond this are dropped (exports have ~10)


def _autovu(text: str, ctx: Context, source: str) -> ParsedHotlist:
    head_lines = text[:SNIFF_BYTES].splitlines(keepends=True)
    first = next((i for i, line in enumerate(head_lines)
                  if line.strip() and not line.startswith("#")), None)
    if first is None:
        raise HotlistError(f"{source}: no usable entries (empty file)")
    head = head_lines[first].rstrip("\r\n").split(";")
    if len(head) < 3:
        raise _not_a_hotlist(source, first + 1, "fewer than 3 `;`-separated fields")
    names = [f"field{i + 1}" for i in range(MAX_FIELDS)]
    priority = covert = None
    if normalize(head[2]) in _AUTOVU_PLATE_HEADERS:
        header = [h.strip() for h in head[:MAX_FIELDS]]
        names[: len(header)] = [h or names[i] for i, h in enumerate(header)]
        lowered = [h.lower() for h in header]
        priority = lowered.index("priority") if "priority" in lowered else None
        covert = lowered.index("covert") if "covert" in lowered else None
        width = len(head)
        first += 1
    else:  # no header: the commonest width among the leading lines
        width = Counter(line.count(";") for line in head_lines[first:]).most_common(1)[0][0] + 1
        # At least up to the plate: mostly `;`-less lines would make the bulk pass look
        # for a plate column its rows lack; such lines are rejected one by one instead.
        width = max(width, 3)
    lay = Layout(width=width, plate=2, category=0, state=1, effective=3, expiry=4,
                  priority=priority, covert=covert,
                  extra=tuple((i, names[i]) for i in range(5, MAX_FIELDS)
                              if i not in (priority, covert)))
    body_start = sum(map(len, head_lines[:first]))
    fast = bulk_bytes(text, ";", width, lay, ctx, start=body_start)
    if fast is not None:
        return _clean_table(*fast, ctx, source, HotlistFormat.AUTOVU)
    cols, reg_numbers, odd = split_regular(text[body_start:], first + 1, ";", width)
    return _parse_rows(cols, reg_numbers, odd, lay, ctx, source)


def _csv(text: str, ctx: Context, source: str) -> ParsedHotlist:
    # newline="": a lone "\r" ends a line, as for str.splitlines (the AutoVu path and the
    # line numbers); csv raises on a "\r" inside an unquoted field otherwise.
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    for row in reader:
        if any(c.strip() for c in row) and not row[0].startswith("#"):
            header = row
            break
    if header is None:
        raise HotlistError(f"{source}: no usable entries (empty file)")
    header_line = reader.line_num
    columns = [_csv_name(cell) for cell in header]
    if "plate" not in columns:
        raise _not_a_hotlist(source, header_line, "a CSV hotlist needs a `plate` column")
    known = set(_CSV_COLUMNS.values())
    col = {c: columns.index(c) for c in columns if c in known}
    width = len(header)
    lay = Layout(width=width, plate=col["plate"], category=col.get("category"),
                  state=col.get("state"), effective=col.get("effective"),
                  expiry=col.get("expiry"), priority=col.get("priority"),
                  covert=col.get("covert"), list=col.get("list"),
                  extra=tuple((i, header[i].strip()) for i, c in enumerate(columns)
                              if c not in known))
    if '"' not in text:  # no quoting: plain splitting gives what csv would, much faster
        head_lines = text[:SNIFF_BYTES].splitlines(keepends=True)
        body_start = sum(map(len, head_lines[:header_line]))
        fast = bulk_bytes(text, ",", width, lay, ctx, start=body_start)
        if fast is not None:
            return _clean_table(*fast, ctx, source, HotlistFormat.CSV)
        cols, reg_numbers, odd = split_regular(text[body_start:], header_line + 1, ",",
                                               width)
    else:
        rows: list[list[str]] = []
        all_numbers: list[int] = []
        for row in reader:  # line_num, not the row count: quoted fields may span lines
            rows.append(row)
            all_numbers.append(reader.line_num)
        # A "#" row is a comment whatever its width: odd rows, where the row parser skips it.
        fits = [len(r) == width and not r[0].startswith("#") for r in rows]
        regular = [r for r, ok in zip(rows, fits, strict=True) if ok]
        reg_numbers = [k for k, ok in zip(all_numbers, fits, strict=True) if ok]
        odd = [(k, r) for k, r, ok in zip(all_numbers, rows, fits, strict=True) if not ok]
        cols = [list(map(itemgetter(i), regular)) for i in range(width)]
    parsed = _parse_rows(cols, reg_numbers, odd, lay, ctx, source)
    return dataclasses.replace(parsed, format=HotlistFormat.CSV)


def parse_text(text: str, *, name: str, source: str, covert: bool = False,
               priority: int | None = None,
               fmt: HotlistFormat | None = None) -> ParsedHotlist:
    """Parse a hotlist's text (format detected unless given). Raises HotlistError."""
    if priority is None:
        priority = DEFAULT_PRIORITY
    elif not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise HotlistError(f"{source}: priority {priority} outside {MIN_PRIORITY}..{MAX_PRIORITY}")
    fmt = fmt or detect_format(text, source)
    ctx = Context(name, covert, priority)
    parsed = _autovu(text, ctx, source) if fmt is HotlistFormat.AUTOVU else _csv(text, ctx, source)
    log.info("hotlist %s from %s: %s entries, %s lines rejected", name, source,
             len(parsed), parsed.rejected)
    return parsed


def parse_file(path: Path, *, name: str, covert: bool = False,
               priority: int | None = None) -> ParsedHotlist:
    """Read and parse a hotlist file. Raises HotlistError (unreadable, not a hotlist)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HotlistError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_text(decode(data, str(path)), name=name, source=str(path), covert=covert,
                      priority=priority)


async def load_hotlist(path: Path, *, name: str, covert: bool = False,
                       priority: int | None = None) -> ParsedHotlist:
    """parse_file in a thread, so the hub's loop keeps serving while a big list loads."""
    return await asyncio.to_thread(parse_file, path, name=name, covert=covert,
                                   priority=priority)


def entries_from(entries: Sequence[HotlistEntry], name: str = "") -> ParsedHotlist:
    """Entries made in the hub (wanted plates) as a table the matcher can take."""
    return ParsedHotlist(
        name=name or (entries[0].list if entries else ""), source="",
        format=HotlistFormat.CSV, covert=False, priority=DEFAULT_PRIORITY,
        plates=tuple(e.plate for e in entries), attrs=tuple(entry_attrs(e) for e in entries),
        rejected=0, rejects=())
