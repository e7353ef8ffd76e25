"""Typed configuration: defaults, overridden by SCREENING_* environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class Config:
    """Settings for one app instance; read once in the factory, never at import."""

    database_url: str = "sqlite:///screening.db"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    base_url: str = ""  # public base of /fhir; empty means "from the request"
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 64
    max_bundle_entries: int = 1000
    default_page_size: int = 20
    max_page_size: int = 500
    search_cache_minutes: int = 60
    cookie_secure: bool = True  # session cookies only over HTTPS (tests over http turn it off)
    tug_cutoff: str = "13.5"  # seconds from which TUG flags a fall risk (CDC STEADI: "12")
    timezone: str = "Asia/Kabul"  # times on pages and letters (stored times stay UTC)
    issuer_en: str = "Red Crescent Society: physical rehabilitation programme"  # on letters
    issuer_fa: str = "جمعیت هلال احمر: برنامهٔ توان‌بخشی فیزیکی"
    max_letter_bytes: int = 5 * 1024 * 1024  # a letter PDF uploaded for import
    testing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build a Config from SCREENING_<FIELD> variables (e.g. SCREENING_DATABASE_URL)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"SCREENING_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(raw, f.type)
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Config:
        """Return a copy with some settings replaced (used by tests)."""
        return replace(self, **overrides)


def _convert(raw: str, type_name: Any) -> Any:
    name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "")
    if name == "int":
        return int(raw)
    if name == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw
