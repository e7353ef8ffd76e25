"""The referral workflow applied to every write of the FHIR door (single requests, batch and
transaction entries alike): Interactions call `after_write` once a Task or ServiceRequest
version is stored, inside the request's transaction, so a refusal rolls it back whole.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from screening.api.guard import Guard
from screening.fhir.outcome import Gone, Unprocessable
from screening.referrals.workflow import (
    WorkflowError,
    check_transition,
    service_request_status,
    side_of,
)
from screening.store.models import ReferenceIndex
from screening.store.resources import ResourceStore, Stored

REFERRAL_TASK = "https://fhir.rehab-screening.example/StructureDefinition/referral-task"


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
            self.check_service_request(stored)

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


def focus_id(task: dict[str, Any]) -> str | None:
    """The ServiceRequest id in Task.focus, if it names one."""
    focus = task.get("focus")
    ref = focus.get("reference") if isinstance(focus, dict) else None
    if isinstance(ref, str) and ref.startswith("ServiceRequest/"):
        return ref.split("/", 1)[1]
    return None
