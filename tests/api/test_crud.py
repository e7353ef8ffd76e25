"""Read, vread, create, update, patch, delete and history through the HTTP door."""

from __future__ import annotations

from conftest import Fhir

PATIENT = {
    "resourceType": "Patient",
    "name": [{"family": "Rahimi", "given": ["Zahra"]}],
    "gender": "female",
    "birthDate": "1990-04-01",
}


def test_create_sets_id_meta_and_headers(fhir: Fhir) -> None:
    status, body, headers = fhir.post("Patient", {**PATIENT, "id": "ignored"})
    assert status == 201
    assert body["id"] != "ignored"
    assert body["meta"]["versionId"] == "1"
    assert headers["ETag"] == 'W/"1"'
    assert headers["Location"] == f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert headers["Content-Type"].startswith("application/fhir+json")
    assert "GMT" in headers["Last-Modified"]


def test_read_and_vread(fhir: Fhir) -> None:
    created = fhir.create(PATIENT)
    pid = created["id"]
    fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid, "gender": "other"})
    status, body, headers = fhir.get(f"Patient/{pid}")
    assert (status, body["gender"], headers["ETag"]) == (200, "other", 'W/"2"')
    status, body, _ = fhir.get(f"Patient/{pid}/_history/1")
    assert (status, body["gender"], body["meta"]["versionId"]) == (200, "female", "1")
    assert fhir.get(f"Patient/{pid}/_history/9")[0] == 404
    assert fhir.get(f"Patient/{pid}/_history/x")[0] == 404


def test_read_unknown_is_404_with_outcome(fhir: Fhir) -> None:
    status, body, _ = fhir.get("Patient/nope")
    assert status == 404
    assert body == {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "not-found", "diagnostics": "Patient/nope is not known"}
        ],
    }


def test_update_as_create_then_if_match(fhir: Fhir) -> None:
    status, body, headers = fhir.put("Patient/p-1", {**PATIENT, "id": "p-1"})
    assert (status, body["meta"]["versionId"]) == (201, "1")
    assert headers["Location"].endswith("/Patient/p-1/_history/1")
    status, body, _ = fhir.put(
        "Patient/p-1", {**PATIENT, "id": "p-1"}, headers={"If-Match": 'W/"1"'}
    )
    assert (status, body["meta"]["versionId"]) == (200, "2")
    status, body, _ = fhir.put(
        "Patient/p-1", {**PATIENT, "id": "p-1"}, headers={"If-Match": 'W/"1"'}
    )
    assert status == 412
    assert body["issue"][0]["code"] == "conflict"
    assert fhir.get("Patient/p-1")[1]["meta"]["versionId"] == "2"


def test_update_id_must_match_url(fhir: Fhir) -> None:
    status, body, _ = fhir.put("Patient/a", {**PATIENT, "id": "b"})
    assert status == 400
    assert body["issue"][0]["expression"] == ["Patient.id"]
    assert fhir.put("Patient/a", PATIENT)[0] == 400
    assert fhir.get("Patient/a")[0] == 404


def test_conditional_create(fhir: Fhir) -> None:
    ident = {"identifier": [{"system": "urn:case", "value": "C-1"}]}
    first = fhir.post(
        "Patient", {**PATIENT, **ident}, headers={"If-None-Exist": "identifier=urn:case|C-1"}
    )
    again = fhir.post(
        "Patient", {**PATIENT, **ident}, headers={"If-None-Exist": "identifier=urn:case|C-1"}
    )
    assert (first[0], again[0]) == (201, 200)
    assert first[1]["id"] == again[1]["id"]
    fhir.create({**PATIENT, **ident})
    status, _body, _ = fhir.post(
        "Patient", PATIENT, headers={"If-None-Exist": "identifier=urn:case|C-1"}
    )
    assert status == 412
    assert fhir.get("Patient?_summary=count")[1]["total"] == 2


def test_json_patch(fhir: Fhir) -> None:
    pid = fhir.create(PATIENT)["id"]
    patch = [
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/active", "value": True},
    ]
    status, body, headers = fhir.request(
        "PATCH", f"Patient/{pid}", patch, content_type="application/json-patch+json"
    )
    assert (status, body["gender"], body["active"], headers["ETag"]) == (200, "male", True, 'W/"2"')
    bad = [{"op": "replace", "path": "/nothing/here", "value": 1}]
    status, body, _ = fhir.request(
        "PATCH", f"Patient/{pid}", bad, content_type="application/json-patch+json"
    )
    assert status == 422
    unknown = [{"op": "add", "path": "/colour", "value": "red"}]
    status, body, _ = fhir.request(
        "PATCH", f"Patient/{pid}", unknown, content_type="application/json-patch+json"
    )
    assert (status, body["issue"][0]["expression"]) == (422, ["Patient.colour"])
    stale = fhir.request(
        "PATCH",
        f"Patient/{pid}",
        patch,
        headers={"If-Match": 'W/"1"'},
        content_type="application/json-patch+json",
    )
    assert stale[0] == 412
    wrong_type = fhir.request("PATCH", f"Patient/{pid}", patch)
    assert wrong_type[0] == 415


def test_delete_then_gone_and_history(fhir: Fhir) -> None:
    pid = fhir.create(PATIENT)["id"]
    assert fhir.delete(f"Patient/{pid}")[0] == 204
    status, body, _ = fhir.get(f"Patient/{pid}")
    assert (status, body["issue"][0]["code"]) == (410, "deleted")
    assert fhir.delete(f"Patient/{pid}")[0] == 204
    assert fhir.get(f"Patient/{pid}/_history/2")[0] == 410
    assert fhir.get(f"Patient/{pid}/_history/1")[0] == 200
    status, body, _ = fhir.get(f"Patient/{pid}/_history")
    assert body["type"] == "history" and body["total"] == 2
    deleted, created = body["entry"]
    assert "resource" not in deleted
    assert deleted["request"] == {"method": "DELETE", "url": f"Patient/{pid}"}
    assert created["response"]["status"] == "201 Created"
    # a deleted resource is not found by search, and can be brought back by update
    assert fhir.get(f"Patient?_id={pid}")[1]["total"] == 0
    status, body, _ = fhir.put(f"Patient/{pid}", {**PATIENT, "id": pid})
    assert (status, body["meta"]["versionId"]) == (200, "3")
    assert fhir.delete("Patient/never-there")[0] == 404


def test_type_history_pages_do_not_shift(fhir: Fhir) -> None:
    seeded = fhir.get("_history")[1]["total"]  # the IG's resources, loaded at db upgrade
    for family in ("A", "B", "C"):
        fhir.create({**PATIENT, "name": [{"family": family}]})
    status, page1, _ = fhir.get("Patient/_history?_count=2")
    assert (page1["total"], len(page1["entry"])) == (3, 2)
    fhir.create({**PATIENT, "name": [{"family": "D"}]})
    next_url = next(link["url"] for link in page1["link"] if link["relation"] == "next")
    status, page2, _ = fhir.get(next_url.split("/fhir/", 1)[1])
    assert status == 200
    families = [e["resource"]["name"][0]["family"] for e in page1["entry"] + page2["entry"]]
    assert families == ["C", "B", "A"]
    assert fhir.get("_history")[1]["total"] == seeded + 4


def test_prefer_return(fhir: Fhir) -> None:
    status, body, headers = fhir.post("Patient", PATIENT, headers={"Prefer": "return=minimal"})
    assert (status, body) == (201, None)
    assert headers["ETag"] == 'W/"1"' and "Location" in headers
    status, body, _ = fhir.post("Patient", PATIENT, headers={"Prefer": "return=OperationOutcome"})
    assert body["resourceType"] == "OperationOutcome"


def test_hostile_strings_are_stored_literally(fhir: Fhir) -> None:
    hostile = "<script>alert(1)</script>' OR 1=1; -- \u202e\u0644\u0627" + "x" * 5000
    created = fhir.create({**PATIENT, "name": [{"family": hostile}]})
    _, body, _ = fhir.get(f"Patient/{created['id']}")
    assert body["name"][0]["family"] == hostile
    status, _found, _ = fhir.get("Patient", headers={})
    assert status == 200
