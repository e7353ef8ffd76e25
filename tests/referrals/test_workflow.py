"""The referral workflow rules on their own: steps, sides, reasons, ServiceRequest status."""

from __future__ import annotations

from typing import Any

import pytest

from screening.auth.principal import Kind, Principal
from screening.auth.roles import Role
from screening.referrals.workflow import (
    ENDED,
    OPEN,
    STARTS,
    TRANSITIONS,
    Side,
    WorkflowError,
    check_transition,
    service_request_status,
    side_of,
)

REASON = {"text": "Patient moved to another province"}
STATUSES = sorted(OPEN | ENDED | {"entered-in-error"})
CENTRE = "example-herat-centre"


def task(status: str, *, reason: bool = False, owner: str = CENTRE) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "Task",
        "status": status,
        "owner": {"reference": f"Organization/{owner}"},
    }
    if reason:
        found["statusReason"] = REASON
    return found


def refused(old: str | None, new: str, side: Side | None, **kw: Any) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        before = task(old, reason=True) if old else None
        check_transition(before, task(new, reason=True), side, **kw)
    return caught.value


EXPECTED = {
    ("requested", "received"): Side.RECEIVER,
    ("requested", "accepted"): Side.RECEIVER,
    ("requested", "rejected"): Side.RECEIVER,
    ("received", "accepted"): Side.RECEIVER,
    ("received", "rejected"): Side.RECEIVER,
    ("accepted", "in-progress"): Side.RECEIVER,
    ("in-progress", "completed"): Side.RECEIVER,
    ("accepted", "on-hold"): Side.RECEIVER,
    ("in-progress", "on-hold"): Side.RECEIVER,
    ("on-hold", "accepted"): Side.RECEIVER,
    ("on-hold", "in-progress"): Side.RECEIVER,
    **{(s, "failed"): Side.RECEIVER for s in OPEN},
    **{(s, "cancelled"): Side.REFERRER for s in OPEN},
}


def test_the_table_is_the_issue_s() -> None:
    """TRANSITIONS holds exactly the steps of issue 6, each with its side."""
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("step", "side"), sorted(EXPECTED.items()))
def test_every_allowed_step_by_its_side(step: tuple[str, str], side: Side) -> None:
    old, new = step
    check_transition(task(old), task(new, reason=True), side)
    other = Side.REFERRER if side is Side.RECEIVER else Side.RECEIVER
    error = refused(old, new, other)
    assert error.status == 409
    assert error.outcome()["issue"][0]["code"] == "business-rule"
    assert refused(old, new, None).status == 409


@pytest.mark.parametrize(
    "step",
    sorted(
        (old, new)
        for old in STATUSES
        for new in STATUSES
        if old != new and (old, new) not in EXPECTED
    ),
)
def test_every_other_step_is_refused_for_both_sides(step: tuple[str, str]) -> None:
    for side in Side:
        error = refused(*step, side)
        assert error.status == 409
        assert f"cannot go from '{step[0]}' to '{step[1]}'" in error.diagnostics


def test_ended_tasks_stay_ended() -> None:
    for old in ENDED:
        for new in OPEN:
            assert refused(old, new, Side.RECEIVER).status == 409


def test_unchanged_status_is_no_step() -> None:
    """Editing other elements (businessStatus, output) does not move the workflow."""
    for status in STATUSES:
        for side in (Side.REFERRER, Side.RECEIVER, None):
            check_transition(task(status, reason=True), task(status, reason=True), side)


@pytest.mark.parametrize("status", ["rejected", "cancelled", "failed", "on-hold"])
def test_status_reason_required(status: str) -> None:
    old = "accepted"
    side = EXPECTED.get((old, status), Side.RECEIVER)
    with pytest.raises(WorkflowError) as caught:
        check_transition(task(old), task(status), side)
    assert caught.value.status == 422
    assert caught.value.outcome() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "required",
                "diagnostics": f"A referral Task that is '{status}' needs a statusReason",
                "expression": ["Task.statusReason"],
            }
        ],
    }
    coded = {"coding": [{"system": "http://example.org/reasons", "code": "moved"}]}
    if (old, status) in EXPECTED:
        check_transition(task(old), {**task(status), "statusReason": coded}, side)


def test_an_empty_status_reason_is_no_reason() -> None:
    with pytest.raises(WorkflowError):
        empty = {**task("cancelled"), "statusReason": {}}
        check_transition(task("requested"), empty, Side.REFERRER)


def test_hold_returns_to_the_state_it_left() -> None:
    check_transition(task("on-hold"), task("in-progress"), Side.RECEIVER, held_from="in-progress")
    error = refused("on-hold", "accepted", Side.RECEIVER, held_from="in-progress")
    assert "put on hold from 'in-progress'" in error.diagnostics


def test_a_held_referral_can_still_end() -> None:
    """Whatever it was held from, a referral on hold can fail or be withdrawn."""
    reason = {"statusReason": {"text": "moved away"}}
    for held in ("accepted", "in-progress"):
        check_transition(
            task("on-hold"), {**task("failed"), **reason}, Side.RECEIVER, held_from=held
        )
        withdrawn = {**task("cancelled"), **reason}
        check_transition(task("on-hold"), withdrawn, Side.REFERRER, held_from=held)


def test_new_tasks() -> None:
    """A new Task starts as requested, by either side; in no other status (the centre itself
    moves a referral entered from a paper register on)."""
    assert {"requested"} == STARTS
    for side in Side:
        check_transition(None, task("requested"), side)
        for status in sorted(set(STATUSES) - STARTS):
            error = refused(None, status, side)
            assert error.status == 409
            assert error.diagnostics.startswith(f"A new referral Task cannot start as '{status}'")
    assert refused(None, "requested", None).status == 409
    with pytest.raises(WorkflowError) as caught:
        check_transition(None, task("cancelled"), Side.REFERRER)
    assert caught.value.status == 422


def test_sides_of_principals() -> None:
    own = task("requested")
    other = task("requested", owner="example-kabul-centre")
    client = Principal(Kind.CLIENT, "c1", "referrer")
    bound = Principal(Kind.CLIENT, "c2", "centre", organization=CENTRE)
    staff = Principal(Kind.USER, "u1", "staff", role=Role.CENTRE_STAFF, organization=CENTRE)
    lost = Principal(Kind.USER, "u2", "staff", role=Role.CENTRE_STAFF)
    clinician = Principal(Kind.USER, "u3", "doctor", role=Role.CLINICIAN)
    screener = Principal(Kind.USER, "u4", "field", role=Role.SCREENER)
    admin = Principal(Kind.USER, "u5", "admin", role=Role.ADMINISTRATOR)
    operator = Principal(Kind.CLI, "root", "root")
    assert side_of(client, own) is Side.REFERRER
    assert side_of(clinician, own) is Side.REFERRER
    assert side_of(bound, own) is Side.RECEIVER
    assert side_of(staff, own) is Side.RECEIVER
    for nobody in (screener, admin, operator, lost):
        assert side_of(nobody, own) is None
    for principal in (bound, staff):
        assert side_of(principal, other) is None


@pytest.mark.parametrize(
    ("task_status", "request_status"),
    [
        ("requested", "active"),
        ("received", "active"),
        ("accepted", "active"),
        ("in-progress", "active"),
        ("on-hold", "on-hold"),
        ("completed", "completed"),
        ("rejected", "revoked"),
        ("cancelled", "revoked"),
        ("failed", "revoked"),
        ("entered-in-error", "entered-in-error"),
    ],
)
def test_service_request_status(task_status: str, request_status: str) -> None:
    assert service_request_status(task_status) == request_status


def test_unknown_task_status() -> None:
    with pytest.raises(WorkflowError):
        service_request_status("draft")
