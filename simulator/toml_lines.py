"""Find the source line of a field in a TOML document, for error messages.

`tomllib` gives values without positions. This module scans the source once (it has already
been accepted by `tomllib`, so the scanner can be simple) and maps every field path, in the
same spelling the scenario validator uses, to the line it starts on:

    scenario.speed                  -> the `speed =` line under `[scenario]`
    camera_groups[2]                -> the third `[[camera_groups]]` header
    camera_groups[2].count          -> the `count =` line under that header
    sites[0].grants[1].to           -> where the second inline table of `grants` says `to =`
    camera_groups[0].positions[3]   -> the line the fourth element of `positions` starts on
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_PUNCT = "[]{},=."
_BARE_STOP = frozenset(" \t\r\n#\"'" + _PUNCT)

Token = tuple[str, int, str]  # (kind, line, text); kind is "NL", "BARE", "STR" or a punctuation


def _tokens(src: str) -> Iterator[Token]:
    i, line, n = 0, 1, len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            yield ("NL", line, "")
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and src[i] != "\n":
                i += 1
        elif c in _PUNCT:
            yield (c, line, c)
            i += 1
        elif c in "\"'":
            start_line = line
            triple = src.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            while j < n and not src.startswith(quote, j):
                if src[j] == "\\" and c == '"':
                    j += 1
                if j < n and src[j] == "\n":
                    line += 1
                j += 1
            yield ("STR", start_line, src[i + len(quote) : j])
            i = j + len(quote)
        else:
            j = i
            while j < n and src[j] not in _BARE_STOP:
                j += 1
            yield ("BARE", line, src[i:j])
            i = j


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


class LineIndex:
    """Field path -> 1-based line number, built from TOML source text."""

    def __init__(self, src: str) -> None:
        self.lines: dict[str, int] = {}
        self._toks = list(_tokens(src))
        self._p = 0
        self._aot: dict[str, int] = {}
        try:
            self._document()
        except (IndexError, ValueError):
            pass  # best effort: whatever was indexed so far stays usable

    def line_of(self, path: str) -> int | None:
        """Line of `path`, or of its nearest indexed ancestor; None if nothing matches."""
        while path:
            if path in self.lines:
                return self.lines[path]
            m = re.search(r"(\[\d+\]|\.[^.\[\]]+)$", path)
            if m is None:
                return None
            path = path[: m.start()]
        return None

    # --- scanner -------------------------------------------------------------------------

    def _peek(self) -> str:
        return self._toks[self._p][0] if self._p < len(self._toks) else "EOF"

    def _record(self, path: str, line: int) -> None:
        self.lines.setdefault(path, line)

    def _skip_nl(self) -> None:
        while self._peek() == "NL":
            self._p += 1

    def _key(self, stop: str) -> list[str]:
        keys: list[str] = []
        while self._peek() not in (stop, "EOF", "NL"):
            kind, _, text = self._toks[self._p]
            if kind in ("BARE", "STR"):
                keys.append(text)
            self._p += 1
        if self._peek() != stop:
            raise ValueError("unterminated key")
        return keys

    def _document(self) -> None:
        table = ""
        while self._p < len(self._toks):
            kind, line, _ = self._toks[self._p]
            if kind == "NL":
                self._p += 1
                continue
            if kind == "[":
                is_aot = self._p + 1 < len(self._toks) and self._toks[self._p + 1][0] == "["
                self._p += 2 if is_aot else 1
                keys = self._key("]")
                self._p += 2 if is_aot else 1
                table = self._header(keys, is_aot)
                self._record(table, line)
                continue
            keys = self._key("=")
            self._p += 1
            path = table
            for k in keys:
                path = _join(path, k)
                self._record(path, line)
            self._value(path)

    def _header(self, keys: list[str], is_aot: bool) -> str:
        path = ""
        for i, k in enumerate(keys):
            base = _join(path, k)
            if i == len(keys) - 1 and is_aot:
                idx = self._aot.get(base, -1) + 1
                self._aot[base] = idx
                path = f"{base}[{idx}]"
            elif base in self._aot:
                path = f"{base}[{self._aot[base]}]"
            else:
                path = base
        return path

    def _value(self, path: str) -> None:
        kind = self._peek()
        if kind == "[":
            self._p += 1
            idx = 0
            while True:
                self._skip_nl()
                if self._peek() == "]":
                    self._p += 1
                    return
                elem = f"{path}[{idx}]"
                self._record(elem, self._toks[self._p][1])
                self._value(elem)
                self._skip_nl()
                if self._peek() == ",":
                    self._p += 1
                    idx += 1
                    continue
                if self._peek() == "]":
                    self._p += 1
                    return
                raise ValueError("bad array")
        if kind == "{":
            self._p += 1
            while True:
                self._skip_nl()
                if self._peek() == "}":
                    self._p += 1
                    return
                line = self._toks[self._p][1]
                sub = path
                for k in self._key("="):
                    sub = _join(sub, k)
                    self._record(sub, line)
                self._p += 1
                self._value(sub)
                self._skip_nl()
                if self._peek() == ",":
                    self._p += 1
                    continue
                if self._peek() == "}":
                    self._p += 1
                    return
                raise ValueError("bad inline table")
        # A scalar: one token, plus the pieces a float or a datetime with a space splits into.
        self._p += 1
        while self._peek() in ("BARE", "."):
            self._p += 1
