"""What a referral shares with the centre it is sent to.

A ServiceRequest whose performer is `Organization/<centre>` shares with that centre itself,
its subject, encounter, reasons (reasonReference) and supporting information
(supportingInfo, e.g. the Consent); a Task whose owner is `Organization/<centre>` shares
itself, its focus and the person it is for. The rows are rewritten with every version of
the source resource (and removed with its delete), in the same transaction, so what a
centre sees always follows the current referrals.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session

from screening.store.models import AccessGrant

grant_t = cast(Table, AccessGrant.__table__)
SHARED_BY = {
    "ServiceRequest": ("performer", ("subject", "encounter", "reasonReference", "supportingInfo")),
    "Task": ("owner", ("focus", "for")),
}


def refresh_grants(
    session: Session, res_type: str, fhir_id: str, content: dict[str, Any] | None
) -> None:
    """Rewrite the grants that one ServiceRequest or Task version gives (none when deleted)."""
    if res_type not in SHARED_BY:
        return
    session.execute(
        delete(grant_t).where(grant_t.c.source_type == res_type, grant_t.c.source_id == fhir_id)
    )
    if content is None:
        return
    rows = [
        dict(organization_id=centre, res_type=t, fhir_id=i, source_type=res_type, source_id=fhir_id)
        for centre in sorted(centres(res_type, content))
        for t, i in sorted(shared(res_type, fhir_id, content))
    ]
    if rows:
        session.execute(insert(grant_t), rows)


def centres(res_type: str, content: dict[str, Any]) -> set[str]:
    """The Organization ids a referral or Task is addressed to."""
    key = SHARED_BY[res_type][0]
    return {i for t, i in _references(content.get(key)) if t == "Organization"}


def shared(res_type: str, fhir_id: str, content: dict[str, Any]) -> set[tuple[str, str]]:
    """(type, id) of the resource itself and of what it points at for the centre."""
    found = {(res_type, fhir_id)}
    for key in SHARED_BY[res_type][1]:
        found |= set(_references(content.get(key)))
    return found


def _references(value: Any) -> list[tuple[str, str]]:
    """(type, id) of relative references `Type/id` in a Reference or a list of them."""
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        ref = item.get("reference") if isinstance(item, dict) else None
        if isinstance(ref, str) and ref.count("/") == 1 and not ref.startswith("#"):
            res_type, fhir_id = ref.split("/")
            if res_type and fhir_id:
                found.append((res_type, fhir_id))
    return found
