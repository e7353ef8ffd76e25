"""FHIR date, dateTime and instant strings as half-open ranges of naive UTC datetimes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MIN_DATETIME = datetime(1, 1, 1)
MAX_DATETIME = datetime(9999, 12, 31, 23, 59, 59, 999999)

_PATTERN = re.compile(
    r"(?P<year>[0-9](?:[0-9](?:[0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(?:-(?P<month>0[1-9]|1[0-2])"
    r"(?:-(?P<day>0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])"
    r"(?::(?P<second>[0-5][0-9]|60)(?:\.(?P<fraction>[0-9]+))?)?"
    r"(?P<zone>Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
    r")?)?)?"
)
_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)


def parse_fhir_date_range(text: str) -> tuple[datetime, datetime]:
    """Return the half-open UTC range [low, high) that a FHIR date/dateTime/instant covers."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a FHIR date, dateTime or instant: {text!r}")
    parts = match.groupdict()
    year = int(parts["year"])
    if parts["month"] is None:
        return datetime(year, 1, 1), _next_year(year)
    month = int(parts["month"])
    if parts["day"] is None:
        return datetime(year, month, 1), _next_month(year, month)
    start = datetime(year, month, int(parts["day"]))  # raises ValueError for 2021-02-30
    if parts["hour"] is None:
        return start, _add(start, _DAY)
    low, width = _time_of_day(start, parts)
    offset = _zone_offset(parts["zone"])
    low = _add(low, -offset)
    return low, _add(low, width)


def _time_of_day(day: datetime, parts: dict[str, str | None]) -> tuple[datetime, timedelta]:
    """The local start of a time on `day` and the width its precision gives."""
    low = day + timedelta(hours=int(parts["hour"] or 0), minutes=int(parts["minute"] or 0))
    second = parts["second"]
    if second is None:
        return low, _MINUTE
    low = _add(low, timedelta(seconds=int(second)))  # a leap second :60 is the next minute
    fraction = parts["fraction"]
    if fraction is None:
        return low, _SECOND
    digits = fraction[:6]
    low = _add(low, timedelta(microseconds=int(digits.ljust(6, "0"))))
    return low, timedelta(microseconds=10 ** (6 - len(digits)))


def _zone_offset(zone: str | None) -> timedelta:
    """The UTC offset a `Z` / `+hh:mm` / `-hh:mm` suffix denotes (none means UTC)."""
    if zone is None or zone == "Z":
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    return sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))


def _add(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, clamped to [MIN_DATETIME, MAX_DATETIME]."""
    try:
        return moment + delta
    except OverflowError:
        return MAX_DATETIME if delta > timedelta(0) else MIN_DATETIME


def _next_year(year: int) -> datetime:
    """The first instant after `year`."""
    return datetime(year + 1, 1, 1) if year < 9999 else MAX_DATETIME


def _next_month(year: int, month: int) -> datetime:
    """The first instant after the month."""
    if month < 12:
        return datetime(year, month + 1, 1)
    return _next_year(year)
