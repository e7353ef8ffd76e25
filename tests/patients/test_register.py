"""Registering a person on the pages, in English and Persian: stored through the FHIR door
as a valid Patient, errors next to their fields with the values kept and nothing stored,
unique case codes, and the likely-duplicate warning."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from conftest import Fhir
from patients.conftest import (
    Browser,
    check_html,
    created_id,
    patients_in,
    register_form,
    text_of,
)
from screening.patients.resource import CASE_CODE_SYSTEM, ESTIMATED_AGE, PROFILE

SignIn = Callable[..., tuple[Browser, Any]]
Register = Callable[..., tuple[Browser, str]]


def screener(signed_in: SignIn, lang: str = "en") -> Browser:
    person, _ = signed_in("screener", language=lang)
    person.get("/patients/new")
    return person


def test_register_in_english_stores_a_valid_patient(signed_in: SignIn, api: Fhir) -> None:
    person = screener(signed_in)
    page = person.get("/patients/new")
    assert page.status_code == 200
    check_html(text_of(page), "en")
    response = person.post("/patients/new", register_form())
    assert response.status_code == 303
    patient_id = created_id(response.headers["Location"])
    status, stored, _ = api.get(f"Patient/{patient_id}")
    assert status == 200
    assert stored["meta"]["profile"] == [PROFILE]
    assert stored["identifier"][0] == {"system": CASE_CODE_SYSTEM, "value": "HER-0427-KX"}
    assert stored["birthDate"] == "1987-08-11" and stored["gender"] == "male"
    status, outcome, _ = api.get(f"Patient/{patient_id}/$validate")
    assert status == 200
    assert [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")] == []
    shown = text_of(person.get(response.headers["Location"]))
    assert "The patient was registered." in shown and "Ahmad Karimi" in shown


def test_register_in_persian_with_solar_hijri_date_and_persian_digits(
    signed_in: SignIn, api: Fhir
) -> None:
    person = screener(signed_in, "fa")
    page = text_of(person.get("/patients/new"))
    check_html(page, "fa")
    assert "ثبت بیمار جدید" in page and "۱۳۶۶/۰۵/۲۰" in page  # the date hint, Solar Hijri
    form = register_form(birth_date="۱۳۶۶/۰۵/۲۰", phone="۰۷۰۰ ۰۰۰ ۴۲۷", case_code="her-۰۴۲۷-kx")
    response = person.post("/patients/new", form)
    assert response.status_code == 303, text_of(response)
    stored = patients_in(api)[0]
    assert stored["birthDate"] == "1987-08-11"
    assert stored["telecom"][0]["value"] == "0700 000 427"
    assert stored["identifier"][0]["value"] == "HER-0427-KX"
    shown = text_of(person.get(response.headers["Location"]))
    check_html(shown, "fa")
    assert "۲۰ مرداد ۱۳۶۶" in shown  # shown in Solar Hijri with Persian digits
    assert "بیمار ثبت شد." in shown and "هرات" in shown


def test_an_estimated_age_is_stored_as_the_extension(signed_in: SignIn, api: Fhir) -> None:
    person = screener(signed_in)
    form = register_form(
        birth_date="", estimated_age="۹", guardian_name="Rahim", guardian_relationship="father"
    )
    assert person.post("/patients/new", form).status_code == 303
    stored = patients_in(api)[0]
    assert stored["extension"][0]["url"] == ESTIMATED_AGE
    assert stored["extension"][0]["valueAge"]["value"] == 9
    assert len(stored["birthDate"]) == 4
    assert stored["contact"][0]["name"] == {"text": "Rahim"}


def test_errors_are_shown_next_to_the_fields_with_the_values_kept_and_nothing_stored(
    signed_in: SignIn, api: Fhir
) -> None:
    person = screener(signed_in)
    form = register_form(
        sex="", province="", birth_date="1987-02-30", phone="12", family_latn="Karimi<b>"
    )
    response = person.post("/patients/new", form)
    assert response.status_code == 400
    body = text_of(response)
    check_html(body, "en")
    assert patients_in(api) == []
    for field in ("sex", "province", "birth_date", "phone"):
        assert f'id="f-{field}-error"' in body, field
    assert 'href="#f-sex-male"' in body and 'href="#f-birth_date"' in body
    assert 'aria-describedby="f-birth_date-hint f-birth_date-error" aria-invalid="true"' in body
    assert "Enter a date as year-month-day" in body
    assert 'value="1987-02-30"' in body and 'value="Karimi&lt;b&gt;"' in body
    assert 'value="Injil"' in body and 'value="12"' in body
    assert "Please correct the following" in body


def test_persian_errors_in_persian(signed_in: SignIn, api: Fhir) -> None:
    person = screener(signed_in, "fa")
    response = person.post("/patients/new", register_form(birth_date="۱۳۶۶/۱۳/۰۱"))
    assert response.status_code == 400
    body = text_of(response)
    assert "سال/ماه/روز خورشیدی" in body and 'value="۱۳۶۶/۱۳/۰۱"' in body
    assert "patients." not in re.sub(r'(id|href|for|aria-describedby)="[^"]*"', "", body)
    assert patients_in(api) == []


def test_a_minor_needs_a_guardian(signed_in: SignIn, api: Fhir) -> None:
    person = screener(signed_in)
    response = person.post("/patients/new", register_form(birth_date="2015-03-01"))
    assert response.status_code == 400
    body = text_of(response)
    assert 'id="f-guardian_name-error"' in body and 'id="f-guardian_relationship-error"' in body
    assert "Required: the patient is under 18" in body
    assert patients_in(api) == []


def test_a_case_code_is_unique(signed_in: SignIn, api: Fhir, register: Register) -> None:
    person, _ = register()
    form = register_form(given_latn="Other", family_latn="Person", given_fa="", family_fa="")
    response = person.post("/patients/new", {**form, "case_code": "her-0427-kx"})
    assert response.status_code == 409
    body = text_of(response)
    assert 'id="f-case_code-error"' in body and "Another patient has this case code" in body
    assert 'value="Other"' in body
    assert len(patients_in(api)) == 1


def test_an_empty_case_code_gets_one_from_the_province(signed_in: SignIn, api: Fhir) -> None:
    person = screener(signed_in)
    for _ in range(2):
        form = register_form(case_code="", province="AF-KAB", given_fa="", family_fa="")
        form["family_latn"] = f"Person{_}"
        assert person.post("/patients/new", form).status_code == 303
    codes = {p["identifier"][0]["value"] for p in patients_in(api)}
    assert len(codes) == 2
    assert all(re.fullmatch(r"KAB-\d{4}-[A-Z]{2}", code) for code in codes)


def test_likely_duplicates_need_an_explicit_confirmation(
    signed_in: SignIn, api: Fhir, register: Register
) -> None:
    person, first_id = register(given_fa="علی", family_fa="رضایی", birth_date="1990-01-01")
    # the same name typed with Arabic letters, a birth year one off, another case code
    form = register_form(
        given_fa="علي",
        family_fa="رضايي",
        given_latn="",
        family_latn="",
        case_code="",
        birth_date="1991-05-05",
    )
    warned = person.post("/patients/new", form)
    assert warned.status_code == 409
    body = text_of(warned)
    check_html(body, "en")
    assert "This patient may already be registered" in body
    assert f'href="/patients/{first_id}"' in body
    assert 'name="confirm_duplicate"' in body
    assert len(patients_in(api)) == 1
    drawn = re.search(r'id="f-case_code" name="case_code"[^>]* value="(HER-\d{4}-[A-Z]{2})"', body)
    assert drawn, "the drawn case code is shown"
    again = person.post("/patients/new", {**form, "case_code": drawn.group(1)})
    assert again.status_code == 409  # still not confirmed
    confirmed = person.post(
        "/patients/new", {**form, "case_code": drawn.group(1), "confirm_duplicate": "1"}
    )
    assert confirmed.status_code == 303
    assert len(patients_in(api)) == 2


def test_the_same_national_id_is_a_likely_duplicate(
    signed_in: SignIn, api: Fhir, register: Register
) -> None:
    person, _ = register(national_id="1400-0101-23456")
    form = register_form(
        given_fa="",
        family_fa="",
        given_latn="Someone",
        family_latn="Else",
        case_code="",
        national_id="۱۴۰۰-۰۱۰۱-۲۳۴۵۶",
        birth_date="1950-01-01",
    )
    assert person.post("/patients/new", form).status_code == 409
    assert len(patients_in(api)) == 1


def test_no_warning_for_the_same_name_born_years_apart(
    signed_in: SignIn, api: Fhir, register: Register
) -> None:
    person, _ = register()
    form = register_form(case_code="", birth_date="1960-01-01")
    assert person.post("/patients/new", form).status_code == 303
    prefix_only = register_form(case_code="", given_latn="Ahmadullah", given_fa="احمدالله")
    assert person.post("/patients/new", prefix_only).status_code == 303
    assert len(patients_in(api)) == 3
