"""What each role may read and write through /fhir with the pages' session cookie, and the
CSRF rule for cookie requests that change anything."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask

from auth.support import (
    CENTRE_A,
    PATCH_JSON,
    Door,
    as_requested,
    bearer,
    bundle,
    cookie_door,
    count_of,
    entry,
    example,
    ids_in,
    make_user,
    patient,
    put_entry,
)
from screening.auth.models import UserAccount
from screening.auth.service import sign_out, update_user
from screening.boundary import unit_of_work
from screening.referrals.enforce import REFERRAL_NUMBER

KARIMI = "Patient/example-ahmad-karimi"
SCREENING = {"Patient", "Observation", "Condition", "Encounter", "Consent", "RelatedPerson"}
REFERRALS = {"ServiceRequest", "Task"}
CLINICAL = SCREENING | REFERRALS | {"Procedure"}
DIRECTORY = {"Organization", "Location", "Practitioner", "PractitionerRole"}
CONFORMANCE = {"StructureDefinition"}
SEEN_BY_ALL = DIRECTORY | CONFORMANCE

# The README's matrix: what each role may read (search) and write (create, update, delete).
READS = {
    "screener": CLINICAL | SEEN_BY_ALL,
    "clinician": CLINICAL | SEEN_BY_ALL,
    "centre-staff": CLINICAL | SEEN_BY_ALL,
    "administrator": SEEN_BY_ALL,
    "auditor": SEEN_BY_ALL | {"AuditEvent"},
}
WRITES = {
    "screener": SCREENING,
    "clinician": CLINICAL,
    "centre-staff": {"Task"},
    "administrator": DIRECTORY,
    "auditor": set(),
}
ORGANIZATION = {"centre-staff": CENTRE_A}


def samples() -> dict[str, dict[str, Any]]:
    """One valid resource of each type under test (IG examples where there are some; the
    referral Task `requested`, as a new one starts)."""
    found = {
        r["resourceType"]: r
        for r in map(
            example,
            (
                "Patient-example-ahmad-karimi",
                "Observation-example-tug-karimi",
                "Condition-example-limb-absence-karimi",
                "Encounter-example-screening-karimi",
                "Consent-example-consent-karimi",
                "ServiceRequest-example-referral-karimi",
                "Task-example-referral-task-karimi",
                "Organization-example-herat-centre",
                "Location-example-village-deh-e-naw",
                "Practitioner-example-zahra-ahmadi",
            ),
        )
    }
    found["Task"] = as_requested(found["Task"])
    subject = {"reference": KARIMI}
    found["RelatedPerson"] = {"resourceType": "RelatedPerson", "id": "rp-1", "patient": subject}
    found["Procedure"] = {
        "resourceType": "Procedure",
        "id": "proc-1",
        "status": "completed",
        "subject": subject,
    }
    found["PractitionerRole"] = {"resourceType": "PractitionerRole", "id": "pr-1", "active": True}
    return found


def store_samples(app: Flask) -> dict[str, dict[str, Any]]:
    """The samples, stored by a full-scope client; returns them as stored."""
    resources = samples()
    status, body, _ = bearer(app).post(
        "", bundle("transaction", *map(put_entry, resources.values()))
    )
    assert status == 200, body
    return {r["resourceType"]: r for r in resources.values()}


def fresh_copy(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy to POST as another resource: no id, and a referral number of its own."""
    fresh = {k: v for k, v in copy.deepcopy(resource).items() if k != "id"}
    for identifier in fresh.get("identifier", []):
        if identifier.get("system") == REFERRAL_NUMBER:
            identifier["value"] = "R-2026-HRT-00872"
    return fresh


def version(app: Flask, res_type: str, fhir_id: str) -> str | None:
    """The current versionId (None when deleted or unknown)."""
    status, body, _ = bearer(app).get(f"{res_type}/{fhir_id}")
    return body["meta"]["versionId"] if status == 200 else None


def role_door(app: Flask, role: str) -> Door:
    _, token, csrf = make_user(app, role, ORGANIZATION.get(role))
    return cookie_door(app, token, csrf)


ROLES = list(READS)


@pytest.mark.parametrize("role", ROLES)
def test_role_reads(app: Flask, role: str) -> None:
    """Each role may search and read exactly the types of its row of the matrix."""
    stored = store_samples(app)
    bearer(app).get(KARIMI)  # leaves an AuditEvent to find
    door = role_door(app, role)
    for res_type in sorted(CLINICAL | SEEN_BY_ALL | {"AuditEvent"}):
        status, body, _ = door.get(f"{res_type}?_count=1")
        allowed = res_type in READS[role]
        assert status == (200 if allowed else 403), (res_type, body)
        if not allowed:
            assert body["issue"][0]["code"] == "forbidden"
        if res_type in stored:
            status, body, _ = door.get(f"{res_type}/{stored[res_type]['id']}")
            shared = role != "centre-staff" or res_type not in {"RelatedPerson", "Procedure"}
            expected = (200 if shared else 404) if allowed else 403
            assert status == expected, (res_type, body)


@pytest.mark.parametrize("role", ROLES)
def test_role_writes(app: Flask, role: str) -> None:
    """Each role creates, updates, deletes exactly its row's types; refusals change nothing.
    A referral (ServiceRequest, Task) is not deleted even by a role that writes it: 409."""
    stored = store_samples(app)
    door = role_door(app, role)
    for res_type, resource in sorted(stored.items()):
        allowed = res_type in WRITES[role]
        refused = 403 if res_type != "AuditEvent" else 405
        before = count_of(app, res_type)
        status, body, _ = door.post(res_type, fresh_copy(resource))
        assert status == (201 if allowed else refused), ("POST", res_type, body)
        assert count_of(app, res_type) == before + (1 if allowed else 0)
        path = f"{res_type}/{resource['id']}"
        status, body, _ = door.put(path, resource)
        assert status == (200 if allowed else refused), ("PUT", res_type, body)
        kept = res_type in REFERRALS
        status, body, _ = door.delete(path)
        deleted = 409 if kept else 204
        assert status == (deleted if allowed else refused), ("DELETE", res_type, body)
        left = ("2" if kept else None) if allowed else "1"
        assert version(app, res_type, resource["id"]) == left
    for res_type in ("StructureDefinition", "AuditEvent"):
        status, body, _ = door.post(res_type, {"resourceType": res_type})
        assert status == (405 if res_type == "AuditEvent" else 403), (res_type, body)


def test_screener_writes_screening_data_not_referrals(app: Flask) -> None:
    """A screener records a Patient and an Observation, but cannot refer (ServiceRequest)."""
    door = role_door(app, "screener")
    stored = samples()
    assert door.post("Patient", patient("Noori"))[0] == 201
    obs = {k: v for k, v in stored["Observation"].items() if k != "id"}
    assert door.post("Observation", obs)[0] == 201
    referral = {k: v for k, v in stored["ServiceRequest"].items() if k != "id"}
    assert door.post("ServiceRequest", referral)[0] == 403
    assert count_of(app, "ServiceRequest") == 0


def test_clinician_refers(app: Flask) -> None:
    """A clinician writes the referral and its Task."""
    door = role_door(app, "clinician")
    for res_type in ("ServiceRequest", "Task"):
        status, body, _ = door.put(f"{res_type}/{samples()[res_type]['id']}", samples()[res_type])
        assert status == 201, body


def test_administrator_keeps_the_directory_without_patient_data(app: Flask) -> None:
    """An administrator writes Organizations but reads no Patient, by any path."""
    store_samples(app)
    door = role_door(app, "administrator")
    org = {**samples()["Organization"], "id": "example-kabul-centre", "name": "Kabul centre"}
    assert door.put("Organization/example-kabul-centre", org)[0] == 201
    for path in (KARIMI, f"{KARIMI}/_history", "Patient?name=Karimi", "Patient/_history"):
        assert door.get(path)[0] == 403, path
    status, body, _ = door.get("Organization?_revinclude=ServiceRequest:performer")
    assert status == 200 and not any(i.startswith("ServiceRequest/") for i in ids_in(body))
    status, body, _ = door.get("_history?_count=100")
    types = {i.split("/")[0] for i in ids_in(body)}
    assert "Organization" in types and not types & (CLINICAL | {"AuditEvent"})


def test_centre_staff_see_only_granted_and_write_only_their_tasks(app: Flask) -> None:
    """Centre staff find only what A's referral shares, and may update A's Task only."""
    stored = store_samples(app)
    full = bearer(app)
    other = full.create(patient("Noori"))
    door = role_door(app, "centre-staff")
    status, body, _ = door.get("Patient")
    assert status == 200 and ids_in(body) == {KARIMI}
    assert door.get(f"Patient/{other['id']}")[0] == 404
    task = stored["Task"]
    assert door.put(f"Task/{task['id']}", {**task, "status": "accepted"})[0] == 200
    referral = stored["ServiceRequest"]
    assert door.put(f"ServiceRequest/{referral['id']}", referral)[0] == 403
    assert door.put(KARIMI, stored["Patient"])[0] == 403


# ------------------------------------------------------------------------- CSRF


def cookie_writes(pid: str) -> list[tuple[str, str, Any, str]]:
    """(method, path, body, content type) of every kind of write."""
    changed = {**patient("Changed"), "id": pid}
    json_type = "application/fhir+json"
    return [
        ("POST", "Patient", patient("Noori"), json_type),
        ("PUT", f"Patient/{pid}", changed, json_type),
        ("PUT", f"Patient?_id={pid}", changed, json_type),
        ("PATCH", f"Patient/{pid}", [{"op": "add", "path": "/active", "value": False}], PATCH_JSON),
        ("DELETE", f"Patient/{pid}", None, json_type),
        ("DELETE", f"Patient?_id={pid}", None, json_type),
        ("POST", "", bundle("transaction", entry("POST", "Patient", patient())), json_type),
        ("POST", "", bundle("batch", entry("POST", "Patient", patient())), json_type),
    ]


@pytest.mark.parametrize("csrf", ["missing", "wrong", "another-session", "empty"])
def test_cookie_writes_need_the_csrf_token(app: Flask, csrf: str) -> None:
    """A cookie write without the session's X-CSRF-Token: 403 OperationOutcome, none stored."""
    pid = bearer(app).create(patient("Karimi"))["id"]
    _, token, right = make_user(app, "clinician")
    given = {
        "missing": None,
        "wrong": right[:-4] + "AAAA",
        "another-session": make_user(app, "clinician")[2],
        "empty": "",
    }[csrf]
    door = cookie_door(app, token, given)
    patients = count_of(app, "Patient")
    for method, path, body, kind in cookie_writes(pid):
        status, answer, _ = door.request(method, path, body, content_type=kind)
        assert status == 403, (method, path, answer)
        assert answer["resourceType"] == "OperationOutcome"
        assert answer["issue"][0]["code"] == "forbidden"
    assert count_of(app, "Patient") == patients
    assert version(app, "Patient", pid) == "1"
    assert door.get(f"Patient/{pid}")[0] == 200  # reads need no CSRF token


def test_cookie_writes_with_the_csrf_token_work(app: Flask) -> None:
    """With the right X-CSRF-Token the same writes succeed."""
    pid = bearer(app).create(patient("Karimi"))["id"]
    _, token, csrf = make_user(app, "clinician")
    door = cookie_door(app, token, csrf)
    for method, path, body, kind in cookie_writes(pid):
        status, answer, _ = door.request(method, path, body, content_type=kind)
        assert status < 300, (method, path, answer)


def test_cookie_of_an_ended_session_is_refused(app: Flask) -> None:
    """Unknown, ended, deactivated sessions get 401; an Authorization header beats the cookie."""
    state = app.extensions["screening"]
    pid = bearer(app).create(patient("Karimi"))["id"]
    username, token, csrf = make_user(app, "clinician")
    door = cookie_door(app, token, csrf)
    assert door.get(f"Patient/{pid}")[0] == 200
    status, body, headers = door.get(f"Patient/{pid}", headers={"Authorization": "Bearer x"})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert cookie_door(app, "not-a-session", csrf).get(f"Patient/{pid}")[0] == 401
    with unit_of_work(state, write=True) as session:
        sign_out(session, token)
    assert door.get(f"Patient/{pid}")[0] == 401
    _, token, csrf = make_user(app, "clinician")
    with unit_of_work(state, write=True) as session:
        account = session.query(UserAccount).filter(UserAccount.username != username).one()
        update_user(session, account.id, active=False)
    status, body, _ = cookie_door(app, token, csrf).post("Patient", patient())
    assert status == 401 and body["issue"][0]["code"] == "login"
