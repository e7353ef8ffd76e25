"""The patients service without pages: form values <-> Patient (valid against the IG
profile), ages and minors, the form schema (digits, calendars, guardians), search queries."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from screening.fhir.packages import default_registry
from screening.fhir.validation import shared_validator
from screening.patients.provinces import PROVINCES, province_by_name, province_options
from screening.patients.resource import (
    CASE_CODE_SYSTEM,
    ESTIMATED_AGE,
    NATIONAL_ID_SYSTEM,
    PROFILE,
    RELATIONSHIPS,
    PatientValues,
    age_on,
    build_patient,
    is_minor,
    values_of,
)
from screening.patients.schemas import form_values, read_form, search_text
from screening.patients.service import new_case_code, row_of, same_name, search_pairs

TODAY = date(2026, 11, 24)
BIRTH_PLACE = {
    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
    "valueAddress": {"state": "Herat", "country": "AF"},
}
EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_profiles" / "examples"
ADULT = PatientValues(
    case_code="HER-0427-KX",
    sex="male",
    province="AF-HER",
    given_fa="احمد",
    family_fa="کریمی",
    given_latn="Ahmad",
    family_latn="Karimi",
    national_id="1400-0101-23456",
    birth_date=date(1987, 8, 11),
    district="Injil",
    village="Deh-e Naw",
    phone="+93 70 000 0427",
)
CHILD = PatientValues(
    case_code="HER-0519-QM",
    sex="female",
    province="AF-HER",
    estimated_age=9,
    district="Guzara",
    guardian_name="Rahim",
    guardian_relationship="father",
    guardian_phone="+93 79 000 0519",
)


def validate(resource: dict[str, Any]) -> list[Any]:
    """The issues of the project validator that are errors or warnings."""
    issues = shared_validator(default_registry()).validate(resource, (PROFILE,))
    return [i for i in issues if i.severity in ("fatal", "error", "warning")]


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    return loaded


# ------------------------------------------------------------ values <-> resource


@pytest.mark.parametrize(
    "values",
    [
        ADULT,
        CHILD,
        replace(CHILD, guardian_relationship="other", guardian_phone=""),
        PatientValues(case_code="KAB-0001-AB", sex="unknown", province="AF-KAB", estimated_age=40),
        *(replace(CHILD, guardian_relationship=r) for r in RELATIONSHIPS),
    ],
)
def test_a_patient_built_from_values_is_valid_and_gives_the_values_back(
    values: PatientValues,
) -> None:
    resource = build_patient(values, TODAY)
    assert resource["meta"]["profile"] == [PROFILE]
    assert validate(resource) == []
    assert values_of(resource, TODAY) == values


def test_the_resource_follows_the_profile_and_the_examples() -> None:
    resource = build_patient(ADULT, TODAY)
    assert resource["identifier"] == [
        {"system": CASE_CODE_SYSTEM, "value": "HER-0427-KX"},
        {"system": NATIONAL_ID_SYSTEM, "value": "1400-0101-23456"},
    ]
    fa, latin = resource["name"]
    assert fa["extension"][0]["valueCode"] == "fa" and fa["given"] == ["احمد"]
    assert latin["extension"][0]["valueCode"] == "fa-Latn" and latin["text"] == "Ahmad Karimi"
    assert resource["birthDate"] == "1987-08-11"
    assert resource["address"] == [
        {"use": "home", "city": "Deh-e Naw", "district": "Injil", "state": "Herat", "country": "AF"}
    ]
    assert resource["telecom"] == [{"system": "phone", "value": "+93 70 000 0427", "use": "mobile"}]
    assert "contact" not in resource and "extension" not in resource
    assert "احمد" not in resource["text"]["div"]  # the narrative names no one


def test_an_estimated_age_is_the_extension_and_a_birth_year() -> None:
    resource = build_patient(CHILD, TODAY)
    assert resource["extension"] == [
        {
            "url": ESTIMATED_AGE,
            "valueAge": {
                "value": 9,
                "unit": "years",
                "system": "http://unitsofmeasure.org",
                "code": "a",
            },
        }
    ]
    assert resource["birthDate"] == "2017"
    later = values_of(resource, date(2029, 1, 5))
    assert later.estimated_age == 12 and later.birth_date is None


def test_a_guardian_is_a_contact_with_role_guard_and_the_relation() -> None:
    contact = build_patient(CHILD, TODAY)["contact"][0]
    codes = [
        (c["system"].rsplit("/", 1)[1], c["code"]) for c in contact["relationship"][0]["coding"]
    ]
    assert codes == [("v3-RoleCode", "GUARD"), ("v3-RoleCode", "FTH"), ("v2-0131", "N")]
    assert contact["name"] == {"text": "Rahim"}
    assert contact["telecom"] == [{"system": "phone", "value": "+93 79 000 0519", "use": "mobile"}]


@pytest.mark.parametrize("name", ["Patient-example-ahmad-karimi", "Patient-example-minor-hrt-0519"])
def test_editing_an_example_keeps_it_valid_and_keeps_what_the_form_does_not_show(
    name: str,
) -> None:
    stored = example(name)
    stored["identifier"].append({"system": "urn:other", "value": "X-1"})
    stored["extension"] = [*stored.get("extension", []), BIRTH_PLACE]
    values = values_of(stored, TODAY)
    rebuilt = build_patient(values, TODAY, stored)
    assert validate(rebuilt) == []
    assert rebuilt["birthDate"] == stored["birthDate"]  # the same estimate keeps the year
    assert {"system": "urn:other", "value": "X-1"} in rebuilt["identifier"]
    assert BIRTH_PLACE in rebuilt["extension"]
    assert values_of(rebuilt, TODAY) == values


def test_the_example_guardian_reads_back_as_the_form_holds_it() -> None:
    stored = example("Patient-example-minor-hrt-0519")
    values = values_of(stored, TODAY)
    assert values.guardian_relationship == "other"
    assert values.guardian_phone == "+93 79 000 0519"
    assert values.estimated_age == 9 and values.case_code == "HRT-0519-QM"
    same = build_patient(values, TODAY, stored)["contact"][0]
    assert same["relationship"] == stored["contact"][0]["relationship"]  # text kept
    changed = build_patient(replace(values, guardian_relationship="mother"), TODAY, stored)
    codes = [c["code"] for c in changed["contact"][0]["relationship"][0]["coding"]]
    assert codes == ["GUARD", "MTH", "N"]


def test_an_edit_replaces_the_names_and_drops_a_cleared_guardian() -> None:
    stored = build_patient(CHILD, TODAY)
    changed = replace(
        CHILD,
        given_fa="مریم",
        estimated_age=19,
        guardian_name="",
        guardian_relationship="",
        guardian_phone="",
    )
    rebuilt = build_patient(changed, TODAY, stored)
    assert [n["text"] for n in rebuilt["name"]] == ["مریم"]
    assert "contact" not in rebuilt and rebuilt["birthDate"] == "2007"


# ------------------------------------------------------------------ ages, minors


def test_minors_by_birth_date_or_estimated_age() -> None:
    assert is_minor(date(2008, 11, 25), None, TODAY)  # 18 tomorrow
    assert not is_minor(date(2008, 11, 24), None, TODAY)
    assert is_minor(None, 17, TODAY) and not is_minor(None, 18, TODAY)
    assert not is_minor(None, None, TODAY)
    assert age_on(date(1987, 8, 11), TODAY) == 39


def test_rows_show_the_age_now_and_whether_it_is_estimated() -> None:
    row = row_of({**build_patient(CHILD, TODAY), "id": "x"}, date(2027, 3, 1))
    assert (row.age, row.age_estimated, row.case_code) == (10, True, "HER-0519-QM")
    adult = row_of({**build_patient(ADULT, TODAY), "id": "y"}, TODAY)
    assert (adult.age, adult.age_estimated, adult.name_fa) == (39, False, "احمد کریمی")
    assert adult.province is not None and adult.province.fa == "هرات"


# ------------------------------------------------------------------ the form


def form(**changes: str) -> dict[str, str]:
    base = {"sex": "male", "province": "AF-HER", "birth_date": "1987-08-11"}
    return {k: v for k, v in {**base, **changes}.items() if v}


def test_a_solar_hijri_date_with_persian_digits_is_kept_gregorian() -> None:
    posted = read_form(form(birth_date="۱۳۶۶/۰۵/۲۰"), "fa", TODAY)
    assert posted.errors == {} and posted.values is not None
    assert posted.values.birth_date == date(1987, 8, 11)
    assert form_values(posted.values, "fa")["birth_date"] == "۱۳۶۶/۰۵/۲۰"
    assert form_values(posted.values, "en")["birth_date"] == "1987-08-11"


def test_persian_and_arabic_indic_digits_in_numbers_phones_and_codes() -> None:
    posted = read_form(
        form(
            birth_date="",
            estimated_age="۴۲",
            phone="+۹۳ ٧٠ ۰۰۰ ۰۴۲۷",
            case_code="her-۰۴۲۷-kx",
            national_id="۱۴۰۰-۰۱۰۱-۲۳۴۵۶",
        ),
        "en",
        TODAY,
    )
    assert posted.errors == {} and posted.values is not None
    assert posted.values.estimated_age == 42
    assert posted.values.phone == "+93 70 000 0427"
    assert posted.values.case_code == "HER-0427-KX"
    assert posted.values.national_id == "1400-0101-23456"
    assert form_values(posted.values, "fa")["estimated_age"] == "۴۲"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sex": "", "province": ""}, {"sex": "error.required", "province": "error.required"}),
        ({"sex": "robot"}, {"sex": "error.choice"}),
        ({"birth_date": ""}, {"birth_date": "patients.error.birth_or_age"}),
        ({"estimated_age": "40"}, {"estimated_age": "patients.error.birth_or_age_both"}),
        ({"birth_date": "1987-02-30"}, {"birth_date": "patients.error.date_format"}),
        ({"birth_date": "2027-01-01"}, {"birth_date": "patients.error.date_future"}),
        ({"birth_date": "1850-01-01"}, {"birth_date": "patients.error.date_old"}),
        ({"birth_date": "", "estimated_age": "12a"}, {"estimated_age": "patients.error.age"}),
        ({"birth_date": "", "estimated_age": "121"}, {"estimated_age": "patients.error.age"}),
        ({"case_code": "HER 04/27"}, {"case_code": "patients.error.case_code_format"}),
        ({"case_code": "هرات-۱"}, {"case_code": "patients.error.case_code_format"}),
        ({"phone": "12"}, {"phone": "patients.error.phone_format"}),
        ({"national_id": "<1>"}, {"national_id": "patients.error.national_id_format"}),
        ({"given_fa": "a\x00b"}, {"given_fa": "patients.error.characters"}),
        ({"family_latn": "K" * 101}, {"family_latn": "error.length"}),
        ({"guardian_phone": "0700 000 000"}, {"guardian_relationship": "error.required"}),
    ],
)
def test_form_errors_are_message_keys_next_to_their_field(
    changes: dict[str, str], expected: dict[str, str]
) -> None:
    posted = read_form(form(**changes), "en", TODAY)
    assert posted.values is None
    assert {k: m.key for k, m in posted.errors.items()} == expected


@pytest.mark.parametrize(
    ("changes", "lang"),
    [
        ({"birth_date": "2015-03-01"}, "en"),
        ({"birth_date": "۱۳۹۴/۰۱/۰۱"}, "fa"),
        ({"birth_date": "", "estimated_age": "9"}, "en"),
        ({"birth_date": "", "estimated_age": "۱۷"}, "fa"),
    ],
)
def test_minors_need_a_guardian_name_and_relationship(changes: dict[str, str], lang: str) -> None:
    posted = read_form(form(**changes), lang, TODAY)
    assert {k: m.key for k, m in posted.errors.items()} == {
        "guardian_name": "patients.error.guardian_required",
        "guardian_relationship": "patients.error.guardian_required",
    }
    fixed = read_form(
        form(**changes, guardian_name="Rahim", guardian_relationship="mother"), lang, TODAY
    )
    assert fixed.errors == {} and fixed.values is not None and fixed.values.has_guardian


def test_the_search_box() -> None:
    assert search_text({"q": "  علی   رضایی "}) == ("علی رضایی", {})
    assert search_text({"q": "her-۰۴۲۷-kx"}) == ("her-0427-kx", {})
    assert search_text({"q": "x" * 101})[1]["q"].key == "error.length"
    assert search_text({"q": "a\x00"})[1]["q"].key == "patients.error.characters"


# -------------------------------------------------------- queries, codes, names


def test_search_queries() -> None:
    assert search_pairs("") == []
    assert search_pairs("her-0427-kx")[0] == ("identifier", "HER-0427-KX,her-0427-kx")
    assert search_pairs("1400-0101-23456")[0] == ("identifier", "1400-0101-23456")
    pairs = search_pairs("Karimi, Ahmad")
    assert pairs[:2] == [("name", "Karimi\\,"), ("name", "Ahmad")]
    assert ("_count", "25") in pairs
    assert search_pairs("a|b 1")[0] == ("identifier", "A\\|B 1,a\\|b 1")


def test_same_name_folds_arabic_and_persian_letters_and_case() -> None:
    assert same_name("علي", "علی") and same_name("كريمي", "کریمی")
    assert same_name("  Ahmad ", "AHMAD") and not same_name("", "")
    assert not same_name("علی", "علیرضا")


def test_new_case_codes() -> None:
    codes = {new_case_code("HER") for _ in range(50)}
    assert all(re.fullmatch(r"HER-\d{4}-[A-HJ-NP-Z]{2}", code) for code in codes)
    assert len(codes) > 40


def test_the_34_provinces() -> None:
    assert len(PROVINCES) == 34 == len({p.code for p in PROVINCES})
    assert all(re.fullmatch(r"AF-[A-Z]{3}", p.code) for p in PROVINCES)
    herat = province_by_name("herat")
    assert herat is not None and herat.code == "AF-HER" and herat.fa == "هرات"
    assert not any(c in p.fa for p in PROVINCES for c in "يك")  # Persian yeh and kaf only
    persian = [name for _, name in province_options("fa")]
    assert persian.index("پروان") < persian.index("تخار")  # پ before ت, unlike code points
