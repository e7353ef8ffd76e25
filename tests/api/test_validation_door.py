"""The validator at the HTTP door: writes refused with 422, $validate, the IG at /fhir."""

from __future__ import annotations

import copy
import json
from typing import Any

from conftest import Fhir
from screening.paths import data_dir

IG = "https://fhir.rehab-screening.example"
EXAMPLES = data_dir("fhir_profiles") / "examples"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def test_profiled_example_is_stored_and_broken_one_refused(fhir: Fhir) -> None:
    tug = example("Observation-example-tug-karimi.json")
    status, body, _ = fhir.put(f"Observation/{tug['id']}", tug)
    assert status == 201, body
    broken = copy.deepcopy(tug)
    del broken["subject"]
    broken["id"] = "broken-tug"
    status, body, _ = fhir.put("Observation/broken-tug", broken)
    assert status == 422
    errors = [i for i in body["issue"] if i["severity"] == "error"]
    assert any("Observation.subject: minimum required = 1" in i["diagnostics"] for i in errors)
    assert fhir.get("Observation/broken-tug")[0] == 404


def test_unknown_profile_is_an_error_naming_the_url(fhir: Fhir) -> None:
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": ["http://example.org/StructureDefinition/nope"]},
    }
    status, body, _ = fhir.post("Patient", patient)
    assert status == 422
    assert any(
        "http://example.org/StructureDefinition/nope" in i["diagnostics"] for i in body["issue"]
    )


def test_validate_operation_modes(fhir: Fhir) -> None:
    person = example("Patient-example-ahmad-karimi.json")
    status, body, _ = fhir.post("Patient/$validate", person)
    assert status == 200 and body["resourceType"] == "OperationOutcome"
    assert not [i for i in body["issue"] if i["severity"] == "error"]
    bare = {"resourceType": "Patient", "gender": "male"}
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": bare},
            {"name": "profile", "valueUri": f"{IG}/StructureDefinition/screened-person"},
        ],
    }
    status, body, _ = fhir.post("Patient/$validate", params)
    assert status == 200
    assert any(i["severity"] == "error" for i in body["issue"])
    status, body, _ = fhir.post(
        f"Patient/$validate?profile={IG}/StructureDefinition/screened-person", bare
    )
    assert any(i["severity"] == "error" for i in body["issue"])
    fhir.put("Patient/p1", {"resourceType": "Patient", "id": "p1"})
    status, body, _ = fhir.get("Patient/p1/$validate")
    assert status == 200 and not [i for i in body["issue"] if i["severity"] == "error"]
    status, body, _ = fhir.post(
        "Patient/p1/$validate?mode=update", {"resourceType": "Patient", "id": "other"}
    )
    assert any(i.get("expression") == ["Patient.id"] for i in body["issue"])
    assert fhir.get("Patient/p1/$validate?mode=delete")[0] == 200
    assert fhir.get("Patient/none/$validate?mode=delete")[0] == 404
    assert fhir.post("Patient/$validate", [1, 2])[0] == 400
    assert fhir.request("PUT", "Patient/$validate", bare)[0] == 405


def test_ig_definitions_are_readable_and_searchable(fhir: Fhir) -> None:
    status, body, _ = fhir.get("StructureDefinition/screened-person")
    assert status == 200 and body["url"] == f"{IG}/StructureDefinition/screened-person"
    found = fhir.get(f"StructureDefinition?url={IG}/StructureDefinition/tug")[1]
    assert found["total"] == 1
    valuesets = fhir.get(f"ValueSet?url:below={IG}/")[1]
    assert valuesets["total"] >= 10
    codesystems = fhir.get("CodeSystem?name:contains=cause")[1]
    assert codesystems["total"] >= 1


def test_capability_statement_lists_profiles_and_validate(fhir: Fhir) -> None:
    cap = fhir.get("metadata")[1]
    observation = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Observation")
    assert f"{IG}/StructureDefinition/tug" in observation["supportedProfile"]
    assert observation["operation"][0]["name"] == "validate"
