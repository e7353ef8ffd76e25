"""Shared helpers of the access tests: doors (bearer, session cookie, none), the two-centre
world built from the IG examples, and a direct look at the stored AuditEvents."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from flask import Flask
from sqlalchemy import text

from conftest import FHIR_JSON, Fhir, api_token
from screening.auth.passwords import hash_password
from screening.auth.service import SESSION_COOKIE, create_user, session_user, sign_in
from screening.boundary import unit_of_work

EXAMPLES = Path(__file__).resolve().parents[2] / "fhir_profiles" / "examples"
PASSWORD = "correct horse battery staple"
CENTRE_A = "example-herat-centre"
CENTRE_B = "example-kabul-centre"
ROLE_SYSTEM = "https://fhir.rehab-screening.example/CodeSystem/access-role"
INTERACTION = "http://hl7.org/fhir/restful-interaction"

PATCH_JSON = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"

Reply = tuple[int, Any, dict[str, str]]


class Door(Fhir):
    """A Fhir client that adds fixed headers (Authorization, X-CSRF-Token) to every request."""

    def __init__(self, app: Flask, headers: dict[str, str] | None = None) -> None:
        super().__init__(app.test_client())
        self.headers = dict(headers or {})

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = FHIR_JSON,
    ) -> Reply:
        merged = {**self.headers, **(headers or {})}
        return super().request(method, path, body, merged, content_type)

    def patch(
        self, path: str, operations: list[dict[str, Any]], headers: dict[str, str] | None = None
    ) -> Reply:
        return self.request("PATCH", path, operations, headers, content_type=PATCH_JSON)

    def form(self, path: str, data: str) -> Reply:
        """POST a form-encoded body (POST _search)."""
        return self.request("POST", path, data, content_type=FORM)


def bearer(app: Flask, scopes: str = "system/*.*", **kw: Any) -> Door:
    """A door with the bearer token of a new API client (`organization=` binds it)."""
    return Door(app, {"Authorization": f"Bearer {api_token(app, scopes, **kw)}"})


@cache
def _password_hash() -> str:
    """One real Argon2id hash of PASSWORD, made once: every test user gets it, so a new user
    costs one hash check (at sign-in) instead of two."""
    return hash_password(PASSWORD)


def make_user(app: Flask, role: str, organization: str | None = None) -> tuple[str, str, str]:
    """A new user signed in: (username, session token, CSRF token)."""
    state = app.extensions["screening"]
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    with (
        unit_of_work(state, write=True) as session,
        mock.patch("screening.auth.service.hash_password", lambda _: _password_hash()),
    ):
        create_user(session, username, role, PASSWORD, organization=organization)
    with unit_of_work(state, write=True) as session:
        signed = sign_in(session, username, PASSWORD, "127.0.0.1")
        assert signed.session_token is not None
        found = session_user(session, signed.session_token)
        assert found is not None
        return username, signed.session_token, found[1].csrf_token


def cookie_door(app: Flask, token: str, csrf: str | None) -> Door:
    """A door that sends the session cookie (and the X-CSRF-Token header, unless None)."""
    door = Door(app, {"X-CSRF-Token": csrf} if csrf is not None else {})
    door.client.set_cookie(SESSION_COOKIE, token)
    return door


def user(app: Flask, role: str, organization: str | None = None) -> Door:
    """A door for a new signed-in user with the session cookie and the right CSRF token."""
    _, token, csrf = make_user(app, role, organization)
    return cookie_door(app, token, csrf)


# ------------------------------------------------------------------------- resources


def example(name: str) -> dict[str, Any]:
    """One IG example by file stem, e.g. `Patient-example-ahmad-karimi`."""
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    return loaded


def entry(
    method: str, url: str, resource: Any = None, full_url: str | None = None, **request: str
) -> dict[str, Any]:
    item: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        item["resource"] = resource
    if full_url:
        item["fullUrl"] = full_url
    return item


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def put_entry(resource: dict[str, Any]) -> dict[str, Any]:
    return entry("PUT", f"{resource['resourceType']}/{resource['id']}", resource)


def patient(family: str = "Noori") -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}]}


# ------------------------------------------------------------------------- interactions


@dataclass(frozen=True)
class Call:
    """One request, to send through any door."""

    name: str
    method: str
    path: str
    body: Any = None
    content_type: str = FHIR_JSON

    def send(self, door: Fhir, headers: dict[str, str] | None = None) -> Reply:
        return door.request(self.method, self.path, self.body, headers, self.content_type)


def every_interaction(pid: str) -> list[Call]:
    """Each FHIR interaction once, on Patient `pid` (which should exist)."""
    changed = {"resourceType": "Patient", "id": pid, "name": [{"family": "Changed"}]}
    replace = [{"op": "replace", "path": "/name/0/family", "value": "Changed"}]
    return [
        Call("read", "GET", f"Patient/{pid}"),
        Call("vread", "GET", f"Patient/{pid}/_history/1"),
        Call("search", "GET", "Patient?name=Karimi"),
        Call("search-post", "POST", "Patient/_search", "name=Karimi", FORM),
        Call("history-instance", "GET", f"Patient/{pid}/_history"),
        Call("history-type", "GET", "Patient/_history"),
        Call("history-system", "GET", "_history"),
        Call("create", "POST", "Patient", patient()),
        Call("update", "PUT", f"Patient/{pid}", changed),
        Call("conditional-update", "PUT", f"Patient?_id={pid}", changed),
        Call("patch", "PATCH", f"Patient/{pid}", replace, PATCH_JSON),
        Call("delete", "DELETE", f"Patient/{pid}"),
        Call("conditional-delete", "DELETE", f"Patient?_id={pid}"),
        Call("batch", "POST", "", bundle("batch", entry("GET", f"Patient/{pid}"))),
        Call(
            "transaction",
            "POST",
            "",
            bundle(
                "transaction",
                entry("PUT", f"Patient/{pid}", changed),
                entry("POST", "Patient", patient()),
            ),
        ),
        Call("validate-type", "POST", "Patient/$validate", patient()),
        Call("validate-instance", "GET", f"Patient/{pid}/$validate"),
    ]


# ------------------------------------------------------------------------- two centres


# Karimi's referral to centre A; the walk test is recorded but not among the reasons.
REFERRAL_FILES = (
    "Patient-example-ahmad-karimi",
    "Encounter-example-screening-karimi",
    "Condition-example-limb-absence-karimi",
    "Observation-example-tug-karimi",
    "Observation-example-berg-karimi",
    "Observation-example-device-karimi",
    "Consent-example-consent-karimi",
    "ServiceRequest-example-referral-karimi",
    "Task-example-referral-task-karimi",
    "Observation-example-walk10m-karimi",
)
DIRECTORY_FILES = (
    "Organization-example-herat-centre",
    "Practitioner-example-zahra-ahmadi",
    "Location-example-village-deh-e-naw",
)


@dataclass(frozen=True)
class Referral:
    """The ids of one patient's referral to one centre."""

    centre: str
    patient: str
    encounter: str
    condition: str
    observations: tuple[str, str, str]
    consent: str
    service_request: str
    task: str
    unshared: str  # an Observation of the patient that the referral does not name

    @property
    def shared(self) -> list[tuple[str, str]]:
        """(type, id) of everything the referral and its Task share with the centre."""
        return [
            ("Patient", self.patient),
            ("Encounter", self.encounter),
            ("Condition", self.condition),
            *(("Observation", o) for o in self.observations),
            ("Consent", self.consent),
            ("ServiceRequest", self.service_request),
            ("Task", self.task),
        ]


def _renamed(resource: dict[str, Any], suffix: str, centre: str) -> dict[str, Any]:
    """A copy of a Karimi example for another patient (ids and references renamed)."""
    raw = json.dumps(resource, ensure_ascii=False)
    raw = raw.replace("-karimi", f"-{suffix}").replace("Karimi", suffix.capitalize())
    raw = raw.replace(f"Organization/{CENTRE_A}", f"Organization/{centre}")
    raw = raw.replace("R-2026-HRT-00871", f"R-2026-{suffix[:3].upper()}-00872")
    copied: dict[str, Any] = json.loads(raw)
    return copied


def referral_resources(suffix: str, centre: str) -> list[dict[str, Any]]:
    """The referral of patient `suffix` to `centre`, built from the Karimi examples."""
    return [_renamed(example(name), suffix, centre) for name in REFERRAL_FILES]


def referral_ids(suffix: str, centre: str) -> Referral:
    return Referral(
        centre=centre,
        patient=f"example-ahmad-{suffix}",
        encounter=f"example-screening-{suffix}",
        condition=f"example-limb-absence-{suffix}",
        observations=(
            f"example-tug-{suffix}",
            f"example-berg-{suffix}",
            f"example-device-{suffix}",
        ),
        consent=f"example-consent-{suffix}",
        service_request=f"example-referral-{suffix}",
        task=f"example-referral-task-{suffix}",
        unshared=f"example-walk10m-{suffix}",
    )


def centre_b() -> dict[str, Any]:
    """Centre B: the Herat centre example under another id and name."""
    org = copy.deepcopy(example("Organization-example-herat-centre"))
    org.update(id=CENTRE_B, name="Kabul Physical Rehabilitation Centre")
    org["identifier"][0]["value"] = "KBL-01"
    org["alias"] = ["مرکز توانبخشی فزیکی کابل"]
    return org


@dataclass(frozen=True)
class World:
    """Two centres, each with one patient's referral."""

    a: Referral
    b: Referral


def load_world(app: Flask) -> World:
    """Karimi's referral to centre A and Noori's to centre B, stored by one transaction of a
    full-scope client (each Task `requested`), then accepted by each centre's own client."""
    resources = [example(name) for name in DIRECTORY_FILES] + [centre_b()]
    resources += referral_resources("karimi", CENTRE_A) + referral_resources("noori", CENTRE_B)
    sent = [as_requested(r) if r["resourceType"] == "Task" else r for r in resources]
    status, body, _ = bearer(app).post("", bundle("transaction", *map(put_entry, sent)))
    assert status == 200, body
    for task in (r for r in resources if r["resourceType"] == "Task"):
        accept_as_centre(app, task)
    return World(referral_ids("karimi", CENTRE_A), referral_ids("noori", CENTRE_B))


def as_requested(task: dict[str, Any]) -> dict[str, Any]:
    """A referral Task as the referring side sends it: `requested` (a new Task starts so),
    without the centre's business status and appointment."""
    sent = {k: v for k, v in copy.deepcopy(task).items() if k not in ("businessStatus", "output")}
    return {**sent, "status": "requested"}


def accept_as_centre(app: Flask, task: dict[str, Any]) -> None:
    """The Task's owner centre accepts it with a PUT by its own client (`task` as accepted,
    e.g. the IG example with its appointment)."""
    centre = task["owner"]["reference"].removeprefix("Organization/")
    accepted = {**task, "status": "accepted"}
    status, body, _ = bearer(app, organization=centre).put(f"Task/{task['id']}", accepted)
    assert status == 200, body


# ------------------------------------------------------------------------- the audit


def audit_events(app: Flask) -> list[dict[str, Any]]:
    """Every stored AuditEvent, oldest first, read straight from the database (so that
    looking does not depend on, or add to, what the API does)."""
    engine = app.extensions["screening"].engine
    query = text(
        "SELECT v.content FROM resource r JOIN resource_version v"
        " ON v.rid = r.rid AND v.version = r.version"
        " WHERE r.res_type = 'AuditEvent' AND r.deleted = :no ORDER BY r.rid"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"no": False}).scalars().all()
    return [row if isinstance(row, dict) else json.loads(row) for row in rows]


class AuditWatch:
    """The AuditEvents written since it was made (or last `take`n)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seen = len(audit_events(app))

    def take(self) -> list[dict[str, Any]]:
        events = audit_events(self.app)
        fresh = events[self.seen :]
        self.seen = len(events)
        return fresh


def subtype(event: dict[str, Any]) -> str:
    code: str = event["subtype"][0]["code"]
    return code


def entity_refs(event: dict[str, Any], role: str) -> list[str]:
    """The `what` references of the event's entities with this object-role code."""
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e["role"]["code"] == role and "what" in e
    ]


def count_of(app: Flask, res_type: str) -> int:
    """How many current, not deleted resources of a type the store holds."""
    engine = app.extensions["screening"].engine
    query = text("SELECT count(*) FROM resource WHERE res_type = :t AND deleted = :no")
    with engine.connect() as conn:
        return int(conn.execute(query, {"t": res_type, "no": False}).scalar_one())


def ids_in(bundle_body: dict[str, Any]) -> set[str]:
    """`Type/id` of every resource in a Bundle."""
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle_body.get("entry", [])
        if "resource" in e
    }
