"""Finding people (names in either script, Arabic and Persian letter forms alike, case codes,
national IDs, 25 to a page) and the patient page with its history; both are audited."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Flask

from conftest import Fhir, api_token
from patients.conftest import Browser, check_html, text_of
from screening.patients.resource import CASE_CODE_SYSTEM, PatientValues, build_patient

SignIn = Callable[..., tuple[Browser, Any]]
Register = Callable[..., tuple[Browser, str]]
Events = Callable[..., list[dict[str, Any]]]
PAIN = "https://fhir.rehab-screening.example/Questionnaire/pain|0.1.0"
CENTRE = "Organization/centre-1"


def result_links(body: str) -> list[str]:
    """The patient ids listed in a results table."""
    return re.findall(r'<td><a href="/patients/([^"/]+)"><code', body)


def test_an_empty_search_lists_no_one(signed_in: SignIn, register: Register) -> None:
    person, _ = register()
    body = text_of(person.get("/patients"))
    check_html(body, "en")
    assert result_links(body) == [] and "<table" not in body
    assert 'href="/patients/new"' in body
    assert result_links(text_of(person.get("/patients?q=+++"))) == []


def test_search_by_name_in_either_script(signed_in: SignIn, register: Register) -> None:
    person, patient_id = register()
    for query in ("karimi", "Ahmad Karimi", "KARIMI ahmad", "کریمی", "احمد کریمی", "کری"):
        body = text_of(person.get("/patients", query_string={"q": query}))
        assert result_links(body) == [patient_id], query
    assert result_links(text_of(person.get("/patients?q=Rahimi"))) == []


def test_arabic_and_persian_letter_forms_find_each_other(
    signed_in: SignIn, register: Register
) -> None:
    person, persian = register(
        given_fa="علی", family_fa="کریمی", case_code="HER-0001-AA", given_latn="", family_latn=""
    )
    _, arabic = register(
        person,
        given_fa="علي",
        family_fa="كريمي",
        case_code="HER-0002-AA",
        given_latn="",
        family_latn="",
        birth_date="1950-01-01",
    )
    for query in ("علی", "علي", "كريمي", "کریمی", "علي کریمی"):
        body = text_of(person.get("/patients", query_string={"q": query}))
        assert sorted(result_links(body)) == sorted([persian, arabic]), query


def test_search_by_case_code_and_national_id_with_any_digits(
    signed_in: SignIn, register: Register
) -> None:
    person, patient_id = register(national_id="1400-0101-23456")
    for query in ("HER-0427-KX", "her-۰۴۲۷-kx", "1400-0101-23456", "۱۴۰۰-۰۱۰۱-۲۳۴۵۶"):
        body = text_of(person.get("/patients", query_string={"q": query}))
        assert result_links(body) == [patient_id], query
    assert result_links(text_of(person.get("/patients?q=HER-0427"))) == []


def test_results_show_code_names_sex_age_and_province_in_persian(
    signed_in: SignIn, register: Register
) -> None:
    register()
    person, _ = signed_in("screener", language="fa")
    body = text_of(person.get("/patients", query_string={"q": "کریمی"}))
    check_html(body, "fa")
    assert "HER-0427-KX" in body and '<bdi lang="fa">احمد کریمی</bdi>' in body
    assert '<bdi lang="fa-Latn">Ahmad Karimi</bdi>' in body
    assert "<td>مرد</td>" in body and "<td>هرات</td>" in body
    assert re.search(r"<td>[۰-۹]{2}</td>", body)  # the age in Persian digits
    assert "بیماران ۱ تا ۱ از ۱" in body


def test_results_come_25_to_a_page(signed_in: SignIn, api: Fhir) -> None:
    entries = [
        {
            "resource": build_patient(
                PatientValues(
                    case_code=f"HER-{n:04d}-PG",
                    sex="female",
                    province="AF-HER",
                    given_latn=f"Given{n:02d}",
                    family_latn="Samefamily",
                    estimated_age=30,
                ),
                date.today(),
            ),
            "request": {"method": "POST", "url": "Patient"},
        }
        for n in range(30)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    status, body, _ = api.post("", bundle)
    assert status == 200, body
    person, _ = signed_in("clinician")
    first = text_of(person.get("/patients?q=samefamily"))
    assert len(result_links(first)) == 25
    assert "Patients 1 to 25 of 30" in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url
    second = text_of(person.get(next_url.group(1).replace("&amp;", "&")))
    assert len(result_links(second)) == 5 and "Patients 26 to 30 of 30" in second
    assert not set(result_links(first)) & set(result_links(second))
    assert 'rel="prev"' in second


def test_the_patient_page(signed_in: SignIn, register: Register) -> None:
    _, patient_id = register(
        birth_date="2016-04-03",
        guardian_name="رحیم",
        guardian_relationship="father",
        guardian_phone="0799 000 519",
        national_id="1400-0101-23456",
    )
    person, _ = signed_in("screener", language="fa")
    response = person.get(f"/patients/{patient_id}")
    assert response.status_code == 200
    body = text_of(response)
    check_html(body, "fa")
    assert '<bdi lang="fa">احمد کریمی</bdi>' in body
    assert "۱۵ فروردین ۱۳۹۵" in body  # 2016-04-03 in Solar Hijri, Persian digits
    assert "<bdi>رحیم</bdi>" in body and "پدر" in body and "۰۷۹۹ ۰۰۰ ۵۱۹" in body
    assert "۱۴۰۰-۰۱۰۱-۲۳۴۵۶" in body
    assert f'href="/patients/{patient_id}/screenings/new"' in body
    assert f'href="/patients/{patient_id}/edit"' in body
    assert "هنوز غربالگری‌ای ثبت نشده است." in body


def _centre(app: Flask) -> Fhir:
    """A FHIR client bound to the receiving centre (it moves the centre's Tasks on)."""
    client = app.test_client()
    token = api_token(app, organization=CENTRE.removeprefix("Organization/"))
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return Fhir(client)


def _history(api: Fhir, centre: Fhir, patient_id: str) -> dict[str, str]:
    """A field visit with a pain screening, an unanswered visit, and a referral with its Task
    (sent `requested`, then accepted by the centre)."""
    subject = {"reference": f"Patient/{patient_id}"}
    field = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "FLD"}

    def visit(start: str) -> str:
        created = api.create(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": field,
                "subject": subject,
                "period": {"start": start},
            }
        )
        return str(created["id"])

    answered = visit("2026-10-12T09:15:00+04:30")
    bare = visit("2026-11-02T09:00:00+04:30")
    response = api.create(
        {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": PAIN,
            "status": "completed",
            "subject": subject,
            "encounter": {"reference": f"Encounter/{answered}"},
            "authored": "2026-10-12T10:00:00+04:30",
            "item": [
                {
                    "linkId": "pain",
                    "item": [
                        {"linkId": "pain.performed", "answer": [{"valueBoolean": True}]},
                        {"linkId": "pain.score", "answer": [{"valueInteger": 3}]},
                    ],
                }
            ],
        }
    )
    referral = api.create(
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "priority": "urgent",
            "subject": subject,
            "authoredOn": "2026-10-12T10:30:00+04:30",
            "identifier": [{"system": "urn:referral", "value": "R-2026-HRT-00871"}],
            "code": {
                "coding": [
                    {
                        "system": "https://fhir.rehab-screening.example/CodeSystem/rehab-service-type",
                        "code": "prosthetics-orthotics",
                    }
                ]
            },
            "performer": [{"reference": CENTRE, "display": "Herat centre"}],
        }
    )
    task = api.create(
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "focus": {"reference": f"ServiceRequest/{referral['id']}"},
            "for": subject,
            "owner": {"reference": CENTRE},
        }
    )
    accepted = {k: v for k, v in task.items() if k != "meta"} | {"status": "accepted"}
    status, body, _ = centre.put(f"Task/{task['id']}", accepted)
    assert status == 200, body
    return {"response": str(response["id"]), "bare": bare, "referral": str(referral["id"])}


def test_the_history_lists_screenings_and_referrals_newest_first(
    signed_in: SignIn, register: Register, api: Fhir, web_app: Flask
) -> None:
    _, patient_id = register()
    made = _history(api, _centre(web_app), patient_id)
    person, _ = signed_in("clinician", language="en")
    body = text_of(person.get(f"/patients/{patient_id}"))
    check_html(body, "en")
    screenings = body.split('id="screenings-title"')[1].split('id="referrals-title"')[0]
    assert f'href="/screenings/{made["response"]}"' in screenings
    assert "Pain numeric rating" in screenings
    assert screenings.index("2026-11-02") < screenings.index("2026-10-12")  # newest first
    assert "Field visit (no form recorded)" in screenings
    referrals = body.split('id="referrals-title"')[1]
    assert "R-2026-HRT-00871" in referrals and "Prosthetics and orthotics" in referrals
    assert "<bdi>Herat centre</bdi>" in referrals and "Urgent" in referrals
    assert "Active" in referrals and "Accepted" in referrals
    persian = text_of(signed_in("clinician", language="fa")[0].get(f"/patients/{patient_id}"))
    assert "پروتز و ارتز" in persian and "فوری" in persian and "پذیرفته شده" in persian
    assert "۲۰ مهر ۱۴۰۵" in persian  # 2026-10-12 in Solar Hijri, Persian digits


def test_viewing_and_searching_are_audited(
    signed_in: SignIn, register: Register, audit_events: Events
) -> None:
    _, patient_id = register()
    person, user = signed_in("clinician")
    assert person.get(f"/patients/{patient_id}").status_code == 200
    reads = [
        e
        for e in audit_events(("patient", f"Patient/{patient_id}"), ("subtype", "read"))
        if e["agent"][0].get("altId") == user.username
    ]
    assert len(reads) == 1
    assert person.get("/patients?q=karimi").status_code == 200
    searches = [
        e
        for e in audit_events(("patient", f"Patient/{patient_id}"), ("subtype", "search-type"))
        if e["agent"][0].get("altId") == user.username
    ]
    queries = [
        base64.b64decode(x["query"]).decode()
        for e in searches
        for x in e["entity"]
        if x.get("query")
    ]
    assert any("name=karimi" in q for q in queries), queries


def test_registered_people_are_found_by_the_api_too(api: Fhir, register: Register) -> None:
    _, patient_id = register(given_fa="علي")
    status, body, _ = api.get(f"Patient?case-code={CASE_CODE_SYSTEM}|HER-0427-KX")
    assert status == 200 and body["entry"][0]["resource"]["id"] == patient_id
    status, body, _ = api.get("Patient?given=علی")  # the index folds ي and ی on both sides
    assert status == 200 and body["total"] == 1
