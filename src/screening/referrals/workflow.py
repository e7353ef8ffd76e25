"""The referral workflow: which Task.status steps exist, and which side may take each.

Pure rules (no Flask, no database); `screening.referrals.enforce` applies them to every
write that reaches the store. The table, one row per step:

| from                                         | to                      | side     |
|----------------------------------------------|-------------------------|----------|
| requested                                    | received                | receiver |
| requested, received                          | accepted, rejected      | receiver |
| accepted                                     | in-progress             | receiver |
| in-progress                                  | completed               | receiver |
| accepted, in-progress                        | on-hold                 | receiver |
| on-hold                                      | the state it left       | receiver |
| requested, received, accepted, in-progress,  | failed                  | receiver |
| on-hold                                      |                         |          |
| the same open states                         | cancelled               | referrer |

The referrer withdraws (cancels); everything else is the receiving centre's to do,
holding included (a pause of the centre's work, e.g. a patient who cannot travel). No step
leaves completed, rejected, cancelled or failed (ended), and no step leads to
entered-in-error (a record sent by mistake is cancelled with a reason). statusReason is
required for rejected, cancelled and failed (the profile's invariant rt-1) and, as a
service rule on top of the profile, for on-hold.

A new Task starts as `requested` (STARTS), recorded by either side, and nowhere else: the
receiving centre must itself accept each referral, so a referral entered from a paper
register is created `requested` and then moved on by the centre, step by step, like any
other. A referral is never deleted; it is cancelled with a reason (`referrals.enforce`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from screening.auth.principal import Kind, Principal
from screening.auth.roles import Role
from screening.fhir.outcome import FhirError


class Side(StrEnum):
    """Who takes a step: the referring side or the receiving centre."""

    REFERRER = "referrer"
    RECEIVER = "receiver"


OPEN = frozenset({"requested", "received", "accepted", "in-progress", "on-hold"})
ENDED = frozenset({"completed", "rejected", "cancelled", "failed"})
HOLDABLE = frozenset({"accepted", "in-progress"})
STARTS = frozenset({"requested"})
REASON_REQUIRED = frozenset({"rejected", "cancelled", "failed", "on-hold"})

R, C = Side.REFERRER, Side.RECEIVER
TRANSITIONS: dict[tuple[str, str], Side] = {
    ("requested", "received"): C,
    ("requested", "accepted"): C,
    ("requested", "rejected"): C,
    ("received", "accepted"): C,
    ("received", "rejected"): C,
    ("accepted", "in-progress"): C,
    ("in-progress", "completed"): C,
    ("accepted", "on-hold"): C,
    ("in-progress", "on-hold"): C,
    ("on-hold", "accepted"): C,  # only when the hold began in accepted
    ("on-hold", "in-progress"): C,  # only when the hold began in in-progress
    **{(state, "failed"): C for state in OPEN},
    **{(state, "cancelled"): R for state in OPEN},
}

SERVICE_REQUEST_STATUS = {
    "requested": "active",
    "received": "active",
    "accepted": "active",
    "in-progress": "active",
    "on-hold": "on-hold",
    "completed": "completed",
    "rejected": "revoked",
    "cancelled": "revoked",
    "failed": "revoked",
    "entered-in-error": "entered-in-error",
}


class WorkflowError(FhirError):
    """A step the referral workflow does not allow, or taken by the wrong side (409)."""

    status = 409
    code = "business-rule"

    def __init__(self, diagnostics: str, *, expression: str | None = "Task.status") -> None:
        super().__init__(diagnostics, expression=expression)


class MissingReason(WorkflowError):
    """A status that needs a statusReason without one (422)."""

    status = 422
    code = "required"

    def __init__(self, diagnostics: str, *, expression: str | None = "Task.statusReason") -> None:
        super().__init__(diagnostics, expression=expression)


def check_transition(
    old_task: dict[str, Any] | None,
    new_task: dict[str, Any],
    side: Side | None,
    *,
    held_from: str | None = None,
) -> None:
    """Raise WorkflowError unless `side` may write `new_task` over `old_task` (None: a new
    Task). `held_from` is the status an on-hold Task left, when known."""
    new = str(new_task.get("status"))
    _check_reason(new_task, new)
    if old_task is None:
        if new not in STARTS:
            raise WorkflowError(
                f"A new referral Task cannot start as '{new}': it starts as 'requested'"
                " and the receiving centre moves it on"
            )
        if side is None:
            raise WorkflowError("Only the referring side or the receiving centre may record it")
        return
    old = str(old_task.get("status"))
    if old == new:
        return
    allowed = TRANSITIONS.get((old, new))
    if allowed is None:
        raise WorkflowError(f"A referral Task cannot go from '{old}' to '{new}'")
    if _returns_elsewhere(old, new, held_from):
        raise WorkflowError(f"This Task was put on hold from '{held_from}'; it returns there")
    if side is not allowed:
        who = "the receiving centre" if allowed is Side.RECEIVER else "the referring side"
        raise WorkflowError(f"Only {who} may move a referral Task from '{old}' to '{new}'")


def next_steps(status: str, side: Side | None, held_from: str | None = None) -> list[str]:
    """The statuses `side` may move a Task in `status` to, as `check_transition` allows."""
    return [
        new
        for (old, new), who in TRANSITIONS.items()
        if old == status and who is side and not _returns_elsewhere(old, new, held_from)
    ]


def _returns_elsewhere(old: str, new: str, held_from: str | None) -> bool:
    """Whether a Task on hold would resume in another state than the one it was held from
    (it may always end: fail or be withdrawn)."""
    return old == "on-hold" and new in HOLDABLE and held_from is not None and new != held_from


def _check_reason(task: dict[str, Any], status: str) -> None:
    """422 when a status that needs a reason has none (statusReason text or coding)."""
    if status not in REASON_REQUIRED:
        return
    reason = task.get("statusReason")
    if not isinstance(reason, dict) or not (reason.get("text") or reason.get("coding")):
        raise MissingReason(f"A referral Task that is '{status}' needs a statusReason")


def side_of(principal: Principal, task: dict[str, Any]) -> Side | None:
    """The side `principal` acts for on `task`: the centre the Task is owned by (centre staff
    and centre-bound clients of that centre), or the referrer (clinicians and clients not
    bound to a centre); a command-line process acting for a centre (the import of a letter)
    acts as that centre; None for anyone else (another centre, operators, other roles)."""
    centre = principal.centre
    if centre is None and principal.kind is Kind.CLI:
        centre = principal.organization
    if centre is not None:
        return Side.RECEIVER if owner_centre(task) == centre else None
    if principal.kind is Kind.CLIENT:
        return Side.REFERRER
    if principal.kind is Kind.USER and principal.role is Role.CLINICIAN:
        return Side.REFERRER
    return None


def owner_centre(task: dict[str, Any]) -> str | None:
    """The Organization id in Task.owner, if it names one."""
    owner = task.get("owner")
    ref = owner.get("reference") if isinstance(owner, dict) else None
    if isinstance(ref, str) and ref.startswith("Organization/"):
        return ref.split("/", 1)[1]
    return None


def service_request_status(task_status: str) -> str:
    """The ServiceRequest.status that goes with a referral Task's status."""
    try:
        return SERVICE_REQUEST_STATUS[task_status]
    except KeyError:
        raise WorkflowError(f"'{task_status}' is not a referral Task status") from None
