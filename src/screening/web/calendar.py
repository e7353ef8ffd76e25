"""Dates on the pages: Solar Hijri (Jalali) with Persian digits on Persian pages, Gregorian
on English ones. FHIR dates stay Gregorian; this is for display and entry only. No Flask.

Entry accepts Persian (۰-۹) and Arabic-Indic (٠-٩) digits and `/`, `-` or `.` between the
parts, year first; a Persian page reads the date as Solar Hijri (unless the year is 1800
or later, which only a Gregorian date can be), an English one as Gregorian. FHIR partial
dates (a year, a year and month) are shown as far as they go.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jdatetime

_TO_LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫٬", "01234567890123456789.,")
_DATE = re.compile(r"^(\d{4})[/\-.](\d{1,2})[/\-.](\d{1,2})$")
_FHIR_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
JALALI_MONTHS = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
GREGORIAN_FROM = 1800  # a year this high on a Persian page is Gregorian (Jalali is ~1400)
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


class DateEntryError(ValueError):
    """Text that is not a date of the page's calendar."""


def latin_digits(text: str) -> str:
    """`text` with Persian and Arabic-Indic digits (and the Arabic decimal and thousands
    separators) as ASCII."""
    return text.translate(_TO_LATIN)


def parse_date(text: str, lang: str) -> date:
    """A date typed on a page: Solar Hijri on Persian pages, Gregorian on English ones."""
    found = _DATE.match(latin_digits(text.strip()))
    if not found:
        raise DateEntryError(text)
    year, month, day = (int(part) for part in found.groups())
    try:
        if lang == "fa" and year < GREGORIAN_FROM:
            converted: date = jdatetime.date(year, month, day).togregorian()
            return converted
        return date(year, month, day)
    except ValueError as error:
        raise DateEntryError(text) from error


def parse_year(text: str, lang: str) -> int:
    """A year typed alone: Solar Hijri on Persian pages (given as the Gregorian year in
    which its first nine months fall, Jalali + 621), Gregorian on English ones."""
    digits = latin_digits(text.strip())
    if not re.fullmatch(r"\d{4}", digits):
        raise DateEntryError(text)
    year = int(digits)
    if lang == "fa" and year < GREGORIAN_FROM:
        year += 621
    if not 1900 <= year <= 2200:
        raise DateEntryError(text)
    return year


def entry_text(value: date | None, lang: str) -> str:
    """A date as the page's date field shows it for editing (YYYY/MM/DD Solar Hijri with
    Persian digits, or ISO Gregorian)."""
    if value is None:
        return ""
    if lang == "fa":
        jalali = jdatetime.date.fromgregorian(date=value)
        return f"{jalali.year:04d}/{jalali.month:02d}/{jalali.day:02d}".translate(PERSIAN_DIGITS)
    return value.isoformat()


def show_date(value: str | date | datetime | None, lang: str) -> str:
    """A FHIR date or dateTime (or a date) for reading: '3 آذر ۱۴۰۵' on Persian pages,
    '2026-11-24' on English ones; partial dates as far as they go; '' for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return _full(value, lang)
    found = _FHIR_DATE.match(value)
    if not found:
        return value
    year, month, day = found.groups()
    try:
        if day:
            return _full(date(int(year), int(month), int(day)), lang)
        if lang != "fa":
            return value[:7] if month else year
        return _partial_jalali(int(year), int(month) if month else None)
    except ValueError:  # date-shaped but impossible ('2019-02-30'), or before the Jalali era
        return value


def _full(value: date, lang: str) -> str:
    """A whole date in the page's calendar."""
    if lang != "fa":
        return value.isoformat()
    jalali = jdatetime.date.fromgregorian(date=value)
    text = f"{jalali.day} {JALALI_MONTHS[jalali.month - 1]} {jalali.year}"
    return text.translate(PERSIAN_DIGITS)


def _partial_jalali(year: int, month: int | None) -> str:
    """A Gregorian year (or month) in Solar Hijri: the Jalali year(s) it falls in."""
    first = jdatetime.date.fromgregorian(date=date(year, month or 1, 1))
    last_day = date(year, month, 28) if month else date(year, 12, 31)
    last = jdatetime.date.fromgregorian(date=last_day)
    if month and first.month == last.month:
        text = f"{JALALI_MONTHS[first.month - 1]} {first.year}"
    elif first.year == last.year:
        text = str(first.year)
    else:
        text = f"{first.year}–{last.year}"
    return text.translate(PERSIAN_DIGITS)


def show_datetime(value: str | datetime | None, lang: str, zone: str | None = None) -> str:
    """A FHIR dateTime with its time of day (hours and minutes), in the time zone `zone`
    when given and the value has an offset (else as recorded)."""
    if value is None or value == "":
        return ""
    text = value.isoformat() if isinstance(value, datetime) else value
    text = _in_zone(text, zone) if zone else text
    shown = show_date(text, lang)
    if len(text) >= 16 and text[10] == "T":
        clock = text[11:16]
        shown = f"{shown} {clock.translate(PERSIAN_DIGITS) if lang == 'fa' else clock}"
    return shown


def _in_zone(text: str, zone: str) -> str:
    """An instant with an offset as local time of `zone` (other values unchanged)."""
    if (
        len(text) < 17
        or text[10] != "T"
        or not (text.endswith("Z") or "+" in text[16:] or "-" in text[16:])
    ):
        return text
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(ZoneInfo(zone)).isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return text


def date_hint(lang: str) -> str:
    """The format a date field expects, in the page's digits."""
    return "۱۴۰۵/۰۹/۰۳" if lang == "fa" else "2026-11-24"
