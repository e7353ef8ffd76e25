"""A person's history for the patient page: screenings and referrals, newest first. No Flask.

Screenings are the person's QuestionnaireResponses (each with its Encounter, when it names
one) and field Encounters (class FLD) that have no response; referrals are the person's
ServiceRequests with the receiving centre and the status of their Task. Three searches
through the FHIR door, each audited; a centre sees only what was shared with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screening.api.messages import FhirRequest
from screening.fhir.packages import Registry
from screening.fhir.searchset import by_reference, resources
from screening.patients.service import Send
from screening.screenings.questionnaire import QuestionnaireError, form_of

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LIMIT = "100"


@dataclass(frozen=True)
class ScreeningRow:
    """One screening: when, which form, its status, the response to open (if any)."""

    when: str
    title: str
    status: str
    response_id: str | None


@dataclass(frozen=True)
class ReferralRow:
    """One referral: when, what service, to whom, how urgent, and where it stands."""

    when: str
    request_id: str
    number: str
    service: str
    performer: str
    priority: str
    status: str
    task_status: str


@dataclass(frozen=True)
class History:
    """A person's screenings and referrals, newest first."""

    screenings: list[ScreeningRow]
    referrals: list[ReferralRow]


class Labels:
    """Texts of definitions in one language: Questionnaire titles and concept displays."""

    def __init__(self, registry: Registry, lang: str) -> None:
        self.registry = registry
        self.lang = lang

    def form_title(self, canonical: str) -> str:
        """The title of the Questionnaire a response answers (its URL when unknown)."""
        try:
            return form_of(self.registry, canonical).title(self.lang)
        except QuestionnaireError:
            return canonical

    def concept(self, concept: dict[str, Any]) -> str:
        """A CodeableConcept's text in the page's language: a designation of the code in
        its CodeSystem, the coding's display, the concept's text, or the code."""
        for coding in concept.get("coding") or []:
            found = self._designation(str(coding.get("system", "")), str(coding.get("code", "")))
            if found or coding.get("display"):
                return found or str(coding["display"])
        first = (concept.get("coding") or [{}])[0]
        return str(concept.get("text") or first.get("code") or "")

    def _designation(self, system: str, code: str) -> str:
        """The display of a code in the page's language from its CodeSystem, or ''."""
        code_system = self.registry.get(system) if system else None
        if not code_system or code_system.get("resourceType") != "CodeSystem":
            return ""
        for concept in code_system.get("concept") or []:
            if concept.get("code") == code:
                for designation in concept.get("designation") or []:
                    if designation.get("language") == self.lang:
                        return str(designation.get("value") or "")
                return str(concept.get("display") or "") if self.lang == "en" else ""
        return ""


def load_history(send: Send, patient_id: str, labels: Labels) -> History:
    """The screenings and referrals of one person, as the principal of `send` sees them."""
    subject = ("subject", f"Patient/{patient_id}")
    responses = _search(
        send,
        "QuestionnaireResponse",
        [subject, ("_include", "QuestionnaireResponse:encounter"), ("_sort", "-authored")],
    )
    visits = _search(send, "Encounter", [subject, ("class", f"{ACT_CODE}|FLD"), ("_sort", "-date")])
    referrals = _search(
        send,
        "ServiceRequest",
        [
            subject,
            ("_include", "ServiceRequest:performer"),
            ("_revinclude", "Task:focus"),
            ("_sort", "-authored"),
        ],
    )
    return History(_screenings(responses, visits, labels), _referrals(referrals, labels))


def _search(send: Send, res_type: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A searchset Bundle (the first hundred matches)."""
    query = [*pairs, ("_count", LIMIT)]
    return send(FhirRequest("GET", res_type, query=query)).body or {}


def _screenings(
    responses: dict[str, Any], visits: dict[str, Any], labels: Labels
) -> list[ScreeningRow]:
    """Responses (dated by their Encounter when they name one) and unanswered visits."""
    encounters = by_reference(resources(responses, "include") + resources(visits, "match"))
    answered: set[str] = set()
    rows = []
    for response in resources(responses, "match"):
        encounter_ref = str((response.get("encounter") or {}).get("reference", ""))
        answered.add(encounter_ref)
        start = (encounters.get(encounter_ref, {}).get("period") or {}).get("start")
        rows.append(
            ScreeningRow(
                when=str(start or response.get("authored") or ""),
                title=labels.form_title(str(response.get("questionnaire") or "")),
                status=str(response.get("status") or ""),
                response_id=str(response.get("id")),
            )
        )
    for visit in resources(visits, "match"):
        if f"Encounter/{visit.get('id')}" not in answered:
            start = (visit.get("period") or {}).get("start")
            rows.append(ScreeningRow(str(start or ""), "", str(visit.get("status") or ""), None))
    return sorted(rows, key=lambda row: row.when, reverse=True)


def _referrals(bundle: dict[str, Any], labels: Labels) -> list[ReferralRow]:
    """ServiceRequests with their centre and the status of the Task that carries them."""
    included = by_reference(resources(bundle, "include"))
    tasks = {
        str((t.get("focus") or {}).get("reference", "")): t
        for t in included.values()
        if t.get("resourceType") == "Task"
    }
    rows = []
    for request in resources(bundle, "match"):
        ref = f"ServiceRequest/{request.get('id')}"
        rows.append(
            ReferralRow(
                when=str(request.get("authoredOn") or ""),
                request_id=str(request.get("id") or ""),
                number=str((request.get("identifier") or [{}])[0].get("value") or ""),
                service=labels.concept(request.get("code") or {}),
                performer=_performer(request, included),
                priority=str(request.get("priority") or ""),
                status=str(request.get("status") or ""),
                task_status=str(tasks.get(ref, {}).get("status") or ""),
            )
        )
    return sorted(rows, key=lambda row: row.when, reverse=True)


def _performer(request: dict[str, Any], included: dict[str, dict[str, Any]]) -> str:
    """The name of the receiving centre (or the reference's display, or the reference)."""
    for performer in request.get("performer") or []:
        ref = str(performer.get("reference", ""))
        found = included.get(ref, {})
        return str(found.get("name") or performer.get("display") or ref)
    return ""
