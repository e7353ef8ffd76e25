"""The store's referral rules through /fhir, on each backend: a new Task starts `requested`,
a referral is cancelled but never deleted, and referral numbers are unique."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask import Flask

from auth.support import (
    CENTRE_A,
    Door,
    World,
    as_requested,
    bearer,
    bundle,
    count_of,
    entry,
    load_world,
    patient,
    put_entry,
    referral_resources,
    user,
)
from screening.fhir.outcome import Conflict
from screening.referrals.enforce import REFERRAL_NUMBER, DuplicateReferralNumber

TAKEN = "R-2026-KAR-00872"  # the number of Karimi's referral in the world (centre A)
FREE = "R-2026-HRT-00999"
UNKNOWN = "no-such-id-0427"


@pytest.fixture
def world(app: Flask) -> World:
    return load_world(app)


def karimi(res_type: str) -> dict[str, Any]:
    """Karimi's referral resource of this type (to centre A), without id."""
    found = next(r for r in referral_resources("karimi", CENTRE_A) if r["resourceType"] == res_type)
    return {k: v for k, v in found.items() if k != "id"}


def new_task(status: str) -> dict[str, Any]:
    """A new referral Task for Karimi's referral, in `status`."""
    return {**as_requested(karimi("Task")), "status": status}


def new_request(number: str | None) -> dict[str, Any]:
    """A new ServiceRequest like Karimi's referral with this referral number; with none, a
    plain ServiceRequest (the rehab-referral profile requires the number)."""
    request = karimi("ServiceRequest")
    if number is None:
        return {k: v for k, v in request.items() if k not in ("identifier", "meta")}
    return {**request, "identifier": [{"system": REFERRAL_NUMBER, "value": number}]}


def current(app: Flask, res_type: str, fhir_id: str) -> dict[str, Any]:
    status, body, _ = bearer(app).get(f"{res_type}/{fhir_id}")
    assert status == 200, body
    found: dict[str, Any] = body
    return found


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(resource).items() if k != "meta"}


def issue_of(body: Any) -> dict[str, Any]:
    assert body["resourceType"] == "OperationOutcome", body
    found: dict[str, Any] = body["issue"][0]
    return found


def statuses(body: dict[str, Any]) -> list[str]:
    return [e["response"]["status"] for e in body["entry"]]


# ------------------------------------------------------------------------- new Tasks

NOT_A_START = ["received", "accepted", "in-progress", "completed"]


@pytest.mark.parametrize("status", NOT_A_START)
def test_a_new_task_cannot_start_past_requested(app: Flask, world: World, status: str) -> None:
    """POST, PUT-as-create and a transaction entry of a new Task in `status`: 409, no Task."""
    door = bearer(app)
    tasks, patients = count_of(app, "Task"), count_of(app, "Patient")
    sent = {"POST": door.post("Task", new_task(status))}
    sent["PUT"] = door.put(f"Task/{UNKNOWN}", {**new_task(status), "id": UNKNOWN})
    together = bundle(
        "transaction", entry("POST", "Patient", patient()), entry("POST", "Task", new_task(status))
    )
    sent["transaction"] = door.post("", together)
    for how, (code, body, _) in sent.items():
        assert code == 409, (how, body)
        issue = issue_of(body)
        assert issue["code"] == "business-rule" and issue["expression"] == ["Task.status"]
        assert f"cannot start as '{status}': it starts as 'requested'" in issue["diagnostics"]
    assert (count_of(app, "Task"), count_of(app, "Patient")) == (tasks, patients)
    assert door.get(f"Task/{UNKNOWN}")[0] == 404


def test_a_new_task_starts_requested_by_any_route(app: Flask, world: World) -> None:
    """The same three routes with `requested` store the Task (the refusals are the status)."""
    door = bearer(app)
    tasks = count_of(app, "Task")
    assert door.post("Task", new_task("requested"))[0] == 201
    assert door.put(f"Task/{UNKNOWN}", {**new_task("requested"), "id": UNKNOWN})[0] == 201
    together = bundle("transaction", entry("POST", "Task", new_task("requested")))
    assert door.post("", together)[0] == 200
    assert count_of(app, "Task") == tasks + 3


def test_the_centre_cannot_enter_an_accepted_referral_either(app: Flask, world: World) -> None:
    """The receiving centre's own client creates `requested` and then accepts, step by step."""
    centre = bearer(app, organization=CENTRE_A)
    status, body, _ = centre.post("Task", new_task("accepted"))
    assert status == 409, body
    status, body, _ = centre.post("Task", new_task("requested"))
    assert status == 201, body
    assert centre.put(f"Task/{body['id']}", {**body, "status": "accepted"})[0] == 200


# ------------------------------------------------------------------------- no deletes

DOORS = {  # door -> its answer to a DELETE of the referral's ServiceRequest
    "full-client": 409,
    "clinician": 409,
    "centre-client": 409,
    "centre-staff": 403,  # centre staff write Tasks only
}


def door_of(app: Flask, name: str) -> Door:
    if name == "full-client":
        return bearer(app)
    if name == "centre-client":
        return bearer(app, organization=CENTRE_A)
    return user(app, name, CENTRE_A if name == "centre-staff" else None)


def assert_cancel_instead(body: Any) -> None:
    issue = issue_of(body)
    assert issue["code"] == "business-rule", body
    assert "not deleted" in issue["diagnostics"] and "statusReason" in issue["diagnostics"]
    assert "'cancelled'" in issue["diagnostics"]


@pytest.mark.parametrize("name", DOORS)
def test_nobody_deletes_a_referral(app: Flask, world: World, name: str) -> None:
    """DELETE, conditional DELETE, transaction and batch entries of the referral's Task and
    ServiceRequest: 409 (403 without the right), and both stay as they were."""
    door = door_of(app, name)
    a = world.a
    before = current(app, "Task", a.task), current(app, "ServiceRequest", a.service_request)
    status, body, _ = door.delete(f"Task/{a.task}")
    assert status == 409, body
    assert_cancel_instead(body)
    assert door.delete(f"Task?_id={a.task}")[0] == 409
    status, body, _ = door.delete(f"ServiceRequest/{a.service_request}")
    assert status == DOORS[name], body
    gone = bundle("transaction", entry("DELETE", f"Task/{a.task}"))
    status, body, _ = door.post("", gone)
    assert status == 409 and issue_of(body)["diagnostics"].startswith("Bundle.entry[0]: ")
    both = bundle(
        "batch",
        entry("DELETE", f"Task/{a.task}"),
        entry("DELETE", f"ServiceRequest/{a.service_request}"),
        entry("GET", f"Task/{a.task}"),
    )
    status, body, _ = door.post("", both)
    assert status == 200, body
    assert statuses(body)[0] == "409 Conflict" and statuses(body)[2] == "200 OK"
    assert statuses(body)[1].startswith(str(DOORS[name]))
    after = current(app, "Task", a.task), current(app, "ServiceRequest", a.service_request)
    assert after == before


def test_a_refused_delete_rolls_the_transaction_back(app: Flask, world: World) -> None:
    """A good Patient change and the DELETE of a referral in one transaction: neither."""
    door = bearer(app)
    karimi_now = current(app, "Patient", world.a.patient)
    renamed = without_meta(karimi_now)
    renamed["name"][0]["family"] = "Changed"
    for target in (f"Task/{world.a.task}", f"ServiceRequest/{world.a.service_request}"):
        sent = bundle("transaction", put_entry(renamed), entry("DELETE", target))
        status, body, _ = door.post("", sent)
        assert status == 409, body
        assert_cancel_instead(body)
        assert current(app, "Patient", world.a.patient) == karimi_now


def test_another_centres_referral_is_unknown_not_undeletable(app: Flask, world: World) -> None:
    """Centre A deleting B's Task or ServiceRequest gets the 404 of an unknown id, not 409."""
    door = bearer(app, organization=CENTRE_A)
    for res_type, fhir_id in (("Task", world.b.task), ("ServiceRequest", world.b.service_request)):
        hidden = door.delete(f"{res_type}/{fhir_id}")
        unknown = door.delete(f"{res_type}/{UNKNOWN}")
        assert (hidden[0], unknown[0]) == (404, 404), hidden[1]
        assert json.dumps(hidden[1]).replace(fhir_id, UNKNOWN) == json.dumps(unknown[1])
        batch = bundle("batch", entry("DELETE", f"{res_type}/{fhir_id}"))
        assert statuses(door.post("", batch)[1]) == ["404 Not Found"]
        assert door.delete(f"{res_type}?_id={fhir_id}")[0] == 204  # matches nothing it sees
    assert current(app, "Task", world.b.task)["meta"]["versionId"] == "2"


def test_what_makes_a_service_request_a_referral(app: Flask, world: World) -> None:
    """A referral number or a referral Task make a ServiceRequest undeletable; without either
    it is deleted as before, and so is a Task that carries no referral."""
    door = bearer(app)
    numbered = door.create(new_request(FREE))["id"]
    tasked = door.create(new_request(None))["id"]
    task = {**new_task("requested"), "focus": {"reference": f"ServiceRequest/{tasked}"}}
    door.create(task)
    plain = door.create(new_request(None))["id"]
    other = door.create({"resourceType": "Task", "status": "requested", "intent": "order"})["id"]
    assert door.delete(f"ServiceRequest/{numbered}")[0] == 409
    assert door.delete(f"ServiceRequest/{tasked}")[0] == 409
    assert door.delete(f"ServiceRequest/{plain}")[0] == 204
    assert door.delete(f"Task/{other}")[0] == 204


def test_a_referral_is_cancelled_instead(app: Flask, world: World) -> None:
    """What the 409 asks for works: the referrer cancels the Task with a reason."""
    task = without_meta(current(app, "Task", world.a.task))
    cancelled = {**task, "status": "cancelled", "statusReason": {"text": "Sent by mistake"}}
    assert bearer(app).put(f"Task/{world.a.task}", cancelled)[0] == 200
    request = current(app, "ServiceRequest", world.a.service_request)
    assert request["status"] == "revoked"
    assert bearer(app).delete(f"Task/{world.a.task}")[0] == 409  # cancelled, still kept


# ------------------------------------------------------------------------- numbers


def assert_duplicate(body: Any, number: str) -> None:
    issue = issue_of(body)
    assert issue["code"] == "duplicate", body
    assert issue["expression"] == ["ServiceRequest.identifier"]
    assert f"'{number}'" in issue["diagnostics"]


def test_the_duplicate_error_is_a_conflict() -> None:
    """Callers that draw numbers again catch Conflict with code `duplicate`."""
    error = DuplicateReferralNumber("taken")
    assert isinstance(error, Conflict) and (error.status, error.code) == (409, "duplicate")


def test_a_taken_number_cannot_be_posted(app: Flask, world: World) -> None:
    door = bearer(app)
    requests = count_of(app, "ServiceRequest")
    status, body, _ = door.post("ServiceRequest", new_request(TAKEN))
    assert status == 409, body
    assert_duplicate(body, TAKEN)
    assert "example-referral-karimi" not in json.dumps(body)  # the holder is not named
    assert count_of(app, "ServiceRequest") == requests
    elsewhere = new_request(None) | {"identifier": [{"system": "urn:other", "value": TAKEN}]}
    status, body, _ = door.post("ServiceRequest", elsewhere)
    assert status == 201, body  # the same value in another system is no referral number
    assert door.post("ServiceRequest", new_request(FREE))[0] == 201


def test_a_taken_number_cannot_be_put_on_another_id(app: Flask, world: World) -> None:
    """PUT-as-create, PUT and PATCH of another ServiceRequest with a taken number: 409."""
    door = bearer(app)
    status, body, _ = door.put(f"ServiceRequest/{UNKNOWN}", {**new_request(TAKEN), "id": UNKNOWN})
    assert status == 409, body
    assert_duplicate(body, TAKEN)
    assert door.get(f"ServiceRequest/{UNKNOWN}")[0] == 404
    noori = current(app, "ServiceRequest", world.b.service_request)
    renumbered = without_meta(noori)
    renumbered["identifier"][0]["value"] = TAKEN
    status, body, _ = door.put(f"ServiceRequest/{world.b.service_request}", renumbered)
    assert status == 409, body
    ops = [{"op": "replace", "path": "/identifier/0/value", "value": TAKEN}]
    status, body, _ = door.patch(f"ServiceRequest/{world.b.service_request}", ops)
    assert status == 409, body
    assert_duplicate(body, TAKEN)
    assert current(app, "ServiceRequest", world.b.service_request) == noori


def test_two_requests_with_one_number_in_one_transaction(app: Flask, world: World) -> None:
    """The first entry's index rows are written before the second entry is checked: 409 and
    neither stored; in a batch the second entry alone is refused."""
    door = bearer(app)
    requests = count_of(app, "ServiceRequest")
    twice = [entry("POST", "ServiceRequest", new_request(FREE)) for _ in range(2)]
    status, body, _ = door.post("", bundle("transaction", *twice))
    assert status == 409, body
    assert_duplicate(body, FREE)
    assert issue_of(body)["diagnostics"].startswith("Bundle.entry[1]: ")
    assert count_of(app, "ServiceRequest") == requests
    status, body, _ = door.get(f"ServiceRequest?identifier={REFERRAL_NUMBER}|{FREE}")
    assert body["total"] == 0
    status, body, _ = door.post("", bundle("batch", *twice))
    assert statuses(body)[0].startswith("201") and statuses(body)[1] == "409 Conflict"
    assert count_of(app, "ServiceRequest") == requests + 1


def test_two_numbers_in_one_transaction_are_fine(app: Flask, world: World) -> None:
    door = bearer(app)
    numbers = (FREE, "R-2026-HRT-00998")
    sent = bundle(
        "transaction", *(entry("POST", "ServiceRequest", new_request(n)) for n in numbers)
    )
    status, body, _ = door.post("", sent)
    assert status == 200, body
    for number in numbers:
        status, found, _ = door.get(f"ServiceRequest?identifier={REFERRAL_NUMBER}|{number}")
        assert found["total"] == 1, number


def test_an_update_keeping_its_number_is_fine(app: Flask, world: World) -> None:
    """PUT, PATCH and a transaction PUT of Karimi's referral with its own number: 200."""
    door = bearer(app)
    path = f"ServiceRequest/{world.a.service_request}"
    request = {**without_meta(current(app, "ServiceRequest", world.a.service_request))}
    assert request["identifier"][0]["value"] == TAKEN
    status, body, _ = door.put(path, {**request, "priority": "urgent"})
    assert status == 200, body
    ops = [{"op": "replace", "path": "/priority", "value": "asap"}]
    assert door.patch(path, ops)[0] == 200
    status, body, _ = door.post("", bundle("transaction", entry("PUT", path, request)))
    assert status == 200, body
    assert current(app, "ServiceRequest", world.a.service_request)["meta"]["versionId"] == "4"


def test_two_requests_with_one_number_at_the_same_moment(app: Flask, world: World) -> None:
    """Two systems write the same new number at once: one wins, the other gets 409
    (PostgreSQL serialises them on a lock of the number; SQLite has one writer)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from screening.api.door import perform
    from screening.api.messages import FhirRequest
    from screening.auth.principal import operator

    state = app.extensions["screening"]
    for attempt in range(4):
        number = f"R-2026-HRT-0{attempt}555"
        barrier = Barrier(2)

        def write(_: int, number: str = number, barrier: Barrier = barrier) -> int:
            barrier.wait()
            req = FhirRequest("POST", "ServiceRequest", body=new_request(number))
            try:
                return perform(state, operator("t"), req, "http://t/fhir").status
            except Conflict as error:
                return error.status

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(write, range(2)))
        assert outcomes == [201, 409], (number, outcomes)
