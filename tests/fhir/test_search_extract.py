"""Tests of search-index extraction (src/screening/fhir/search_extract.py)."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.fhir.datetimes import MAX_DATETIME, MIN_DATETIME
from screening.fhir.packages import default_registry
from screening.fhir.search_extract import (
    SUPPORTED_TYPES,
    SearchIndexer,
    _Fallback,
    _fhirpath,
    applicable_branches,
)
from screening.fhir.searchvalues import (
    DateValue,
    IndexValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)

Json = Any
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# the URL as the core SearchParameter's expression spells it
MAIDEN_NAME_URL = (
    "http://hl7.org/fhir/StructureDefinition/patient-extensions-Patient-mothersMaidenName"
)


@pytest.fixture(scope="module")
def indexer() -> SearchIndexer:
    """One indexer over the core R4 package, shared by the module."""
    return SearchIndexer(default_registry())


def values(indexer: SearchIndexer, resource: Json, code: str) -> list[IndexValue]:
    """The values `resource` gives parameter `code`, in extraction order."""
    return [value for c, value in indexer.extract(resource) if c == code]


def codes(indexer: SearchIndexer, resource: Json) -> set[str]:
    """The parameter codes `resource` gives values for."""
    return {code for code, _ in indexer.extract(resource)}


# --------------------------------------------------------------------------- sample resources


def observation() -> Json:
    """A blood-pressure Observation with components, tags and a profile."""
    return {
        "resourceType": "Observation",
        "id": "bp-1",
        "meta": {
            "lastUpdated": "2024-01-01T00:00:00Z",
            "profile": ["http://hl7.org/fhir/StructureDefinition/bp"],
            "tag": [{"system": "http://example.org/tags", "code": "screening"}],
        },
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:187e0c12"}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "Blood pressure"},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "effectiveDateTime": "2024-03-04T10:11:12+03:30",
        "performer": [{"reference": "Practitioner/pr1"}, {"display": "a nurse"}],
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": {"value": 80.5, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            },
        ],
    }


def patient() -> Json:
    """A Patient with two names (one Arabic-script), address, telecom and identifiers."""
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {
            "profile": ["http://example.org/StructureDefinition/screening-patient"],
            "security": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
            ],
            "source": "http://example.org/source#abc",
            "tag": [{"system": "http://example.org/tags", "code": "pilot"}],
        },
        "extension": [
            {
                "url": MAIDEN_NAME_URL,
                "valueString": "Ahmadi",
            }
        ],
        "identifier": [
            {"system": "http://example.org/national-id", "value": "0012345678"},
            {"system": "http://example.org/empty", "value": ""},
            {"system": "http://example.org/none"},
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "text": "Dr. Ali Reza Karimi",
                "family": "Karimi",
                "given": ["Ali", "Reza"],
                "prefix": ["Dr."],
                "suffix": ["PhD"],
            },
            {"family": "كريمي", "given": ["علي"]},
        ],
        "telecom": [
            {"system": "phone", "value": "+98 21 1234 5678"},
            {"system": "email", "value": "ali@example.org"},
        ],
        "gender": "male",
        "birthDate": "1980-05",
        "address": [
            {
                "use": "home",
                "text": "12 Main St, Tehran",
                "line": ["12 Main St", "Apt 4"],
                "city": "Tehran",
                "district": "District 6",
                "state": "Tehran Province",
                "postalCode": "1234567890",
                "country": "IR",
            }
        ],
        "generalPractitioner": [
            {"reference": "Practitioner/gp1"},
            {"reference": "http://other.example/fhir/Organization/o2/_history/3"},
        ],
        "managingOrganization": {"reference": "Organization/o1"},
        "link": [{"other": {"reference": "Patient/p0"}, "type": "replaces"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fa"}]}}],
    }


def service_request() -> Json:
    """A referral to physiotherapy, scheduled by a Timing."""
    return {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "identifier": [{"system": "http://example.org/orders", "value": "ORD-1"}],
        "requisition": {"system": "http://example.org/requisitions", "value": "REQ-9"},
        "instantiatesCanonical": ["http://example.org/PlanDefinition/rehab|1.0"],
        "instantiatesUri": ["http://example.org/protocols/rehab"],
        "basedOn": [{"reference": "CarePlan/cp1"}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "409063005"}]}],
        "priority": "urgent",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91251008"}]},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "occurrenceTiming": {
            "event": ["2024-05-01", "2024-05-15T09:00:00Z"],
            "repeat": {"boundsPeriod": {"start": "2024-04-20", "end": "2024-05-10"}},
        },
        "authoredOn": "2024-04-01T08:00:00Z",
        "requester": {"reference": "Practitioner/pr1"},
        "performer": [{"reference": "Organization/rehab"}],
        "performerType": {"coding": [{"system": "http://snomed.info/sct", "code": "36682004"}]},
        "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "72696002"}]}],
        "specimen": [{"identifier": {"value": "only-an-identifier"}}],
    }


def task() -> Json:
    """A Task for a Patient, owned by an Organization."""
    return {
        "resourceType": "Task",
        "id": "t1",
        "identifier": [{"system": "http://example.org/tasks", "value": "T-1"}],
        "groupIdentifier": {"system": "http://example.org/groups", "value": "G-1"},
        "basedOn": [{"reference": "ServiceRequest/sr1"}],
        "partOf": [{"reference": "Task/t0"}],
        "status": "in-progress",
        "businessStatus": {"coding": [{"system": "http://example.org/bs", "code": "waiting"}]},
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": "ServiceRequest/sr1"},
        "for": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "executionPeriod": {"start": "2024-05-01T10:00:00Z"},
        "authoredOn": "2024-04-30",
        "lastModified": "2024-05-01T10:05:00Z",
        "requester": {"reference": "Practitioner/pr1"},
        "performerType": [{"coding": [{"system": "http://example.org/roles", "code": "physio"}]}],
        "owner": {"reference": "Organization/rehab"},
    }


def encounter() -> Json:
    """An ambulatory Encounter with a practitioner and a related person."""
    return {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "11429006"}]}],
        "subject": {"reference": "Patient/p1"},
        "participant": [
            {"individual": {"reference": "Practitioner/pr1"}},
            {"individual": {"reference": "RelatedPerson/rp1"}},
        ],
        "period": {"start": "2024-05-01T10:00:00Z", "end": "2024-05-01T10:30:00Z"},
        "length": {"value": 30, "unit": "min", "system": UCUM, "code": "min"},
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "282145008"}]}],
        "location": [{"location": {"reference": "Location/l1"}, "period": {"start": "2024-05-01"}}],
        "serviceProvider": {"reference": "Organization/rehab"},
    }


def questionnaire() -> Json:
    """A screening Questionnaire with nested items and a use context with a range."""
    return {
        "resourceType": "Questionnaire",
        "id": "q1",
        "url": "http://example.org/Questionnaire/mobility",
        "identifier": [{"system": "http://example.org/q", "value": "MOB"}],
        "version": "2.0",
        "name": "MobilityScreening",
        "title": "Mobility screening",
        "status": "active",
        "subjectType": ["Patient"],
        "date": "2024-01-15",
        "publisher": "Rehab Unit",
        "description": "Screens **mobility**.",
        "useContext": [
            {
                "code": {
                    "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                    "code": "age",
                },
                "valueRange": {
                    "low": {"value": 65, "unit": "a", "system": UCUM, "code": "a"},
                    "high": {"value": 120, "unit": "a", "system": UCUM, "code": "a"},
                },
            }
        ],
        "effectivePeriod": {"start": "2024-02-01"},
        "item": [
            {
                "linkId": "1",
                "code": [{"system": LOINC, "code": "52552-7"}],
                "definition": "http://example.org/StructureDefinition/mobility#falls",
                "type": "group",
                "item": [
                    {"linkId": "1.1", "type": "boolean", "code": [{"system": LOINC, "code": "1-1"}]}
                ],
            }
        ],
    }


def questionnaire_response() -> Json:
    """A completed response whose first item names its subject."""
    subject_url = "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-isSubject"
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "identifier": {"system": "http://example.org/qr", "value": "QR-1"},
        "basedOn": [{"reference": "ServiceRequest/sr1"}],
        "questionnaire": "http://example.org/Questionnaire/mobility|2.0",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "authored": "2024-05-01T10:20:00+04:30",
        "author": {"reference": "Practitioner/pr1"},
        "source": {"reference": "Patient/p1"},
        "item": [
            {
                "linkId": "who",
                "extension": [{"url": subject_url, "valueBoolean": True}],
                "answer": [{"valueReference": {"reference": "RelatedPerson/rp1"}}],
            },
            {"linkId": "other", "answer": [{"valueReference": {"reference": "Patient/p9"}}]},
        ],
    }


def condition() -> Json:
    """A Condition whose onset is a dateTime and abatement an open Period."""
    return {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "161891005"}]},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2023-11",
        "abatementPeriod": {"start": "2024-02-01"},
        "recordedDate": "2023-11-20",
    }


# --------------------------------------------------------------------------- parameters


def test_params_for_lists_supported_parameters_by_code(indexer: SearchIndexer) -> None:
    params = indexer.params_for("Observation")
    assert {"code", "subject", "patient", "value-quantity", "_tag", "_profile"} <= set(params)
    assert {"code-value-quantity", "combo-code-value-quantity", "_text", "_content"}.isdisjoint(
        params
    )
    assert all(param.type in SUPPORTED_TYPES for param in params.values())
    assert params["patient"].targets == ("Patient", "Group")
    assert params["code"].url == "http://hl7.org/fhir/SearchParameter/clinical-code"


def test_params_for_keeps_one_definition_per_code(indexer: SearchIndexer) -> None:
    params = indexer.params_for("Condition")
    assert params["_id"].url == "http://hl7.org/fhir/SearchParameter/Resource-id"
    assert params["subject"].url == "http://hl7.org/fhir/SearchParameter/Condition-subject"


def test_params_for_is_cached_and_unknown_types_have_none(indexer: SearchIndexer) -> None:
    assert indexer.params_for("Patient") is indexer.params_for("Patient")
    assert indexer.params_for("NotAType") == {}
    assert indexer.extract({"resourceType": "NotAType", "code": "x"}) == []


def test_parameters_whose_branches_are_for_other_types_are_skipped(indexer: SearchIndexer) -> None:
    # `part-agree` has base Patient but its expression only names DocumentReference
    assert "part-agree" not in indexer.params_for("Patient")


def test_every_core_resource_type_compiles_with_resource_level_parameters(
    indexer: SearchIndexer,
) -> None:
    tag = {"system": "http://example.org/tags", "code": "t"}
    for resource_type in default_registry().resource_types():
        assert {"_id", "_tag", "_profile", "_security", "_source"} <= set(
            indexer.params_for(resource_type)
        )
        resource = {"resourceType": resource_type, "id": "x", "meta": {"tag": [tag]}}
        assert values(indexer, resource, "_tag") == [TokenValue(tag["system"], "t")]


def test_shared_expressions_keep_only_the_indexed_types_branches() -> None:
    expression = (
        "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient)"
        " | (Observation.value as Quantity) | Resource.meta.tag"
    )
    assert applicable_branches(expression, "CarePlan") == [
        "CarePlan.subject.where(resolve() is Patient)",
        "CarePlan.meta.tag",
    ]
    assert applicable_branches(expression, "Observation") == [
        "Observation.value.as(Quantity)",
        "Observation.meta.tag",
    ]
    assert applicable_branches("name | alias", "InsurancePlan") == ["name", "alias"]


# --------------------------------------------------------------------------- Observation


def test_observation_tokens_and_unions(indexer: SearchIndexer) -> None:
    resource = observation()
    assert values(indexer, resource, "code") == [TokenValue(LOINC, "85354-9")]
    assert values(indexer, resource, "combo-code") == [
        TokenValue(LOINC, "85354-9"),
        TokenValue(LOINC, "8480-6"),
        TokenValue(LOINC, "8462-4"),
    ]
    assert values(indexer, resource, "component-code") == [
        TokenValue(LOINC, "8480-6"),
        TokenValue(LOINC, "8462-4"),
    ]
    assert values(indexer, resource, "status") == [TokenValue(None, "final")]
    assert values(indexer, resource, "identifier") == [
        TokenValue("urn:ietf:rfc:3986", "urn:uuid:187e0c12")
    ]


def test_observation_patient_comes_from_the_shared_clinical_parameter(
    indexer: SearchIndexer,
) -> None:
    resource = observation()
    assert indexer.params_for("Observation")["patient"].url.endswith("/clinical-patient")
    patient_ref = ReferenceValue("Patient", "p1", None)
    assert values(indexer, resource, "patient") == [patient_ref]
    assert values(indexer, resource, "subject") == [patient_ref]
    assert values(indexer, resource, "encounter") == [ReferenceValue("Encounter", "e1", None)]
    assert values(indexer, resource, "performer") == [ReferenceValue("Practitioner", "pr1", None)]


def test_observation_about_a_group_has_no_patient(indexer: SearchIndexer) -> None:
    resource = observation() | {"subject": {"reference": "Group/g1"}}
    assert values(indexer, resource, "patient") == []
    assert values(indexer, resource, "subject") == [ReferenceValue("Group", "g1", None)]


def test_observation_value_quantity_choice(indexer: SearchIndexer) -> None:
    resource = observation() | {
        "valueQuantity": {"value": 72.25, "unit": "kg", "system": UCUM, "code": "kg"}
    }
    weight = QuantityValue(Decimal("72.25"), UCUM, "kg", "kg")
    assert values(indexer, resource, "value-quantity") == [weight]
    assert values(indexer, resource, "component-value-quantity") == [
        QuantityValue(Decimal("120"), UCUM, "mm[Hg]", "mmHg"),
        QuantityValue(Decimal("80.5"), UCUM, "mm[Hg]", "mmHg"),
    ]
    assert weight in values(indexer, resource, "combo-value-quantity")
    assert len(values(indexer, resource, "combo-value-quantity")) == 3


def test_observation_other_value_choices(indexer: SearchIndexer) -> None:
    base = observation()
    del base["component"]
    concept = base | {"valueCodeableConcept": {"coding": [{"system": "http://s", "code": "pos"}]}}
    assert values(indexer, concept, "value-concept") == [TokenValue("http://s", "pos")]
    assert values(indexer, concept, "value-quantity") == []
    text = base | {"valueString": "slow gait"}
    assert values(indexer, text, "value-string") == [StringValue("slow gait")]
    when = base | {"valueDateTime": "2024-03-04"}
    assert values(indexer, when, "value-date") == [
        DateValue(datetime(2024, 3, 4), datetime(2024, 3, 5))
    ]


def test_observation_effective_date_and_period(indexer: SearchIndexer) -> None:
    resource = observation()
    assert values(indexer, resource, "date") == [
        DateValue(datetime(2024, 3, 4, 6, 41, 12), datetime(2024, 3, 4, 6, 41, 13))
    ]
    del resource["effectiveDateTime"]
    resource["effectivePeriod"] = {"start": "2024-03-01", "end": "2024-03-02"}
    assert values(indexer, resource, "date") == [
        DateValue(datetime(2024, 3, 1), datetime(2024, 3, 3))
    ]


def test_resource_level_parameters(indexer: SearchIndexer) -> None:
    resource = patient()
    assert values(indexer, resource, "_tag") == [TokenValue("http://example.org/tags", "pilot")]
    assert values(indexer, resource, "_profile") == [
        UriValue("http://example.org/StructureDefinition/screening-patient")
    ]
    assert values(indexer, resource, "_security") == [
        TokenValue("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")
    ]
    assert values(indexer, resource, "_source") == [UriValue("http://example.org/source#abc")]
    assert values(indexer, observation(), "_profile") == [
        UriValue("http://hl7.org/fhir/StructureDefinition/bp")
    ]


def test_id_and_last_updated_are_left_to_the_store(indexer: SearchIndexer) -> None:
    for resource in (observation(), patient(), task()):
        assert codes(indexer, resource).isdisjoint({"_id", "_lastUpdated"})


# --------------------------------------------------------------------------- Patient


def test_patient_names(indexer: SearchIndexer) -> None:
    resource = patient()
    assert values(indexer, resource, "family") == [StringValue("Karimi"), StringValue("كريمي")]
    assert values(indexer, resource, "given") == [
        StringValue("Ali"),
        StringValue("Reza"),
        StringValue("علي"),
    ]
    assert values(indexer, resource, "name") == [
        StringValue(text)
        for text in ("Dr. Ali Reza Karimi", "Karimi", "Ali", "Reza", "Dr.", "PhD", "كريمي", "علي")
    ]


def test_patient_address(indexer: SearchIndexer) -> None:
    resource = patient()
    assert values(indexer, resource, "address") == [
        StringValue(text)
        for text in (
            "12 Main St, Tehran",
            "12 Main St",
            "Apt 4",
            "Tehran",
            "District 6",
            "Tehran Province",
            "1234567890",
            "IR",
        )
    ]
    assert values(indexer, resource, "address-city") == [StringValue("Tehran")]
    assert values(indexer, resource, "address-postalcode") == [StringValue("1234567890")]
    assert values(indexer, resource, "address-use") == [TokenValue(None, "home")]


def test_patient_birthdate_identifier_telecom(indexer: SearchIndexer) -> None:
    resource = patient()
    assert values(indexer, resource, "birthdate") == [
        DateValue(datetime(1980, 5, 1), datetime(1980, 6, 1))
    ]
    assert values(indexer, resource, "identifier") == [
        TokenValue("http://example.org/national-id", "0012345678")
    ]
    assert values(indexer, resource, "telecom") == [
        TokenValue(None, "+98 21 1234 5678"),
        TokenValue(None, "ali@example.org"),
    ]
    assert values(indexer, resource, "phone") == [TokenValue(None, "+98 21 1234 5678")]
    assert values(indexer, resource, "email") == [TokenValue(None, "ali@example.org")]
    assert values(indexer, resource, "gender") == [TokenValue(None, "male")]
    assert values(indexer, resource, "active") == [TokenValue(None, "true")]
    assert values(indexer, resource, "language") == [TokenValue("urn:ietf:bcp:47", "fa")]


def test_patient_references(indexer: SearchIndexer) -> None:
    resource = patient()
    assert values(indexer, resource, "general-practitioner") == [
        ReferenceValue("Practitioner", "gp1", None),
        ReferenceValue(
            "Organization", "o2", "http://other.example/fhir/Organization/o2/_history/3"
        ),
    ]
    assert values(indexer, resource, "organization") == [ReferenceValue("Organization", "o1", None)]
    assert values(indexer, resource, "link") == [ReferenceValue("Patient", "p0", None)]


def test_patient_extension_parameter(indexer: SearchIndexer) -> None:
    assert values(indexer, patient(), "mothersMaidenName") == [StringValue("Ahmadi")]


def test_patient_deceased_uses_fhirpath(indexer: SearchIndexer) -> None:
    alive = patient()
    assert values(indexer, alive, "deceased") == [TokenValue(None, "false")]
    assert values(indexer, alive | {"deceasedBoolean": True}, "deceased") == [
        TokenValue(None, "true")
    ]
    died = alive | {"deceasedDateTime": "2024-02-03"}
    assert values(indexer, died, "deceased") == [TokenValue(None, "true")]
    assert values(indexer, died, "death-date") == [
        DateValue(datetime(2024, 2, 3), datetime(2024, 2, 4))
    ]


# --------------------------------------------------------------------------- workflow resources


def test_service_request(indexer: SearchIndexer) -> None:
    resource = service_request()
    sct = "http://snomed.info/sct"
    assert values(indexer, resource, "code") == [TokenValue(sct, "91251008")]
    assert values(indexer, resource, "patient") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "requester") == [ReferenceValue("Practitioner", "pr1", None)]
    assert values(indexer, resource, "performer") == [ReferenceValue("Organization", "rehab", None)]
    assert values(indexer, resource, "based-on") == [ReferenceValue("CarePlan", "cp1", None)]
    assert values(indexer, resource, "requisition") == [
        TokenValue("http://example.org/requisitions", "REQ-9")
    ]
    assert values(indexer, resource, "instantiates-canonical") == [
        ReferenceValue(None, None, "http://example.org/PlanDefinition/rehab|1.0")
    ]
    assert values(indexer, resource, "instantiates-uri") == [
        UriValue("http://example.org/protocols/rehab")
    ]
    assert values(indexer, resource, "authored") == [
        DateValue(datetime(2024, 4, 1, 8), datetime(2024, 4, 1, 8, 0, 1))
    ]
    assert values(indexer, resource, "specimen") == []  # identifier-only reference
    assert {"status", "intent", "priority", "category", "performer-type", "body-site"} <= codes(
        indexer, resource
    )


def test_service_request_timing_spans_events_and_bounds(indexer: SearchIndexer) -> None:
    assert values(indexer, service_request(), "occurrence") == [
        DateValue(datetime(2024, 4, 20), datetime(2024, 5, 15, 9, 0, 1))
    ]


def test_task(indexer: SearchIndexer) -> None:
    resource = task()
    assert values(indexer, resource, "subject") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "patient") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "owner") == [ReferenceValue("Organization", "rehab", None)]
    assert values(indexer, resource, "focus") == [ReferenceValue("ServiceRequest", "sr1", None)]
    assert values(indexer, resource, "part-of") == [ReferenceValue("Task", "t0", None)]
    assert values(indexer, resource, "period") == [
        DateValue(datetime(2024, 5, 1, 10), MAX_DATETIME)
    ]
    assert values(indexer, resource, "modified") == [
        DateValue(datetime(2024, 5, 1, 10, 5), datetime(2024, 5, 1, 10, 5, 1))
    ]
    assert values(indexer, resource, "business-status") == [
        TokenValue("http://example.org/bs", "waiting")
    ]
    assert values(indexer, resource, "performer") == [
        TokenValue("http://example.org/roles", "physio")
    ]
    assert values(indexer, resource, "group-identifier") == [
        TokenValue("http://example.org/groups", "G-1")
    ]


def test_task_for_a_group_has_no_patient(indexer: SearchIndexer) -> None:
    resource = task() | {"for": {"reference": "Group/g1"}}
    assert values(indexer, resource, "patient") == []


def test_encounter(indexer: SearchIndexer) -> None:
    resource = encounter()
    assert values(indexer, resource, "class") == [
        TokenValue("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB")
    ]
    assert values(indexer, resource, "date") == [
        DateValue(datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 10, 30, 1))
    ]
    assert values(indexer, resource, "participant") == [
        ReferenceValue("Practitioner", "pr1", None),
        ReferenceValue("RelatedPerson", "rp1", None),
    ]
    assert values(indexer, resource, "practitioner") == [
        ReferenceValue("Practitioner", "pr1", None)
    ]
    assert values(indexer, resource, "length") == [QuantityValue(Decimal("30"), UCUM, "min", "min")]
    assert values(indexer, resource, "location") == [ReferenceValue("Location", "l1", None)]
    assert values(indexer, resource, "location-period") == [
        DateValue(datetime(2024, 5, 1), MAX_DATETIME)
    ]
    assert values(indexer, resource, "patient") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "type") == [TokenValue("http://snomed.info/sct", "11429006")]


def test_questionnaire(indexer: SearchIndexer) -> None:
    resource = questionnaire()
    assert values(indexer, resource, "url") == [
        UriValue("http://example.org/Questionnaire/mobility")
    ]
    assert values(indexer, resource, "name") == [StringValue("MobilityScreening")]
    assert values(indexer, resource, "title") == [StringValue("Mobility screening")]
    assert values(indexer, resource, "description") == [StringValue("Screens **mobility**.")]
    assert values(indexer, resource, "version") == [TokenValue(None, "2.0")]
    assert values(indexer, resource, "subject-type") == [TokenValue(None, "Patient")]
    assert values(indexer, resource, "code") == [TokenValue(LOINC, "52552-7")]  # top items only
    assert values(indexer, resource, "definition") == [
        UriValue("http://example.org/StructureDefinition/mobility#falls")
    ]
    assert values(indexer, resource, "context-quantity") == [
        QuantityValue(Decimal("65"), UCUM, "a", "a"),
        QuantityValue(Decimal("120"), UCUM, "a", "a"),
    ]
    assert values(indexer, resource, "effective") == [DateValue(datetime(2024, 2, 1), MAX_DATETIME)]


def test_questionnaire_response(indexer: SearchIndexer) -> None:
    resource = questionnaire_response()
    assert values(indexer, resource, "questionnaire") == [
        ReferenceValue(None, None, "http://example.org/Questionnaire/mobility|2.0")
    ]
    assert values(indexer, resource, "patient") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "author") == [ReferenceValue("Practitioner", "pr1", None)]
    assert values(indexer, resource, "identifier") == [TokenValue("http://example.org/qr", "QR-1")]
    assert values(indexer, resource, "authored") == [
        DateValue(datetime(2024, 5, 1, 5, 50), datetime(2024, 5, 1, 5, 50, 1))
    ]
    # the fhirpath fallback: only answers of items flagged with the isSubject extension
    assert values(indexer, resource, "item-subject") == [
        ReferenceValue("RelatedPerson", "rp1", None)
    ]


def test_condition_onset_choices(indexer: SearchIndexer) -> None:
    resource = condition()
    assert values(indexer, resource, "onset-date") == [
        DateValue(datetime(2023, 11, 1), datetime(2023, 12, 1))
    ]
    assert values(indexer, resource, "abatement-date") == [
        DateValue(datetime(2024, 2, 1), MAX_DATETIME)
    ]
    del resource["onsetDateTime"]
    resource["onsetPeriod"] = {"end": "2023-10-15"}
    assert values(indexer, resource, "onset-date") == [
        DateValue(MIN_DATETIME, datetime(2023, 10, 16))
    ]
    resource["onsetPeriod"] = {}
    assert values(indexer, resource, "onset-date") == []
    del resource["onsetPeriod"]
    resource["onsetAge"] = {"value": 61, "unit": "yr", "system": UCUM, "code": "a"}
    assert values(indexer, resource, "onset-age") == [QuantityValue(Decimal("61"), UCUM, "a", "yr")]
    assert values(indexer, resource, "onset-date") == []


def test_condition_subject_and_patient(indexer: SearchIndexer) -> None:
    resource = condition()
    assert values(indexer, resource, "subject") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "patient") == [ReferenceValue("Patient", "p1", None)]
    assert values(indexer, resource, "clinical-status") == [
        TokenValue("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
    ]


# --------------------------------------------------------------------------- value kinds


def test_group_value_boolean_and_concept(indexer: SearchIndexer) -> None:
    resource = {
        "resourceType": "Group",
        "type": "person",
        "actual": False,
        "characteristic": [
            {"code": {"text": "frail"}, "valueBoolean": True, "exclude": False},
            {
                "code": {"text": "ward"},
                "valueCodeableConcept": {"coding": [{"code": "W1"}]},
                "exclude": True,
            },
        ],
    }
    assert values(indexer, resource, "value") == [TokenValue(None, "W1"), TokenValue(None, "true")]
    assert values(indexer, resource, "actual") == [TokenValue(None, "false")]
    assert values(indexer, resource, "exclude") == [
        TokenValue(None, "false"),
        TokenValue(None, "true"),
    ]
    assert values(indexer, resource, "characteristic") == []  # text-only concepts


def test_money_and_number(indexer: SearchIndexer) -> None:
    charge = {
        "resourceType": "ChargeItem",
        "status": "billable",
        "code": {"text": "visit"},
        "subject": {"reference": "Patient/p1"},
        "priceOverride": {"value": 1500000, "currency": "IRR"},
        "factorOverride": 0.8,
        "quantity": {"value": 2},
    }
    assert values(indexer, charge, "price-override") == [
        QuantityValue(Decimal("1500000"), "urn:iso:std:iso:4217", "IRR", None)
    ]
    assert values(indexer, charge, "factor-override") == [NumberValue(Decimal("0.8"))]
    assert values(indexer, charge, "quantity") == [QuantityValue(Decimal("2"), None, None, None)]
    risk = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.25}, {"probabilityRange": {"low": {"value": 1}}}],
    }
    assert values(indexer, risk, "probability") == [NumberValue(Decimal("0.25"))]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/1", ReferenceValue("Patient", "1", None)),
        ("Patient/1/_history/2", ReferenceValue("Patient", "1", None)),
        (
            "http://x.example/fhir/Patient/1",
            ReferenceValue("Patient", "1", "http://x.example/fhir/Patient/1"),
        ),
        (
            "https://x.example/fhir/Patient/a.b-c/_history/7",
            ReferenceValue("Patient", "a.b-c", "https://x.example/fhir/Patient/a.b-c/_history/7"),
        ),
        (
            "urn:uuid:9d6f7f6e-7f3c-4d6b-9a59-4d2b8f4b0a11",
            ReferenceValue(None, None, "urn:uuid:9d6f7f6e-7f3c-4d6b-9a59-4d2b8f4b0a11"),
        ),
        ("http://x.example/people/ali", ReferenceValue(None, None, "http://x.example/people/ali")),
        ("#contained-1", None),
        ("NotAType/1", None),
        ("patient/1", None),
        ("Patient/", None),
        ("Patient/has space", None),
        ("", None),
    ],
)
def test_reference_forms(
    indexer: SearchIndexer, reference: str, expected: ReferenceValue | None
) -> None:
    resource = {"resourceType": "Encounter", "subject": {"reference": reference}}
    assert values(indexer, resource, "subject") == ([expected] if expected else [])


def test_references_to_types_outside_the_targets_are_dropped(indexer: SearchIndexer) -> None:
    resource = {"resourceType": "Encounter", "subject": {"reference": "Practitioner/1"}}
    assert values(indexer, resource, "subject") == []  # Encounter.subject: Patient | Group


def test_document_bundle_composition_uses_fhirpath(indexer: SearchIndexer) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "timestamp": "2024-05-01T10:00:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition", "id": "doc1"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}},
        ],
    }
    assert values(indexer, bundle, "composition") == [ReferenceValue("Composition", "doc1", None)]
    assert values(indexer, bundle, "message") == []  # targets MessageHeader only
    assert values(indexer, bundle, "type") == [TokenValue(None, "document")]


def test_repeated_values_are_indexed_once(indexer: SearchIndexer) -> None:
    coding = {"system": LOINC, "code": "8480-6"}
    resource = observation() | {"code": {"coding": [coding, dict(coding)]}}
    assert values(indexer, resource, "code") == [TokenValue(LOINC, "8480-6")]
    pairs = indexer.extract(resource)
    assert len(pairs) == len(set(pairs))


def test_fallback_does_not_change_the_resource(indexer: SearchIndexer) -> None:
    for resource in (patient(), questionnaire_response()):
        before = copy.deepcopy(resource)
        indexer.extract(resource)
        assert resource == before


# --------------------------------------------------------------------------- invalid data


def test_invalid_values_are_skipped(indexer: SearchIndexer) -> None:
    resource = {
        "resourceType": "Observation",
        "status": 7,
        "code": {
            "coding": [{"system": LOINC, "code": ""}, "junk", {"code": ["x"]}, {"code": "ok"}]
        },
        "subject": {"reference": 12},
        "effectiveDateTime": "2021-02-30",
        "issued": "yesterday",
        "valueQuantity": {"value": "12", "unit": "kg"},
        "component": [
            {"valueQuantity": {"value": True}},
            {"valueQuantity": {"value": float("nan")}},
            {"valueQuantity": {"value": float("inf")}},
            {"valueQuantity": {"value": 3}},
        ],
        "performer": "Practitioner/1",
        "meta": {"tag": "not-a-list", "profile": [None, 3, ""]},
        "category": [{"coding": {"code": "not-a-list"}}],
    }
    three = QuantityValue(Decimal("3"), None, None, None)
    assert set(indexer.extract(resource)) == {
        ("code", TokenValue(None, "ok")),
        ("combo-code", TokenValue(None, "ok")),
        ("component-value-quantity", three),
        ("combo-value-quantity", three),
    }


def test_invalid_periods_are_skipped(indexer: SearchIndexer) -> None:
    for period in (
        {"start": "2024-05-02", "end": "2024-05-01"},
        {"start": "garbage"},
        {"start": None},
        {"end": 2024},
    ):
        resource = {"resourceType": "Encounter", "status": "planned", "period": period}
        assert values(indexer, resource, "date") == []


# --------------------------------------------------------------------------- native vs FHIRPath


SAMPLES = [
    observation,
    patient,
    service_request,
    task,
    encounter,
    questionnaire,
    questionnaire_response,
    condition,
]


@pytest.mark.parametrize("make", SAMPLES, ids=lambda make: make.__name__)
def test_native_walkers_agree_with_fhirpath(indexer: SearchIndexer, make: Any) -> None:
    resource = make()
    resource_type = resource["resourceType"]
    compared = 0
    for param in indexer.params_for(resource_type).values():
        for text in applicable_branches(param.expression, resource_type):
            walkers = indexer._compiler.compile(resource_type, text, param.type)
            if walkers is None or not _fhirpath_accepts(text, resource):
                continue
            native = {value for walker in walkers for value in walker.run(resource)}
            oracle = _Fallback(text, param.type, indexer._converters).run(resource)
            assert native == set(oracle), (param.code, text)
            compared += bool(native)
    assert compared >= 8


def _fhirpath_accepts(text: str, resource: Json) -> bool:
    """Whether fhirpathpy evaluates `text` without error (its `as` rejects collections)."""
    try:
        _fhirpath(text)(resource)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- robustness


JSON_KEYS = st.sampled_from(
    [
        "resourceType", "id", "meta", "tag", "profile", "code", "coding", "system", "value",
        "subject", "reference", "effectiveDateTime", "effectivePeriod", "start", "end",
        "valueQuantity", "valueString", "valueCodeableConcept", "valueRange", "low", "high",
        "component", "name", "given", "family", "line", "address", "telecom", "identifier",
        "birthDate", "extension", "url", "valueBoolean", "event", "repeat", "boundsPeriod",
        "occurrenceTiming", "item", "answer", "valueReference", "entry", "resource", "currency",
        "deceasedBoolean", "deceasedDateTime", "for", "performer", "participant", "individual",
        "period", "useContext", "status", "category", "x",
    ]
)  # fmt: skip
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(["", "2020", "2020-02-30", "Patient/1", "Group/2", "#c", "urn:uuid:1"])
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(JSON_KEYS, children, max_size=5)
    ),
    max_leaves=30,
)
RESOURCE_TYPES = st.sampled_from(
    ["Observation", "Patient", "ServiceRequest", "Task", "Encounter", "Questionnaire",
     "QuestionnaireResponse", "Condition", "Bundle", "Group", "ChargeItem", "NotAType"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCE_TYPES, st.dictionaries(JSON_KEYS | st.text(max_size=8), JSON_VALUES, max_size=8))
def test_extract_never_crashes(
    indexer: SearchIndexer, resource_type: str, body: dict[str, Json]
) -> None:
    resource = body | {"resourceType": resource_type}
    pairs = indexer.extract(resource)
    assert all(isinstance(code, str) for code, _ in pairs)
    assert len(pairs) == len(set(pairs))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_extract_survives_corrupted_samples(indexer: SearchIndexer, make: Any, data: Any) -> None:
    resource = make()
    for key in data.draw(st.lists(st.sampled_from(sorted(resource)), max_size=4)):
        if key != "resourceType":
            resource[key] = data.draw(JSON_VALUES)
    indexer.extract(resource)


@given(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=5))
@settings(max_examples=50, deadline=None)
def test_extract_ignores_dicts_without_a_resource_type(
    indexer: SearchIndexer, body: dict[str, Json]
) -> None:
    body.pop("resourceType", None)
    assert indexer.extract(body) == []
