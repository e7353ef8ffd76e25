"""Bad input always gets a 4xx OperationOutcome, never a 500 and never a partial write."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Fhir


def outcome_of(body: object) -> dict[str, object]:
    assert isinstance(body, dict) and body["resourceType"] == "OperationOutcome", body
    return body


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "status"),
    [
        ("POST", "Patient", "{", "application/fhir+json", 400),
        ("POST", "Patient", "[]", "application/fhir+json", 400),
        ("POST", "Patient", '{"resourceType": "Observation"}', "application/fhir+json", 400),
        ("POST", "Patient", '{"gender": "male"}', "application/fhir+json", 400),
        ("POST", "Patient", '{"resourceType": 5}', "application/fhir+json", 400),
        (
            "POST",
            "Patient",
            '{"resourceType": "Patient", "a": 1, "a": 2}',
            "application/fhir+json",
            400,
        ),
        ("POST", "Patient", '{"resourceType": "Patient", "x": NaN}', "application/fhir+json", 400),
        ("POST", "Patient", "<Patient/>", "application/fhir+xml", 415),
        ("POST", "Patient", '{"resourceType": "Patient"}', "text/plain", 415),
        ("POST", "Patient", "", "application/fhir+json", 400),
        ("POST", "Patient", b"\xff\xfe", "application/fhir+json", 400),
        (
            "POST",
            "Patient",
            '{"resourceType": "Patient", "birthDate": "1990-02-30"}',
            "application/fhir+json",
            422,
        ),
        (
            "POST",
            "Patient",
            '{"resourceType": "Patient", "gender": 3}',
            "application/fhir+json",
            422,
        ),
        (
            "POST",
            "Patient",
            '{"resourceType": "Patient", "name": {"family": "x"}}',
            "application/fhir+json",
            422,
        ),
        ("POST", "Unicorn", '{"resourceType": "Unicorn"}', "application/fhir+json", 404),
        ("GET", "Patient/a/b/c/d/e", None, None, 404),
        ("GET", "Patient/" + "x" * 65, None, None, 400),
        ("GET", "Patient/bad$id", None, None, 400),
        ("DELETE", "Patient", None, None, 405),
        ("PATCH", "Patient", None, None, 405),
        ("POST", "Patient/_history", "{}", "application/fhir+json", 405),
        (
            "PUT",
            "Patient/1",
            '{"resourceType": "Patient", "id": "1"}',
            "application/fhir+json",
            None,
        ),
    ],
)
def test_bad_requests(
    client: FlaskClient,
    method: str,
    path: str,
    body: str | bytes | None,
    ctype: str | None,
    status: int | None,
) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    response = client.open(f"/fhir/{path}", method=method, data=body, headers=headers)
    if status is None:  # the control case: the same shape, valid, is accepted
        assert response.status_code == 201
        return
    assert response.status_code == status, response.data
    outcome = outcome_of(response.get_json())
    assert outcome["issue"]
    assert client.get("/fhir/Patient?_summary=count").get_json()["total"] == 0


def test_if_match_malformed(fhir: Fhir) -> None:
    fhir.put("Patient/a", {"resourceType": "Patient", "id": "a"})
    status, body, _ = fhir.put(
        "Patient/a", {"resourceType": "Patient", "id": "a"}, headers={"If-Match": "yesterday"}
    )
    assert status == 400
    outcome_of(body)


def test_xml_is_not_acceptable(fhir: Fhir) -> None:
    assert fhir.get("Patient?_format=xml")[0] == 406
    assert fhir.get("Patient", headers={"Accept": "application/fhir+xml"})[0] == 406
    assert fhir.get("Patient", headers={"Accept": "application/fhir+json"})[0] == 200


def test_body_size_and_depth_limits(client: FlaskClient) -> None:
    huge = json.dumps(
        {
            "resourceType": "Patient",
            "text": {"status": "generated", "div": "<div>" + "x" * 6_000_000 + "</div>"},
        }
    )
    response = client.post(
        "/fhir/Patient", data=huge, headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 413
    outcome_of(response.get_json())
    deep = '{"resourceType": "Patient", "extension": ' + "[" * 100 + "]" * 100 + "}"
    response = client.post(
        "/fhir/Patient", data=deep, headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 400
    assert "nested" in outcome_of(response.get_json())["issue"][0]["diagnostics"]  # type: ignore[index]


def test_metadata_tells_the_truth(fhir: Fhir) -> None:
    status, cap, _ = fhir.get("metadata")
    assert status == 200 and cap["fhirVersion"] == "4.0.1"
    patient = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Patient")
    names = {p["name"] for p in patient["searchParam"]}
    assert {"name", "birthdate", "identifier", "_id", "_lastUpdated"} <= names
    assert "_text" not in names and "_filter" not in names  # not supported, so not listed
    for p in patient["searchParam"]:
        if p["name"].startswith("_"):
            continue
        query = f"Patient?{p['name']}:missing=true"
        assert fhir.get(query)[0] == 200, query
    for needed in (
        "Patient",
        "Observation",
        "ServiceRequest",
        "Task",
        "Consent",
        "AuditEvent",
        "StructureDefinition",
        "QuestionnaireResponse",
    ):
        assert any(r["type"] == needed for r in cap["rest"][0]["resource"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
paths = st.sampled_from(
    [
        "Patient",
        "Observation",
        "Patient/x",
        "Patient/x/_history",
        "Observation/_search",
        "",
        "Task/y/_history/1",
        "Bundle",
        "nope/1",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=paths,
    body=json_values,
    ctype=st.sampled_from(
        [
            "application/fhir+json",
            "application/json-patch+json",
            "application/x-www-form-urlencoded",
            "text/html",
        ]
    ),
    query=st.text(max_size=30),
)
def test_random_requests_never_500(
    client: FlaskClient, method: str, path: str, body: object, ctype: str, query: str
) -> None:
    if isinstance(body, dict) and path and path.split("/")[0][:1].isupper():
        body = {"resourceType": path.split("/")[0], **body}
    response = client.open(
        f"/fhir/{path}",
        method=method,
        query_string=query,
        data=json.dumps(body),
        headers={"Content-Type": ctype},
    )
    assert response.status_code < 500, response.data
    if response.status_code >= 400:
        outcome_of(response.get_json())
