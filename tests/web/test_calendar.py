"""Dates on the pages (`screening.web.calendar`): Solar Hijri with Persian digits on Persian
pages, Gregorian on English ones, checked against known conversions and, for whole years,
against a Solar Hijri calendar counted here from the official Nowruz dates.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screening.web.calendar import (
    JALALI_MONTHS,
    DateEntryError,
    date_hint,
    entry_text,
    latin_digits,
    parse_date,
    show_date,
    show_datetime,
)

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

# 1 Farvardin (Nowruz) of each Solar Hijri year, as the official Iranian calendar has it. The
# length of a year is the distance to the next Nowruz: 1399 and 1403 have 366 days.
NOWRUZ = {
    1399: date(2020, 3, 20),
    1400: date(2021, 3, 21),
    1401: date(2022, 3, 21),
    1402: date(2023, 3, 21),
    1403: date(2024, 3, 20),
    1404: date(2025, 3, 21),
    1405: date(2026, 3, 21),
    1406: date(2027, 3, 21),
    1407: date(2028, 3, 20),
}

# (Solar Hijri year, month, day) -> Gregorian date, from published calendars.
KNOWN = [
    ((1405, 9, 3), date(2026, 11, 24)),  # the project's reference date
    ((1405, 1, 1), date(2026, 3, 21)),  # Nowruz 1405
    ((1404, 12, 29), date(2026, 3, 20)),  # last day of 1404 (a common year)
    ((1403, 12, 30), date(2025, 3, 20)),  # 1403 is a leap year
    ((1404, 1, 1), date(2025, 3, 21)),  # Nowruz 1404
    ((1403, 1, 1), date(2024, 3, 20)),  # Nowruz 1403
    ((1403, 10, 1), date(2024, 12, 21)),  # 1 Dey 1403
    ((1402, 9, 30), date(2023, 12, 21)),  # Yalda night 1402
    ((1399, 12, 30), date(2021, 3, 20)),  # 1399 is a leap year
    ((1405, 7, 1), date(2026, 9, 23)),  # 1 Mehr 1405
    ((1408, 12, 30), date(2030, 3, 20)),  # 1408 is the next leap year
    ((1357, 11, 22), date(1979, 2, 11)),  # 22 Bahman 1357
    ((1300, 1, 1), date(1921, 3, 21)),
]


def persian(text: str) -> str:
    return text.translate(PERSIAN)


def jalali_entry(year: int, month: int, day: int) -> str:
    return persian(f"{year:04d}/{month:02d}/{day:02d}")


def month_lengths(year: int) -> list[int]:
    """Days of the twelve months of `year`: six of 31, five of 30, Esfand 29 or 30."""
    length = (NOWRUZ[year + 1] - NOWRUZ[year]).days
    assert length in (365, 366)
    return [31] * 6 + [30] * 5 + [length - 336]


# --- known conversions -------------------------------------------------------------------


@pytest.mark.parametrize(("jalali", "gregorian"), KNOWN)
def test_known_conversions(jalali: tuple[int, int, int], gregorian: date) -> None:
    year, month, day = jalali
    assert parse_date(f"{year}/{month:02d}/{day:02d}", "fa") == gregorian
    assert parse_date(jalali_entry(*jalali), "fa") == gregorian
    assert entry_text(gregorian, "fa") == jalali_entry(*jalali)
    assert show_date(gregorian, "fa") == persian(f"{day} {JALALI_MONTHS[month - 1]} {year}")


def test_reference_date_in_both_languages() -> None:
    assert show_date("2026-11-24", "fa") == "۳ آذر ۱۴۰۵"
    assert show_date("2026-11-24", "en") == "2026-11-24"
    assert show_date(date(2026, 11, 24), "fa") == "۳ آذر ۱۴۰۵"
    assert show_date(datetime(2026, 11, 24, 23, 59), "fa") == "۳ آذر ۱۴۰۵"
    assert entry_text(date(2026, 11, 24), "fa") == "۱۴۰۵/۰۹/۰۳"
    assert entry_text(date(2026, 11, 24), "en") == "2026-11-24"
    assert show_date("2026-03-21", "fa") == "۱ فروردین ۱۴۰۵"
    assert show_date("2025-03-20", "fa") == "۳۰ اسفند ۱۴۰۳"


def test_month_names() -> None:
    assert len(JALALI_MONTHS) == 12 and len(set(JALALI_MONTHS)) == 12
    assert (JALALI_MONTHS[0], JALALI_MONTHS[8], JALALI_MONTHS[11]) == ("فروردین", "آذر", "اسفند")
    for start, name in zip((1, 32, 63, 94, 125, 156, 187, 217), JALALI_MONTHS, strict=False):
        assert show_date(NOWRUZ[1405] + timedelta(days=start - 1), "fa").endswith(f"{name} ۱۴۰۵")


def test_leap_years() -> None:
    assert parse_date("1403/12/30", "fa") == date(2025, 3, 20)
    assert parse_date("1399/12/30", "fa") == date(2021, 3, 20)
    for not_leap in ("1404/12/30", "1405/12/30", "1402/12/30", "1406/12/30"):
        with pytest.raises(DateEntryError):
            parse_date(not_leap, "fa")
    assert parse_date("2024-02-29", "en") == date(2024, 2, 29)
    with pytest.raises(DateEntryError):
        parse_date("2025-02-29", "en")


def test_date_hint_is_the_reference_date_in_each_calendar() -> None:
    assert date_hint("fa") == "۱۴۰۵/۰۹/۰۳" and date_hint("en") == "2026-11-24"
    assert parse_date(date_hint("fa"), "fa") == parse_date(date_hint("en"), "en")


# --- entry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1405/09/03",
        "1405-09-03",
        "1405.09.03",
        "1405/9/3",
        "۱۴۰۵/۰۹/۰۳",
        "۱۴۰۵-۹-۳",
        "۱۴۰۵.۰۹.۰۳",
        "١٤٠٥/٠٩/٠٣",
        "١٤٠٥-٩-٣",
        "١٤٠٥.٠٩.٠٣",
        "۱۴۰۵٫۰۹٫۰۳",  # the Arabic decimal separator, as some Persian keyboards type "."
        "۱۴۰۵/٠٩/03",  # Persian, Arabic-Indic and ASCII digits mixed
        "  ۱۴۰۵/۰۹/۰۳ ",
        "1405/09/03\n",
    ],
)
def test_parse_persian_page(text: str) -> None:
    assert parse_date(text, "fa") == date(2026, 11, 24)


@pytest.mark.parametrize(
    "text",
    ["2026-11-24", "2026/11/24", "2026.11.24", "2026-11-24 ", "۲۰۲۶-۱۱-۲۴", "٢٠٢٦/١١/٢٤"],
)
def test_parse_english_page(text: str) -> None:
    assert parse_date(text, "en") == date(2026, 11, 24)


def test_each_page_reads_its_own_calendar() -> None:
    """The same digits are a different day on a Persian and an English page."""
    assert parse_date("1405/09/03", "en") == date(1405, 9, 3)
    assert parse_date("2026/03/21", "en") == date(2026, 3, 21)
    assert parse_date("1405/01/01", "fa") == date(2026, 3, 21)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "today",
        "فردا",
        "۱۴۰۵",
        "1405/09",
        "1405/09/03/01",
        "14050903",
        "1405 09 03",
        "1405,09,03",
        "03/09/1405",  # day first
        "05/09/03",  # two-digit year
        "01405/09/03",
        "1405/009/03",
        "1405/09/003",
        "+1405/09/03",
        "1405/-9/03",
        "1405//09/03",
        "1405/09/03 10:00",
        "1405/09/03T10:00",
        "1405-۰۹-0x",
    ],
)
def test_nonsense_is_refused(text: str) -> None:
    for lang in ("fa", "en"):
        with pytest.raises(DateEntryError):
            parse_date(text, lang)


@pytest.mark.parametrize(
    "text",
    [
        "1405/00/10",
        "1405/13/01",
        "1405/01/00",
        "1405/01/32",
        "1405/06/32",  # the first six months have 31 days
        "1405/07/31",  # the next five have 30
        "1405/11/31",
        "1404/12/30",  # Esfand of a common year has 29
        "0000/01/01",
        "۱۴۰۴/۱۲/۳۰",
        "١٤٠٥/٠٧/٣١",
    ],
)
def test_impossible_jalali_dates_are_refused(text: str) -> None:
    with pytest.raises(DateEntryError) as raised:
        parse_date(text, "fa")
    assert isinstance(raised.value, ValueError)
    assert str(raised.value) == text


@pytest.mark.parametrize(
    "text", ["2026-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00", "0000-01-01"]
)
def test_impossible_gregorian_dates_are_refused(text: str) -> None:
    with pytest.raises(DateEntryError):
        parse_date(text, "en")


def test_last_days_of_jalali_months_are_accepted() -> None:
    assert parse_date("1405/06/31", "fa") == date(2026, 9, 22)
    assert parse_date("1405/07/30", "fa") == date(2026, 10, 22)
    assert parse_date("1404/12/29", "fa") == date(2026, 3, 20)


@given(st.text(max_size=24))
def test_any_text_parses_or_is_refused(text: str) -> None:
    for lang in ("fa", "en"):
        with contextlib.suppress(DateEntryError):
            assert isinstance(parse_date(text, lang), date)


# --- entry and back, every day ------------------------------------------------------------


@pytest.mark.parametrize("year", [1399, 1402, 1403, 1404, 1405, 1406])
def test_every_day_of_a_jalali_year_round_trips(year: int) -> None:
    """Every day of the year, counted from Nowruz with the month lengths: entry text,
    parse back (Persian, Arabic-Indic and ASCII digits), reading text, and the English page."""
    day_of_year = 0
    for month, length in enumerate(month_lengths(year), start=1):
        for day in range(1, length + 1):
            gregorian = NOWRUZ[year] + timedelta(days=day_of_year)
            day_of_year += 1
            text = entry_text(gregorian, "fa")
            assert text == jalali_entry(year, month, day), gregorian
            assert parse_date(text, "fa") == gregorian
            assert parse_date(latin_digits(text), "fa") == gregorian
            assert parse_date(latin_digits(text).translate(ARABIC_INDIC), "fa") == gregorian
            expected = persian(f"{day} {JALALI_MONTHS[month - 1]} {year}")
            assert show_date(gregorian, "fa") == expected
            assert show_date(gregorian.isoformat(), "fa") == expected
            assert parse_date(entry_text(gregorian, "en"), "en") == gregorian
    assert NOWRUZ[year] + timedelta(days=day_of_year) == NOWRUZ[year + 1]
    with pytest.raises(DateEntryError):
        parse_date(jalali_entry(year, 12, month_lengths(year)[11] + 1), "fa")


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_any_date_round_trips(value: date) -> None:
    for lang in ("fa", "en"):
        assert parse_date(entry_text(value, lang), lang) == value
    assert parse_date(latin_digits(entry_text(value, "fa")), "fa") == value


def test_entry_text_of_no_date() -> None:
    assert entry_text(None, "fa") == "" and entry_text(None, "en") == ""


# --- partial FHIR dates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fa", "en"),
    [
        ("2017", "۱۳۹۵–۱۳۹۶", "2017"),  # a Gregorian year spans two Solar Hijri years
        ("2026", "۱۴۰۴–۱۴۰۵", "2026"),
        ("2019-04", "۱۳۹۸", "2019-04"),  # April: late Farvardin to early Ordibehesht 1398
        ("2019-03", "۱۳۹۷–۱۳۹۸", "2019-03"),  # March: Esfand 1397 to Farvardin 1398
        ("2019-01", "۱۳۹۷", "2019-01"),
        ("2019-12", "۱۳۹۸", "2019-12"),
        ("2019-04-05", "۱۶ فروردین ۱۳۹۸", "2019-04-05"),
        ("2019-04-05T08:00:00+04:30", "۱۶ فروردین ۱۳۹۸", "2019-04-05"),
    ],
)
def test_partial_dates(value: str, fa: str, en: str) -> None:
    assert show_date(value, "fa") == fa
    assert show_date(value, "en") == en


def test_nothing_to_show() -> None:
    for lang in ("fa", "en"):
        assert show_date(None, lang) == "" and show_date("", lang) == ""
        assert show_datetime(None, lang) == "" and show_datetime("", lang) == ""


@pytest.mark.parametrize("value", ["unknown", "n/a", "24/11/2026"])
def test_text_that_is_no_date_is_shown_as_it_is(value: str) -> None:
    assert show_date(value, "fa") == value and show_date(value, "en") == value


@pytest.mark.parametrize("value", ["2019-02-30", "2019-13", "2019-02-30T10:00:00Z", "0001"])
def test_impossible_stored_dates_are_shown_as_they_are(value: str) -> None:
    """A malformed stored value must not break the page (it used to raise ValueError)."""
    assert show_date(value, "fa") == value
    assert show_date(value, "en") in (value, value[:7])


@given(st.from_regex(r"\A[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2})?)?)?\Z") | st.text())
def test_show_date_never_raises(value: str) -> None:
    for lang in ("fa", "en"):
        assert isinstance(show_date(value, lang), str)
        assert isinstance(show_datetime(value, lang), str)


# --- date and time -----------------------------------------------------------------------


def test_show_datetime_keeps_the_recorded_time_of_day() -> None:
    kabul = timezone(timedelta(hours=4, minutes=30))
    tehran = timezone(timedelta(hours=3, minutes=30))
    assert show_datetime("2026-11-24T09:05:00+03:30", "fa") == "۳ آذر ۱۴۰۵ ۰۹:۰۵"
    assert show_datetime("2026-11-24T09:05:00+03:30", "en") == "2026-11-24 09:05"
    assert show_datetime("2026-11-24T09:05:00Z", "en") == "2026-11-24 09:05"
    assert show_datetime("2026-11-24T23:59:59.123+04:30", "fa") == "۳ آذر ۱۴۰۵ ۲۳:۵۹"
    # 01:30 in Kabul on 25 November is 21:00 UTC on the 24th: the recorded day and hour show
    assert show_datetime(datetime(2026, 11, 25, 1, 30, tzinfo=kabul), "fa") == "۴ آذر ۱۴۰۵ ۰۱:۳۰"
    assert show_datetime(datetime(2026, 11, 25, 1, 30, tzinfo=kabul), "en") == "2026-11-25 01:30"
    assert show_datetime(datetime(2026, 3, 20, 23, 0, tzinfo=tehran), "fa") == "۲۹ اسفند ۱۴۰۴ ۲۳:۰۰"
    assert show_datetime(datetime(2026, 3, 21, 0, 0, 0, 1), "fa") == "۱ فروردین ۱۴۰۵ ۰۰:۰۰"


def test_show_datetime_without_a_time() -> None:
    assert show_datetime("2026-11-24", "fa") == "۳ آذر ۱۴۰۵"
    assert show_datetime("2026-11", "en") == "2026-11"
    assert show_datetime("2017", "fa") == "۱۳۹۵–۱۳۹۶"


# --- digits ------------------------------------------------------------------------------


def test_latin_digits() -> None:
    assert latin_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert latin_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert latin_digits("۱۲٫۵") == "12.5"  # U+066B Arabic decimal separator
    assert latin_digits("١٬٢٣٤٫٥") == "1,234.5"  # U+066C Arabic thousands separator
    assert latin_digits("۴۵ متر") == "45 متر"
    assert latin_digits("2026-11-24") == "2026-11-24"
    assert latin_digits("") == ""


@given(st.integers(min_value=0, max_value=10**12))
def test_latin_digits_undoes_persian_and_arabic_indic_digits(number: int) -> None:
    assert latin_digits(persian(str(number))) == str(number)
    assert latin_digits(str(number).translate(ARABIC_INDIC)) == str(number)
