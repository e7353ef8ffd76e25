"""`POST /fhir/QuestionnaireResponse/$extract`: the transaction Bundle of a response and its
extracted resources, which stores everything when POSTed back; refusals; access; audit."""

from __future__ import annotations

import copy
import json
from typing import Any

from flask import Flask

from auth.support import AuditWatch, bearer, entity_refs, example, put_entry, subtype
from conftest import Fhir
from screenings.responses import (
    FIELD_SCREENING,
    IG,
    PATIENT,
    coding,
    field_screening,
    find_item,
    integer,
    string,
)

EXTRACT = "QuestionnaireResponse/$extract"
Json = dict[str, Any]


def store_context(fhir: Fhir) -> None:
    """The patient, screener, village and visit the field screening names."""
    names = (
        "Patient-example-ahmad-karimi",
        "Practitioner-example-zahra-ahmadi",
        "Location-example-village-deh-e-naw",
        "Encounter-example-screening-karimi",
    )
    body = {"resourceType": "Bundle", "type": "transaction"}
    body["entry"] = [put_entry(example(name)) for name in names]
    status, answer, _ = fhir.post("", body)
    assert status == 200, answer


def errors_of(body: Json) -> list[Json]:
    assert body["resourceType"] == "OperationOutcome"
    return [i for i in body["issue"] if i["severity"] in ("error", "fatal")]


def refused(fhir: Fhir, body: Any, status: int = 422) -> list[Json]:
    got, answer, _ = fhir.post(EXTRACT, body)
    assert got == status, answer
    return errors_of(answer)


# ------------------------------------------------------------------------- the Bundle


def test_extract_answers_a_bundle_that_stores_everything_when_posted(fhir: Fhir) -> None:
    store_context(fhir)
    status, bundle, _ = fhir.post(EXTRACT, field_screening())
    assert status == 200, bundle
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    first, *extracted = bundle["entry"]
    assert first["resource"]["resourceType"] == "QuestionnaireResponse"
    assert len(extracted) == 22
    assert fhir.get("Observation?subject=Patient/example-ahmad-karimi")[1]["total"] == 0

    status, stored, _ = fhir.post("", bundle)
    assert status == 200, stored
    base = "http://testserver/fhir/"
    locations = [
        e["response"]["location"].removeprefix(base).split("/_history")[0] for e in stored["entry"]
    ]
    response_ref = locations[0]
    assert response_ref.startswith("QuestionnaireResponse/")
    for location, entry in zip(locations[1:], extracted, strict=True):
        status, resource, _ = fhir.get(location)
        assert status == 200
        assert resource["meta"]["profile"] == entry["resource"]["meta"]["profile"]
        links = resource.get("derivedFrom") or resource["evidence"][0]["detail"]
        assert links == [{"reference": response_ref}]
    status, found, _ = fhir.get(f"Observation?derived-from={response_ref}&_count=50")
    assert found["total"] == 20
    status, conditions, _ = fhir.get("Condition?subject=Patient/example-ahmad-karimi")
    assert conditions["total"] == 2


def test_the_bundle_is_the_same_for_parameters_and_for_the_same_response(fhir: Fhir) -> None:
    qr = field_screening()
    _, plain, _ = fhir.post(EXTRACT, qr)
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": copy.deepcopy(qr)}],
    }
    status, wrapped, _ = fhir.post(EXTRACT, params)
    assert status == 200
    assert wrapped == plain
    assert fhir.post(EXTRACT, qr)[1] == plain


def test_calculated_totals_are_filled_in_before_extraction(fhir: Fhir) -> None:
    qr = field_screening()
    berg = find_item(qr, "berg")
    berg["item"] = [i for i in berg["item"] if i["linkId"] != "berg.total"]
    status, bundle, _ = fhir.post(EXTRACT, qr)
    assert status == 200, bundle
    totals = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("meta", {}).get("profile") == [f"{IG}/StructureDefinition/berg-total"]
    ]
    assert [t["valueInteger"] for t in totals] == [36]
    assert "berg.total" in json.dumps(bundle["entry"][0]["resource"])


# ------------------------------------------------------------------------- refusals


def test_an_unknown_questionnaire_is_422_naming_it(fhir: Fhir) -> None:
    qr = field_screening()
    qr["questionnaire"] = "https://example.org/Questionnaire/nope"
    (issue,) = refused(fhir, qr)
    assert "https://example.org/Questionnaire/nope" in issue["diagnostics"]
    assert issue["expression"] == ["QuestionnaireResponse.questionnaire"]
    qr["questionnaire"] = f"{FIELD_SCREENING}|9.9.9"
    assert f"{FIELD_SCREENING}|9.9.9" in refused(fhir, qr)[0]["diagnostics"]
    del qr["questionnaire"]
    assert refused(fhir, qr)[0]["expression"] == ["QuestionnaireResponse.questionnaire"]


def test_an_answer_outside_its_value_set_is_422(fhir: Fhir) -> None:
    qr = field_screening()
    find_item(qr, "wgss.mobility")["answer"] = [coding("wg-difficulty", "unbearable")]
    issues = refused(fhir, qr)
    assert any("unbearable" in i["diagnostics"] for i in issues)


def test_answers_of_the_wrong_type_are_422(fhir: Fhir) -> None:
    qr = field_screening()
    find_item(qr, "tug.seconds")["answer"] = [string("eighteen")]
    find_item(qr, "pain.score")["answer"] = [{"valueDecimal": 4.5}]
    issues = refused(fhir, qr)
    where = {e for i in issues for e in i.get("expression", [])}
    assert any(e.startswith("QuestionnaireResponse.item[1]") for e in where)  # tug
    assert any(e.startswith("QuestionnaireResponse.item[7]") for e in where)  # pain


def test_a_total_that_disagrees_with_its_items_is_422(fhir: Fhir) -> None:
    qr = field_screening()
    find_item(qr, "barthel.total")["answer"] = [integer(95)]
    (issue,) = refused(fhir, qr)
    assert "barthel.total" in issue["diagnostics"]


def test_a_response_that_is_not_completed_is_422(fhir: Fhir) -> None:
    (issue,) = refused(fhir, field_screening(status="in-progress"))
    assert issue["expression"] == ["QuestionnaireResponse.status"]


def test_an_extracted_resource_against_its_profile_is_checked(fhir: Fhir) -> None:
    qr = field_screening(author="Patient/example-ahmad-karimi")  # performer must be staff
    issues = refused(fhir, qr)
    assert issues and all(i["expression"][0].startswith("Bundle.entry[") for i in issues)


def test_malformed_bodies_are_400(fhir: Fhir) -> None:
    params_without = {"resourceType": "Parameters", "parameter": [{"name": "other"}]}
    for body in ([1, 2], {"resourceType": "Patient"}, params_without, {"no": "type"}):
        assert len(refused(fhir, body, 400)) == 1
    status, answer, _ = fhir.post(EXTRACT, '{"resourceType": ')
    assert status == 400 and errors_of(answer)


def test_other_methods_are_405(fhir: Fhir) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        status, body, _ = fhir.request(method, EXTRACT)
        assert status == 405, method
        assert errors_of(body)[0]["code"] == "not-supported"


# ------------------------------------------------------------------------- access and audit


def test_extract_needs_a_token_and_the_scopes(app: Flask) -> None:
    anonymous = Fhir(app.test_client())
    assert anonymous.post(EXTRACT, field_screening())[0] == 401
    for scopes in ("system/Patient.read", "system/QuestionnaireResponse.read"):
        status, body, _ = bearer(app, scopes).post(EXTRACT, field_screening())
        assert status == 403, scopes
        assert errors_of(body)[0]["code"] == "forbidden"
    allowed = bearer(app, "system/QuestionnaireResponse.read system/Observation.write")
    assert allowed.post(EXTRACT, field_screening())[0] == 200


def test_extract_is_audited_with_the_patient_and_stores_nothing(app: Flask, fhir: Fhir) -> None:
    watch = AuditWatch(app)
    assert fhir.post(EXTRACT, field_screening())[0] == 200
    (event,) = watch.take()
    assert subtype(event) == "operation" and event["outcome"] == "0"
    assert entity_refs(event, "1") == [PATIENT]
    assert any(e.get("name") == "$extract" for e in event["entity"])
    assert fhir.get("QuestionnaireResponse")[1]["total"] == 0
    assert [subtype(e) for e in watch.take()] == ["search-type"]
    assert fhir.post(EXTRACT, {"resourceType": "Patient"})[0] == 400
    (refusal,) = watch.take()
    assert refusal["outcome"] == "4"


def test_the_capability_statement_lists_extract(fhir: Fhir) -> None:
    _, statement, _ = fhir.get("metadata")
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    operations = {
        o["name"]: o["definition"] for o in resources["QuestionnaireResponse"]["operation"]
    }
    assert operations["extract"] == (
        "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract"
    )
    assert "extract" not in {o["name"] for o in resources["Observation"]["operation"]}
