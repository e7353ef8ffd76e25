"""What a referral letter is made from: the referral's resources at their current versions,
read through the FHIR door as the person printing (so the centre rules and the audit
trail apply), and the FHIR Bundle of them that the PDF carries. No Flask."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from screening.api.messages import FhirRequest
from screening.fhir.searchset import (
    CANONICAL,
    by_reference,
    reference_text,
    resources,
    version_of,
)
from screening.patients.resource import CASE_CODE_SYSTEM, identifier
from screening.referrals.building import SENSITIVE
from screening.referrals.numbers import SYSTEM as NUMBER_SYSTEM
from screening.referrals.service import Send, read_referral, receiving_centre, task_of

BUNDLE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{CANONICAL}/letter")
# what a sensitive referral's embedded Patient keeps: no name, no national id, no phone
SENSITIVE_KEEPS = ("resourceType", "id", "meta", "extension", "gender", "birthDate")


@dataclass(frozen=True)
class Sources:
    """The resources of one referral letter, each as stored (with meta.versionId)."""

    request: dict[str, Any]
    task: dict[str, Any]
    patient: dict[str, Any]
    consent: dict[str, Any]
    evidence: tuple[dict[str, Any], ...]  # Observations and Conditions behind the reasons
    screening: dict[str, Any]  # the QuestionnaireResponse the referral started from
    requester: dict[str, Any]  # Practitioner
    centre: dict[str, Any]  # Organization
    centre_location: dict[str, Any]  # its Location (address), {} when none
    place: dict[str, Any]  # Location of the screening visit, {} when none

    @property
    def sensitive(self) -> bool:
        """Whether the referral asks for the case code instead of the person's identity."""
        return any(
            e.get("url") == SENSITIVE and e.get("valueBoolean") is True
            for e in self.request.get("extension", [])
        )

    @property
    def number(self) -> str:
        return identifier(self.request, NUMBER_SYSTEM)


def versioned(resource: dict[str, Any]) -> str:
    """`Type/id/_history/n` of a stored resource."""
    return f"{resource['resourceType']}/{resource['id']}/_history/{version_of(resource)}"


def gather(send: Send, request_id: str) -> Sources:
    """Read a referral and what its letter shows (NotFound when unknown or out of reach)."""
    request, found = read_referral(send, request_id, "encounter", "supporting-info")
    centre_ref = receiving_centre(request)
    supporting = [found.get(reference_text(r), {}) for r in request.get("supportingInfo", [])]
    encounter = found.get(reference_text(request.get("encounter")), {})
    return Sources(
        request=request,
        task=task_of(found),
        patient=found.get(reference_text(request.get("subject")), {}),
        consent=_first_of(supporting, "Consent"),
        evidence=_evidence(send, request.get("reasonReference", [])),
        screening=_first_of(supporting, "QuestionnaireResponse"),
        requester=found.get(reference_text(request.get("requester")), {}),
        centre=found.get(centre_ref, {}),
        centre_location=_centre_location(send, centre_ref),
        place=_place(send, encounter),
    )


def _first_of(found: list[dict[str, Any]], res_type: str) -> dict[str, Any]:
    return next((r for r in found if r.get("resourceType") == res_type), {})


def _evidence(send: Send, references: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The Observations and Conditions a referral gives as reasons, in its order."""
    wanted = [reference_text(r) for r in references]
    found: dict[str, dict[str, Any]] = {}
    for res_type in ("Observation", "Condition"):
        ids = [ref.split("/", 1)[1] for ref in wanted if ref.startswith(f"{res_type}/")]
        if ids:
            query = [("_id", ",".join(ids)), ("_count", str(len(ids)))]
            found |= by_reference(
                resources(send(FhirRequest("GET", res_type, query=query)).body or {})
            )
    return tuple(found[ref] for ref in wanted if ref in found)


def _centre_location(send: Send, centre_ref: str) -> dict[str, Any]:
    """The Location (address) of a receiving centre."""
    if not centre_ref.startswith("Organization/"):
        return {}
    query = [("organization", centre_ref), ("_count", "1")]
    found = resources(send(FhirRequest("GET", "Location", query=query)).body or {})
    return found[0] if found else {}


def _place(send: Send, encounter: dict[str, Any]) -> dict[str, Any]:
    """The Location of the screening visit."""
    ref = reference_text((encounter.get("location") or [{}])[0].get("location"))
    if not ref.startswith("Location/"):
        return {}
    return send(FhirRequest("GET", ref)).body or {}


# ------------------------------------------------------------------ the embedded Bundle


def letter_bundle(sources: Sources, base: str) -> dict[str, Any]:
    """The collection Bundle a letter embeds: the referral, its Task, the person (only the
    case code when the referral is sensitive), the Consent, the records behind the reasons,
    the referrer and the receiving centre. Its id and timestamp follow from the versions,
    so the same versions give the same Bundle."""
    contents = [
        sources.request,
        sources.task,
        minimal_patient(sources.patient) if sources.sensitive else sources.patient,
        sources.consent,
        *sources.evidence,
        sources.requester,
        sources.centre,
        sources.centre_location,
    ]
    present = [r for r in contents if r.get("resourceType") and r.get("id")]
    stamps = sorted(str((r.get("meta") or {}).get("lastUpdated") or "") for r in present)
    key = "|".join(versioned(r) for r in present)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(BUNDLE_NAMESPACE, f"{base}|{key}")),
        "identifier": {"system": NUMBER_SYSTEM, "value": sources.number},
        "type": "collection",
    }
    if stamps and stamps[-1]:
        bundle["timestamp"] = stamps[-1]
    bundle["entry"] = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in present
    ]
    return bundle


def minimal_patient(patient: dict[str, Any]) -> dict[str, Any]:
    """A sensitive referral's Patient: the case code, sex, birth date and province only."""
    kept = {k: v for k, v in patient.items() if k in SENSITIVE_KEEPS}
    kept["identifier"] = [
        i for i in patient.get("identifier", []) if i.get("system") == CASE_CODE_SYSTEM
    ]
    provinces = [{"state": a["state"]} for a in patient.get("address", []) if a.get("state")][:1]
    if provinces:
        kept["address"] = provinces
    order = ("resourceType", "id", "meta", "extension", "identifier", "gender", "birthDate")
    return {k: kept[k] for k in (*order, "address") if k in kept}


def bundle_bytes(bundle: dict[str, Any]) -> bytes:
    """The Bundle as the letter embeds it: UTF-8 JSON, keys in their stored order."""
    return json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8")
