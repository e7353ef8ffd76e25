"""The message catalogue of the pages (English and Persian) and Persian digits. No Flask."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fa")
RTL = frozenset({"fa"})
LANGUAGE_NAMES = {"en": "English", "fa": "فارسی"}
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@dataclass(frozen=True)
class Message:
    """A message key with the values it is formatted with (form errors, notices)."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalogue:
    """Every user-facing string of the pages, by language and key."""

    messages: dict[str, dict[str, str]]

    def text(self, lang: str, key: str | Message, **values: Any) -> str:
        """The message `key` in `lang` (English, then the key itself, when missing), with
        `values` filled in (whole numbers in the page's digits). When `n` is 1, the
        language's `<key>.one` is used if it has one ("1 account", not "1 accounts")."""
        if isinstance(key, Message):
            return self.text(lang, key.key, **{**key.values, **values})
        one = f"{key}.one" if values.get("n") == 1 else key
        tables = (self.messages.get(lang, {}), self.messages.get("en", {}))
        template = next((t.get(one) or t[key] for t in tables if key in t), key)
        if not values:
            return template
        return template.format(**{k: _numeral(v, lang) for k, v in values.items()})

    def keys(self, lang: str) -> set[str]:
        """The keys of one language's messages."""
        return set(self.messages.get(lang, {}))


def _numeral(value: Any, lang: str) -> Any:
    """Whole numbers in the page's digits; anything else as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return localize_digits(value, lang)
    return value


def load_catalogue(folder: Path) -> Catalogue:
    """Read `<lang>.json` and the feature catalogues `<feature>.<lang>.json` of every
    language from `folder`; a key defined twice is an error."""
    messages: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        table: dict[str, str] = {}
        for path in [folder / f"{lang}.json", *sorted(folder.glob(f"*.{lang}.json"))]:
            with path.open(encoding="utf-8") as handle:
                loaded = {str(k): str(v) for k, v in json.load(handle).items()}
            twice = sorted(set(loaded) & set(table))
            if twice:
                raise ValueError(f"{path.name} defines keys defined before: {twice[:5]}")
            table.update(loaded)
        messages[lang] = table
    return Catalogue(messages)


def localize_digits(value: object, lang: str) -> str:
    """`value` as text, with Persian digits on Persian pages."""
    text = str(value)
    return text.translate(_PERSIAN_DIGITS) if lang == "fa" else text


def direction(lang: str) -> str:
    """The writing direction of a language: rtl or ltr."""
    return "rtl" if lang in RTL else "ltr"


def language_or_none(value: str | None) -> str | None:
    """`value` when it names a language of the pages, else None."""
    return value if value in LANGUAGES else None
