"""Tests of FHIR date/dateTime/instant parsing into UTC ranges (src/screening/fhir/datetimes.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screening.fhir.datetimes import MAX_DATETIME, MIN_DATETIME, parse_fhir_date_range


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2020", datetime(2020, 1, 1), datetime(2021, 1, 1)),
        ("2020-03", datetime(2020, 3, 1), datetime(2020, 4, 1)),
        ("2020-12", datetime(2020, 12, 1), datetime(2021, 1, 1)),
        ("2020-02-29", datetime(2020, 2, 29), datetime(2020, 3, 1)),
        ("2020-03-04T10:11", datetime(2020, 3, 4, 10, 11), datetime(2020, 3, 4, 10, 12)),
        ("2020-03-04T10:11:12", datetime(2020, 3, 4, 10, 11, 12), datetime(2020, 3, 4, 10, 11, 13)),
        (
            "2020-03-04T10:11:12Z",
            datetime(2020, 3, 4, 10, 11, 12),
            datetime(2020, 3, 4, 10, 11, 13),
        ),
        (
            "2020-03-04T10:11:12.345+03:30",
            datetime(2020, 3, 4, 6, 41, 12, 345000),
            datetime(2020, 3, 4, 6, 41, 12, 346000),
        ),
        (
            "2020-03-04T10:11:12.5-05:00",
            datetime(2020, 3, 4, 15, 11, 12, 500000),
            datetime(2020, 3, 4, 15, 11, 12, 600000),
        ),
        ("2020-03-04T23:30+14:00", datetime(2020, 3, 4, 9, 30), datetime(2020, 3, 4, 9, 31)),
        (
            "2020-03-04T00:30:00+01:00",
            datetime(2020, 3, 3, 23, 30),
            datetime(2020, 3, 3, 23, 30, 1),
        ),
    ],
)
def test_ranges_by_precision(text: str, low: datetime, high: datetime) -> None:
    assert parse_fhir_date_range(text) == (low, high)


def test_long_fractions_are_cut_to_microseconds() -> None:
    low, high = parse_fhir_date_range("2020-03-04T10:11:12.123456789Z")
    assert low == datetime(2020, 3, 4, 10, 11, 12, 123456)
    assert high - low == timedelta(microseconds=1)


def test_leap_second_starts_the_next_minute() -> None:
    low, high = parse_fhir_date_range("2016-12-31T23:59:60Z")
    assert (low, high) == (datetime(2017, 1, 1), datetime(2017, 1, 1, 0, 0, 1))


def test_results_are_naive() -> None:
    low, high = parse_fhir_date_range("2020-03-04T10:11:12+02:00")
    assert low.tzinfo is None and high.tzinfo is None


def test_extremes_are_clamped() -> None:
    assert parse_fhir_date_range("9999") == (datetime(9999, 1, 1), MAX_DATETIME)
    assert parse_fhir_date_range("9999-12-31")[1] == MAX_DATETIME
    assert parse_fhir_date_range("0001-01-01T00:00:00+14:00")[0] == MIN_DATETIME
    assert parse_fhir_date_range("9999-12-31T23:59:59-05:00")[1] == MAX_DATETIME


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20",
        "202",
        "0000",
        "2020-1",
        "2020-13",
        "2020-00",
        "2020-01-00",
        "2020-01-32",
        "2021-02-29",
        "2021-02-30",
        "2020-04-31",
        "2020Z",
        "2020-03-04Z",
        "2020-03-04T10",
        "2020-03-04T24:00",
        "2020-03-04T10:60",
        "2020-03-04T10:11:61",
        "2020-03-04T10:11:12.",
        "2020-03-04T10:11:12+3:00",
        "2020-03-04T10:11:12+14:30",
        "2020-03-04T10:11:12+0300",
        "2020-03-04 10:11:12",
        "2020-03-04t10:11:12",
        " 2020",
        "2020\n",
        "\u0662\u0660\u0662\u0660",  # Arabic-Indic digits are not FHIR digits
        "ge2020",
    ],
)
def test_rejects_what_fhir_does_not_allow(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fhir_date_range(text)


def _prefixes(moment: datetime) -> list[str]:
    """`moment` written at every FHIR precision, from year to microseconds."""
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    minute = f"{date}T{moment.hour:02d}:{moment.minute:02d}"
    second = f"{minute}:{moment.second:02d}"
    return [date[:4], date[:7], date, minute, second, f"{second}.{moment.microsecond:06d}Z"]


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_every_precision_covers_the_moment(moment: datetime) -> None:
    widths = []
    for text in _prefixes(moment):
        low, high = parse_fhir_date_range(text)
        assert low <= moment < high
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(min_value=-13 * 60, max_value=14 * 60),
)
def test_zones_shift_to_utc(moment: datetime, offset_minutes: int) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    local = moment.replace(microsecond=0, tzinfo=zone)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = _prefixes(moment)[4] + f"{sign}{hours:02d}:{minutes:02d}"
    expected = local.astimezone(UTC).replace(tzinfo=None)
    assert parse_fhir_date_range(text) == (expected, expected + timedelta(seconds=1))


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        low, high = parse_fhir_date_range(text)
    except ValueError:
        return
    assert MIN_DATETIME <= low < high <= MAX_DATETIME or low == high == MAX_DATETIME
