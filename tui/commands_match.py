"""Finding cameras by a few typed letters, fast enough for every keystroke at city scale.

Textual's fuzzy matcher tries every way the letters can fall into a candidate: cheap for
a substring, combinatorial otherwise, and it is per candidate. So the camera index first
narrows 1,000 cameras with plain substring tests (C speed) and a compiled subsequence
pattern over the names, ranks what is left by where the letters fell, and only the best
`CAMERA_HITS` go through the fuzzy matcher for a score and highlight comparable with the
palette's other commands.

Measured at 1,000 cameras on a shared 2-core machine (test_palette.py checks it): 0.5-1 ms
per keystroke once the letters narrow to a few cameras, ~2 ms for one letter found in
every camera; Textual's matcher over every camera's label took 10-40 ms per keystroke.
The palette's own redraw of the list costs more than either.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from textual.fuzzy import FuzzySearch

from hub.model import CameraStatus, HealthState

# Hits offered per query: a palette shows about a dozen lines at 80x24; more than this is
# scrolling nobody does, and each one costs a fuzzy match and a rendered line.
CAMERA_HITS = 20
# Fields joined into one lowercase string per camera; a query never contains this, so a
# match cannot run from one field into the next.
FIELD_SEPARATOR = "\n"
# How a label shows its fields: "Grote Markt · Marktstraat · Stad Hasselt · cam-001".
LABEL_SEPARATOR = " · "


# The fields of an entry, in the order of its label; where the letters were found is
# ranked in this order too. Plain ints, not an IntEnum: indexing with an enum member cost
# 10 µs per camera on a one-letter query.
NAME, STREET, SITE, ID = 0, 1, 2, 3
# A match in a less specific field counts for less: a site name matches hundreds of
# cameras, a street a few, a name one. Ids are exact: full weight.
FIELD_WEIGHT = (1.0, 0.9, 0.7, 1.0)
# Letters scattered through a name (not a substring) rank after every substring match.
SCATTERED_RANK = 10


@dataclass(frozen=True)
class CameraEntry:
    """One camera as the palette shows and searches it."""

    camera_id: str
    fields: tuple[str, str, str, str]  # name, street, site name, id ("" when unknown)
    state: HealthState  # the shown state (maintenance included)
    lowered: tuple[str, str, str, str]  # the fields in lower case
    key: str  # the lowered fields joined by FIELD_SEPARATOR: one `in` test per camera

    @property
    def name(self) -> str:
        return self.fields[NAME]

    @property
    def label(self) -> str:
        return LABEL_SEPARATOR.join(f for f in self.fields if f)

    def field_offset(self, field: int) -> int:
        """Where `field` starts in `label`."""
        offset = 0
        for index, text in enumerate(self.fields):
            if index == field:
                return offset
            if text:
                offset += len(text) + len(LABEL_SEPARATOR)
        return offset


@dataclass(frozen=True)
class CameraMatch:
    """A camera that matches a query: fuzzy score (the palette's scale) and the offsets
    of the matched letters in the entry's label."""

    entry: CameraEntry
    score: float
    offsets: tuple[int, ...]


def camera_entry(status: CameraStatus, site_name: str) -> CameraEntry:
    cfg = status.config
    # A street that only repeats the name (many cameras are named after theirs) would
    # only make the label longer.
    street = "" if cfg.street.lower() == cfg.name.lower() else cfg.street
    fields = (cfg.name, street, site_name or cfg.site, cfg.id)
    lowered = (fields[0].lower(), fields[1].lower(), fields[2].lower(), fields[3].lower())
    return CameraEntry(cfg.id, fields, status.shown_state, lowered,
                       FIELD_SEPARATOR.join(lowered))


def _substring_rank(entry: CameraEntry, query: str) -> tuple[int, int] | None:
    """(rank, field) of the first field holding `query`, lower is better; None if none.

    A name that starts with the query beats one holding it at a word start, which beats
    one holding it anywhere; then street, site, id."""
    name = entry.lowered[NAME]
    at = name.find(query)
    if at >= 0:
        return (0 if at == 0 else 1 if not name[at - 1].isalnum() else 2), NAME
    for field in (STREET, SITE, ID):
        if query in entry.lowered[field]:
            return 2 + field, field
    return None


def _scattered_pattern(query: str) -> re.Pattern[str]:
    """'gmk' -> g.*?m.*?k: the letters in this order anywhere in a name."""
    return re.compile(".*?".join(re.escape(c) for c in query))


class CameraIndex:
    """The cameras of the app when the palette opened, searchable per keystroke."""

    def __init__(self, entries: Iterable[CameraEntry]) -> None:
        self.entries = list(entries)
        self._fuzzy = FuzzySearch()

    @classmethod
    def of(cls, statuses: Iterable[CameraStatus],
           site_name: Callable[[str], str]) -> CameraIndex:
        return cls(camera_entry(s, site_name(s.config.site)) for s in statuses)

    def search(self, query: str, limit: int = CAMERA_HITS) -> list[CameraMatch]:
        """The best `limit` cameras for `query`, best first."""
        query = query.strip().lower()
        if not query or FIELD_SEPARATOR in query:
            return []
        ranked: list[tuple[int, int, int, CameraEntry, int]] = []
        for order, entry in enumerate(self.entries):
            if query in entry.key:  # the cheap test first: most entries stop here
                found = _substring_rank(entry, query)
                if found is not None:
                    rank, field = found
                    ranked.append((rank, len(entry.lowered[0]), order, entry, field))
        if len(ranked) < limit and len(query) > 1:
            search = _scattered_pattern(query).search
            taken = {item[3].camera_id for item in ranked}
            for order, entry in enumerate(self.entries):
                name = entry.lowered[NAME]
                if search(name) and entry.camera_id not in taken:
                    ranked.append((SCATTERED_RANK, len(name), order, entry, NAME))
        best = heapq.nsmallest(limit, ranked, key=lambda item: item[:3])
        matches = [self._scored(entry, field, query) for *_, entry, field in best]
        matches = [m for m in matches if m.score > 0]
        # Stable: equal scores keep the rank order (name before street before site).
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches

    def _scored(self, entry: CameraEntry, field: int, query: str) -> CameraMatch:
        text = entry.fields[field]
        score, offsets = self._fuzzy.match(query, text)
        base = entry.field_offset(field)
        return CameraMatch(entry, score * FIELD_WEIGHT[field], tuple(base + o for o in offsets))

    def worst(self, limit: int) -> list[CameraEntry]:
        """Cameras that are down, for the palette before anything is typed."""
        return [e for e in self.entries if e.state is HealthState.DOWN][:limit]


def spans(offsets: Sequence[int]) -> list[tuple[int, int]]:
    """Runs of consecutive offsets as (start, end) pairs: one style span per run."""
    runs: list[tuple[int, int]] = []
    for offset in offsets:
        if runs and runs[-1][1] == offset:
            runs[-1] = (runs[-1][0], offset + 1)
        else:
            runs.append((offset, offset + 1))
    return runs
