"""What a receiving system does with its referrals through /fhir: search ServiceRequest and
Task by status, patient, performer, owner, requester, priority and authored date, include
the patient and the screening, and update the Task (issue 6, point 5)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from auth.support import CENTRE_A, CENTRE_B, bearer, load_world


def _found(body: dict[str, Any], mode: str = "match") -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in body.get("entry", [])
        if e["search"]["mode"] == mode
    }


def test_a_centre_pulls_its_referrals_with_the_patient_and_the_screening(app: Flask) -> None:
    world = load_world(app)
    centre = bearer(app, "system/*.rs system/Task.u", organization=CENTRE_A)
    status, body, _ = centre.get(
        f"Task?owner=Organization/{CENTRE_A}&status=accepted&_include=Task:focus"
        "&_include=Task:patient"
    )
    assert status == 200, body
    assert _found(body) == {f"Task/{world.a.task}"}
    assert _found(body, "include") == {
        f"ServiceRequest/{world.a.service_request}",
        f"Patient/{world.a.patient}",
    }
    query = (
        f"ServiceRequest?performer=Organization/{CENTRE_A}&status=active&priority=routine"
        "&authored=ge2026-01-01&_include=ServiceRequest:patient"
        "&_include=ServiceRequest:supporting-info"
    )
    status, body, _ = centre.get(query)
    assert status == 200, body
    assert _found(body) == {f"ServiceRequest/{world.a.service_request}"}
    assert f"Patient/{world.a.patient}" in _found(body, "include")
    assert f"Consent/{world.a.consent}" in _found(body, "include")


def test_searches_by_patient_and_requester_stay_within_the_centre(app: Flask) -> None:
    world = load_world(app)
    centre = bearer(app, "system/*.rs", organization=CENTRE_A)
    everyone = bearer(app, "system/*.rs")
    for query in (
        f"ServiceRequest?patient=Patient/{world.b.patient}",
        f"Task?patient=Patient/{world.b.patient}",
        f"Task?owner=Organization/{CENTRE_B}",
    ):
        status, body, _ = centre.get(query)
        assert status == 200 and _found(body) == set(), query
    status, body, _ = everyone.get("ServiceRequest?requester=Practitioner/example-zahra-ahmadi")
    assert status == 200
    assert {f"ServiceRequest/{world.a.service_request}"} <= _found(body)


def test_a_centre_takes_its_referral_forward_and_the_referrer_sees_it(app: Flask) -> None:
    world = load_world(app)
    centre = bearer(app, "system/*.rs system/Task.u", organization=CENTRE_A)
    path = f"Task/{world.a.task}"
    status, task, _ = centre.get(path)
    assert status == 200
    task["status"] = "in-progress"
    status, body, _ = centre.put(path, task)
    assert status == 200, body
    referrer = bearer(app, "system/*.rs")
    status, body, _ = referrer.get(f"Task?focus=ServiceRequest/{world.a.service_request}")
    assert status == 200
    (entry,) = body["entry"]
    assert entry["resource"]["status"] == "in-progress"
