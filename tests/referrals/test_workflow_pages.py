"""Every step of the referral workflow through the pages, as through the API
(tests/referrals/test_workflow_api.py): each allowed step is refused to the other side and
taken by its own; every step the table does not allow is refused to both sides and changes
nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from referrals.test_referral_pages import fetch, refer, referral_id, step
from screening.referrals.workflow import OPEN, REASON_REQUIRED, TRANSITIONS, Side
from web.conftest import Browser, text_of

SignIn = Callable[..., tuple[Browser, Any]]
STATUSES = ("requested", "received", "accepted", "in-progress", "on-hold", "completed",
            "rejected", "cancelled", "failed", "entered-in-error")  # fmt: skip
ROUTE = {  # the centre's steps that bring a new referral to a status
    "requested": (),
    "received": ("received",),
    "accepted": ("accepted",),
    "in-progress": ("accepted", "in-progress"),
    "on-hold": ("accepted", "on-hold"),
}
ALLOWED = sorted(
    (old, new) for old, new in TRANSITIONS if not (old == "on-hold" and new == "in-progress")
)  # the on-hold route above is held from accepted: it returns there


@pytest.fixture
def sides(signed_in: SignIn) -> dict[Side, Browser]:
    return {
        Side.REFERRER: signed_in("clinician")[0],
        Side.RECEIVER: signed_in("centre-staff", organization="her-01")[0],
    }


def fields(status: str) -> dict[str, str]:
    """The step form for a status (with a reason where one is needed)."""
    return {"status": status, **({"reason": "test reason"} if status in REASON_REQUIRED else {})}


def referral_at(sides: dict[Side, Browser], screening_id: str, status: str) -> str:
    """A new physiotherapy referral to HER-01, moved by the centre to `status`."""
    request_id = referral_id(refer(sides[Side.REFERRER], screening_id, service=["physiotherapy"]))
    for next_status in ROUTE[status]:
        taken = step(sides[Side.RECEIVER], request_id, **fields(next_status))
        assert taken.status_code == 303, text_of(taken)[-2000:]
    return request_id


def task_status(app: Flask, request_id: str) -> str:
    return str(fetch(app, "Task", ("focus", f"ServiceRequest/{request_id}"))[0]["status"])


def post_step(person: Browser, request_id: str, status: str) -> int:
    """Send the step form (even for a status the page does not offer)."""
    page = text_of(person.get(f"/referrals/{request_id}"))
    version = re.search(r'name="version" value="(\d+)"', page)
    # a side with nothing to do has no form; its post is refused all the same
    data = {"version": version.group(1) if version else "1", **fields(status)}
    return person.post(f"/referrals/{request_id}/step", data).status_code


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{o}->{n}" for o, n in ALLOWED])
def test_an_allowed_step_is_taken_only_by_its_side(
    web_app: Flask, sides: dict[Side, Browser], screening_id: str, old: str, new: str
) -> None:
    request_id = referral_at(sides, screening_id, old)
    own = TRANSITIONS[(old, new)]
    other = Side.RECEIVER if own is Side.REFERRER else Side.REFERRER
    assert post_step(sides[other], request_id, new) in (409, 422)
    assert task_status(web_app, request_id) == old
    assert post_step(sides[own], request_id, new) == 303
    assert task_status(web_app, request_id) == new
    request = fetch(web_app, "ServiceRequest", ("_id", request_id))[0]
    expected = {"on-hold": "on-hold", "completed": "completed"}.get(new)
    assert request["status"] == (expected or ("revoked" if new not in OPEN else "active"))


@pytest.mark.parametrize("old", sorted(ROUTE))
def test_steps_outside_the_table_are_refused_to_both_sides(
    web_app: Flask, sides: dict[Side, Browser], screening_id: str, old: str
) -> None:
    request_id = referral_at(sides, screening_id, old)
    refused = [s for s in STATUSES if s != old and (old, s) not in TRANSITIONS]
    if old == "on-hold":
        refused.append("in-progress")  # held from accepted, it can only go back there
    for new in refused:
        for side, person in sides.items():
            status = post_step(person, request_id, new)
            assert status in (400, 409, 422), (side, old, new, status)
    assert task_status(web_app, request_id) == old


def test_ended_referrals_take_no_step_but_the_centre_may_add_feedback(
    web_app: Flask, sides: dict[Side, Browser], screening_id: str
) -> None:
    request_id = referral_at(sides, screening_id, "in-progress")
    assert step(sides[Side.RECEIVER], request_id, status="completed").status_code == 303
    referrer = text_of(sides[Side.REFERRER].get(f"/referrals/{request_id}"))
    assert 'name="version"' not in referrer  # nothing left to do
    centre = text_of(sides[Side.RECEIVER].get(f"/referrals/{request_id}"))
    assert re.findall(r'name="status" value="([^"]+)"', centre) == ["completed"]  # feedback only
    for person in sides.values():
        for new in STATUSES:
            if new != "completed":
                assert post_step(person, request_id, new) in (400, 409, 422)
    assert task_status(web_app, request_id) == "completed"
    follow_up = "Review at six months: walks 2 km with the prosthesis"
    added = step(sides[Side.RECEIVER], request_id, status="completed", feedback=follow_up)
    assert added.status_code == 303
    assert follow_up in text_of(sides[Side.REFERRER].get(f"/referrals/{request_id}"))
