"""Recording a screening: the QuestionnaireResponse, its Encounter and the Observations and
Conditions extracted from it, stored in one transaction through the FHIR door (so the form
and a transaction Bundle from another system take the same path). No Flask."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from screening.api.door import perform
from screening.api.messages import FhirRequest
from screening.auth.principal import Principal
from screening.boundary import AppState
from screening.screenings.calculated import complete
from screening.screenings.directory import (
    Place,
    account_worker,
    location_reference,
    practitioner_reference,
)
from screening.screenings.extraction import Entry, extract, screening_encounter, transaction
from screening.screenings.findings import Person, Reading
from screening.screenings.form_schema import Checked
from screening.screenings.questionnaire import Form
from screening.screenings.response import response_items
from screening.store.clock import to_instant, utcnow
from screening.web.i18n import Message

FIELD_SCREENING = "https://fhir.rehab-screening.example/Questionnaire/field-screening"
CONCLUSION = "conclusion"


@dataclass(frozen=True)
class Screener:
    """The user recording the screening."""

    principal: Principal
    username: str
    full_name: str


@dataclass(frozen=True)
class Visit:
    """Who was screened, where and when."""

    patient_id: str
    place: Place
    day: date


def conclusion_errors(reading: Reading, checked: Checked) -> dict[str, Message]:
    """The clinician confirms the suggested services or says why not: a conclusion that
    differs from the suggestions needs the reason."""
    answers = checked.answers
    if "conclusion.override-reason" in answers:
        return {}
    needed = answers.get("conclusion.referral-needed", [None])[0] == "true"
    chosen = set(answers.get("conclusion.service", [])) if needed else set()
    if chosen != set(reading.suggested_services):
        return {"conclusion.override-reason": Message("error.override_reason")}
    return {}


def draft_response(form: Form, checked: Checked, patient_id: str) -> dict[str, Any]:
    """The QuestionnaireResponse of the checked answers, calculated items filled in."""
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": form.canonical,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "item": response_items(form, checked),
    }
    return complete(form, response)


def record_screening(
    state: AppState,
    base_url: str,
    screener: Screener,
    visit: Visit,
    form: Form,
    checked: Checked,
) -> str:
    """Store the screening; the id of its QuestionnaireResponse."""
    worker = account_worker(state, screener.username, screener.full_name)
    practitioner = practitioner_reference(state, base_url, worker)
    location = location_reference(state, base_url, visit.place)
    authored = _moment(visit.day)
    encounter_url = f"urn:uuid:{uuid.uuid4()}"
    response_url = f"urn:uuid:{uuid.uuid4()}"
    response = draft_response(form, checked, visit.patient_id)
    response |= {
        "encounter": {"reference": encounter_url},
        "author": {"reference": practitioner},
        "authored": authored,
    }
    encounter = screening_encounter(
        f"Patient/{visit.patient_id}", practitioner, location, authored, authored
    )
    extracted = extract(form, response, state.fhir.registry, response_url)
    bundle = transaction(
        [Entry(encounter_url, encounter), Entry(response_url, response), *extracted]
    )
    result = perform(state, screener.principal, FhirRequest("POST", "", body=bundle), base_url)
    entries = (result.body or {}).get("entry", [])
    location = str(entries[1]["response"]["location"])  # [base/]Type/id/_history/n
    return location.split("QuestionnaireResponse/", 1)[1].split("/")[0]


def _moment(day: date) -> str:
    """The screening's time: now when it is today, else the day itself."""
    now = utcnow()
    if day == now.date():
        return to_instant(now)
    return day.isoformat()


def person_of(patient: dict[str, Any], on: date | None = None) -> Person:
    """Age (whole years, from birth date or the estimated age) and sex of a Patient."""
    sex = patient.get("gender")
    on = on or datetime.now().date()
    birth = str(patient.get("birthDate", ""))
    age: int | None = None
    if len(birth) >= 4:
        year = int(birth[:4])
        month = int(birth[5:7]) if len(birth) >= 7 else 7
        day = int(birth[8:10]) if len(birth) >= 10 else 1
        age = on.year - year - ((on.month, on.day) < (month, day))
    return Person(age=age, sex=sex if isinstance(sex, str) else None)
