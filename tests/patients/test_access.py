"""Who may use the patient pages: screeners and clinicians do everything, centre staff see
only the people referred to their centre (others are 404), administrators and auditors get
403, strangers go to sign in; hostile text is stored as typed and shown escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from markupsafe import escape

from conftest import Fhir
from patients.conftest import Browser, check_html, patients_in, register_form, text_of

SignIn = Callable[..., tuple[Browser, Any]]
Register = Callable[..., tuple[Browser, str]]
PAGES = [
    "/patients",
    "/patients?q=karimi",
    "/patients/new",
    "/patients/{id}",
    "/patients/{id}/edit",
]
HOSTILE = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "Robert'); DROP TABLE resource; --",
    "\u202eevil\u202c name",
    "{{ 7*7 }} {% raw %}",
    "سارا <b>کریمی</b> &amp;",
]


def refer(api: Fhir, patient_id: str, centre: str = "centre-1") -> None:
    """A referral of the person to a centre (which shares the person with it)."""
    api.create(
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "performer": [{"reference": f"Organization/{centre}"}],
        }
    )


def test_strangers_are_sent_to_sign_in(browser: Callable[[], Browser], register: Register) -> None:
    _, patient_id = register()
    person = browser()
    for page in PAGES:
        response = person.get(page.format(id=patient_id))
        assert response.status_code == 302, page
        assert response.headers["Location"].startswith("/login?next="), page
    for form in ("/patients/new", f"/patients/{patient_id}/edit"):
        assert person.post(form, {**register_form(), "csrf_token": "x"}).status_code == 403


@pytest.mark.parametrize("role", ["administrator", "auditor"])
def test_administrators_and_auditors_have_no_patient_pages(
    role: str, signed_in: SignIn, register: Register, api: Fhir
) -> None:
    _, patient_id = register()
    person, _ = signed_in(role)
    for page in PAGES:
        assert person.get(page.format(id=patient_id)).status_code == 403, page
    assert person.post("/patients/new", register_form(case_code="X-1")).status_code == 403
    assert 'href="/patients"' not in text_of(person.get("/"))
    assert len(patients_in(api)) == 1


@pytest.mark.parametrize("role", ["screener", "clinician"])
def test_screeners_and_clinicians_use_every_page(
    role: str, signed_in: SignIn, register: Register
) -> None:
    _, patient_id = register()
    person, _ = signed_in(role)
    home = text_of(person.get("/"))
    assert 'href="/patients"' in home  # in the navigation and on the home page
    for page in PAGES:
        assert person.get(page.format(id=patient_id)).status_code == 200, page


def test_centre_staff_see_only_the_people_referred_to_their_centre(
    signed_in: SignIn, register: Register, api: Fhir
) -> None:
    person, shared = register()
    _, hidden = register(person, case_code="HER-0002-BB", birth_date="1950-01-01")
    _, elsewhere = register(person, case_code="HER-0003-CC", birth_date="1940-01-01")
    refer(api, shared)
    refer(api, elsewhere, "centre-2")
    staff, _ = signed_in("centre-staff", organization="centre-1")
    assert staff.get(f"/patients/{shared}").status_code == 200
    for other in (hidden, elsewhere, "no-such-person"):
        response = staff.get(f"/patients/{other}")
        assert response.status_code == 404, other
        assert "Karimi" not in text_of(response)
    body = text_of(staff.get("/patients?q=karimi"))
    assert f"/patients/{shared}" in body
    assert f"/patients/{hidden}" not in body and f"/patients/{elsewhere}" not in body
    assert staff.get("/patients/new").status_code == 403
    assert staff.get(f"/patients/{shared}/edit").status_code == 403
    page = text_of(staff.get(f"/patients/{shared}"))
    assert "/screenings/new" not in page and f"/patients/{shared}/edit" not in page


def test_unknown_and_malformed_ids_are_404(signed_in: SignIn) -> None:
    person, _ = signed_in("clinician")
    for path in (
        "/patients/unknown",
        "/patients/bad%20id",
        "/patients/" + "x" * 80,
        "/patients/unknown/edit",
    ):
        assert person.get(path).status_code == 404, path


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_stored_as_typed_and_shown_escaped(
    name: str, signed_in: SignIn, api: Fhir
) -> None:
    person, _ = signed_in("screener")
    person.get("/patients/new")
    form = register_form(given_latn=name, family_latn="Zed", village=name, guardian_name="")
    response = person.post("/patients/new", form)
    assert response.status_code == 303, text_of(response)
    patient_id = response.headers["Location"].split("?")[0].rsplit("/", 1)[1]
    stored = patients_in(api)[0]
    assert stored["name"][1]["given"] == [name.strip()]
    pages = [
        text_of(person.get(f"/patients/{patient_id}")),
        text_of(person.get("/patients?q=zed")),
        text_of(person.get(f"/patients/{patient_id}/edit")),
    ]
    for body in pages:
        check_html(body, "en")
        assert str(escape(name.strip())) in body
        if "<" in name:
            assert name not in body
        if "{{" in name:
            assert "{{ 7*7 }}" in body
    if "\u202e" in name:
        assert f'<bdi lang="fa-Latn">{name.strip()} Zed</bdi>' in pages[0]


def test_searches_with_hostile_text_are_harmless(signed_in: SignIn, register: Register) -> None:
    person, _ = register()
    for query in ("<script>", "a,b|c\\d$e", "%", "_", "' OR 1=1 --", "١' OR '1"):
        response = person.get("/patients", query_string={"q": query})
        assert response.status_code == 200, query
        assert "<script>" not in text_of(response).split("<main", 1)[1]
    assert person.get("/patients", query_string={"q": "a\x00"}).status_code == 400
