"""The audit trail: one AuditEvent per interaction on patient data, refusals included."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Flask

from auth.support import (
    CENTRE_A,
    FORM,
    INTERACTION,
    PATCH_JSON,
    ROLE_SYSTEM,
    AuditWatch,
    Call,
    Door,
    audit_events,
    bearer,
    bundle,
    cookie_door,
    count_of,
    entity_refs,
    entry,
    example,
    load_world,
    make_user,
    patient,
    subtype,
)
from conftest import FHIR_JSON, api_token
from screening.store.resources import ResourceStore


def named_client(app: Flask, scopes: str = "system/*.*", **kw: Any) -> tuple[str, Door]:
    """A new API client and its name (for agent.altId)."""
    name = f"his-{uuid.uuid4().hex[:8]}"
    token = api_token(app, scopes, name=name, **kw)
    return name, Door(app, {"Authorization": f"Bearer {token}"})


def observation(pid: str) -> dict[str, Any]:
    """The IG's TUG example for patient `pid`, without id."""
    obs = {k: v for k, v in example("Observation-example-tug-karimi").items() if k != "id"}
    obs["subject"] = {"reference": f"Patient/{pid}"}
    obs.pop("encounter", None)
    return obs


@dataclass(frozen=True)
class Chart:
    """One patient with one Observation, stored by a full client (before counting)."""

    patient: str
    obs: str


def chart(app: Flask) -> Chart:
    door = bearer(app)
    pid = door.create(patient("Karimi"))["id"]
    return Chart(pid, door.create(observation(pid))["id"])


def only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, [(subtype(e), e.get("outcomeDesc")) for e in events]
    return events[0]


def query_of(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The decoded query (role 24 entity) of an event."""
    (found,) = [e for e in event["entity"] if e["role"]["code"] == "24"]
    return parse_qsl(base64.b64decode(found["query"]).decode("utf-8"))


def assert_agent(event: dict[str, Any], kind: str, name: str, role: str) -> None:
    (agent,) = event["agent"]
    assert agent["who"]["display"] == f"{kind}:{name}"
    assert agent["altId"] == name
    assert agent["role"][0]["coding"] == [{"system": ROLE_SYSTEM, "code": role}]
    assert agent["network"]["address"] == "127.0.0.1"
    assert agent["requestor"] is True


def assert_event(event: dict[str, Any], code: str, action: str, outcome: str = "0") -> None:
    assert event["resourceType"] == "AuditEvent"
    assert event["type"]["code"] == "rest"
    assert event["subtype"] == [{"system": INTERACTION, "code": code}]
    assert event["action"] == action
    assert event["outcome"] == outcome
    assert ("outcomeDesc" in event) == (outcome != "0")


# ------------------------------------------------------------------------- each interaction


@dataclass(frozen=True)
class Case:
    """An interaction and the single AuditEvent it must write."""

    call: Call
    code: str
    action: str
    resource: str | None  # the role-4 entity ({p} patient id, {o} observation id, {new})
    query: list[tuple[str, str]] | None = None


def cases(c: Chart) -> list[Case]:
    p, o = c.patient, c.obs
    changed = {**observation(p), "id": o, "status": "amended"}
    replace = [{"op": "replace", "path": "/status", "value": "amended"}]
    by_subject = [("subject", f"Patient/{p}")]
    return [
        Case(Call("read", "GET", f"Observation/{o}"), "read", "R", f"Observation/{o}"),
        Case(Call("read-patient", "GET", f"Patient/{p}"), "read", "R", None),
        Case(
            Call("vread", "GET", f"Observation/{o}/_history/1"),
            "vread",
            "R",
            f"Observation/{o}/_history/1",
        ),
        Case(
            Call("search", "GET", f"Observation?subject=Patient/{p}"),
            "search-type",
            "E",
            f"Observation/{o}",
            by_subject,
        ),
        Case(
            Call("search-post", "POST", "Observation/_search", f"subject=Patient/{p}", FORM),
            "search-type",
            "E",
            f"Observation/{o}",
            by_subject,
        ),
        Case(
            Call("history-instance", "GET", f"Observation/{o}/_history"),
            "history-instance",
            "R",
            f"Observation/{o}/_history/1",
        ),
        Case(
            Call("history-type", "GET", "Observation/_history?_count=5"),
            "history-type",
            "R",
            f"Observation/{o}/_history/1",
            [("_count", "5")],
        ),
        Case(
            Call("history-system", "GET", "_history"),
            "history-system",
            "R",
            f"Observation/{o}/_history/1",
        ),
        Case(Call("create", "POST", "Observation", observation(p)), "create", "C", "{new}/1"),
        Case(
            Call("update", "PUT", f"Observation/{o}", changed),
            "update",
            "U",
            f"Observation/{o}/_history/2",
        ),
        Case(
            Call("conditional-update", "PUT", f"Observation?_id={o}", changed),
            "update",
            "U",
            f"Observation/{o}/_history/2",
        ),
        Case(
            Call("patch", "PATCH", f"Observation/{o}", replace, PATCH_JSON),
            "patch",
            "U",
            f"Observation/{o}/_history/2",
        ),
        Case(Call("delete", "DELETE", f"Observation/{o}"), "delete", "D", f"Observation/{o}"),
        Case(
            Call("conditional-delete", "DELETE", f"Observation?_id={o}"),
            "delete",
            "D",
            f"Observation/{o}",
        ),
        Case(
            Call("validate-instance", "GET", f"Observation/{o}/$validate"),
            "operation",
            "E",
            f"Observation/{o}",
        ),
    ]


CASE_NAMES = [case.call.name for case in cases(Chart("p", "o"))]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_interaction_writes_one_audit_event(app: Flask, name: str) -> None:
    """One event per interaction: subtype, action, agent, patient, resource (versioned), query."""
    c = chart(app)
    case = next(x for x in cases(c) if x.call.name == name)
    client_name, door = named_client(app)
    watch = AuditWatch(app)
    status, body, _ = case.call.send(door)
    assert status < 300, body
    event = only(watch.take())
    assert_event(event, case.code, case.action)
    assert_agent(event, "client", client_name, "client")
    assert f"Patient/{c.patient}" in entity_refs(event, "1")
    resources = entity_refs(event, "4")
    if case.resource == "{new}/1":
        assert resources == [f"Observation/{body['id']}/_history/1"]
    elif case.resource is not None:
        assert case.resource in resources, resources
    else:
        assert resources == []
    if case.query is not None:
        assert query_of(event) == case.query
    if case.code == "operation":
        assert [e.get("name") for e in event["entity"] if e["role"]["code"] == "24"] == [
            "$validate"
        ]


def test_a_search_names_every_resource_it_returned(app: Flask) -> None:
    """A search's event names each match and each included resource, and their patients."""
    first, second = chart(app), chart(app)
    door = bearer(app)
    watch = AuditWatch(app)
    query = f"Observation?_id={first.obs},{second.obs}&_include=Observation:subject"
    status, body, _ = door.get(query)
    assert status == 200 and len(body["entry"]) == 4
    event = only(watch.take())
    assert sorted(entity_refs(event, "1")) == sorted(
        [f"Patient/{first.patient}", f"Patient/{second.patient}"]
    )
    assert sorted(entity_refs(event, "4")) == sorted(
        [f"Observation/{first.obs}", f"Observation/{second.obs}"]
    )
    assert ("_include", "Observation:subject") in query_of(event)


def test_a_signed_in_user_is_the_agent(app: Flask) -> None:
    """Through the session cookie the agent is `user:<name>` with the user's role."""
    c = chart(app)
    username, token, csrf = make_user(app, "clinician")
    door = cookie_door(app, token, csrf)
    watch = AuditWatch(app)
    assert door.get(f"Observation/{c.obs}")[0] == 200
    assert door.post("Observation", observation(c.patient))[0] == 201
    read, create = watch.take()
    for event in (read, create):
        assert_agent(event, "user", username, "clinician")
    assert_event(read, "read", "R")
    assert_event(create, "create", "C")


def test_directory_and_conformance_are_not_audited(app: Flask) -> None:
    """Reads, searches and writes of directory and IG resources write no AuditEvent."""
    door = bearer(app)
    org = example("Organization-example-herat-centre")
    watch = AuditWatch(app)
    assert door.put(f"Organization/{org['id']}", org)[0] == 201
    for path in (
        f"Organization/{org['id']}",
        f"Organization/{org['id']}/_history/1",
        "Organization?name=Herat",
        "StructureDefinition?_count=2",
        "ValueSet/referral-task-status",
        "metadata",
    ):
        assert door.get(path)[0] == 200, path
    assert watch.take() == []


def test_directory_search_returning_patient_data_is_audited(app: Flask) -> None:
    """A directory search that _revincludes ServiceRequests is audited like any other."""
    door = bearer(app)
    resources = [
        example(name)
        for name in (
            "Organization-example-herat-centre",
            "Patient-example-ahmad-karimi",
            "ServiceRequest-example-referral-karimi",
        )
    ]
    status, _, _ = door.post(
        "",
        bundle(
            "transaction", *(entry("PUT", f"{r['resourceType']}/{r['id']}", r) for r in resources)
        ),
    )
    assert status == 200
    watch = AuditWatch(app)
    status, body, _ = door.get("Organization?_revinclude=ServiceRequest:performer")
    assert "ServiceRequest/example-referral-karimi" in {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body["entry"]
    }
    event = only(watch.take())
    assert "ServiceRequest/example-referral-karimi" in entity_refs(event, "4")


# ------------------------------------------------------------------------- bundles


def test_batch_writes_one_event_per_entry(app: Flask) -> None:
    """A batch of three entries (one failing) writes three events; the failed one outcome 4."""
    c = chart(app)
    door = bearer(app)
    watch = AuditWatch(app)
    status, body, _ = door.post(
        "",
        bundle(
            "batch",
            entry("GET", f"Observation/{c.obs}"),
            entry("POST", "Observation", observation(c.patient)),
            entry("GET", "Observation/no-such-observation"),
        ),
    )
    assert status == 200, body
    events = watch.take()
    assert [(subtype(e), e["outcome"]) for e in events] == [
        ("read", "0"),
        ("create", "0"),
        ("read", "4"),
    ]
    assert events[2]["outcomeDesc"].startswith("404")


def test_transaction_writes_one_event_per_entry_in_its_commit(app: Flask) -> None:
    """A transaction of four entries writes four events, recorded together with it."""
    c = chart(app)
    door = bearer(app)
    watch = AuditWatch(app)
    urn = "urn:uuid:6f0b7c1e-2b1a-4a55-9a38-0d7c5e1a0001"
    obs = {**observation("x"), "subject": {"reference": urn}}
    changed = {**observation(c.patient), "id": c.obs, "status": "amended"}
    status, body, _ = door.post(
        "",
        bundle(
            "transaction",
            entry("POST", "Patient", patient("Noori"), urn),
            entry("POST", "Observation", obs),
            entry("PUT", f"Observation/{c.obs}", changed),
            entry("GET", f"Patient/{c.patient}"),
        ),
    )
    assert status == 200, body
    events = watch.take()
    assert sorted(subtype(e) for e in events) == ["create", "create", "read", "update"]
    assert len({e["recorded"] for e in events}) == 1
    assert all(e["outcome"] == "0" for e in events)
    new_patient = body["entry"][0]["response"]["location"].split("/Patient/")[1].split("/")[0]
    created = next(e for e in events if f"Observation/{c.obs}/_history/2" in entity_refs(e, "4"))
    assert entity_refs(created, "1") == [f"Patient/{c.patient}"]
    assert any(entity_refs(e, "1") == [f"Patient/{new_patient}"] for e in events)


def test_failing_transaction_writes_only_its_failure(app: Flask) -> None:
    """A transaction with one invalid entry stores nothing and writes one event, outcome 4."""
    c = chart(app)
    door = bearer(app)
    counts = {t: count_of(app, t) for t in ("Patient", "Observation")}
    watch = AuditWatch(app)
    status, body, _ = door.post(
        "",
        bundle(
            "transaction",
            entry("POST", "Patient", patient("Noori")),
            entry("POST", "Observation", observation(c.patient)),
            entry("DELETE", f"Observation/{c.obs}"),
            entry("POST", "Observation", {"resourceType": "Observation"}),
        ),
    )
    assert status == 422, body
    event = only(watch.take())
    assert_event(event, "transaction", "E", outcome="4")
    assert event["outcomeDesc"].startswith("422")
    assert {t: count_of(app, t) for t in counts} == counts


def test_rolled_back_write_leaves_only_the_failure(app: Flask) -> None:
    """A centre client's Patient is written, then refused (not shared): no create event."""
    name, door = named_client(app, organization=CENTRE_A)
    patients = count_of(app, "Patient")
    watch = AuditWatch(app)
    status, body, _ = door.post("Patient", patient("Noori"))
    assert status == 403, body
    event = only(watch.take())
    assert_event(event, "create", "C", outcome="4")
    assert_agent(event, "client", name, "client")
    assert count_of(app, "Patient") == patients


# ------------------------------------------------------------------------- refusals

ACTIONS = {"read": "R", "search-type": "E", "create": "C", "update": "U", "delete": "D"}


def test_refusals_and_failures_are_audited(app: Flask) -> None:
    """401/403/404/405/410/412/422 each write one event: outcome 4, status and reason."""
    c = chart(app)
    full, read_only = bearer(app), bearer(app, "system/*.read")
    anonymous, forged = Door(app), Door(app, {"Authorization": "Bearer scr_forged"})
    assert full.delete(f"Observation/{c.obs}")[0] == 204
    attempts = [
        (anonymous, Call("read", "GET", f"Patient/{c.patient}"), 401, "read"),
        (forged, Call("search", "GET", "Patient?name=Karimi"), 401, "search-type"),
        (read_only, Call("create", "POST", "Observation", observation(c.patient)), 403, "create"),
        (read_only, Call("delete", "DELETE", f"Patient/{c.patient}"), 403, "delete"),
        (full, Call("read", "GET", "Patient/no-such-patient"), 404, "read"),
        (full, Call("create", "POST", "AuditEvent", {"resourceType": "AuditEvent"}), 405, "create"),
        (full, Call("read", "GET", f"Observation/{c.obs}"), 410, "read"),
        (
            full,
            Call("update", "PUT", f"Patient/{c.patient}", {**patient(), "id": c.patient}),
            412,
            "update",
        ),
        (
            full,
            Call("create", "POST", "Observation", {"resourceType": "Observation"}),
            422,
            "create",
        ),
    ]
    for door, call, expected, code in attempts:
        watch = AuditWatch(app)
        headers = {"If-Match": 'W/"9"'} if expected == 412 else None
        status, body, _ = call.send(door, headers)
        assert status == expected, (call.name, body)
        event = only(watch.take())
        assert_event(event, code, ACTIONS[code], outcome="4")
        assert event["outcomeDesc"].startswith(f"{expected}: "), event["outcomeDesc"]
        if len(call.path.split("/")) == 2 and call.method != "POST":
            assert call.path in entity_refs(event, "4")
        if door is anonymous:
            assert event["agent"][0]["who"]["display"] == "anonymous:unauthenticated"


def test_refused_referral_delete_is_audited(app: Flask) -> None:
    """Deleting a referral Task (409: it is cancelled instead) writes one failed delete, as a
    single DELETE and as a batch entry; the Task stays."""
    world = load_world(app)
    name, door = named_client(app)
    path = f"Task/{world.a.task}"
    for sent in (
        Call("delete", "DELETE", path),
        Call("batch", "POST", "", bundle("batch", entry("DELETE", path))),
    ):
        watch = AuditWatch(app)
        status, body, _ = sent.send(door)
        assert status == (409 if sent.name == "delete" else 200), body
        event = only(watch.take())
        assert_event(event, "delete", "D", outcome="4")
        assert event["outcomeDesc"].startswith("409: "), event["outcomeDesc"]
        assert path in entity_refs(event, "4")
        assert_agent(event, "client", name, "client")
    assert door.get(path)[0] == 200


def test_csrf_refusal_is_audited(app: Flask) -> None:
    """A cookie POST without X-CSRF-Token is refused (403) and audited with outcome 4."""
    _, token, _ = make_user(app, "screener")
    watch = AuditWatch(app)
    status, _, _ = cookie_door(app, token, None).post("Patient", patient())
    assert status == 403
    event = only(watch.take())
    assert event["outcome"] == "4" and event["outcomeDesc"].startswith("403")


def test_not_acceptable_is_audited(app: Flask) -> None:
    """A read refused with 406 (XML asked for) is audited with outcome 4."""
    c = chart(app)
    watch = AuditWatch(app)
    status, _, _ = bearer(app).get(f"Patient/{c.patient}", headers={"Accept": "application/xml"})
    assert status == 406
    event = only(watch.take())
    assert event["outcome"] == "4" and event["outcomeDesc"].startswith("406")


def test_server_failure_is_audited_with_outcome_8(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error in a read answers 500 and is audited with outcome 8."""
    c = chart(app)

    def broken(self: ResourceStore, res_type: str, fhir_id: str) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ResourceStore, "read", broken)
    watch = AuditWatch(app)
    status, body, _ = bearer(app).get(f"Patient/{c.patient}")
    assert status == 500 and body["resourceType"] == "OperationOutcome"
    event = only(watch.take())
    assert event["outcome"] == "8"


# ------------------------------------------------------------------------- the events


def test_audit_events_are_valid_r4(app: Flask) -> None:
    """Every kind of event the server writes validates against the base R4 AuditEvent."""
    c = chart(app)
    door = bearer(app)
    for case in cases(c)[:8]:  # reads, searches and histories
        case.call.send(door)
    door.post("", bundle("transaction", entry("POST", "Patient", patient())))
    door.get("Patient/no-such-patient")
    door.get(f"Observation/{c.obs}/$validate")
    Door(app).get(f"Patient/{c.patient}")
    bearer(app, "system/*.read").post("Patient", patient())
    _, token, csrf = make_user(app, "screener")
    cookie_door(app, token, csrf).get(f"Patient/{c.patient}")
    validator = app.extensions["screening"].fhir.validator
    events = audit_events(app)
    assert len({subtype(e) for e in events}) >= 8 and {e["outcome"] for e in events} == {"0", "4"}
    for event in events:
        errors = [i for i in validator.validate(event) if i.is_error]
        assert errors == [], (subtype(event), errors)


# ------------------------------------------------------------------------- auditors


@pytest.fixture
def trail(app: Flask) -> tuple[Chart, str, str]:
    """Events of two patients by two clients, reads and writes, successes and refusals;
    returns (the first chart, the reading client's name, an instant between the charts)."""
    _, other_door = named_client(app)
    first = chart(app)
    start = bearer(app).create(patient("Marker"))["meta"]["lastUpdated"]
    second = chart(app)
    name, door = named_client(app)
    door.get(f"Observation/{first.obs}")
    door.get(f"Patient/{first.patient}")
    door.get(f"Observation?subject=Patient/{first.patient}")
    door.get("Observation/no-such-observation")
    other_door.get(f"Observation/{second.obs}")
    Door(app).get(f"Patient/{second.patient}")
    return first, name, start


def auditor_doors(app: Flask) -> dict[str, Door]:
    _, token, csrf = make_user(app, "auditor")
    return {
        "user": cookie_door(app, token, csrf),
        "client": bearer(app, "system/AuditEvent.read"),
    }


def found_ids(door: Door, query: str) -> set[str]:
    status, body, _ = door.get(f"AuditEvent?{query}&_count=500")
    assert status == 200, (query, body)
    assert not [e for e in body.get("entry", []) if e["search"]["mode"] == "outcome"], query
    return {e["resource"]["id"] for e in body.get("entry", [])}


def test_auditors_search_the_trail(app: Flask, trail: tuple[Chart, str, str]) -> None:
    """Auditors (user and client) find events by patient, date, altid, subtype, outcome."""
    first, name, start = trail
    events = audit_events(app)

    def about(patient_id: str) -> set[str]:
        ref = f"Patient/{patient_id}"
        return {
            e["id"]
            for e in events
            if any(r == ref or r.startswith(f"{ref}/") for r in entity_refs(e, "1"))
            or any(r == ref or r.startswith(f"{ref}/") for r in entity_refs(e, "4"))
        }

    expected = {
        f"patient=Patient/{first.patient}": about(first.patient),
        f"patient={first.patient}": about(first.patient),
        f"date=ge{start}": {e["id"] for e in events if e["recorded"] >= start},
        f"altid={name}": {e["id"] for e in events if e["agent"][0].get("altId") == name},
        "subtype=read": {e["id"] for e in events if subtype(e) == "read"},
        f"subtype={INTERACTION}|search-type": {
            e["id"] for e in events if subtype(e) == "search-type"
        },
        "outcome=4": {e["id"] for e in events if e["outcome"] == "4"},
        f"altid={name}&outcome=0&subtype=read": {
            e["id"]
            for e in events
            if e["agent"][0].get("altId") == name and e["outcome"] == "0" and subtype(e) == "read"
        },
    }
    assert len(expected[f"altid={name}&outcome=0&subtype=read"]) == 2
    assert expected["outcome=4"] and expected[f"date=ge{start}"] != {e["id"] for e in events}
    doors = auditor_doors(app)
    for who, door in doors.items():
        for query, ids in expected.items():
            assert found_ids(door, query) == ids, (who, query)
    for who, door in doors.items():
        assert door.get(f"Patient/{first.patient}")[0] == 403, who


def test_refused_audit_event_writes_are_audited(app: Flask) -> None:
    """Auditors' PUT/PATCH/DELETE of an AuditEvent: 405, event unchanged, refusal audited."""
    c = chart(app)
    bearer(app).get(f"Patient/{c.patient}")
    event = audit_events(app)[-1]
    doors = auditor_doors(app)
    doors["all-scopes"] = bearer(app, "system/AuditEvent.*")
    patch = [{"op": "replace", "path": "/outcome", "value": "4"}]
    for who, door in doors.items():
        watch = AuditWatch(app)
        for method, body, kind in (
            ("PUT", {**event, "outcome": "4"}, None),
            ("PATCH", patch, PATCH_JSON),
            ("DELETE", None, None),
        ):
            path = f"AuditEvent/{event['id']}"
            status, _, _ = door.request(method, path, body, content_type=kind or FHIR_JSON)
            assert status == 405, (who, method)
        put = entry("PUT", f"AuditEvent/{event['id']}", {**event, "outcome": "4"})
        delete = entry("DELETE", f"AuditEvent/{event['id']}")
        assert door.post("", bundle("transaction", put, delete))[0] == 405, who
        refusals = watch.take()
        assert [subtype(e) for e in refusals] == ["update", "patch", "delete", "transaction"]
        assert all(e["outcome"] == "4" and e["outcomeDesc"].startswith("405") for e in refusals)
    assert next(e for e in audit_events(app) if e["id"] == event["id"]) == event
