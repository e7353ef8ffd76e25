"""The screening form from the outside: rendered from the Questionnaire, checked field by
field, results before saving, and one transaction that stores the response, its Encounter
and the extracted Observations and Conditions (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from conftest import FHIR_JSON, api_token
from screening.web.calendar import entry_text
from web.conftest import Browser, text_of

SignIn = Callable[..., tuple[Browser, Any]]
EXAMPLES = "fhir_profiles/examples"


@pytest.fixture
def patient_id(web_app: Flask) -> str:
    """A registered person (the IG's example patient, Herat)."""
    with open(f"{EXAMPLES}/Patient-example-ahmad-karimi.json", encoding="utf-8") as handle:
        patient = json.load(handle)
    patient.pop("id")
    token = api_token(web_app)
    response = web_app.test_client().post(
        "/fhir/Patient",
        json=patient,
        headers={"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON},
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])  # type: ignore[index]


def search(app: Flask, res_type: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    """Resources of a type as a full-scope API client finds them."""
    token = api_token(app)
    query = "&".join(f"{k}={v}" for k, v in (*pairs, ("_count", "100")))
    response = app.test_client().get(
        f"/fhir/{res_type}?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.json
    return [e["resource"] for e in response.json.get("entry", []) if e["search"]["mode"] == "match"]  # type: ignore[union-attr]


NOT_PERFORMED = ("wgss", "berg", "walk6min", "chair-stand", "barthel", "cause")


def answers(lang: str = "en", **extra: Any) -> dict[str, Any]:
    """A filled-in form: TUG 18.4 s with crutches, 10-metre walk 10 m in 20 s, pain 7,
    a left transtibial amputation after a landmine, crutches in use."""
    form: dict[str, Any] = {
        "screening.date": entry_text(date.today(), lang),
        "screening.province": "Herat",
        "screening.district": "Guzara",
        "screening.village": "Deh-e Naw",
        "tug.performed": "true",
        "tug.seconds": "18.4",
        "tug.aid": "crutches",
        "walk10m.performed": "true",
        "walk10m.distance": "10",
        "walk10m.seconds": "20",
        "pain.performed": "true",
        "pain.score": "7",
        "limb-absence.performed": "true",
        "limb-absence.present": "true",
        "limb-absence.limb.side@1": "left",
        "limb-absence.limb.level@1": "transtibial",
        "limb-absence.limb.cause@1": "landmine-erw",
        "device.performed": "true",
        "device.type": ["crutches"],
        **{f"{group}.performed": "false" for group in NOT_PERFORMED},
    }
    form.update(extra)
    return form


SUGGESTED = ["prosthetics-orthotics", "physiotherapy", "psychosocial-support"]
CONCLUSION = {
    "conclusion.referral-needed": "true",
    "conclusion.service": ["prosthetics-orthotics", "physiotherapy", "psychosocial-support"],
    "conclusion.priority": "urgent",
}


def post(person: Browser, patient_id: str, form: dict[str, Any], action: str) -> TestResponse:
    """Send the screening form with one of its two buttons."""
    data = {"csrf_token": person.csrf, **form, "action": action}
    return person.client.post(f"/patients/{patient_id}/screenings/new", data=data)


def error_of(page: str, name: str) -> str | None:
    """The error message shown next to a field, or None."""
    field_id = "f-" + re.sub(r"[.@]", "-", name)
    found = re.search(rf'id="{re.escape(field_id)}-error">([^<]*)<', page)
    return found.group(1) if found else None


# --------------------------------------------------------------------------- the form


def test_the_form_is_rendered_from_the_questionnaire(signed_in: SignIn, patient_id: str) -> None:
    person, _ = signed_in("screener")
    page = text_of(person.get(f"/patients/{patient_id}/screenings/new"))
    for group in ("wgss", "tug", "berg", "walk10m", "walk6min", "chair-stand", "barthel"):
        assert f'id="h-{group}"' in page
    assert 'name="tug.seconds"' in page and 'inputmode="decimal"' in page
    assert '<span class="unit">seconds</span>' in page  # the item's unit
    assert "From 1 to 300 seconds" in page  # min and max
    assert page.count('<details class="help">') >= 10  # help text, without JavaScript
    assert 'name="berg.sit-to-stand" value="berg-score-4"' in page  # answerOption
    assert 'name="wgss.mobility" value="cannot-do-at-all"' in page  # answerValueSet
    assert 'type="checkbox" name="device.type"' in page  # a repeating choice
    slots = set(re.findall(r'name="limb-absence\.limb\.side@(\d)"', page))
    assert slots == {"1", "2", "3", "4"}  # four limb slots
    assert 'aria-required="true"' in page and 'class="required"' in page
    assert "Herat" in page and 'value="Deh-e Naw"' in page  # the place from the address
    assert re.search(r'<link rel="stylesheet" href="/screenings/form-en\.css', page)


def test_enable_when_works_without_javascript(signed_in: SignIn) -> None:
    person, _ = signed_in("screener")
    css = text_of(person.get("/screenings/form-en.css"))
    assert "@supports selector(:has(a))" in css
    hide_tug = (
        '.q-form:not(:has(:is(input[name="tug.performed"][value="true"]:checked,'
        ' select[name="tug.performed"] option[value="true"]:checked))) [data-q="tug.seconds"]'
    )
    assert hide_tug in css
    assert '[data-q="limb-absence.limb.date@2"]' in css  # conditions inside group instances
    assert '[name="device.type"][value="other"]' in css


def test_review_shows_scores_flags_and_suggestions_and_stores_nothing(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    person, _ = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    response = post(person, patient_id, answers(), "review")
    page = text_of(response)
    assert response.status_code == 200, page
    assert "18.4 s: at risk of falls (cut-off 13.5 s; CDC STEADI uses 12 s)" in page
    assert "0.50 m/s: limited community ambulator" in page
    assert "Limb absence without a prosthesis in use" in page
    assert "Cause of impairment: Landmine or explosive remnant of war" in page
    for service in ("Prosthetics and orthotics", "Physiotherapy", "Psychosocial support"):
        assert f"<strong>{service}</strong>" in page
    # the conclusion starts from the suggestions
    assert 'name="conclusion.referral-needed" value="true" checked' in page
    assert 'name="conclusion.service" value="physiotherapy" checked' in page
    assert search(web_app, "QuestionnaireResponse") == []
    assert search(web_app, "Observation") == []


def test_saving_stores_the_screening_in_one_go(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    person, _ = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    response = post(
        person,
        patient_id,
        answers(**CONCLUSION, **{"conclusion.override-reason": "Wheelchair not wanted"}),
        "save",
    )
    assert response.status_code == 303, text_of(response)
    location = response.headers["Location"]
    (qr,) = search(web_app, "QuestionnaireResponse", ("subject", f"Patient/{patient_id}"))
    assert location.startswith(f"/screenings/{qr['id']}")
    (encounter,) = search(web_app, "Encounter", ("subject", f"Patient/{patient_id}"))
    assert qr["encounter"]["reference"] == f"Encounter/{encounter['id']}"
    assert qr["author"]["reference"].startswith("Practitioner/")
    observations = search(web_app, "Observation", ("subject", f"Patient/{patient_id}"))
    codes = sorted(o["meta"]["profile"][0].rsplit("/", 1)[1] for o in observations)
    assert codes == ["assistive-device-use", "pain-score", "tug", "walk-10m-speed"]
    for observation in observations:
        assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{qr['id']}"}]
        assert observation["encounter"]["reference"] == f"Encounter/{encounter['id']}"
    (condition,) = search(web_app, "Condition", ("subject", f"Patient/{patient_id}"))
    assert condition["meta"]["profile"][0].endswith("/limb-absence")
    speed = next(o for o in observations if o["meta"]["profile"][0].endswith("walk-10m-speed"))
    assert speed["valueQuantity"]["value"] == 0.5  # calculated by the server
    page = text_of(person.get(location))
    assert "The screening was saved." in page
    assert f"Condition/{condition['id']}" in page
    assert "Wheelchair not wanted" in page


def test_errors_are_shown_next_to_the_fields_with_the_values_kept(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    person, _ = signed_in("screener")
    person.get(f"/patients/{patient_id}/screenings/new")
    form = answers(**CONCLUSION)
    form.pop("tug.seconds")
    form["pain.score"] = "11"
    form["walk10m.seconds"] = "abc"
    form["limb-absence.limb.level@1"] = ""
    response = post(person, patient_id, form, "save")
    page = text_of(response)
    assert response.status_code == 400
    assert error_of(page, "tug.seconds") == "This field is required" or error_of(
        page, "tug.seconds"
    )
    assert error_of(page, "pain.score") == "Enter a number from 0 to 10"
    assert error_of(page, "walk10m.seconds") == "Enter a number"
    assert error_of(page, "limb-absence.limb.level@1")
    assert 'href="#f-pain-score"' in page  # the error summary links to the field
    assert 'value="abc"' in page and 'value="11"' in page  # what was typed is kept
    assert 'name="limb-absence.limb.side@1" value="left" checked' in page
    assert search(web_app, "QuestionnaireResponse") == []
    assert search(web_app, "Encounter") == []


def test_answers_to_disabled_questions_are_dropped(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    person, _ = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    form = answers(**CONCLUSION, **{"conclusion.override-reason": "As agreed with the family"})
    form["tug.performed"] = "false"  # TUG not done, but its time was left filled in
    form["tug.reason-not-done"] = "Could not stand without help"
    assert post(person, patient_id, form, "save").status_code == 303
    (qr,) = search(web_app, "QuestionnaireResponse")
    link_ids = json.dumps(qr)
    assert '"tug.seconds"' not in link_ids and '"tug.aid"' not in link_ids
    assert "Could not stand without help" in link_ids
    profiles = {o["meta"]["profile"][0].rsplit("/", 1)[1] for o in search(web_app, "Observation")}
    assert "tug" not in profiles


def test_a_conclusion_other_than_the_suggestion_needs_a_reason(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    person, _ = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    only_physio = {**CONCLUSION, "conclusion.service": ["physiotherapy"]}
    response = post(person, patient_id, answers(**only_physio), "save")
    assert response.status_code == 400
    assert error_of(text_of(response), "conclusion.override-reason") == (
        "The services differ from the suggested ones: say why"
    )
    assert search(web_app, "QuestionnaireResponse") == []
    not_needed = {"conclusion.referral-needed": "false"}
    assert post(person, patient_id, answers(**not_needed), "save").status_code == 400
    assert post(person, patient_id, answers(**CONCLUSION), "save").status_code == 303


def test_persian_page_digits_and_solar_hijri_date(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    person, _ = signed_in("screener", language="fa")
    page = text_of(person.get(f"/patients/{patient_id}/screenings/new"))
    assert '<html lang="fa" dir="rtl">' in page
    assert "زمان انجام آزمون (ثانیه)" in page and "مشکل زیاد" in page
    form = answers(
        "fa",
        **CONCLUSION,
        **{"conclusion.override-reason": "با خانواده هماهنگ شد"},
        **{"tug.seconds": "۱۸٫۴", "pain.score": "٧", "screening.date": "۱۴۰۵/۰۸/۲۰"},
    )
    response = post(person, patient_id, form, "save")
    assert response.status_code == 303, text_of(response)
    (qr,) = search(web_app, "QuestionnaireResponse")
    assert qr["authored"] == "2026-11-11"  # 20 Aban 1405, stored Gregorian
    shown = text_of(person.get(response.headers["Location"]))
    assert "۲۰ آبان ۱۴۰۵" in shown and "۱۸٫۴" in shown


@pytest.mark.parametrize(
    ("role", "status"), [("administrator", 403), ("auditor", 403), ("centre-staff", 403)]
)
def test_who_may_screen(signed_in: SignIn, patient_id: str, role: str, status: int) -> None:
    person, _ = signed_in(role)
    assert person.get(f"/patients/{patient_id}/screenings/new").status_code == status


def test_sign_in_first_and_unknown_people(
    browser: Callable[[], Browser], signed_in: SignIn, patient_id: str
) -> None:
    response = browser().get(f"/patients/{patient_id}/screenings/new")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    person, _ = signed_in("screener")
    assert person.get("/patients/no-such-person/screenings/new").status_code == 404
    assert person.get("/patients/%3Cscript%3E/screenings/new").status_code == 404
    assert person.get("/screenings/no-such-screening").status_code == 404


def test_saving_and_viewing_are_audited(
    web_app: Flask,
    signed_in: SignIn,
    patient_id: str,
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    person, user = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    confirmed = {**CONCLUSION, "conclusion.service": SUGGESTED}
    response = post(person, patient_id, answers(**confirmed), "save")
    person.get(response.headers["Location"])
    mine = [
        e
        for e in audit_events(("patient", f"Patient/{patient_id}"))
        if e["agent"][0].get("altId") == user.username
    ]
    creates = [e for e in mine if e["subtype"][0]["code"] == "create"]
    assert len(creates) == 1 + 1 + 4 + 1  # Encounter, response, observations, condition
    reads = [e for e in mine if e["subtype"][0]["code"] in ("read", "search-type")]
    assert reads  # the form read the patient; the result page read the screening


def _comparable(resource: dict[str, Any]) -> str:
    """A resource without what differs between two copies: ids, versions, references to
    the response (each copy points at its own)."""
    kept = {k: v for k, v in resource.items() if k not in ("id", "meta", "derivedFrom", "evidence")}
    return json.dumps(kept, sort_keys=True)


def test_the_form_and_a_transaction_bundle_give_the_same_resources(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    """A screening entered in the form and the same answers sent by another system
    ($extract, then the Bundle it answers POSTed as a transaction) are the same records."""
    person, _ = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    assert post(person, patient_id, answers(**CONCLUSION), "save").status_code == 303
    (by_form,) = search(web_app, "QuestionnaireResponse")
    observations = search(web_app, "Observation")
    conditions = search(web_app, "Condition")
    sent = {k: v for k, v in by_form.items() if k not in ("id", "meta")}
    token = api_token(web_app)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON}
    client = web_app.test_client()
    extracted = client.post("/fhir/QuestionnaireResponse/$extract", json=sent, headers=headers)
    assert extracted.status_code == 200, extracted.json
    stored = client.post("/fhir", json=extracted.json, headers=headers)
    assert stored.status_code == 200, stored.json
    (by_bundle,) = [r for r in search(web_app, "QuestionnaireResponse") if r["id"] != by_form["id"]]
    assert _comparable(by_bundle) == _comparable(by_form)
    again = [o for o in search(web_app, "Observation") if o not in observations]
    assert sorted(map(_comparable, again)) == sorted(map(_comparable, observations))
    assert len(again) == len(observations) == 4
    for observation in again:
        assert observation["derivedFrom"] == [
            {"reference": f"QuestionnaireResponse/{by_bundle['id']}"}
        ]
    more = [c for c in search(web_app, "Condition") if c not in conditions]
    assert sorted(map(_comparable, more)) == sorted(map(_comparable, conditions))


def test_the_tug_cut_off_is_configurable(
    web_app: Flask, signed_in: SignIn, patient_id: str
) -> None:
    state = web_app.extensions["screening"]
    state.config = state.config.with_overrides(tug_cutoff="12")
    person, _ = signed_in("clinician")
    person.get(f"/patients/{patient_id}/screenings/new")
    page = text_of(post(person, patient_id, answers(**{"tug.seconds": "12.5"}), "review"))
    assert "12.5 s: at risk of falls (cut-off 12 s" in page
    state.config = state.config.with_overrides(tug_cutoff="13.5")
    page = text_of(post(person, patient_id, answers(**{"tug.seconds": "12.5"}), "review"))
    assert "12.5 s: below the fall-risk cut-off of 13.5 s" in page
