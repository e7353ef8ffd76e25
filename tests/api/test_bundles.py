"""Batch and transaction Bundles."""

from __future__ import annotations

import base64
import json
from typing import Any

from conftest import Fhir


def entry(
    method: str,
    url: str,
    resource: dict[str, Any] | None = None,
    full_url: str | None = None,
    **request: str,
) -> dict[str, Any]:
    item: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        item["resource"] = resource
    if full_url:
        item["fullUrl"] = full_url
    return item


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


PATIENT_URN = "urn:uuid:7f1a4a50-0a6e-4d0e-9d3c-1b4b2a1c0001"


def test_transaction_rewrites_urn_references(fhir: Fhir) -> None:
    status, body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry(
                "POST",
                "Observation",
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "TUG"},
                    "subject": {"reference": PATIENT_URN},
                },
            ),
            entry(
                "POST",
                "Patient",
                {"resourceType": "Patient", "name": [{"family": "Noori"}]},
                PATIENT_URN,
            ),
        ),
    )
    assert status == 200 and body["type"] == "transaction-response"
    obs_resp, pat_resp = (e["response"] for e in body["entry"])
    assert obs_resp["status"] == pat_resp["status"] == "201 Created"
    patient_id = pat_resp["location"].split("/Patient/")[1].split("/")[0]
    obs = body["entry"][0]["resource"]
    assert obs["subject"]["reference"] == f"Patient/{patient_id}"
    assert fhir.get(f"Observation?subject=Patient/{patient_id}")[1]["total"] == 1


def test_transaction_is_all_or_nothing(fhir: Fhir) -> None:
    status, body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry("POST", "Patient", {"resourceType": "Patient", "name": [{"family": "A"}]}),
            entry("POST", "Patient", {"resourceType": "Patient", "colour": "red"}),
        ),
    )
    assert status == 422
    assert body["issue"][0]["diagnostics"].startswith("Bundle.entry[1]: ")
    assert fhir.get("Patient?_summary=count")[1]["total"] == 0
    fhir.put("Patient/p1", {"resourceType": "Patient", "id": "p1"})
    status, body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry("PUT", "Patient/p1", {"resourceType": "Patient", "id": "p1", "active": True}),
            entry("PUT", "Patient/p2", {"resourceType": "Patient", "id": "p2"}, ifMatch='W/"4"'),
        ),
    )
    assert status == 412
    assert "active" not in fhir.get("Patient/p1")[1]
    assert fhir.get("Patient/p2")[0] == 404


def test_transaction_conditional_create_and_reference(fhir: Fhir) -> None:
    existing = fhir.create(
        {"resourceType": "Patient", "identifier": [{"system": "urn:case", "value": "K-9"}]}
    )
    status, body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry(
                "POST",
                "Patient",
                {"resourceType": "Patient", "identifier": [{"system": "urn:case", "value": "K-9"}]},
                PATIENT_URN,
                ifNoneExist="identifier=urn:case|K-9",
            ),
            entry(
                "POST",
                "Observation",
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": PATIENT_URN},
                    "performer": [{"reference": "Patient?identifier=urn:case|K-9"}],
                },
            ),
        ),
    )
    assert status == 200, body
    assert body["entry"][0]["response"]["status"] == "200 OK"
    obs = body["entry"][1]["resource"]
    assert obs["subject"]["reference"] == f"Patient/{existing['id']}"
    assert obs["performer"][0]["reference"] == f"Patient/{existing['id']}"
    assert fhir.get("Patient?_summary=count")[1]["total"] == 1
    status, body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry(
                "POST",
                "Observation",
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient?identifier=nothing"},
                },
            ),
        ),
    )
    assert status == 412


def test_transaction_order_delete_put_patch_get(fhir: Fhir) -> None:
    fhir.put("Patient/gone", {"resourceType": "Patient", "id": "gone"})
    fhir.put("Patient/kept", {"resourceType": "Patient", "id": "kept"})
    patch = base64.b64encode(
        json.dumps([{"op": "add", "path": "/active", "value": True}]).encode()
    ).decode()
    status, body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry("GET", "Patient?_id=gone,kept"),
            entry(
                "PATCH",
                "Patient/kept",
                {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": patch,
                },
            ),
            entry("DELETE", "Patient/gone"),
        ),
    )
    assert status == 200, body
    search, patched, deleted = body["entry"]
    assert search["resource"]["total"] == 1  # GET runs last, after the DELETE
    assert patched["resource"]["active"] is True
    assert deleted["response"]["status"] == "204 No Content"


def test_batch_entries_are_independent(fhir: Fhir) -> None:
    status, body, _ = fhir.post(
        "",
        bundle(
            "batch",
            entry("POST", "Patient", {"resourceType": "Patient"}),
            entry("POST", "Patient", {"resourceType": "Patient", "colour": "red"}),
            entry("GET", "Patient/missing"),
            entry("PUT", "Patient/b1", {"resourceType": "Patient", "id": "b1"}),
        ),
    )
    assert status == 200 and body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "404 Not Found", "201 Created"]
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert fhir.get("Patient?_summary=count")[1]["total"] == 2


def test_bad_bundles(fhir: Fhir) -> None:
    assert fhir.post("", {"resourceType": "Patient"})[0] == 400
    assert fhir.post("", {"resourceType": "Bundle", "type": "collection"})[0] == 400
    assert fhir.post("", bundle("transaction", {"request": {"method": "POST"}}))[0] == 400
    assert fhir.post("", bundle("batch", *[entry("GET", "Patient")] * 1001))[0] == 413
    status, _body, _ = fhir.post(
        "",
        bundle(
            "transaction",
            entry(
                "POST",
                "Observation",
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "urn:uuid:nobody"},
                },
            ),
        ),
    )
    assert status == 400
    assert fhir.get("")[0] == 405
