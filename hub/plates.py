"""Plate text normalisation and look-alike canonical form.

`normalize` is what search and matching compare: uppercase, separators stripped.
`canonical` maps every character of a look-alike group to the group's first member;
it is used for matching only (the read as seen is always kept).
"""

from __future__ import annotations

# Characters an OCR engine confuses on European plates (DESIGN.md, "ALPR reads").
LOOKALIKE_GROUPS: tuple[str, ...] = ("0ODQ", "1I", "2Z", "5S", "8B", "6G")

_CANONICAL = str.maketrans({c: group[0] for group in LOOKALIKE_GROUPS for c in group[1:]})

# Everything but letters and digits is a separator on a plate ("1-ABC-234", "AB 12 CD",
# "M·AB 1234"); `*` and `?` survive only where a pattern is normalised (keep_wildcards).
_WILDCARDS = frozenset("*?")


def normalize(text: str, keep_wildcards: bool = False) -> str:
    """Uppercase, separators stripped: "1-abc-234" -> "1ABC234".

    Non-ASCII letters (Ö, Ł) are kept uppercased: they occur on plates and in OCR output
    and must not silently turn one plate into another.
    """
    out = []
    for ch in text.upper():
        if ch.isalnum() or (keep_wildcards and ch in _WILDCARDS):
            out.append(ch)
    return "".join(out)


def canonical(normalized: str) -> str:
    """Look-alike canonical form: two plates share it exactly when every character that
    differs between them is in one LOOKALIKE_GROUPS group ("1ABC234" ~ "IA8C234")."""
    return normalized.translate(_CANONICAL)
