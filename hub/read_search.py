"""Partial plate search: a pattern becomes indexed SQL over the reads table.

The FTS5 trigram table `reads_fts` indexes "^" + normalized + "$" of every read, so a
fragment ("ABC"), an anchored start ("1A*" -> "^1A") or end ("*23" -> "23$") is a set
of trigrams; one `?` between short literals ("*23?") is expanded over the characters
plates use ("23X" AND "3X$" for each X). Candidates from the index are then checked
exactly with GLOB on the stored text. Wanted-plate search-back (checked on `canonical`)
asks for every look-alike spelling of its trigrams.

Newest first without touching every candidate: ids grow with insertion, and
`read_blocks` keeps the newest read time per block of ids. The search walks blocks from
the newest, in growing spans, and stops once its `limit`-th match is newer than anything
the older blocks hold. Patterns with no trigram ("*2*", "A?") are checked on the reads
of a `since` window via the time index, only when that window is short.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.errors import SearchPatternError
from hub.plates import LOOKALIKE_GROUPS, canonical, normalize

# FTS5's trigram tokenizer indexes 3-character substrings: shorter literals cannot use it.
TRIGRAM = 3

# Patterns no trigram can narrow are checked on every read from `since` on, walking the
# time index. A day is what an operator asks about ("a car with a 2 in it, this
# afternoon") and is ~110k reads for a city (10M reads in 90 days): 0.15 s to check
# when nothing matches (bench.search store), a few ms when matches are common.
SHORT_PATTERN_MAX_WINDOW = timedelta(hours=24)

# Ids per read_blocks row: 65,536 reads are ~14 h of a city's reads, so a search that
# finds its matches in the newest reads looks at a block or two; 10M reads are ~150 rows.
BLOCK_BITS = 16

# SQLite's default limit on `?` parameters was 999 in older builds: stay well below.
MAX_KEYS_PER_QUERY = 500

# A pattern with fewer trigrams than this gets one `?` expanded over the alphabet if that
# gives it trigrams ("*23?"). Only trigram-less ones: measured (bench.search), the ~36 OR
# branches of an expansion cost more than the extra candidates of e.g. "IH?04*" ("^IH").
EXPAND_BELOW = 1

# Trigrams used per wanted-plate (look-alike) search: each is an OR of up to 64
# spellings ("000"), and four trigrams already leave few candidates.
LOOKALIKE_TRIGRAMS = 4

START, END = "^", "$"  # marks around the indexed text; never in a normalised plate
_WILDCARDS = "*?"
_COLUMNS = ("normalized", "canonical")


class Strategy(enum.StrEnum):
    """Which index narrows the reads a pattern is checked on."""

    TRIGRAM = "trigram"  # FTS5 trigram index, walking blocks of ids from the newest
    EXPANDED = "expanded"  # the same, one `?` expanded over the characters plates use
    TIME = "time"  # the time index from `since` (patterns without trigrams only)


@dataclass(frozen=True)
class Pattern:
    """A parsed search pattern."""

    text: str  # as the user gave it, for messages
    column: str  # the column checked: "normalized" (search) or "canonical" (wanted)
    glob: str  # exact check (GLOB) on `column`

    @property
    def marked(self) -> str:
        """The glob as it reads against the indexed "^...$" text."""
        head = "" if self.glob.startswith("*") else START
        tail = "" if self.glob.endswith("*") else END
        return head + self.glob + tail

    def strategy(self) -> Strategy:
        """How this pattern is searched (independent of what is stored)."""
        if _expansion_point(self.marked) is not None:
            return Strategy.EXPANDED
        return Strategy.TRIGRAM if _trigrams(self.marked) else Strategy.TIME

    def match(self, alphabet: Sequence[str]) -> str:
        """The FTS5 MATCH expression ("" if nothing can match); not for TIME patterns.
        `alphabet`: the characters of stored plates (normalised), for `?` expansion."""
        lookalike = self.column == "canonical"
        marked = self.marked
        point = _expansion_point(marked)
        if point is None:
            return _all(_trigrams(marked), lookalike)
        chars = sorted({canonical(ch) for ch in alphabet}) if lookalike else alphabet
        return " OR ".join(
            f"({_all(_trigrams(marked[:point] + ch + marked[point + 1 :]), lookalike)})"
            for ch in chars
        )


def parse_search(text: str) -> Pattern:
    """An operator's pattern: `*` any run, `?` one character, no wildcard = a fragment.

    Case and separators are ignored. Raises SearchPatternError when nothing is left.
    """
    glob = normalize(text, keep_wildcards=True)
    if not any(ch not in _WILDCARDS for ch in glob):
        raise SearchPatternError(
            f"search pattern {text!r} has no plate characters"
            + (" (only wildcards)" if glob else "")
        )
    if not any(ch in _WILDCARDS for ch in glob):
        glob = f"*{glob}*"  # a fragment anywhere in the plate
    return Pattern(text, "normalized", glob)


def parse_wanted(canonical_pattern: str) -> Pattern:
    """A wanted plate in canonical form, `*` = exactly one unknown character."""
    glob = canonical(canonical_pattern.replace("*", "?"))
    if not any(ch != "?" for ch in glob):
        raise SearchPatternError(f"wanted pattern {canonical_pattern!r} has no characters")
    return Pattern(canonical_pattern, "canonical", glob)


def _trigrams(marked: str) -> tuple[str, ...]:
    """Distinct trigrams of the literal runs of `marked`, in order."""
    seen: dict[str, None] = {}
    run = ""
    for ch in marked + "*":
        if ch in _WILDCARDS:
            for start in range(len(run) - TRIGRAM + 1):
                seen.setdefault(run[start : start + TRIGRAM])
            run = ""
        else:
            run += ch
    return tuple(seen)


def _expansion_point(marked: str) -> int | None:
    """The `?` worth expanding over the alphabet: the one whose replacement adds the most
    trigrams, if the pattern has fewer than EXPAND_BELOW without."""
    have = len(_trigrams(marked))
    if have >= EXPAND_BELOW:
        return None
    gains = [
        (len(_trigrams(marked[:point] + "A" + marked[point + 1 :])) - have, point)
        for point, ch in enumerate(marked)
        if ch == "?"
    ]
    best = max(gains, default=(0, 0))
    return best[1] if best[0] > 0 else None


def _all(grams: Sequence[str], lookalike: bool) -> str:
    """All of `grams`; with `lookalike`, each as any of its look-alike spellings (the
    index holds normalised text), using the grams with fewest spellings."""
    if not lookalike:
        return " AND ".join(f'"{gram}"' for gram in grams)
    spelled = sorted((_spellings(gram) for gram in grams), key=len)[:LOOKALIKE_TRIGRAMS]
    return " AND ".join(
        "(" + " OR ".join(f'"{s}"' for s in spellings) + ")" for spellings in spelled
    )


def _spellings(gram: str) -> list[str]:
    """Every text whose canonical form is the canonical `gram`."""
    out = [""]
    for ch in gram:
        group = next((g for g in LOOKALIKE_GROUPS if ch in g), ch)
        out = [head + member for head in out for member in group]
    return out


def search_ids(
    conn: sqlite3.Connection,
    pattern: Pattern,
    since: str | None,
    camera_id: str | None,
    limit: int,
    bounded: bool,
) -> list[int]:
    """Ids of the newest `limit` reads matching `pattern`, newest first (store thread).

    `since` is a UTC key; `bounded`: a TIME pattern needs a `since` within
    SHORT_PATTERN_MAX_WINDOW of the newest read, else SearchPatternError.
    """
    sql, params = _query(conn, pattern, since, camera_id, bounded)
    if pattern.strategy() is Strategy.TIME:
        return [row[0] for row in conn.execute(sql, (*params, limit))]
    if not params[0]:
        return []  # `?` expansion over an empty store
    return _walk(conn, sql, params[0], params[1:], since, limit)


def explain(
    conn: sqlite3.Connection, pattern: Pattern, since: str | None, camera_id: str | None
) -> list[str]:
    """EXPLAIN QUERY PLAN lines of the query `search_ids` runs (bounded)."""
    sql, params = _query(conn, pattern, since, camera_id, True)
    if pattern.strategy() is not Strategy.TIME:
        if not params[0]:
            return []  # `?` expansion over an empty store: no query at all
        params = (params[0], 0, 1 << 62, *params[1:])
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (*params, 100))]


def _query(
    conn: sqlite3.Connection, pattern: Pattern, since: str | None, camera_id: str | None,
    bounded: bool,
) -> tuple[str, tuple[object, ...]]:
    """SQL selecting (id, at) newest first, and its params but the limit and, for the FTS
    (whose first param is the MATCH), the id range that follows the MATCH."""
    if pattern.column not in _COLUMNS:
        raise ValueError(f"unknown column {pattern.column!r}")
    where = [f"reads.{pattern.column} GLOB ?"]
    params: list[object] = [pattern.glob]
    if since is not None:
        where.append("reads.at >= ?")
        params.append(since)
    if camera_id is not None:
        where.append("reads.camera_id = ?")
        params.append(camera_id)
    order = " ORDER BY reads.at DESC, reads.id DESC LIMIT ?"
    strategy = pattern.strategy()
    if strategy is Strategy.TIME:
        window_from = _window_from(conn) if bounded else None
        if since is None or (window_from is not None and since < window_from):
            raise SearchPatternError(
                f"search pattern {pattern.text!r} is too short to search every read: give "
                f"at least {TRIGRAM} characters in a row (1AB), a start or end of 2 (1A*, "
                f"*23, *23?), or a --since within "
                f"{SHORT_PATTERN_MAX_WINDOW.total_seconds() / 3600:g} h of the newest read"
            )
        index = "reads_camera_at" if camera_id is not None else "reads_at"
        return (
            f"SELECT reads.id, reads.at FROM reads INDEXED BY {index} WHERE "
            + " AND ".join(where) + order,
            tuple(params),
        )
    alphabet: list[str] = []
    if strategy is Strategy.EXPANDED:
        alphabet = [row[0] for row in conn.execute("SELECT ch FROM read_alphabet")]
    # CROSS JOIN pins the FTS table as the outer loop: the planner would otherwise like to
    # walk reads_at backwards for the ORDER BY, i.e. scan the reads.
    return (
        "SELECT reads.id, reads.at FROM reads_fts CROSS JOIN reads"
        " ON reads.id = reads_fts.rowid WHERE reads_fts MATCH ? AND reads_fts.rowid >= ?"
        " AND reads_fts.rowid < ? AND " + " AND ".join(where) + order,
        (pattern.match(alphabet), *params),
    )


def _walk(
    conn: sqlite3.Connection, sql: str, match: object, params: tuple[object, ...],
    since: str | None, limit: int,
) -> list[int]:
    """Run an FTS query over blocks of ids from the newest; stop once no older block can
    hold a read newer than the `limit`-th match found."""
    blocks = conn.execute(
        "SELECT block, max_at FROM read_blocks"
        + (" WHERE max_at >= ?" if since is not None else "") + " ORDER BY block DESC",
        (since,) if since is not None else (),
    ).fetchall()
    older_max = [""] * (len(blocks) + 1)  # newest time in blocks[i:]
    for i in range(len(blocks) - 1, -1, -1):
        older_max[i] = max(blocks[i][1], older_max[i + 1])
    found: list[tuple[str, int]] = []
    done, span = 0, 1
    while done < len(blocks):
        group = blocks[done : done + span]
        low, high = group[-1][0] << BLOCK_BITS, (group[0][0] + 1) << BLOCK_BITS
        rows = conn.execute(sql, (match, low, high, *params, limit)).fetchall()
        found = sorted(found + [(at, read_id) for read_id, at in rows], reverse=True)[:limit]
        done, span = done + len(group), span * 2
        # An older block's reads have smaller ids: they rank below an equal time.
        if len(found) >= limit and done < len(blocks) and found[-1][0] >= older_max[done]:
            break
    return [read_id for _, read_id in found]


def by_canonical_ids(
    conn: sqlite3.Connection, keys: Sequence[str], since: str, limit: int
) -> list[int]:
    """Ids of the newest `limit` reads whose canonical plate is one of `keys`."""
    rows: list[tuple[str, int]] = []
    for start in range(0, len(keys), MAX_KEYS_PER_QUERY):
        chunk = keys[start : start + MAX_KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        rows += conn.execute(
            f"SELECT at, id FROM reads INDEXED BY reads_canonical WHERE canonical IN ({marks})"
            " AND at >= ? ORDER BY at DESC, id DESC LIMIT ?",
            (*chunk, since, limit),
        ).fetchall()
    rows.sort(reverse=True)
    return [row[1] for row in rows[:limit]]


def index_text(normalized_plate: str) -> str:
    """What reads_fts indexes for a read."""
    return START + normalized_plate + END


def _window_from(conn: sqlite3.Connection) -> str | None:
    """The earliest `since` a pattern without trigrams may use (None: no reads)."""
    newest = conn.execute("SELECT max(at) FROM reads").fetchone()[0]
    if newest is None:
        return None
    earliest = datetime.fromisoformat(newest) - SHORT_PATTERN_MAX_WINDOW
    return earliest.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")  # hub.store's UTC key format
