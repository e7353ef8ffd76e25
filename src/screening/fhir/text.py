"""Normalisation of text for case- and accent-insensitive string search."""

from __future__ import annotations

import unicodedata

_TRANSLATION = str.maketrans(
    {
        "\u064a": "\u06cc",  # Arabic yeh -> Farsi yeh
        "\u0649": "\u06cc",  # Alef maksura -> Farsi yeh
        "\u0643": "\u06a9",  # Arabic kaf -> keheh
        "\u0640": None,  # tatweel
        "\u200c": None,  # zero-width non-joiner
    }
)


def normalize_string(s: str) -> str:
    """Fold `s` for string search: no case, no accents, one Persian yeh/kaf, single spaces."""
    if s.isascii():
        return " ".join(s.casefold().split())
    decomposed = unicodedata.normalize("NFKD", s)
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(kept.casefold().translate(_TRANSLATION).split())
