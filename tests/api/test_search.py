"""Search: parameter types, modifiers, prefixes, paging, sorting, includes, reporting."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Fhir

TUG = {"system": "http://snomed.info/sct", "code": "444680009"}
WALK = {"system": "http://loinc.org", "code": "64098-7"}


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    ]


def observation(
    subject: str, code: dict[str, str], value: float, when: str, unit: str = "s"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [code]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


@pytest.fixture
def people(fhir: Fhir) -> dict[str, str]:
    made = {
        "ali": fhir.create(
            {
                "resourceType": "Patient",
                "name": [{"family": "Karimi", "given": ["Ali"]}],
                "gender": "male",
                "birthDate": "1980-05-02",
                "identifier": [{"system": "urn:case", "value": "C-1"}],
            }
        ),
        "zahra": fhir.create(
            {
                "resourceType": "Patient",
                "name": [{"family": "Kazemi", "given": ["Zahra"]}],
                "gender": "female",
                "birthDate": "1992-01-15",
                "active": True,
            }
        ),
        "yasin": fhir.create(
            {
                "resourceType": "Patient",
                "name": [{"family": "علي كريمي"}],
                "gender": "male",
                "birthDate": "2001",
            }
        ),
        "renee": fhir.create(
            {"resourceType": "Patient", "name": [{"family": "Renée"}], "gender": "unknown"}
        ),
    }
    return {k: v["id"] for k, v in made.items()}


def test_string_default_exact_contains(fhir: Fhir, people: dict[str, str]) -> None:
    assert sorted(ids(fhir.get("Patient?name=ka")[1])) == sorted([people["ali"], people["zahra"]])
    assert ids(fhir.get("Patient?family:exact=Karimi")[1]) == [people["ali"]]
    assert ids(fhir.get("Patient?family:exact=karimi")[1]) == []
    assert ids(fhir.get("Patient?name:contains=zem")[1]) == [people["zahra"]]
    assert ids(fhir.get("Patient?name=renee")[1]) == [people["renee"]]  # accents fold
    # Arabic yeh and kaf find the Persian spelling and the other way round
    assert ids(fhir.get("Patient?name=علی کریمی")[1]) == [people["yasin"]]


def test_token_forms_and_not(fhir: Fhir, people: dict[str, str]) -> None:
    assert ids(fhir.get("Patient?identifier=urn:case|C-1")[1]) == [people["ali"]]
    assert ids(fhir.get("Patient?identifier=C-1")[1]) == [people["ali"]]
    assert ids(fhir.get("Patient?identifier=urn:other|C-1")[1]) == []
    assert ids(fhir.get("Patient?identifier=urn:case|")[1]) == [people["ali"]]
    assert ids(fhir.get("Patient?identifier=|C-1")[1]) == []
    assert sorted(ids(fhir.get("Patient?gender=male,female")[1])) == sorted(
        [people["ali"], people["zahra"], people["yasin"]]
    )
    assert sorted(ids(fhir.get("Patient?gender:not=male")[1])) == sorted(
        [people["zahra"], people["renee"]]
    )
    assert ids(fhir.get("Patient?active=true")[1]) == [people["zahra"]]


def test_missing(fhir: Fhir, people: dict[str, str]) -> None:
    assert ids(fhir.get("Patient?birthdate:missing=true")[1]) == [people["renee"]]
    assert len(ids(fhir.get("Patient?birthdate:missing=false")[1])) == 3
    assert fhir.get("Patient?birthdate:missing=maybe")[0] == 400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("birthdate=1980", ["ali"]),
        ("birthdate=1980-05", ["ali"]),
        ("birthdate=eq1980-05-02", ["ali"]),
        ("birthdate=ne1980-05-02", ["zahra", "yasin"]),
        ("birthdate=gt1992-01-15", ["yasin"]),
        ("birthdate=ge1992-01-15", ["zahra", "yasin"]),
        ("birthdate=lt1992", ["ali"]),
        ("birthdate=le1992-01-15", ["ali", "zahra"]),
        ("birthdate=sa1992-01-15", ["yasin"]),
        ("birthdate=eb1992-01-15", ["ali"]),
        ("birthdate=2001-06", []),  # 2001 is wider than June 2001: not contained
        ("birthdate=ge1981&birthdate=lt2000", ["zahra"]),
    ],
)
def test_date_prefixes(fhir: Fhir, people: dict[str, str], query: str, expected: list[str]) -> None:
    assert sorted(ids(fhir.get(f"Patient?{query}")[1])) == sorted(people[k] for k in expected)


def test_quantity_number_reference(fhir: Fhir, people: dict[str, str]) -> None:
    ali, zahra = f"Patient/{people['ali']}", f"Patient/{people['zahra']}"
    o1 = fhir.create(observation(ali, TUG, 14.2, "2026-11-01"))["id"]
    o2 = fhir.create(observation(zahra, TUG, 9.5, "2026-11-02"))["id"]
    o3 = fhir.create(observation(ali, WALK, 320, "2026-11-03", "m"))["id"]
    assert ids(fhir.get("Observation?value-quantity=gt13.5")[1]) == [o1, o3]
    assert ids(fhir.get("Observation?value-quantity=14.2")[1]) == [o1]
    assert ids(fhir.get("Observation?value-quantity=14")[1]) == [o1]  # 13.5 <= 14.2 < 14.5
    assert ids(fhir.get("Observation?value-quantity=le9.5||s")[1]) == [o2]
    assert ids(fhir.get("Observation?value-quantity=gt1|http://unitsofmeasure.org|m")[1]) == [o3]
    assert ids(fhir.get(f"Observation?subject={ali}&code=444680009")[1]) == [o1]
    assert ids(fhir.get(f"Observation?subject={people['ali']}")[1]) == [o1, o3]
    assert ids(fhir.get(f"Observation?subject:Patient={people['zahra']}")[1]) == [o2]
    assert ids(fhir.get(f"Observation?patient={ali}&code=http://loinc.org|64098-7")[1]) == [o3]
    assert ids(fhir.get(f"Observation?subject=http://testserver/fhir/{zahra}")[1]) == [o2]
    assert ids(fhir.get("Observation?date=2026-11-02")[1]) == [o2]


def test_number_and_uri(fhir: Fhir) -> None:
    q = fhir.create(
        {
            "resourceType": "Questionnaire",
            "status": "active",
            "url": "http://example.org/Questionnaire/wgss",
            "version": "1",
        }
    )
    fhir.create(
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "url": "http://example.org/Questionnaire/tug",
        }
    )
    assert ids(fhir.get("Questionnaire?url=http://example.org/Questionnaire/wgss")[1]) == [q["id"]]
    assert ids(fhir.get("Questionnaire?url=http://example.org/Questionnaire")[1]) == []
    assert len(ids(fhir.get("Questionnaire?url:below=http://example.org/")[1])) == 2
    rm = fhir.create(
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": {"reference": "Patient/x"},
            "prediction": [{"probabilityDecimal": 0.25}],
        }
    )
    assert ids(fhir.get("RiskAssessment?probability=gt0.2")[1]) == [rm["id"]]
    assert ids(fhir.get("RiskAssessment?probability=0.3")[1]) == [rm["id"]]  # [0.25, 0.35)
    assert ids(fhir.get("RiskAssessment?probability=0.4")[1]) == []


def test_id_and_last_updated(fhir: Fhir, people: dict[str, str]) -> None:
    assert ids(fhir.get(f"Patient?_id={people['zahra']}")[1]) == [people["zahra"]]
    assert len(ids(fhir.get("Patient?_lastUpdated=gt2020-01-01")[1])) == 4
    assert ids(fhir.get("Patient?_lastUpdated=lt2020-01-01")[1]) == []


def test_sort_several_keys(fhir: Fhir, people: dict[str, str]) -> None:
    body = fhir.get("Patient?_sort=gender,-birthdate")[1]
    assert ids(body) == [people["zahra"], people["yasin"], people["ali"], people["renee"]]
    body = fhir.get("Patient?_sort=-family")[1]
    assert ids(body)[-1] == people["yasin"] or ids(body)[0] == people["yasin"]
    assert fhir.get("Patient?_sort=nonsense")[0] == 400


def test_paging_links_stay_correct_while_data_changes(fhir: Fhir) -> None:
    made = [
        fhir.create({"resourceType": "Patient", "name": [{"family": f"P{i:02d}"}]})["id"]
        for i in range(7)
    ]
    status, page, _ = fhir.get("Patient?_count=3&_sort=family")
    assert (status, page["total"], ids(page)) == (200, 7, made[:3])
    assert [link["relation"] for link in page["link"]] == ["self", "next"]
    # data changes between pages: a new patient sorts first, one on page 2 is deleted
    fhir.create({"resourceType": "Patient", "name": [{"family": "A-first"}]})
    fhir.delete(f"Patient/{made[4]}")
    seen = ids(page)
    while nxt := next((lk["url"] for lk in page["link"] if lk["relation"] == "next"), None):
        status, page, _ = fhir.get(nxt.split("/fhir/", 1)[1])
        assert status == 200 and page["total"] == 7
        seen += ids(page)
    assert seen == [m for m in made if m != made[4]]
    prev = next(lk["url"] for lk in page["link"] if lk["relation"] == "previous")
    assert ids(fhir.get(prev.split("/fhir/", 1)[1])[1]) == [made[3], made[5]]
    assert fhir.get("Patient?_getpages=unknown&_getpagesoffset=3")[0] == 410


def test_include_revinclude_and_count(fhir: Fhir, people: dict[str, str]) -> None:
    ali = f"Patient/{people['ali']}"
    o1 = fhir.create(observation(ali, TUG, 14.2, "2026-11-01"))["id"]
    body = fhir.get(f"Observation?subject={ali}&_include=Observation:subject")[1]
    assert (ids(body), ids(body, "include")) == ([o1], [people["ali"]])
    body = fhir.get(f"Patient?_id={people['ali']}&_revinclude=Observation:subject")[1]
    assert (ids(body), ids(body, "include")) == ([people["ali"]], [o1])
    body = fhir.get("Observation?_include=Observation:subject:Group")[1]
    assert ids(body, "include") == []
    body = fhir.get("Patient?_summary=count")[1]
    assert body["total"] == 4 and "entry" not in body
    assert fhir.get("Observation?_include=Observation:code")[0] == 400
    assert fhir.get("Observation?_include=Patient:link")[0] == 400


def test_post_search(fhir: Fhir, people: dict[str, str]) -> None:
    status, body, _ = fhir.request(
        "POST", "Patient/_search", "gender=female", content_type="application/x-www-form-urlencoded"
    )
    assert (status, ids(body)) == (200, [people["zahra"]])
    status, body, _ = fhir.request(
        "POST",
        "Patient/_search?family=Kar",
        "gender=male",
        content_type="application/x-www-form-urlencoded",
    )
    assert ids(body) == [people["ali"]]
    assert fhir.request("POST", "Patient/_search", {"a": 1})[0] == 415


def test_unknown_parameter_reported_or_refused(fhir: Fhir, people: dict[str, str]) -> None:
    status, body, _ = fhir.get("Patient?colour=blue&gender=female")
    assert status == 200 and ids(body) == [people["zahra"]]
    outcome = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome[0]["issue"][0]["diagnostics"] == "Unknown search parameter 'colour' for Patient"
    status, body, _ = fhir.get("Patient?colour=blue", headers={"Prefer": "handling=strict"})
    assert (status, body["issue"][0]["code"]) == (400, "not-supported")


@pytest.mark.parametrize(
    "query",
    [
        "birthdate=notadate",
        "birthdate=2020-13",
        "_count=abc",
        "gender:contains=x",
        "value-quantity=abc",
        "_sort=-",
        "_summary=text",
        "_include=Observation",
    ],
)
def test_bad_search_values_are_400(fhir: Fhir, query: str) -> None:
    res_type = "Observation" if "quantity" in query else "Patient"
    status, body, _ = fhir.get(f"{res_type}?{query}")
    assert status == 400, body
    assert body["resourceType"] == "OperationOutcome"


def test_elements(fhir: Fhir, people: dict[str, str]) -> None:
    body = fhir.get(f"Patient?_id={people['ali']}&_elements=gender")[1]
    resource = body["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "gender"}
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"
