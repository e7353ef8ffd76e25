"""A centre sees the referrals sent to it, and nothing of another centre's."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask import Flask

from auth.support import (
    CENTRE_A,
    CENTRE_B,
    PATCH_JSON,
    Door,
    World,
    bearer,
    bundle,
    entry,
    ids_in,
    load_world,
    user,
)

UNKNOWN = "no-such-id-0427"
DIRECTORY = (
    ("Organization", CENTRE_A),
    ("Organization", CENTRE_B),
    ("Practitioner", "example-zahra-ahmadi"),
    ("Location", "example-village-deh-e-naw"),
)


@pytest.fixture
def world(app: Flask) -> World:
    return load_world(app)


@pytest.fixture
def doors_a(app: Flask, world: World) -> dict[str, Door]:
    """Centre A's two doors: an API client bound to A with every scope, and a centre-staff
    user of A through the session cookie."""
    return {
        "client": bearer(app, "system/*.*", organization=CENTRE_A),
        "staff": user(app, "centre-staff", CENTRE_A),
    }


def refs(pairs: list[tuple[str, str]]) -> set[str]:
    return {f"{t}/{i}" for t, i in pairs}


def hidden_of(world: World) -> set[str]:
    """What centre A must never see: B's referral and A's patient's unshared Observation."""
    return refs(world.b.shared) | {f"Observation/{world.a.unshared}"}


def search_ids(door: Door, query: str) -> tuple[set[str], int]:
    """(ids of the entries, total) of a search or history that must succeed."""
    status, body, _ = door.get(query)
    assert status == 200, (query, body)
    return ids_in(body), body["total"]


def all_pages(door: Door, query: str) -> set[str]:
    """The ids of every page of a search or history, following the `next` links."""
    found: set[str] = set()
    path: str | None = query
    while path is not None:
        status, body, _ = door.get(path)
        assert status == 200, (path, body)
        found |= ids_in(body)
        links = {link["relation"]: link["url"] for link in body["link"]}
        path = links["next"].split("/fhir/", 1)[1] if "next" in links else None
    return found


def same_apart_from_id(door: Door, path: str, fhir_id: str) -> None:
    """The answer for `path` equals the answer for the same path with an unknown id."""
    status, body, headers = door.get(path)
    other = path.replace(fhir_id, UNKNOWN)
    u_status, u_body, u_headers = door.get(other)
    assert (status, u_status) == (404, 404), (path, body)
    assert json.dumps(body).replace(fhir_id, UNKNOWN) == json.dumps(u_body), path
    assert headers["Content-Type"] == u_headers["Content-Type"]


def current(app: Flask, res_type: str, fhir_id: str) -> dict[str, Any]:
    status, body, _ = bearer(app).get(f"{res_type}/{fhir_id}")
    assert status == 200, body
    stored: dict[str, Any] = body
    return stored


# ------------------------------------------------------------------------- reading


def test_sees_what_its_referral_shares(doors_a: dict[str, Door], world: World) -> None:
    """A reads all its referral shares, the directory and the IG; not the unshared Observation."""
    for name, door in doors_a.items():
        for res_type, fhir_id in [*world.a.shared, *DIRECTORY]:
            status, body, _ = door.get(f"{res_type}/{fhir_id}")
            assert status == 200, (name, res_type, fhir_id, body)
        assert door.get(f"Observation/{world.a.unshared}")[0] == 404, name
        ids, total = search_ids(door, "StructureDefinition?_count=1")
        assert total > 0 and ids, name


def test_other_centre_looks_unknown(doors_a: dict[str, Door], world: World) -> None:
    """Read, vread, history and $validate of B's records answer exactly as an unknown id."""
    templates = ("{t}/{i}", "{t}/{i}/_history/1", "{t}/{i}/_history", "{t}/{i}/$validate")
    for door in doors_a.values():
        for res_type, fhir_id in [*world.b.shared, ("Observation", world.a.unshared)]:
            for template in templates:
                same_apart_from_id(door, template.format(t=res_type, i=fhir_id), fhir_id)


def test_searches_never_find_other_centre(doors_a: dict[str, Door], world: World) -> None:
    """GET and POST searches by id, patient, performer, owner... find and count none of B's."""
    b = world.b
    queries = (
        f"Patient?_id={b.patient}",
        "Patient?name=Noori",
        f"Observation?subject=Patient/{b.patient}",
        f"Observation?patient={b.patient}",
        f"Observation?_id={','.join(b.observations)}",
        f"Consent?patient={b.patient}",
        f"Condition?subject={b.patient}",
        f"Encounter?patient={b.patient}",
        f"ServiceRequest?performer=Organization/{CENTRE_B}",
        f"ServiceRequest?subject=Patient/{b.patient}",
        "ServiceRequest?identifier=R-2026-NOO-00872",
        f"Task?owner=Organization/{CENTRE_B}",
        f"Task?focus=ServiceRequest/{b.service_request}",
        f"Task?_id={b.task}&_summary=count",
    )
    for name, door in doors_a.items():
        for query in queries:
            assert search_ids(door, query) == (set(), 0), (name, query)
            res_type, params = query.split("?")
            status, body, _ = door.form(f"{res_type}/_search", params)
            assert status == 200 and body["total"] == 0, (name, query)


def test_plain_searches_hold_only_what_is_shared(doors_a: dict[str, Door], world: World) -> None:
    """Unfiltered searches of each patient-data type return A's shared records only."""
    shared = refs(world.a.shared)
    types = ("Patient", "Observation", "Condition", "Consent", "ServiceRequest", "Task")
    for name, door in doors_a.items():
        for res_type in types:
            ids, total = search_ids(door, f"{res_type}?_count=50")
            assert ids == {r for r in shared if r.startswith(f"{res_type}/")}, (name, res_type)
            assert total == len(ids)
        assert search_ids(door, "Observation?_summary=count")[1] == 3, name


INCLUDES = (
    "Task?_include=Task:focus&_include=Task:patient&_include=Task:owner",
    "Task?_include=Task:*",
    "ServiceRequest?_include=ServiceRequest:*",
    "Encounter?_revinclude=Observation:encounter&_revinclude=Condition:encounter",
    "Patient?_revinclude=Observation:subject&_revinclude=Task:patient"
    "&_revinclude=ServiceRequest:subject&_revinclude=Consent:patient",
    "Organization?_revinclude=ServiceRequest:performer&_revinclude=Task:owner",
    "Practitioner?_revinclude=Observation:performer&_revinclude=ServiceRequest:requester",
)


def test_include_and_revinclude_stay_within_the_centre(
    app: Flask, doors_a: dict[str, Door], world: World
) -> None:
    """`_include` and `_revinclude` never bring in B's records (a full client's do)."""
    for query in INCLUDES:
        full_ids, _ = search_ids(bearer(app), query)
        assert full_ids & hidden_of(world), query
        for name, door in doors_a.items():
            ids, _ = search_ids(door, query)
            assert ids and not ids & hidden_of(world), (name, query)
            assert ids < full_ids, (name, query)


def test_history_never_shows_other_centre(doors_a: dict[str, Door], world: World) -> None:
    """Type and system history hold none of B's versions, and count none."""
    for name, door in doors_a.items():
        for query in ("_history", "Observation/_history", "Patient/_history", "Task/_history"):
            status, body, _ = door.get(f"{query}?_count=500")
            assert status == 200, body
            assert ids_in(body) and not ids_in(body) & hidden_of(world), (name, query)
            assert body["total"] == len(body["entry"]), (name, query)


def test_paging_links_stay_within_the_centre(doors_a: dict[str, Door], world: World) -> None:
    """Following every `next` link of a search or history never reaches B's records."""
    for name, door in doors_a.items():
        found = all_pages(door, "Observation?_count=1")
        assert found == {f"Observation/{o}" for o in world.a.observations}, name
        found = all_pages(door, "_history?_count=25")
        assert found and not found & hidden_of(world), name


# ------------------------------------------------------------------------- writing


def without_meta(resource: dict[str, Any], *also: str) -> dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(resource).items() if k not in ("meta", *also)}


def test_cannot_change_other_centre(app: Flask, doors_a: dict[str, Door], world: World) -> None:
    """PUT, PATCH, DELETE of B's Task: 404 as for an unknown id; B's Task stays as it was."""
    task = current(app, "Task", world.b.task)
    mine = {**without_meta(task), "owner": {"reference": f"Organization/{CENTRE_A}"}}
    patch = [{"op": "replace", "path": "/status", "value": "rejected"}]
    for name, door in doors_a.items():
        status, answer, _ = door.put(f"Task/{world.b.task}", mine)
        assert status == 404, (name, answer)
        for method, body in (("PATCH", patch), ("DELETE", None)):
            hidden = door.request(method, f"Task/{world.b.task}", body, content_type=PATCH_JSON)
            unknown = door.request(method, f"Task/{UNKNOWN}", body, content_type=PATCH_JSON)
            assert (hidden[0], unknown[0]) == (404, 404), (name, method, hidden[1])
            assert json.dumps(hidden[1]).replace(world.b.task, UNKNOWN) == json.dumps(unknown[1])
        assert door.delete(f"Task?_id={world.b.task}")[0] == 204, name
    assert current(app, "Task", world.b.task) == task


def test_client_cannot_change_other_centres_patient(app: Flask, world: World) -> None:
    """A's client gets 404 writing B's Patient or A's patient's unshared Observation."""
    door = bearer(app, "system/*.*", organization=CENTRE_A)
    for res_type, fhir_id in (("Patient", world.b.patient), ("Observation", world.a.unshared)):
        before = current(app, res_type, fhir_id)
        assert door.put(f"{res_type}/{fhir_id}", without_meta(before))[0] == 404
        patch = [{"op": "add", "path": "/language", "value": "en"}]
        assert door.patch(f"{res_type}/{fhir_id}", patch)[0] == 404
        assert door.delete(f"{res_type}/{fhir_id}")[0] == 404
        assert current(app, res_type, fhir_id) == before


def test_cannot_hand_its_task_to_another_centre(
    app: Flask, doors_a: dict[str, Door], world: World
) -> None:
    """A may update its Task but not hand it (or a new one) to B: 403, nothing changes."""
    to_b = {"reference": f"Organization/{CENTRE_B}"}
    patch = [{"op": "replace", "path": "/owner/reference", "value": f"Organization/{CENTRE_B}"}]
    for name, door in doors_a.items():
        task = current(app, "Task", world.a.task)
        handed = {**without_meta(task), "owner": to_b}
        status, answer, _ = door.put(f"Task/{world.a.task}", handed)
        assert status == 403, (name, answer)
        assert door.patch(f"Task/{world.a.task}", patch)[0] == 403, name
        assert door.post("Task", without_meta(handed, "id"))[0] == 403, name
        put = entry("PUT", f"Task/{world.a.task}", handed)
        assert door.post("", bundle("transaction", put))[0] == 403, name
        assert current(app, "Task", world.a.task) == task
        assert search_ids(bearer(app), "Task")[1] == 2
        progressed = {**without_meta(task), "status": "in-progress"}
        assert door.put(f"Task/{world.a.task}", progressed)[0] == 200, name


def test_bundle_entries_for_other_centre_are_unknown(
    doors_a: dict[str, Door], world: World
) -> None:
    """Batch entries for B's records answer 404 each; a transaction with one fails whole."""
    reads = [entry("GET", f"{t}/{i}") for t, i in world.b.shared]
    mine = entry("GET", f"Task/{world.a.task}")
    for name, door in doors_a.items():
        status, body, _ = door.post("", bundle("batch", *reads))
        assert status == 200, name
        statuses = [e["response"]["status"] for e in body["entry"]]
        assert statuses == ["404 Not Found"] * len(reads), name
        hidden = entry("GET", f"Task/{world.b.task}")
        assert door.post("", bundle("transaction", mine, hidden))[0] == 404, name


# ------------------------------------------------------------------------- redirection


def redirect(app: Flask, world: World, *, task_too: bool = True) -> None:
    """A full client sends Karimi's referral (and its Task) to centre B instead."""
    target = {"reference": f"Organization/{CENTRE_B}"}
    service_request = without_meta(current(app, "ServiceRequest", world.a.service_request))
    service_request["performer"] = [target]
    entries = [entry("PUT", f"ServiceRequest/{world.a.service_request}", service_request)]
    if task_too:
        task = {**without_meta(current(app, "Task", world.a.task)), "owner": target}
        entries.append(entry("PUT", f"Task/{world.a.task}", task))
    status, answer, _ = bearer(app).post("", bundle("transaction", *entries))
    assert status == 200, answer


def test_redirected_referral_is_withdrawn_at_once(
    app: Flask, doors_a: dict[str, Door], world: World
) -> None:
    """Once the referral and Task go to B, A reaches none of it by any path; B does."""
    links = {}
    for name, door in doors_a.items():
        _, first, _ = door.get("Observation?_count=1")
        links[name] = next(x["url"] for x in first["link"] if x["relation"] == "next")
    redirect(app, world)
    withdrawn = refs(world.a.shared)
    queries = ("Patient", "Observation", "Task", "ServiceRequest", "_history", "Task/_history")
    for name, door in doors_a.items():
        for res_type, fhir_id in world.a.shared:
            same_apart_from_id(door, f"{res_type}/{fhir_id}", fhir_id)
        for query in queries:
            assert not search_ids(door, query)[0] & withdrawn, (name, query)
        status, page, _ = door.get(links[name].split("/fhir/", 1)[1])
        assert status == 200 and not ids_in(page) & withdrawn, name
    door_b = bearer(app, "system/*.read", organization=CENTRE_B)
    for res_type, fhir_id in world.a.shared:
        assert door_b.get(f"{res_type}/{fhir_id}")[0] == 200, (res_type, fhir_id)


def test_performer_change_withdraws_the_reasons_at_once(
    app: Flask, doors_a: dict[str, Door], world: World
) -> None:
    """A new performer alone ends A's access to encounter, reasons and consent at once."""
    redirect(app, world, task_too=False)
    a = world.a
    gone = [("Encounter", a.encounter), ("Condition", a.condition), ("Consent", a.consent)]
    gone += [("Observation", o) for o in a.observations]
    for name, door in doors_a.items():
        for res_type, fhir_id in gone:
            assert door.get(f"{res_type}/{fhir_id}")[0] == 404, (name, res_type, fhir_id)
        assert door.get(f"Task/{a.task}")[0] == 200, name


# ------------------------------------------------------------------------- known leaks


def test_put_answers_alike_for_hidden_and_unknown_ids(
    doors_a: dict[str, Door], world: World
) -> None:
    """PUT with the same (invalid) body to B's Task and to an unknown id answers alike."""
    for door in doors_a.values():
        hidden = door.put(f"Task/{world.b.task}", {})
        unknown = door.put(f"Task/{UNKNOWN}", {})
        assert hidden[0] == unknown[0]
        assert json.dumps(hidden[1]).replace(world.b.task, UNKNOWN) == json.dumps(unknown[1])


def test_conditional_update_answers_alike_for_hidden_and_unknown_ids(
    app: Flask, doors_a: dict[str, Door], world: World
) -> None:
    """Conditional PUT (no match) with the body id of B's Task answers as an unused id."""
    task = without_meta(current(app, "Task", world.b.task))
    for door in doors_a.values():
        unknown = door.put("Task?identifier=none-such", {**task, "id": UNKNOWN})
        hidden = door.put("Task?identifier=none-such", task)
        assert unknown[0] == 403
        assert hidden[0] == unknown[0], hidden[1]


def test_cannot_grant_itself_another_centres_referral(
    app: Flask, doors_a: dict[str, Door], world: World
) -> None:
    """A Task of A naming B's referral and patient does not open them to A."""
    task = without_meta(current(app, "Task", world.a.task), "id")
    task["focus"] = {"reference": f"ServiceRequest/{world.b.service_request}"}
    task["for"] = {"reference": f"Patient/{world.b.patient}"}
    for door in doors_a.values():
        door.post("Task", task)
        assert door.get(f"Patient/{world.b.patient}")[0] == 404
        assert door.get(f"ServiceRequest/{world.b.service_request}")[0] == 404
