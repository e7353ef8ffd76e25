"""The referral workflow applied to every write of the FHIR door (single requests, batch and
transaction entries alike): Interactions call `after_write` once a Task or ServiceRequest
version is stored, inside the request's transaction, so a refusal rolls it back whole, and
`before_delete` before a resource is deleted (a referral is cancelled, never deleted).
Referral numbers are unique among the current ServiceRequests.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from sqlalchemy import select, text

from screening.api.guard import Guard
from screening.fhir.outcome import Conflict, Gone, Unprocessable
from screening.referrals.numbers import SYSTEM as REFERRAL_NUMBER
from screening.referrals.workflow import (
    WorkflowError,
    check_transition,
    service_request_status,
    side_of,
)
from screening.store.models import ReferenceIndex, TokenIndex
from screening.store.resources import ResourceStore, Stored

REFERRAL_TASK = "https://fhir.rehab-screening.example/StructureDefinition/referral-task"
CANCEL_INSTEAD = "cancel the referral's Task instead (status 'cancelled' with a statusReason)"


class DuplicateReferralNumber(Conflict):
    """A referral number that another current ServiceRequest already carries (409)."""

    code = "duplicate"

    def __init__(
        self, diagnostics: str, *, expression: str | None = "ServiceRequest.identifier"
    ) -> None:
        super().__init__(diagnostics, expression=expression)


class ReferralRules:
    """Checks Task steps against the stored version and keeps the ServiceRequest in step."""

    def __init__(self, store: ResourceStore, guard: Guard, validate: Any) -> None:
        self.store = store
        self.guard = guard
        self.validate = validate  # Interactions.validate: resource -> list[Issue]

    def after_write(self, old: Stored | None, stored: Stored) -> None:
        """Refuse a written version the workflow does not allow; then follow it up."""
        content = stored.content or {}
        if stored.res_type == "Task" and is_referral_task(content):
            before = old.content if old is not None and not old.deleted else None
            held = (
                self.held_from(old)
                if old and before and before.get("status") == "on-hold"
                else None
            )
            side = side_of(self.guard.principal, before or content)
            check_transition(before, content, side, held_from=held)
            self.follow(content)
        elif stored.res_type == "ServiceRequest":
            self.check_number(stored)
            self.check_service_request(stored)

    def before_delete(self, current: Stored | None) -> None:
        """409 for deleting a referral: its Task, or its ServiceRequest (one with a referral
        Task or a referral number). Call it after the visibility check, so that the 409 never
        tells a principal that a hidden id exists."""
        if current is None or current.deleted:
            return
        if current.res_type == "Task":
            kept = is_referral_task(current.content or {})
        else:
            kept = current.res_type == "ServiceRequest" and self.is_referral(current)
        if kept:
            raise WorkflowError(
                f"{current.res_type}/{current.fhir_id} is part of a referral, which is not"
                f" deleted: {CANCEL_INSTEAD}",
                expression=None,
            )

    def is_referral(self, service_request: Stored) -> bool:
        """Whether a ServiceRequest is a referral: it has a referral number or a referral Task."""
        numbered = referral_numbers(service_request.content or {})
        return bool(numbered or self.tasks_of(service_request.fhir_id))

    def check_number(self, stored: Stored) -> None:
        """409 (duplicate) when another current ServiceRequest carries one of this one's
        referral numbers (found through the token index, so entries written earlier in the
        same transaction count)."""
        for number in referral_numbers(stored.content or {}):
            self.lock_number(number)
            if self.number_taken(number, stored.rid):
                raise DuplicateReferralNumber(
                    f"Referral number '{number}' is already carried by another ServiceRequest"
                )

    def lock_number(self, number: str) -> None:
        """On PostgreSQL, hold a lock on the number until the transaction ends, so that two
        transactions writing the same number at once are checked one after the other (the
        second sees the first's index rows). SQLite runs one writer at a time anyway."""
        session = self.store.session
        if session.get_bind().dialect.name != "postgresql":
            return
        key = int.from_bytes(hashlib.sha256(number.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def number_taken(self, number: str, own_rid: int) -> bool:
        """Whether a current ServiceRequest other than row `own_rid` carries `number`."""
        idx = TokenIndex.__table__
        stmt = select(idx.c.rid).where(
            idx.c.res_type == "ServiceRequest",
            idx.c.name == "identifier",
            idx.c.code == number[:255],  # the index keeps 255 characters
            idx.c.system == REFERRAL_NUMBER,
            idx.c.rid != own_rid,
        )
        rids = sorted(set(self.store.session.execute(stmt).scalars()))
        holders = self.store.by_rids(rids)
        return any(number in referral_numbers(other.content or {}) for other in holders)

    def follow(self, task: dict[str, Any]) -> None:
        """Set the focused ServiceRequest's status to match the Task (a new version)."""
        target = focus_id(task)
        current = self.store.current("ServiceRequest", target) if target else None
        if target is None or current is None or current.deleted or current.content is None:
            return  # sent later in the same transaction, and checked then
        wanted = service_request_status(str(task.get("status")))
        if current.content.get("status") == wanted:
            return
        resource = {**copy.deepcopy(current.content), "status": wanted}
        issues = [i for i in self.validate(resource) if i.is_error]
        if issues:
            raise Unprocessable(
                f"ServiceRequest/{target} cannot follow its Task to '{wanted}'", issues=issues
            )
        written, _ = self.store.update(resource, target)
        self.guard.saw("update", [written], versioned=True)

    def check_service_request(self, stored: Stored) -> None:
        """409 when a ServiceRequest's status contradicts the Task that carries it."""
        status = (stored.content or {}).get("status")
        for task in self.tasks_of(stored.fhir_id):
            content = task.content or {}
            wanted = service_request_status(str(content.get("status")))
            if status != wanted:
                raise WorkflowError(
                    f"ServiceRequest/{stored.fhir_id} is '{status}' but its Task"
                    f" {task.fhir_id} is '{content.get('status')}' (the referral is '{wanted}');"
                    " change the Task, the ServiceRequest follows",
                    expression="ServiceRequest.status",
                )

    def tasks_of(self, service_request_id: str) -> list[Stored]:
        """The current referral Tasks whose focus is this ServiceRequest."""
        idx = ReferenceIndex.__table__
        stmt = select(idx.c.rid).where(
            idx.c.res_type == "Task",
            idx.c.name == "focus",
            idx.c.target_type == "ServiceRequest",
            idx.c.target_id == service_request_id,
        )
        rids = sorted(set(self.store.session.execute(stmt).scalars()))
        return [t for t in self.store.by_rids(rids) if is_referral_task(t.content or {})]

    def held_from(self, old: Stored) -> str | None:
        """The status an on-hold Task was in before it went on hold (None if unknown)."""
        for version in range(old.version - 1, 0, -1):
            try:
                status = self.store.vread(old.res_type, old.fhir_id, version).content or {}
            except Gone:
                return None
            if status.get("status") != "on-hold":
                return str(status.get("status"))
        return None


def is_referral_task(task: dict[str, Any]) -> bool:
    """Whether a Task carries a referral: its focus is a ServiceRequest or it claims the
    referral-task profile."""
    profiles = (task.get("meta") or {}).get("profile") or []
    return focus_id(task) is not None or REFERRAL_TASK in profiles


def referral_numbers(request: dict[str, Any]) -> list[str]:
    """The referral numbers (identifier values of the referral-number system) it carries."""
    identifiers = request.get("identifier")
    if not isinstance(identifiers, list):
        return []
    return [
        str(i["value"])
        for i in identifiers
        if isinstance(i, dict) and i.get("system") == REFERRAL_NUMBER and i.get("value")
    ]


def focus_id(task: dict[str, Any]) -> str | None:
    """The ServiceRequest id in Task.focus, if it names one."""
    focus = task.get("focus")
    ref = focus.get("reference") if isinstance(focus, dict) else None
    if isinstance(ref, str) and ref.startswith("ServiceRequest/"):
        return ref.split("/", 1)[1]
    return None
