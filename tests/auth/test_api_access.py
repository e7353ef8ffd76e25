"""Who may call the FHIR door at all, and what scopes let an API client read and write."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from auth.support import (
    PATCH_JSON,
    Call,
    Door,
    as_requested,
    audit_events,
    bearer,
    bundle,
    count_of,
    entry,
    every_interaction,
    example,
    ids_in,
    patient,
    user,
)
from screening.auth.models import ApiClient
from screening.auth.service import set_client_active
from screening.boundary import unit_of_work

WRITES = {
    "create",
    "update",
    "conditional-update",
    "patch",
    "delete",
    "conditional-delete",
    "transaction",
}
READS = {
    "read",
    "vread",
    "search",
    "search-post",
    "history-instance",
    "history-type",
    "validate-instance",
}


def stored_patient(app: Flask) -> str:
    """The id of a Patient stored by a full-scope client."""
    status, body, _ = bearer(app).post("Patient", patient("Karimi"))
    assert status == 201, body
    pid: str = body["id"]
    return pid


def version_of(app: Flask, res_type: str, fhir_id: str) -> str:
    """The current versionId of a resource, read by a full-scope client."""
    status, body, _ = bearer(app).get(f"{res_type}/{fhir_id}")
    assert status == 200, body
    version: str = body["meta"]["versionId"]
    return version


def assert_outcome(body: Any, code: str) -> None:
    assert isinstance(body, dict) and body["resourceType"] == "OperationOutcome", body
    assert body["issue"][0]["code"] == code, body


def revoked_token(app: Flask) -> str:
    """A token that worked until its client was revoked."""
    door = bearer(app, "system/*.*", name="revoked-his")
    assert door.get("Patient")[0] == 200
    with unit_of_work(app.extensions["screening"], write=True) as session:
        client = session.query(ApiClient).filter_by(name="revoked-his").one()
        set_client_active(session, client.id, False)
    return door.headers["Authorization"]


BAD_CREDENTIALS = {
    "none": None,
    "not-a-token": "Bearer not-a-token",
    "unknown-token": "Bearer scr_" + "A" * 43,
    "basic": "Basic YWRtaW46YWRtaW4=",
    "bearer-without-token": "Bearer ",
    "token-without-scheme": "scr_" + "A" * 43,
    "too-long": "Bearer scr_" + "x" * 400,
}


@pytest.mark.parametrize("credential", [*BAD_CREDENTIALS, "revoked"])
def test_every_interaction_needs_a_valid_token(app: Flask, credential: str) -> None:
    """Without a valid bearer token every interaction answers 401 and changes nothing."""
    pid = stored_patient(app)
    header = revoked_token(app) if credential == "revoked" else BAD_CREDENTIALS[credential]
    door = Door(app, {"Authorization": header} if header is not None else {})
    patients = count_of(app, "Patient")
    for call in every_interaction(pid):
        status, body, headers = call.send(door)
        assert status == 401, (call.name, body)
        assert_outcome(body, "login")
        assert headers["WWW-Authenticate"].startswith("Bearer"), call.name
        if header is not None:
            assert 'error="invalid_token"' in headers["WWW-Authenticate"], call.name
    assert count_of(app, "Patient") == patients
    assert version_of(app, "Patient", pid) == "1"


def test_metadata_stays_public(app: Flask) -> None:
    """The CapabilityStatement needs no token."""
    status, body, _ = Door(app).get("metadata")
    assert status == 200 and body["resourceType"] == "CapabilityStatement"


def test_a_valid_token_opens_the_door(app: Flask) -> None:
    """The same interactions with a full-scope token succeed (the 401s above are the token)."""
    pid = stored_patient(app)
    door = bearer(app)
    for call in every_interaction(pid):
        status, body, _ = call.send(door)
        assert status < 300, (call.name, body)


@pytest.mark.parametrize("scopes", ["system/*.read", "system/*.rs", "system/Patient.read"])
def test_read_only_token_cannot_write(app: Flask, scopes: str) -> None:
    """A read-only client gets 403 for every write interaction and nothing is stored."""
    pid = stored_patient(app)
    door = bearer(app, scopes)
    patients = count_of(app, "Patient")
    for call in every_interaction(pid):
        status, body, _ = call.send(door)
        if call.name in WRITES:
            assert status == 403, (call.name, body)
            assert_outcome(body, "forbidden")
        elif call.name == "batch":
            assert status == 200 and body["entry"][0]["response"]["status"].startswith("200")
        else:
            assert status == 200, (call.name, body)
    status, body, _ = door.post("", bundle("batch", entry("POST", "Patient", patient())))
    assert status == 200 and body["entry"][0]["response"]["status"].startswith("403")
    assert count_of(app, "Patient") == patients
    assert version_of(app, "Patient", pid) == "1"


def test_read_only_token_cannot_create_any_type(app: Flask) -> None:
    """`system/*.read` cannot create a resource of any R4 type (AuditEvent: 405)."""
    door = bearer(app, "system/*.read")
    types = sorted(app.extensions["screening"].fhir.resource_types)
    before = {t: count_of(app, t) for t in ("Patient", "Organization", "Task")}
    for res_type in types:
        status, body, _ = door.post(res_type, {"resourceType": res_type})
        assert status == (405 if res_type == "AuditEvent" else 403), (res_type, body)
        assert body["resourceType"] == "OperationOutcome"
    assert {t: count_of(app, t) for t in before} == before


@pytest.mark.parametrize("scopes", ["system/*.write", "system/Patient.cud", "system/Patient.c"])
def test_write_only_token_cannot_read(app: Flask, scopes: str) -> None:
    """A client without r/s gets 403 for read, vread, searches, history and $validate by id."""
    pid = stored_patient(app)
    door = bearer(app, scopes)
    for call in every_interaction(pid):
        if call.name in READS:
            status, body, _ = call.send(door)
            assert status == 403, (call.name, body)
            assert_outcome(body, "forbidden")
    status, body, _ = door.post("", bundle("batch", entry("GET", f"Patient/{pid}")))
    assert body["entry"][0]["response"]["status"].startswith("403")
    status, body, _ = door.get("_history")
    assert status == 200 and body["total"] == 0 and not body["entry"]


@pytest.mark.parametrize("scopes", ["system/Patient.write", "system/Patient.c"])
def test_write_only_token_can_create(app: Flask, scopes: str) -> None:
    """A client with only the create scope of a type can create resources of that type."""
    status, body, _ = bearer(app, scopes).post("Patient", patient("Noori"))
    assert status == 201, body


def test_write_only_token_can_update_and_delete(app: Flask) -> None:
    """`system/Patient.write` can update and delete an existing Patient."""
    pid = stored_patient(app)
    door = bearer(app, "system/Patient.write")
    changed = {"resourceType": "Patient", "id": pid, "name": [{"family": "Noori"}]}
    assert door.put(f"Patient/{pid}", changed)[0] == 200
    assert door.delete(f"Patient/{pid}")[0] == 204


def store_referral(app: Flask) -> dict[str, str]:
    """Karimi's ServiceRequest and Task (with Patient and Organization) by a full client; the
    Task `requested`, as every new referral Task starts."""
    names = (
        "Organization-example-herat-centre",
        "Patient-example-ahmad-karimi",
        "ServiceRequest-example-referral-karimi",
        "Task-example-referral-task-karimi",
    )
    resources = [example(name) for name in names]
    resources[-1] = as_requested(resources[-1])
    entries = [entry("PUT", f"{r['resourceType']}/{r['id']}", r) for r in resources]
    status, body, _ = bearer(app).post("", bundle("transaction", *entries))
    assert status == 200, body
    return {r["resourceType"]: r["id"] for r in resources}


def test_scope_on_one_type_does_not_reach_another(app: Flask) -> None:
    """`system/Task.rs` reads Tasks only: other types answer 403 by every read path."""
    ids = store_referral(app)
    door = bearer(app, "system/Task.rs")
    assert door.get(f"Task/{ids['Task']}")[0] == 200
    sr, pid = ids["ServiceRequest"], ids["Patient"]
    for path in (
        f"ServiceRequest/{sr}",
        f"ServiceRequest/{sr}/_history/1",
        f"ServiceRequest/{sr}/_history",
        f"ServiceRequest/{sr}/$validate",
        "ServiceRequest/_history",
        f"Patient?_id={pid}",
        "Organization",
    ):
        status, body, _ = door.get(path)
        assert status == 403, (path, body)
    status, body, _ = door.form("Patient/_search", f"_id={pid}")
    assert status == 403, body
    status, body, _ = door.post("", bundle("batch", entry("GET", f"Patient/{pid}")))
    assert body["entry"][0]["response"]["status"].startswith("403")


INCLUDES = {
    "Task?_include=Task:focus": {"ServiceRequest"},
    "Task?_include=Task:patient&_include=Task:owner": {"Patient", "Organization"},
    "Task?_include=Task:*": {"ServiceRequest", "Patient", "Organization"},
    "Task?_include=Task:subject&_include=Task:requester": {"Patient"},
}


@pytest.mark.parametrize("query", INCLUDES)
def test_include_never_returns_an_unreadable_type(app: Flask, query: str) -> None:
    """`_include` of types the client may not read is accepted but returns none of them."""
    ids = store_referral(app)
    status, body, _ = bearer(app, "system/Task.rs").get(query)
    assert status == 200, body
    assert ids_in(body) == {f"Task/{ids['Task']}"}
    status, body, _ = bearer(app).get(query)  # the include itself works
    assert ids_in(body) == {f"Task/{ids['Task']}"} | {f"{t}/{ids[t]}" for t in INCLUDES[query]}


def test_revinclude_never_returns_an_unreadable_type(app: Flask) -> None:
    """`_revinclude` of Tasks and ServiceRequests by a Patient-only client returns neither."""
    ids = store_referral(app)
    query = f"Patient?_id={ids['Patient']}&_revinclude=Task:patient"
    query += "&_revinclude=ServiceRequest:subject&_revinclude=AuditEvent:patient"
    status, body, _ = bearer(app, "system/Patient.read").get(query)
    assert status == 200 and ids_in(body) == {f"Patient/{ids['Patient']}"}
    status, body, _ = bearer(app).get(query)
    assert {f"Task/{ids['Task']}", f"ServiceRequest/{ids['ServiceRequest']}"} <= ids_in(body)
    assert not any(i.startswith("AuditEvent/") for i in ids_in(body))


def test_system_history_lists_only_readable_types(app: Flask) -> None:
    """The system history of a Task-only client holds Task versions only."""
    store_referral(app)
    status, body, _ = bearer(app, "system/Task.rs").get("_history?_count=500")
    assert status == 200 and body["total"] >= 1
    assert {e["fullUrl"].split("/")[-2] for e in body["entry"]} == {"Task"}


def an_audit_event(app: Flask) -> dict[str, Any]:
    """One stored AuditEvent (a read makes one)."""
    pid = stored_patient(app)
    assert bearer(app).get(f"Patient/{pid}")[0] == 200
    return audit_events(app)[-1]


def audit_event_writes(event: dict[str, Any]) -> list[Call]:
    """Every way to try to write an AuditEvent."""
    eid = event["id"]
    fresh = {k: v for k, v in event.items() if k not in ("id", "meta")}
    changed = {**event, "outcome": "4"}
    patch = [{"op": "replace", "path": "/outcome", "value": "4"}]
    return [
        Call("create", "POST", "AuditEvent", fresh),
        Call("update", "PUT", f"AuditEvent/{eid}", changed),
        Call("update-as-create", "PUT", "AuditEvent/new-event-id", {**fresh, "id": "new-event-id"}),
        Call("conditional-update", "PUT", f"AuditEvent?_id={eid}", changed),
        Call("patch", "PATCH", f"AuditEvent/{eid}", patch, PATCH_JSON),
        Call("delete", "DELETE", f"AuditEvent/{eid}"),
        Call("conditional-delete", "DELETE", f"AuditEvent?_id={eid}"),
        Call(
            "transaction-put",
            "POST",
            "",
            bundle("transaction", entry("PUT", f"AuditEvent/{eid}", changed)),
        ),
        Call(
            "transaction-delete",
            "POST",
            "",
            bundle("transaction", entry("DELETE", f"AuditEvent/{eid}")),
        ),
        Call(
            "transaction-post",
            "POST",
            "",
            bundle("transaction", entry("POST", "AuditEvent", fresh)),
        ),
    ]


@pytest.mark.parametrize(
    "who", ["system/*.*", "system/AuditEvent.*", "system/AuditEvent.cruds", "auditor"]
)
def test_nobody_can_write_an_audit_event(app: Flask, who: str) -> None:
    """Every write of an AuditEvent answers 405, whoever asks, and the event stays as it was."""
    event = an_audit_event(app)
    door = user(app, "auditor") if who == "auditor" else bearer(app, who)
    for call in audit_event_writes(event):
        status, body, _ = call.send(door)
        assert status == 405, (call.name, body)
        assert_outcome(body, "not-supported")
    status, body, _ = door.post("", bundle("batch", entry("DELETE", f"AuditEvent/{event['id']}")))
    assert status == 200 and body["entry"][0]["response"]["status"].startswith("405")
    stored = {e["id"]: e for e in audit_events(app)}
    assert stored[event["id"]] == event
    assert "new-event-id" not in stored


def test_full_scope_cannot_read_audit_events(app: Flask) -> None:
    """`*` leaves AuditEvent out: `system/*.*` gets 403 on it, `system/AuditEvent.read` 200."""
    event = an_audit_event(app)
    door = bearer(app, "system/*.*")
    for path in (
        f"AuditEvent/{event['id']}",
        f"AuditEvent/{event['id']}/_history/1",
        f"AuditEvent/{event['id']}/_history",
        "AuditEvent",
        "AuditEvent/_history",
    ):
        status, body, _ = door.get(path)
        assert status == 403, (path, body)
    assert door.form("AuditEvent/_search", "outcome=0")[0] == 403
    status, body, _ = door.get("_history?_count=500")
    assert not any("/AuditEvent/" in e["fullUrl"] for e in body["entry"])
    auditor = bearer(app, "system/AuditEvent.read")
    assert auditor.get(f"AuditEvent/{event['id']}")[0] == 200
    assert auditor.get(f"Patient?_id={event['id']}")[0] == 403
