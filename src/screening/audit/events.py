"""AuditEvent resources for accesses to the store (after the IHE BALP patterns, R4 codes).

One AuditEvent per interaction: what was done (type `rest`, subtype the RESTful
interaction, action C/R/U/D/E), how it ended (outcome 0 success, 4 refused or failed, 8
server failure, with the reason), who did it (user or client, role, centre, network
address), the resources involved and the patients they belong to.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from screening.auth.principal import Kind, Principal
from screening.fhir.searchset import CANONICAL
from screening.store.clock import to_instant

INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "search-type": "E",
    "search-system": "E",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "batch": "E",
    "transaction": "E",
    "operation": "E",
}
OUTCOME_TEXT = {"0": "success", "4": "refused or failed", "8": "server failure"}


@dataclass
class Access:
    """One interaction to record: what, on which resources, for which patients, outcome."""

    interaction: str  # a code of http://hl7.org/fhir/restful-interaction
    resources: list[tuple[str, str, int | None]] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)
    query: str | None = None
    operation: str | None = None  # e.g. "$validate", "letter"
    outcome: str = "0"
    reason: str | None = None

    def add(self, res_type: str, fhir_id: str, version: int | None, patient: str | None) -> None:
        """One resource involved (and its patient, if any)."""
        self.resources.append((res_type, fhir_id, version))
        if patient:
            self.patients.add(patient)


def audit_event(principal: Principal | None, access: Access, now: datetime) -> dict[str, Any]:
    """The AuditEvent for one access."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid4()),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": INTERACTION, "code": access.interaction}],
        "action": ACTIONS.get(access.interaction, "E"),
        "recorded": to_instant(now),
        "outcome": access.outcome,
    }
    if access.reason or access.outcome != "0":
        event["outcomeDesc"] = (access.reason or OUTCOME_TEXT[access.outcome])[:1000]
    event["agent"] = [_agent(principal)]
    event["source"] = {
        "site": "rehab-screening",
        "observer": {"display": "rehab-screening FHIR server"},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
    entities = _entities(access)
    if entities:
        event["entity"] = entities
    return event


def _agent(principal: Principal | None) -> dict[str, Any]:
    """The requestor: user, client or operator, with role, centre and address."""
    agent: dict[str, Any] = {}
    if principal is None:
        agent["who"] = {"display": "unauthenticated"}
    else:
        agent["who"] = {
            "identifier": {
                "system": f"{CANONICAL}/sid/{principal.kind.value}",
                "value": principal.ident,
            },
            "display": principal.label,
        }
        agent["altId"] = principal.name
        role = principal.role.value if principal.role else principal.kind.value
        agent["role"] = [
            {"coding": [{"system": f"{CANONICAL}/CodeSystem/access-role", "code": role}]}
        ]
        if principal.kind is Kind.CLIENT and principal.scopes:
            from screening.auth.scopes import scope_text

            agent["policy"] = [f"urn:scopes:{scope_text(principal.scopes)}"[:1000]]
    agent["requestor"] = True
    address = principal.address if principal else None
    if address:
        agent["network"] = {"address": address[:64], "type": "2"}
    return agent


def _entities(access: Access) -> list[dict[str, Any]]:
    """The patients first (role 1 Patient), then each resource (role 4 Domain Resource), then
    the query (role 24 Query)."""
    found: list[dict[str, Any]] = []
    for patient in sorted(access.patients):
        found.append(_entity(f"Patient/{patient}", "1", "Person", "1", "Patient"))
    seen = set()
    for res_type, fhir_id, version in access.resources:
        ref = f"{res_type}/{fhir_id}" + (f"/_history/{version}" if version else "")
        if ref in seen or (res_type == "Patient" and fhir_id in access.patients and not version):
            continue
        seen.add(ref)
        found.append(_entity(ref, "2", "System Object", "4", "Domain Resource"))
    if access.query is not None or access.operation is not None:
        entity: dict[str, Any] = {
            "type": _coding(
                "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"
            ),
            "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
        }
        if access.operation:
            entity["name"] = access.operation[:200]
        if access.query:
            entity["query"] = base64.b64encode(access.query.encode("utf-8")).decode("ascii")
        found.append(entity)
    return found


def _entity(
    ref: str, type_code: str, type_display: str, role: str, role_display: str
) -> dict[str, Any]:
    return {
        "what": {"reference": ref},
        "type": _coding(
            "http://terminology.hl7.org/CodeSystem/audit-entity-type", type_code, type_display
        ),
        "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", role, role_display),
    }


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def patient_of(resource: dict[str, Any] | None) -> str | None:
    """The id of the Patient a resource belongs to (itself, subject, patient, for ...)."""
    if not isinstance(resource, dict):
        return None
    if resource.get("resourceType") == "Patient":
        value = resource.get("id")
        return value if isinstance(value, str) else None
    for key in ("subject", "patient", "for", "beneficiary"):
        ref = resource.get(key)
        text = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(text, str) and text.startswith("Patient/") and text.count("/") == 1:
            return text.split("/", 1)[1]
    return None
