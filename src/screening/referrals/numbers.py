"""Referral numbers: what the letter prints and the centre types to find a referral.

`R-2026-HER-04827-3`: the year, the referring province (ISO 3166-2:AF subdivision code),
five random digits and a Damm check digit over the digits, so a number misread from a
crumpled letter (one wrong digit, or two swapped) is caught before it finds another
person's referral. Random rather than sequential, so the numbers do not reveal how many
people a province refers. Uniqueness is the store's rule (`referrals.enforce`): a
duplicate is refused with 409, and the caller draws again. No Flask.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

SYSTEM = "https://fhir.rehab-screening.example/sid/referral-number"
PATTERN = re.compile(r"^R-(\d{4})-([A-Z]{3})-(\d{5})-(\d)$")
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm(digits: str) -> int:
    """The Damm check digit of a string of digits (0 for a valid number with its check)."""
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][int(digit)]
    return interim


def new_number(day: date, province_code: str, draw: int | None = None) -> str:
    """A referral number for a referral written on `day` in a province (`AF-HER` or
    `HER`); `draw` fixes the five random digits (tests)."""
    region = province_code.removeprefix("AF-").upper()
    region = region if re.fullmatch(r"[A-Z]{3}", region) else "AFG"
    serial = f"{secrets.randbelow(100_000) if draw is None else draw:05d}"
    body = f"{day.year:04d}{serial}"
    return f"R-{day.year:04d}-{region}-{serial}-{damm(body)}"


def normalized(text: str) -> str:
    """A number as typed (any case, spaces or Persian digits) in its printed form."""
    digits = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
    return re.sub(r"\s+", "", text.translate(digits)).upper()


def is_valid(number: str) -> bool:
    """Whether a number has the printed form and its check digit agrees."""
    found = PATTERN.match(number)
    if found is None:
        return False
    year, _, serial, check = found.groups()
    return damm(f"{year}{serial}{check}") == 0
