"""What the principal of a request may do in the FHIR door, and what it did (for the audit).

Interactions ask the guard before they act (`require`), filter what they return through it
(`visibility`, `hide`), and tell it what they touched (`saw`); the view writes the collected
accesses as AuditEvents in the same transaction, or apart from it when the action failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from screening.audit.events import Access, patient_of
from screening.auth.principal import Principal
from screening.auth.roles import NOT_PATIENT_DATA
from screening.fhir.outcome import Forbidden, MethodNotAllowed, NotFound
from screening.store.resources import Stored
from screening.store.sharing import SHARED_BY, shared
from screening.store.visibility import Visibility

ACTION_WORDS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


class Guard:
    """Access rules of one principal over one request, and the accesses to audit."""

    def __init__(self, principal: Principal, session: Session) -> None:
        self.principal = principal
        self.session = session
        self.accesses: list[Access] = []
        self.visibility = Visibility(
            readable=lambda t: principal.may("r", t) or principal.may("s", t),
            centre=principal.centre,
            open_types=NOT_PATIENT_DATA,
        )

    def require(self, action: str, res_type: str) -> None:
        """403 unless the principal may take `action` (c r u d s) on `res_type`."""
        if res_type == "AuditEvent" and action in "cud":
            raise MethodNotAllowed(
                "AuditEvents are written by the server only; they cannot be changed"
            )
        if not self.principal.may(action, res_type):
            word = ACTION_WORDS[action]
            raise Forbidden(f"{self.principal.label} may not {word} {res_type} resources")

    def require_any(self, actions: str, res_type: str) -> None:
        """403 unless the principal may take at least one of `actions` on `res_type`."""
        if not any(self.principal.may(a, res_type) for a in actions):
            self.require(actions[0], res_type)

    def visible(self, res_type: str, fhir_id: str) -> bool:
        """Whether one resource is within what the principal may see."""
        return self.visibility.sees(self.session, res_type, fhir_id)

    def reaches(self, res_type: str, fhir_id: str) -> bool:
        """Whether one resource is within the principal's reach (a centre's shares)."""
        return self.visibility.reaches(self.session, res_type, fhir_id)

    def hide(self, res_type: str, fhir_id: str, *, writing: bool = False) -> None:
        """404, exactly as for an unknown id, when the resource is out of the principal's
        reach (a centre cannot learn that another centre's referral exists); for a write
        only the reach counts, not whether the principal may read the type."""
        found = self.reaches if writing else self.visible
        if not found(res_type, fhir_id):
            raise NotFound(f"{res_type}/{fhir_id} is not known")

    @property
    def centre_bound(self) -> bool:
        """Whether what the principal reaches is bounded by a centre's shares."""
        return self.principal.centre is not None

    def check_shares(self, res_type: str, fhir_id: str, content: dict[str, Any]) -> None:
        """403 when a centre-bound principal writes a referral or Task that would share
        records it cannot reach itself (a centre cannot grant itself another's patient)."""
        if not self.centre_bound or res_type not in SHARED_BY:
            return
        for target_type, target_id in sorted(shared(res_type, fhir_id, content)):
            if (target_type, target_id) == (res_type, fhir_id):
                continue
            if not self.reaches(target_type, target_id):
                raise Forbidden(
                    f"{self.principal.label} may not point a {res_type} at"
                    f" {target_type}/{target_id}: it is not shared with its centre"
                )

    def filter(self, stored: Iterable[Stored]) -> list[Stored]:
        """The visible ones (used for included resources and history entries)."""
        return [s for s in stored if self.visible(s.res_type, s.fhir_id)]

    def saw(
        self,
        interaction: str,
        stored: Iterable[Stored] = (),
        *,
        query: str | None = None,
        operation: str | None = None,
        versioned: bool = False,
        patient_query: bool = False,
    ) -> Access:
        """Record an access to stored patient data (directory and IG resources are not
        recorded; a search or history of a patient-data type is recorded even when empty)."""
        access = Access(interaction, query=query, operation=operation)
        for item in stored:
            if item.res_type in NOT_PATIENT_DATA:
                continue
            version = item.version if versioned else None
            access.add(item.res_type, item.fhir_id, version, patient_of(item.content))
        if access.resources or patient_query or operation:
            self.accesses.append(access)
        return access

    def failed(self, method: str, segments: list[str], status: int, reason: str) -> Access:
        """Record an interaction that was refused or failed (outcome 4, or 8 for 5xx)."""
        access = failure(method, segments, status, reason)
        self.accesses.append(access)
        return access


def failure(method: str, segments: list[str], status: int, reason: str) -> Access:
    """The Access of a refused or failed request, naming the resource it addressed."""
    access = Access(interaction_of(method, segments), outcome="8" if status >= 500 else "4")
    access.reason = printable(f"{status}: {reason}")[:1000]
    if len(segments) >= 2 and not segments[1].startswith(("$", "_")):
        access.resources.append((printable(segments[0])[:64], printable(segments[1])[:64], None))
    return access


def printable(text: str) -> str:
    """Text without control characters (NUL cannot be stored by PostgreSQL)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def interaction_of(method: str, segments: list[str]) -> str:
    """The restful-interaction code of a request."""
    last = segments[-1] if segments else ""
    if not segments:
        return "transaction" if method == "POST" else "search-system"
    if last.startswith("$"):
        return "operation"
    if "_history" in segments:
        return {1: "history-system", 2: "history-type", 3: "history-instance"}.get(
            len(segments), "vread"
        )
    if len(segments) == 1 or last == "_search":
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            method if last != "_search" else "GET", "search-type"
        )
    return {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, "operation"
    )
