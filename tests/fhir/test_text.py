"""Tests of string-search normalisation (src/screening/fhir/text.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screening.fhir.text import normalize_string


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Karimi", "karimi"),
        ("  José   ÁLVAREZ\t", "jose alvarez"),
        ("Straße", "strasse"),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("ﬁle", "file"),
        ("Zoë\u00a0Brontë", "zoe bronte"),
        ("line\none\r\ntwo", "line one two"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_latin_folding(raw: str, folded: str) -> None:
    assert normalize_string(raw) == folded


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("علي", "علی"),  # Arabic yeh -> Farsi yeh
        ("مصطفى", "مصطفی"),  # alef maksura -> Farsi yeh
        ("كريمي", "کریمی"),  # Arabic kaf -> keheh
        ("محـــمد", "محمد"),  # tatweel dropped
        ("مهدی\u200cزاده", "مهدیزاده"),  # zero-width non-joiner dropped
        ("مُحَمَّد", "محمد"),  # harakat are combining marks
        ("ﻋﻠﻰ", "علی"),  # presentation forms decompose under NFKD
        ("  رضا   کریمی  ", "رضا کریمی"),
    ],
)
def test_persian_and_arabic_folding(raw: str, folded: str) -> None:
    assert normalize_string(raw) == folded


def test_persian_letters_survive() -> None:
    letters = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"
    assert normalize_string(letters) == letters


def test_arabic_and_persian_spellings_meet() -> None:
    assert normalize_string("علي كريمي") == normalize_string("علی کریمی")


@given(st.text())
def test_idempotent(text: str) -> None:
    once = normalize_string(text)
    assert normalize_string(once) == once


@given(st.text())
def test_output_has_no_marks_or_stray_spaces(text: str) -> None:
    folded = normalize_string(text)
    assert not any(unicodedata.category(c) == "Mn" for c in folded)
    assert folded == folded.strip()
    assert "  " not in folded
    assert not {"\u064a", "\u0649", "\u0643", "\u0640", "\u200c"} & set(folded)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126)))
def test_ascii_fast_path_matches_the_general_rule(text: str) -> None:
    assert normalize_string(text) == " ".join(text.casefold().split())
