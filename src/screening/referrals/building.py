"""The FHIR resources of a new referral, built from what the clinician confirmed: one
Consent to share, and for each service one ServiceRequest (`rehab-referral`) with the
Task (`referral-task`, status `requested`) that carries its workflow, after HL7 BSeR.
Pure functions; `referrals.service` sends them as one transaction. No Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from screening.fhir.searchset import CANONICAL
from screening.referrals.directory import service_concept
from screening.referrals.numbers import SYSTEM as NUMBER_SYSTEM

REFERRAL_PROFILE = f"{CANONICAL}/StructureDefinition/rehab-referral"
TASK_PROFILE = f"{CANONICAL}/StructureDefinition/referral-task"
CONSENT_PROFILE = f"{CANONICAL}/StructureDefinition/consent-to-share"
SENSITIVE = f"{CANONICAL}/StructureDefinition/sensitive"
REASON_SYSTEM = f"{CANONICAL}/CodeSystem/referral-reason"
GROUP_SYSTEM = f"{CANONICAL}/sid/referral-group"
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_YEARS = 1  # how long the consent to share lasts


@dataclass(frozen=True)
class Leg:
    """One service asked of one centre: a ServiceRequest and its Task."""

    service: str  # rehab-service-type code
    centre_id: str  # Organization id of the receiving centre
    number: str  # the referral number


@dataclass(frozen=True)
class Consent:
    """Who agreed to share, and when."""

    given_by: str  # "patient" or "guardian"
    guardian_name: str = ""


@dataclass(frozen=True)
class Referral:
    """Everything a new referral (one or more legs) says, with references resolved."""

    patient: str  # Patient/<id>
    requester: str  # Practitioner/<id>
    encounter: str | None  # Encounter/<id> of the screening
    screening: str  # QuestionnaireResponse/<id>
    evidence: tuple[str, ...]  # Observation/<id> and Condition/<id> behind the reasons
    legs: tuple[Leg, ...]
    priority: str  # routine | urgent | asap
    reasons: tuple[tuple[str, str], ...]  # (referral-reason code, English display)
    reason_text: str
    consent: Consent
    sensitive: bool
    authored: str  # instant


def consent_resource(referral: Referral) -> dict[str, Any]:
    """The `consent-to-share` Consent: the receiving centres may see the referral."""
    start = referral.authored[:10]
    end = f"{int(start[:4]) + CONSENT_YEARS}{start[4:]}"
    if end.endswith("-02-29"):
        end = end[:-2] + "28"
    consent = referral.consent
    performer = (
        {"reference": referral.patient}
        if consent.given_by == "patient"
        else {"display": f"{consent.guardian_name} (guardian)".strip()}
    )
    return {
        "resourceType": "Consent",
        "meta": {"profile": [CONSENT_PROFILE]},
        "status": "active",
        "scope": _concept("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [_concept(V3_ACT, "INFA")],
        "patient": {"reference": referral.patient},
        "dateTime": referral.authored,
        "performer": [performer],
        "policyRule": _concept(V3_ACT, "OPTIN"),
        "provision": {
            "type": "permit",
            "period": {"start": start, "end": end},
            "actor": [
                {
                    "role": _concept(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP"
                    ),
                    "reference": {"reference": f"Organization/{centre}"},
                }
                for centre in sorted({leg.centre_id for leg in referral.legs})
            ],
            "purpose": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
            ],
        },
    }


def service_request(referral: Referral, leg: Leg, consent_url: str) -> dict[str, Any]:
    """The `rehab-referral` ServiceRequest of one leg."""
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "meta": {"profile": [REFERRAL_PROFILE]},
    }
    if referral.sensitive:
        request["extension"] = [{"url": SENSITIVE, "valueBoolean": True}]
    request |= {
        "identifier": [{"system": NUMBER_SYSTEM, "value": leg.number}],
        "requisition": {"system": GROUP_SYSTEM, "value": referral.legs[0].number},
        "status": "active",
        "intent": "order",
        "priority": referral.priority,
        "code": service_concept(leg.service),
        "subject": {"reference": referral.patient},
    }
    if referral.encounter:
        request["encounter"] = {"reference": referral.encounter}
    request |= {
        "authoredOn": referral.authored,
        "requester": {"reference": referral.requester},
        "performer": [{"reference": f"Organization/{leg.centre_id}"}],
        "reasonCode": [_reason(referral)],
    }
    if referral.evidence:
        request["reasonReference"] = [{"reference": ref} for ref in referral.evidence]
    request["supportingInfo"] = [
        {"reference": referral.screening},
        {"reference": consent_url},
    ]
    return request


def _reason(referral: Referral) -> dict[str, Any]:
    """The coded reasons with the clinician's words."""
    reason: dict[str, Any] = {}
    if referral.reasons:
        reason["coding"] = [
            {"system": REASON_SYSTEM, "code": code, "display": display}
            for code, display in referral.reasons
        ]
    reason["text"] = referral.reason_text
    return reason


def task_resource(referral: Referral, leg: Leg, request_url: str) -> dict[str, Any]:
    """The `referral-task` Task of one leg, `requested` until the centre takes it up."""
    return {
        "resourceType": "Task",
        "meta": {"profile": [TASK_PROFILE]},
        "status": "requested",
        "intent": "order",
        "priority": referral.priority,
        "code": _concept("http://hl7.org/fhir/CodeSystem/task-code", "fulfill"),
        "focus": {"reference": request_url},
        "for": {"reference": referral.patient},
        "authoredOn": referral.authored,
        "lastModified": referral.authored,
        "requester": {"reference": referral.requester},
        "owner": {"reference": f"Organization/{leg.centre_id}"},
    }


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}
