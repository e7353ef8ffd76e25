"""The Practitioner the service keeps for a user account: written with the account's
registration number and profession when a screening is saved, updated (one new version) when
an administrator changes them, and left alone (no new version) when nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from conftest import api_token
from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import operator
from screening.auth.professions import PROFESSION_SYSTEM, REGISTRATION_SYSTEM
from screening.paths import data_dir
from screening.screenings.directory import (
    STAFF_SYSTEM,
    HealthWorker,
    practitioner_reference,
    refresh_practitioner,
)
from screenings.test_screening_pages import CONCLUSION, answers, post, search
from web.conftest import Browser, text_of

SignIn = Callable[..., tuple[Browser, Any]]
BASE = "http://testserver/fhir"


@pytest.fixture
def person(web_app: Flask) -> str:
    """The id of a registered person (the IG's example patient, Herat)."""
    path = data_dir("fhir_profiles") / "examples" / "Patient-example-ahmad-karimi.json"
    patient = json.loads(path.read_text(encoding="utf-8"))
    patient.pop("id")
    req = FhirRequest("POST", "Patient", body=patient)
    stored = perform(web_app.extensions["screening"], operator("t"), req, BASE).body or {}
    return str(stored["id"])


def practitioners(app: Flask, username: str) -> list[dict[str, Any]]:
    """The Practitioners of a user account (by its identifier)."""
    return search(app, "Practitioner", ("identifier", f"{STAFF_SYSTEM}|{username}"))


def versions(app: Flask, practitioner_id: str) -> int:
    """How many versions the Practitioner has."""
    response = app.test_client().get(
        f"/fhir/Practitioner/{practitioner_id}/_history",
        headers={"Authorization": f"Bearer {api_token(app)}"},
    )
    assert response.status_code == 200, response.json
    return int(response.json["total"])  # type: ignore[index]


def screen(browser: Browser, patient: str) -> str:
    """Save a screening through the form; the id of its QuestionnaireResponse."""
    response = post(browser, patient, answers(**CONCLUSION), "save")
    assert response.status_code == 303, text_of(response)[:2000]
    return str(response.headers["Location"]).split("/screenings/")[1].split("?")[0]


def author(app: Flask, response_id: str) -> str:
    """The author reference of a stored QuestionnaireResponse."""
    (response,) = search(app, "QuestionnaireResponse", ("_id", response_id))
    return str(response["author"]["reference"])


def test_the_practitioner_follows_the_account(
    web_app: Flask, signed_in: SignIn, person: str
) -> None:
    admin, _ = signed_in("administrator")
    doctor, clinician = signed_in("clinician", full_name="Dr Zahra Ahmadi")
    page = f"/admin/users/{clinician.id}"
    details = {"role": "clinician", "organization": "", "language": "en"}
    physio = {**details, "profession": "physiotherapist", "registration": "MoPH-PT-10482"}
    assert admin.post(page, physio).status_code == 303
    assert practitioners(web_app, clinician.username) == []  # none created by the admin page

    first = author(web_app, screen(doctor, person))
    (practitioner,) = practitioners(web_app, clinician.username)
    assert first == f"Practitioner/{practitioner['id']}"
    assert practitioner["identifier"] == [
        {"system": STAFF_SYSTEM, "value": clinician.username},
        {"system": REGISTRATION_SYSTEM, "value": "MoPH-PT-10482"},
    ]
    coding = {"system": PROFESSION_SYSTEM, "code": "physiotherapist", "display": "Physiotherapist"}
    assert practitioner["qualification"] == [{"code": {"coding": [coding]}}]
    assert practitioner["name"] == [{"text": "Dr Zahra Ahmadi"}]
    assert practitioner["meta"]["versionId"] == "1"

    assert author(web_app, screen(doctor, person)) == first  # unchanged: no new version
    assert versions(web_app, practitioner["id"]) == 1

    moved = {**physio, "profession": "prosthetist-orthotist", "registration": "MoPH-PO-777"}
    assert admin.post(page, moved).status_code == 303  # the Practitioner follows at once
    (practitioner,) = practitioners(web_app, clinician.username)
    assert practitioner["meta"]["versionId"] == "2"
    assert practitioner["identifier"][1] == {"system": REGISTRATION_SYSTEM, "value": "MoPH-PO-777"}
    assert practitioner["qualification"][0]["code"]["coding"][0]["code"] == "prosthetist-orthotist"

    assert admin.post(page, moved).status_code == 303  # saved again, the same
    assert author(web_app, screen(doctor, person)) == first
    assert versions(web_app, practitioner["id"]) == 2

    assert admin.post(page, details).status_code == 303  # both cleared
    (practitioner,) = practitioners(web_app, clinician.username)
    assert practitioner["meta"]["versionId"] == "3"
    assert practitioner["identifier"] == [{"system": STAFF_SYSTEM, "value": clinician.username}]
    assert "qualification" not in practitioner


def test_what_the_directory_added_stays(web_app: Flask, make_user: Callable[..., Any]) -> None:
    """An administrator may enrich a Practitioner through the FHIR door (names in two
    scripts, another identifier, a free-text qualification): the service changes only
    the identifiers and the coded profession it owns."""
    state = web_app.extensions["screening"]
    user = make_user("screener", full_name="Zahra Ahmadi")
    worker = HealthWorker(user.username, "Zahra Ahmadi", "CHW-1", "community-health-worker")
    reference = practitioner_reference(state, BASE, worker)
    token = {"Authorization": f"Bearer {api_token(web_app)}"}
    stored = web_app.test_client().get(f"/fhir/{reference}", headers=token).json
    assert stored is not None
    other = {"system": "urn:oid:2.16.840.1.113883.2.9", "value": "HR-55"}
    enriched = {
        **stored,
        "identifier": [*stored["identifier"], other],
        "name": [{"text": "زهرا احمدی"}, {"text": "Zahra Ahmadi"}],
        "qualification": [*stored["qualification"], {"code": {"text": "Midwife"}}],
    }
    put = web_app.test_client().put(f"/fhir/{reference}", json=enriched, headers=token)
    assert put.status_code == 200, put.json

    assert practitioner_reference(state, BASE, worker) == reference  # nothing to change
    changed = HealthWorker(user.username, "Zahra Ahmadi", "CHW-2", "nurse")
    assert refresh_practitioner(state, BASE, changed) == reference
    now = web_app.test_client().get(f"/fhir/{reference}", headers=token).json
    assert now is not None and now["meta"]["versionId"] == "3"
    assert now["identifier"] == [
        {"system": STAFF_SYSTEM, "value": user.username},
        {"system": REGISTRATION_SYSTEM, "value": "CHW-2"},
        other,
    ]
    assert now["name"] == enriched["name"]
    assert [q["code"].get("text") for q in now["qualification"]] == [None, "Midwife"]
    assert now["qualification"][0]["code"]["coding"][0]["code"] == "nurse"


def test_refreshing_creates_nothing(web_app: Flask) -> None:
    state = web_app.extensions["screening"]
    worker = HealthWorker("nobody-yet", "", "R-1", "nurse")
    assert refresh_practitioner(state, BASE, worker) is None
    assert practitioners(web_app, "nobody-yet") == []
