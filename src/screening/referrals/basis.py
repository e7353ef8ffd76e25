"""What a referral starts from: a stored screening, the person, what the screening found,
the records behind its flags and the centres that could receive each service. No Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from screening.api.messages import FhirRequest
from screening.fhir.outcome import NotFound
from screening.fhir.searchset import CANONICAL, resources
from screening.referrals.directory import SERVICES, Centre, Directory, suggest_centres
from screening.referrals.service import Send, province_code_of
from screening.screenings.findings import Reading, read_screening
from screening.screenings.service import person_of

# the Observation profile of each instrument whose flag a referral gives as its reason
EVIDENCE_PROFILES = {
    "tug": "tug",
    "berg": "berg-total",
    "walk-10m": "walk-10m-speed",
    "chair-stand": "chair-stand-30s",
    "pain": "pain-score",
    "wgss-mobility": "wgss-mobility",
}
ALWAYS = ("assistive-device-use",)  # devices in use go with every referral


@dataclass(frozen=True)
class Basis:
    """A screening as the referral form needs it."""

    response: dict[str, Any]
    patient: dict[str, Any]
    reading: Reading
    province: str  # ISO code of the person's province ('' when unknown)
    centres: dict[str, list[Centre]]  # service -> centres offering it, suggested first
    evidence: tuple[str, ...]  # Observation/<id> and Condition/<id>

    @property
    def encounter(self) -> str | None:
        ref = str((self.response.get("encounter") or {}).get("reference") or "")
        return ref if ref.startswith("Encounter/") else None


def load_basis(send: Send, response_id: str, tug_cutoff: Decimal) -> Basis:
    """The screening `response_id` with its person, findings, evidence and centres."""
    response = _read(send, f"QuestionnaireResponse/{response_id}")
    patient_ref = str((response.get("subject") or {}).get("reference") or "")
    if not patient_ref.startswith("Patient/"):
        raise NotFound(f"QuestionnaireResponse/{response_id} is not about a Patient")
    patient = _read(send, patient_ref)
    reading = read_screening(response, person_of(patient), tug_cutoff)
    province = province_code_of(patient)
    active = [c for c in Directory(send).centres() if c.values.active]
    return Basis(
        response=response,
        patient=patient,
        reading=reading,
        province=province,
        centres={s: suggest_centres(active, province, s) for s in SERVICES},
        evidence=_evidence(send, response, reading),
    )


def _read(send: Send, path: str) -> dict[str, Any]:
    return send(FhirRequest("GET", path)).body or {}


def _evidence(send: Send, response: dict[str, Any], reading: Reading) -> tuple[str, ...]:
    """The extracted records behind the flags: Observations of flagged instruments and of
    devices in use, and the Conditions (limb absence) of the screening visit."""
    wanted = {
        f"{CANONICAL}/StructureDefinition/{EVIDENCE_PROFILES[f.instrument]}"
        for f in reading.findings
        if f.flagged and f.instrument in EVIDENCE_PROFILES
    } | {f"{CANONICAL}/StructureDefinition/{p}" for p in ALWAYS}
    derived = [("derived-from", f"QuestionnaireResponse/{response.get('id')}"), ("_count", "200")]
    found = [
        f"Observation/{o['id']}"
        for o in _matches(send, "Observation", derived)
        if wanted & set((o.get("meta") or {}).get("profile") or [])
    ]
    encounter = str((response.get("encounter") or {}).get("reference") or "")
    if encounter:
        conditions = _matches(send, "Condition", [("encounter", encounter), ("_count", "50")])
        found += [f"Condition/{c['id']}" for c in conditions]
    return tuple(found)


def _matches(send: Send, res_type: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return resources(send(FhirRequest("GET", res_type, query=query)).body or {})
