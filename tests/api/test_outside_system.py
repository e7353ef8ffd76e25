"""An outside health system's session with the server, end to end over real HTTP.

It POSTs a transaction of a Patient, an Encounter, Observations and a ServiceRequest
that reference each other by urn:uuid, then reads, searches with _include, pages,
updates with a stale If-Match, deletes and reads the history. The server runs in a
real thread on a loopback port, on each database backend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from conftest import api_token

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
URN = {
    name: f"urn:uuid:0b7c2f0e-0000-4000-8000-00000000000{i}"
    for i, name in enumerate(["patient", "encounter", "tug", "walk", "referral"])
}


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.extensions["screening"].config = app.extensions["screening"].config.with_overrides(
        base_url=f"http://127.0.0.1:{server.server_port}/fhir"
    )
    yield f"http://127.0.0.1:{server.server_port}/fhir"
    server.shutdown()
    thread.join()


def screening_bundle() -> dict[str, Any]:
    subject = {"reference": URN["patient"]}
    encounter = {"reference": URN["encounter"]}

    def obs(code: dict[str, str], value: float, unit: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [code]},
            "subject": subject,
            "encounter": encounter,
            "effectiveDateTime": "2026-11-20T10:00:00+03:30",
            "valueQuantity": {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        }

    resources = {
        "patient": {
            "resourceType": "Patient",
            "gender": "male",
            "birthDate": "1979",
            "identifier": [{"system": "urn:example:case", "value": "KBL-0042"}],
            "name": [{"family": "Haidari", "given": ["Nasir"]}],
        },
        "encounter": {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "FLD"},
            "subject": subject,
        },
        "tug": obs({"system": "http://snomed.info/sct", "code": "444680009"}, 16.4, "s"),
        "walk": obs({"system": "http://loinc.org", "code": "64098-7"}, 210, "m"),
        "referral": {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "priority": "urgent",
            "subject": subject,
            "encounter": encounter,
            "code": {"text": "Prosthetics and orthotics"},
            "reasonReference": [{"reference": URN["tug"]}, {"reference": URN["walk"]}],
        },
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": URN[name],
                "resource": res,
                "request": {"method": "POST", "url": res["resourceType"]},
            }
            for name, res in resources.items()
        ],
    }


def test_outside_system_session(app: Flask, base_url: str) -> None:
    headers = {**FHIR, "Authorization": f"Bearer {api_token(app)}"}
    with httpx.Client(base_url=base_url + "/", headers=headers, timeout=30) as http:
        r = http.post("", json=screening_bundle())
        assert r.status_code == 200, r.text
        locations = [e["response"]["location"] for e in r.json()["entry"]]
        assert all(loc.startswith(base_url) for loc in locations)
        patient_ref = "/".join(locations[0].removeprefix(base_url + "/").split("/")[:2])
        referral_ref = "/".join(locations[4].removeprefix(base_url + "/").split("/")[:2])

        r = http.get(referral_ref)
        assert r.status_code == 200 and r.headers["ETag"] == 'W/"1"'
        referral = r.json()
        assert referral["subject"]["reference"] == patient_ref
        assert all(
            ref["reference"].startswith("Observation/") for ref in referral["reasonReference"]
        )

        r = http.get(
            "Observation",
            params={
                "subject": patient_ref,
                "_include": "Observation:subject",
                "_count": "1",
                "_sort": "-value-quantity",
            },
        )
        page = r.json()
        assert page["total"] == 2
        modes = [e["search"]["mode"] for e in page["entry"]]
        assert modes == ["match", "include"]
        assert page["entry"][0]["resource"]["valueQuantity"]["value"] == 210
        next_url = next(lk["url"] for lk in page["link"] if lk["relation"] == "next")
        page2 = http.get(next_url).json()
        assert page2["entry"][0]["resource"]["valueQuantity"]["value"] == 16.4
        assert [e["search"]["mode"] for e in page2["entry"]] == ["match", "include"]

        updated = {**referral, "status": "revoked"}
        r = http.put(referral_ref, json=updated, headers={"If-Match": 'W/"1"'})
        assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'
        r = http.put(
            referral_ref, json={**referral, "status": "completed"}, headers={"If-Match": 'W/"1"'}
        )
        assert r.status_code == 412
        assert r.json()["resourceType"] == "OperationOutcome"

        assert http.delete(referral_ref).status_code == 204
        assert http.get(referral_ref).status_code == 410
        history = http.get(f"{referral_ref}/_history").json()
        assert [e["response"]["status"] for e in history["entry"]] == [
            "204 No Content",
            "200 OK",
            "201 Created",
        ]
        assert history["entry"][1]["resource"]["status"] == "revoked"
        assert http.get("ServiceRequest", params={"subject": patient_ref}).json()["total"] == 0
