"""Tests of the structural layer of the validator (src/screening/fhir/structure.py)."""

from __future__ import annotations

import copy
import json
import math
import tarfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.fhir.packages import default_registry
from screening.fhir.structure import StructureChecker, compile_structure
from screening.paths import core_package

Json = Any


@pytest.fixture(scope="module")
def checker() -> StructureChecker:
    """One checker over the core R4 package, shared by the module."""
    return StructureChecker(default_registry())


def found(checker: StructureChecker, resource: Json) -> list[tuple[str, str | None]]:
    """The (code, expression) pairs of every issue the checker reports."""
    return [(issue.code, issue.expression) for issue in checker.check(resource)]


# --------------------------------------------------------------------------- valid resources

BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"


def patient() -> Json:
    """A Patient with names, address, telecom, contact and a `_birthDate` extension."""
    return {
        "resourceType": "Patient",
        "id": "example",
        "meta": {"versionId": "1", "lastUpdated": "2021-03-01T10:00:00.000+01:00"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Peter James Chalmers</div>',
        },
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": "urn:oid:1.2.36.146.595.217.0.1",
                "value": "12345",
                "period": {"start": "2001-05-06"},
                "assigner": {"display": "Acme Healthcare"},
            }
        ],
        "active": True,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"]},
            {
                "use": "maiden",
                "family": "Windsor",
                "given": ["Peter", "James"],
                "_given": [
                    None,
                    {"extension": [{"url": "http://example.org/nickname", "valueBoolean": True}]},
                ],
                "period": {"end": "2002"},
            },
        ],
        "telecom": [
            {"use": "home"},
            {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1},
            {"system": "email", "value": "jim@example.org"},
        ],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {
            "extension": [{"url": BIRTH_TIME, "valueDateTime": "1974-12-25T14:35:45-05:00"}]
        },
        "deceasedBoolean": False,
        "address": [
            {
                "use": "home",
                "type": "both",
                "text": "534 Erewhon St PeasantVille, Rainbow, Vic  3999",
                "line": ["534 Erewhon St"],
                "city": "PleasantVille",
                "district": "Rainbow",
                "state": "Vic",
                "postalCode": "3999",
                "period": {"start": "1974-12-25"},
            }
        ],
        "contact": [
            {
                "relationship": [
                    {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}
                        ]
                    }
                ],
                "name": {
                    "family": "du Marché",
                    "_family": {
                        "extension": [
                            {
                                "url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix",
                                "valueString": "VV",
                            }
                        ]
                    },
                    "given": ["Bénédicte"],
                },
                "telecom": [{"system": "phone", "value": "+33 (237) 998327"}],
                "gender": "female",
                "period": {"start": "2012"},
            }
        ],
        "managingOrganization": {"reference": "Organization/1"},
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nl-NL"}]},
                "preferred": True,
            }
        ],
    }


def loinc(code: str, display: str) -> Json:
    """A LOINC CodeableConcept."""
    return {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]}


def mmhg(value: float) -> Json:
    """A UCUM Quantity in mmHg."""
    return {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}


def blood_pressure() -> Json:
    """An Observation with components carrying valueQuantity, and a contained Practitioner."""
    return {
        "resourceType": "Observation",
        "id": "blood-pressure",
        "contained": [
            {"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Careful"}]}
        ],
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:187e0c12-8dd2-67e2"}],
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
        "code": loinc("85354-9", "Blood pressure panel"),
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2012-09-17",
        "issued": "2012-09-17T15:00:00.000Z",
        "performer": [{"reference": "#p1"}],
        "interpretation": [{"text": "Below low normal"}],
        "bodySite": {"coding": [{"system": "http://snomed.info/sct", "code": "368209003"}]},
        "note": [{"authorString": "Nurse", "time": "2012-09-17T15:05:00Z", "text": "*calm*"}],
        "component": [
            {
                "code": loinc("8480-6", "Systolic blood pressure"),
                "valueQuantity": mmhg(107),
                "interpretation": [{"text": "Normal"}],
            },
            {
                "code": loinc("8462-4", "Diastolic blood pressure"),
                "valueQuantity": mmhg(60.5),
                "referenceRange": [{"low": mmhg(60), "high": mmhg(90)}],
            },
        ],
    }


def body_weight() -> Json:
    """An Observation with a top-level valueQuantity and a reference range."""
    return {
        "resourceType": "Observation",
        "id": "example",
        "status": "final",
        "code": loinc("29463-7", "Body Weight"),
        "subject": {"reference": "Patient/example"},
        "encounter": {"reference": "Encounter/example"},
        "effectivePeriod": {"start": "2013-04-02T09:30:10+01:00"},
        "valueQuantity": {
            "value": 185,
            "unit": "lbs",
            "system": "http://unitsofmeasure.org",
            "code": "[lb_av]",
        },
        "referenceRange": [
            {"low": {"value": 3.1e1}, "age": {"low": {"value": 18}}, "text": "adult"}
        ],
    }


def questionnaire() -> Json:
    """A Questionnaire whose items nest three levels deep (Questionnaire.item.item...)."""
    injury = {
        "linkId": "1.2.1",
        "text": "Were you injured?",
        "type": "choice",
        "answerOption": [
            {"valueCoding": {"system": "http://example.org/cs", "code": "none"}},
            {
                "valueCoding": {"system": "http://example.org/cs", "code": "minor"},
                "initialSelected": True,
            },
        ],
    }
    falls = {
        "linkId": "1.2",
        "text": "How many times?",
        "type": "integer",
        "enableWhen": [{"question": "1.1", "operator": "=", "answerBoolean": True}],
        "enableBehavior": "all",
        "item": [injury],
    }
    return {
        "resourceType": "Questionnaire",
        "id": "mobility",
        "url": "http://example.org/fhir/Questionnaire/mobility",
        "version": "1.0.0",
        "name": "MobilityScreening",
        "title": "Mobility screening",
        "status": "active",
        "subjectType": ["Patient"],
        "date": "2024-01-15",
        "publisher": "Example Rehab",
        "item": [
            {
                "linkId": "1",
                "text": "Falls",
                "type": "group",
                "item": [
                    {"linkId": "1.1", "text": "Fallen in the past year?", "type": "boolean"},
                    falls,
                ],
            },
            {
                "linkId": "2",
                "text": "Timed up and go (seconds)",
                "type": "decimal",
                "code": [{"system": "http://example.org/cs", "code": "tug"}],
                "initial": [{"valueDecimal": 12.5}],
            },
            {
                "linkId": "3",
                "type": "display",
                "text": "Thank you",
                "_text": {
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
                            "valueString": "<b>Thank you</b>",
                        }
                    ]
                },
            },
        ],
    }


def transaction() -> Json:
    """A transaction Bundle with POST, PUT, DELETE and GET entries."""
    new_patient = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    observation = body_weight()
    del observation["id"]
    observation["subject"] = {"reference": new_patient}
    return {
        "resourceType": "Bundle",
        "id": "bundle-transaction",
        "meta": {"lastUpdated": "2014-08-18T01:43:30Z"},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": new_patient,
                "resource": patient(),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": "identifier=http://acme.org/mrns|12345",
                },
            },
            {
                "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
                "resource": observation,
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "http://example.org/fhir/Patient/123",
                "resource": {"resourceType": "Patient", "id": "123", "active": True},
                "request": {"method": "PUT", "url": "Patient/123", "ifMatch": 'W/"1"'},
            },
            {"request": {"method": "DELETE", "url": "Patient/234"}},
            {"request": {"method": "GET", "url": "Patient?name=peter"}},
        ],
    }


def service_request() -> Json:
    """A physiotherapy referral."""
    return {
        "resourceType": "ServiceRequest",
        "id": "physio",
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "386053000"}]}],
        "priority": "routine",
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "91251008"}],
            "text": "Physiotherapy",
        },
        "quantityQuantity": {"value": 6, "unit": "sessions"},
        "subject": {"reference": "Patient/example"},
        "encounter": {"reference": "Encounter/example"},
        "occurrencePeriod": {"start": "2024-02-01", "end": "2024-03-01"},
        "asNeededBoolean": False,
        "authoredOn": "2024-01-20T09:30:00+01:00",
        "requester": {"reference": "Practitioner/dr", "display": "Dr Adam Careful"},
        "performer": [{"reference": "Organization/rehab"}],
        "reasonReference": [{"reference": "Observation/tug"}],
        "note": [{"text": "Two falls in the last year."}],
    }


def task() -> Json:
    """A Task fulfilling the referral, with inputs, outputs and a restriction."""
    return {
        "resourceType": "Task",
        "id": "referral-task",
        "basedOn": [{"reference": "ServiceRequest/physio"}],
        "status": "in-progress",
        "businessStatus": {"text": "waiting for appointment"},
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": "ServiceRequest/physio"},
        "for": {"reference": "Patient/example"},
        "executionPeriod": {"start": "2024-02-01T10:00:00Z"},
        "authoredOn": "2024-01-20T09:30:00+01:00",
        "lastModified": "2024-01-21T09:45:00+01:00",
        "owner": {"reference": "Organization/rehab"},
        "restriction": {"repetitions": 1, "period": {"end": "2024-03-01"}},
        "input": [
            {"type": {"text": "referral"}, "valueReference": {"reference": "ServiceRequest/1"}}
        ],
        "output": [{"type": {"text": "sessions"}, "valueUnsignedInt": 0}],
    }


def consent() -> Json:
    """A Consent with nested provisions (Consent.provision.provision) and an attachment."""
    return {
        "resourceType": "Consent",
        "id": "consent-example",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/example"},
        "dateTime": "2024-01-20T09:30:00+01:00",
        "organization": [{"reference": "Organization/rehab"}],
        "sourceAttachment": {
            "contentType": "application/pdf",
            "data": "SGVsbG8g V29y bGQ=\n",
            "size": 11,
            "title": "Signed form",
            "creation": "2024-01-20",
        },
        "policyRule": {"text": "opt-in"},
        "provision": {
            "type": "permit",
            "period": {"start": "2024-01-20"},
            "actor": [
                {"role": {"text": "performer"}, "reference": {"reference": "Organization/1"}}
            ],
            "provision": [
                {
                    "type": "deny",
                    "data": [{"meaning": "related", "reference": {"reference": "Observation/tug"}}],
                    "provision": [{"type": "permit", "purpose": [{"code": "TREAT"}]}],
                }
            ],
        },
    }


def encounter() -> Json:
    """An ambulatory Encounter (note the JSON key `class`)."""
    return {
        "resourceType": "Encounter",
        "id": "visit",
        "status": "finished",
        "statusHistory": [
            {
                "status": "arrived",
                "period": {
                    "start": "2024-01-20T09:00:00+01:00",
                    "end": "2024-01-20T09:10:00+01:00",
                },
            }
        ],
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [{"text": "Mobility screening"}],
        "subject": {"reference": "Patient/example"},
        "participant": [
            {"type": [{"text": "primary"}], "individual": {"reference": "Practitioner/dr"}}
        ],
        "period": {"start": "2024-01-20T09:00:00+01:00", "end": "2024-01-20T09:45:00+01:00"},
        "length": {
            "value": 45,
            "unit": "min",
            "system": "http://unitsofmeasure.org",
            "code": "min",
        },
        "diagnosis": [{"condition": {"reference": "Condition/falls"}, "rank": 1}],
        "location": [{"location": {"reference": "Location/clinic"}, "status": "completed"}],
        "serviceProvider": {"reference": "Organization/rehab"},
    }


def parameters() -> Json:
    """A Parameters resource with a nested part and a resource parameter."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "count", "valueInteger": -3},
            {"name": "patient", "resource": {"resourceType": "Patient", "gender": "other"}},
            {"name": "group", "part": [{"name": "inner", "valueTime": "23:59:60.25"}]},
        ],
    }


VALID = {
    "patient": patient,
    "blood-pressure": blood_pressure,
    "body-weight": body_weight,
    "questionnaire": questionnaire,
    "transaction": transaction,
    "service-request": service_request,
    "task": task,
    "consent": consent,
    "encounter": encounter,
    "parameters": parameters,
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_resources_have_no_issues(checker: StructureChecker, name: str) -> None:
    assert checker.check(VALID[name]()) == []


def test_official_core_package_resources_pass(checker: StructureChecker) -> None:
    """Every resource of hl7.fhir.r4.core passes, but for its one id longer than 64 chars."""
    failures: dict[str, list[tuple[str, str | None]]] = {}
    count = 0
    with tarfile.open(core_package()) as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            name = member.name.rsplit("/", 1)[-1]
            if handle is None or "/" in member.name[len("package/") :]:
                continue
            if not name.endswith(".json") or name in ("package.json", ".index.json"):
                continue
            count += 1
            issues = found(checker, json.loads(handle.read()))
            if issues:
                failures[name] = issues
    assert count > 4000
    long_id = "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject"
    assert failures == {f"{long_id}.json": [("value", "SearchParameter.id")]}


# --------------------------------------------------------------------------- rules

Case = tuple[str, Json, list[tuple[str, str | None]]]


P = {"resourceType": "Patient"}
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}

TOP_LEVEL: list[Case] = [
    ("ok", {"resourceType": "Patient"}, []),
    ("array", [{"resourceType": "Patient"}], [("structure", None)]),
    ("string", "Patient", [("structure", None)]),
    ("missing", {"id": "x"}, [("structure", None)]),
    ("not-a-string", {"resourceType": ["Patient"]}, [("structure", None)]),
    ("unknown", {"resourceType": "Patient2"}, [("invalid", None)]),
    ("abstract", {"resourceType": "DomainResource"}, [("invalid", None)]),
    ("datatype", {"resourceType": "HumanName"}, [("invalid", None)]),
]

UNKNOWN: list[Case] = [
    ("top", {**P, "foo": 1}, [("structure", "Patient.foo")]),
    (
        "datatype",
        {**P, "name": [{"family": "x", "first": "y"}]},
        [("structure", "Patient.name[0].first")],
    ),
    (
        "nested-datatype",
        {**P, "identifier": [{"assigner": {"identifier": {"sytem": "x"}}}]},
        [("structure", "Patient.identifier[0].assigner.identifier.sytem")],
    ),
    (
        "backbone",
        {**OBS, "referenceRange": [{"text": "a"}, {"text": "b", "lo": {}}]},
        [("structure", "Observation.referenceRange[1].lo")],
    ),
    (
        "content-reference",
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "2", "typ": "group"}]}],
        },
        [("structure", "Questionnaire.item[0].item[0].typ")],
    ),
    (
        "content-reference-ok",
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [{"item": [{"item": [{"linkId": "3"}]}]}],
        },
        [],
    ),
    (
        "resourceType-in-datatype",
        {**P, "name": [{"resourceType": "HumanName"}]},
        [("structure", "Patient.name[0].resourceType")],
    ),
    ("underscore-complex", {**P, "_name": {"extension": []}}, [("structure", "Patient._name")]),
    ("underscore-unknown", {**P, "_foo": {"id": "1"}}, [("structure", "Patient._foo")]),
    (
        "element-id-no-underscore",
        {**P, "name": [{"_id": {"id": "a"}}]},
        [("structure", "Patient.name[0]._id")],
    ),
]

CHOICE: list[Case] = [
    ("ok-quantity", {**OBS, "valueQuantity": {"value": 1}}, []),
    ("ok-string", {**OBS, "valueString": "x"}, []),
    ("ok-datetime", {**OBS, "effectiveDateTime": "2020-01-01"}, []),
    (
        "bad-suffix",
        {**OBS, "valueReference": {"reference": "Patient/1"}},
        [("structure", "Observation.valueReference")],
    ),
    (
        "lowercase-suffix",
        {**OBS, "valuequantity": {"value": 1}},
        [("structure", "Observation.valuequantity")],
    ),
    ("bare-name", {**OBS, "value": 1}, [("structure", "Observation.value")]),
    ("bracket-name", {**OBS, "value[x]": 1}, [("structure", "Observation.value[x]")]),
    (
        "two-types",
        {**OBS, "valueQuantity": {"value": 1}, "valueString": "x"},
        [("structure", "Observation.valueString")],
    ),
    (
        "two-types-in-component",
        {**OBS, "component": [{"code": {"text": "a"}, "valueBoolean": True, "valueInteger": 1}]},
        [("structure", "Observation.component[0].valueInteger")],
    ),
    (
        "value-and-own-companion",
        {**OBS, "valueString": "x", "_valueString": {"id": "a"}},
        [],
    ),
    (
        "companion-of-other-type",
        {**OBS, "valueBoolean": True, "_valueString": {"id": "a"}},
        [("structure", "Observation.valueString")],
    ),
    (
        "different-choices",
        {**OBS, "valueBoolean": True, "effectiveInstant": "2020-01-01T00:00:00Z"},
        [],
    ),
]

ARRAYS: list[Case] = [
    ("object-for-array", {**P, "name": {"family": "x"}}, [("structure", "Patient.name")]),
    (
        "string-for-array",
        {**P, "name": [{"given": "Peter"}]},
        [("structure", "Patient.name[0].given")],
    ),
    ("array-for-single", {**P, "gender": ["male"]}, [("structure", "Patient.gender")]),
    (
        "array-for-single-object",
        {**OBS, "code": [{"text": "x"}]},
        [("structure", "Observation.code")],
    ),
    ("empty-array", {**P, "name": []}, [("structure", "Patient.name")]),
    (
        "empty-primitive-array",
        {**P, "name": [{"given": []}]},
        [("structure", "Patient.name[0].given")],
    ),
    (
        "null-in-array",
        {**P, "name": [{"given": ["a", None]}]},
        [("structure", "Patient.name[0].given[1]")],
    ),
    (
        "null-complex-in-array",
        {**P, "name": [{"text": "a"}, None]},
        [("structure", "Patient.name[1]")],
    ),
    (
        "null-matched-by-companion",
        {**P, "name": [{"given": [None, "b"], "_given": [{"id": "g0"}, None]}]},
        [],
    ),
    (
        "null-in-both",
        {**P, "name": [{"given": ["a", None], "_given": [{"id": "g0"}, None]}]},
        [("structure", "Patient.name[0].given[1]")],
    ),
]

PRIMITIVES: list[Case] = [
    ("boolean-ok", {**P, "active": False}, []),
    ("boolean-string", {**P, "active": "true"}, [("invalid", "Patient.active")]),
    ("boolean-int", {**P, "active": 1}, [("invalid", "Patient.active")]),
    ("integer-ok", {**P, "multipleBirthInteger": -2}, []),
    (
        "integer-float",
        {**P, "multipleBirthInteger": 2.0},
        [("invalid", "Patient.multipleBirthInteger")],
    ),
    (
        "integer-bool",
        {**P, "multipleBirthInteger": True},
        [("invalid", "Patient.multipleBirthInteger")],
    ),
    (
        "integer-string",
        {**P, "multipleBirthInteger": "2"},
        [("invalid", "Patient.multipleBirthInteger")],
    ),
    (
        "integer-range",
        {**P, "multipleBirthInteger": 2**31},
        [("value", "Patient.multipleBirthInteger")],
    ),
    ("integer-min", {**P, "multipleBirthInteger": -(2**31)}, []),
    ("positiveInt-zero", {**P, "telecom": [{"rank": 0}]}, [("value", "Patient.telecom[0].rank")]),
    ("positiveInt-ok", {**P, "telecom": [{"rank": 2147483647}]}, []),
    ("unsignedInt-negative", {**P, "photo": [{"size": -1}]}, [("value", "Patient.photo[0].size")]),
    ("unsignedInt-zero", {**P, "photo": [{"size": 0}]}, []),
    ("decimal-ok", {**OBS, "valueQuantity": {"value": 1e-3}}, []),
    ("decimal-int", {**OBS, "valueQuantity": {"value": 7}}, []),
    (
        "decimal-string",
        {**OBS, "valueQuantity": {"value": "1.0"}},
        [("invalid", "Observation.valueQuantity.value")],
    ),
    (
        "decimal-bool",
        {**OBS, "valueQuantity": {"value": False}},
        [("invalid", "Observation.valueQuantity.value")],
    ),
    (
        "decimal-nan",
        {**OBS, "valueQuantity": {"value": math.nan}},
        [("value", "Observation.valueQuantity.value")],
    ),
    (
        "decimal-inf",
        {**OBS, "valueQuantity": {"value": math.inf}},
        [("value", "Observation.valueQuantity.value")],
    ),
    (
        "string-number",
        {**P, "name": [{"given": ["Peter", 5]}]},
        [("invalid", "Patient.name[0].given[1]")],
    ),
    (
        "string-object",
        {**P, "name": [{"family": {"value": "x"}}]},
        [("invalid", "Patient.name[0].family")],
    ),
    ("string-empty", {**P, "name": [{"family": ""}]}, [("value", "Patient.name[0].family")]),
    ("string-unicode-space", {**P, "name": [{"family": "van\u00a0Dijk"}]}, []),
    (
        "string-vertical-tab",
        {**P, "name": [{"family": "a\x0bb"}]},
        [("value", "Patient.name[0].family")],
    ),
    ("markdown-multiline", {**OBS, "note": [{"text": "# Title\n\n* item\r\n\tmore"}]}, []),
    ("code-leading-space", {**P, "gender": " male"}, [("value", "Patient.gender")]),
    ("code-double-space", {**P, "gender": "ma  le"}, [("value", "Patient.gender")]),
    ("code-inner-space", {**P, "gender": "ma le"}, []),
    ("id-ok", {**P, "id": "a-B.9"}, []),
    ("id-bad-char", {**P, "id": "a_b"}, [("value", "Patient.id")]),
    ("id-too-long", {**P, "id": "x" * 65}, [("value", "Patient.id")]),
    ("element-id-any-string", {**P, "name": [{"id": "a_b c"}]}, []),
    (
        "uri-space",
        {**P, "identifier": [{"system": "http://a b"}]},
        [("value", "Patient.identifier[0].system")],
    ),
    ("oid-ok", {**P, "identifier": [{"system": "urn:oid:1.2.3"}]}, []),
    ("date-ok-leap", {**P, "birthDate": "2020-02-29"}, []),
    ("date-ok-partial", {**P, "birthDate": "2020-02"}, []),
    ("date-not-real", {**P, "birthDate": "2021-02-30"}, [("value", "Patient.birthDate")]),
    ("date-not-leap", {**P, "birthDate": "2021-02-29"}, [("value", "Patient.birthDate")]),
    ("date-april-31", {**P, "birthDate": "2021-04-31"}, [("value", "Patient.birthDate")]),
    ("date-format", {**P, "birthDate": "25/12/1974"}, [("value", "Patient.birthDate")]),
    (
        "date-with-time",
        {**P, "birthDate": "1974-12-25T10:00:00Z"},
        [("value", "Patient.birthDate")],
    ),
    ("date-suffix", {**P, "birthDate": "1974-12-25x"}, [("value", "Patient.birthDate")]),
    (
        "dateTime-no-zone",
        {**OBS, "effectiveDateTime": "2021-01-01T10:00:00"},
        [("value", "Observation.effectiveDateTime")],
    ),
    (
        "dateTime-not-real",
        {**OBS, "effectiveDateTime": "2021-06-31T10:00:00Z"},
        [("value", "Observation.effectiveDateTime")],
    ),
    ("dateTime-ok", {**OBS, "effectiveDateTime": "2021-01-01T10:00:00.123+14:00"}, []),
    ("instant-date-only", {**OBS, "issued": "2021-01-01"}, [("value", "Observation.issued")]),
    ("time-bad-hour", {**OBS, "valueTime": "24:00:00"}, [("value", "Observation.valueTime")]),
    ("base64-ok", {**P, "photo": [{"data": "SGVs bG8="}]}, []),
    ("base64-bad", {**P, "photo": [{"data": "SGVsbG8"}]}, [("value", "Patient.photo[0].data")]),
    (
        "fullUrl-is-a-uri",
        {"resourceType": "Bundle", "type": "batch", "entry": [{"fullUrl": "urn:uuid:61EBE359"}]},
        [],
    ),
    (
        "uuid-upper",
        {
            **P,
            "extension": [
                {"url": "u", "valueUuid": "urn:uuid:61EBE359-BFDC-4613-8BF2-C5E300945F0A"}
            ],
        },
        [("value", "Patient.extension[0].valueUuid")],
    ),
    (
        "uuid-ok",
        {
            **P,
            "extension": [
                {"url": "u", "valueUuid": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}
            ],
        },
        [],
    ),
    (
        "xhtml-empty",
        {**P, "text": {"status": "generated", "div": ""}},
        [("value", "Patient.text.div")],
    ),
    (
        "extension-url-value",
        {**P, "extension": [{"url": "http://x y", "valueBoolean": True}]},
        [("value", "Patient.extension[0].url")],
    ),
]

COMPANIONS: list[Case] = [
    ("ok", {**P, "birthDate": "1974-12-25", "_birthDate": {"id": "b"}}, []),
    (
        "alone",
        {**P, "_birthDate": {"extension": [{"url": "http://x", "valueCode": "unknown"}]}},
        [],
    ),
    (
        "array",
        {**P, "birthDate": "1974-12-25", "_birthDate": [{"id": "b"}]},
        [("structure", "Patient.birthDate")],
    ),
    ("string", {**P, "_birthDate": "1974"}, [("structure", "Patient.birthDate")]),
    (
        "empty",
        {**P, "birthDate": "1974-12-25", "_birthDate": {}},
        [("structure", "Patient.birthDate")],
    ),
    (
        "null",
        {**P, "birthDate": "1974-12-25", "_birthDate": None},
        [("required", "Patient.birthDate")],
    ),
    (
        "unknown-key",
        {**P, "_birthDate": {"value": "1974"}},
        [("structure", "Patient.birthDate.value")],
    ),
    (
        "bad-extension",
        {**P, "_birthDate": {"extension": [{"valueString": "x"}]}},
        [("required", "Patient.birthDate.extension[0].url")],
    ),
    (
        "array-not-array",
        {**P, "name": [{"given": ["a"], "_given": {"id": "x"}}]},
        [("structure", "Patient.name[0].given")],
    ),
    (
        "array-length",
        {**P, "name": [{"given": ["a", "b"], "_given": [{"id": "x"}]}]},
        [("structure", "Patient.name[0].given")],
    ),
    ("array-alone", {**P, "name": [{"_given": [{"id": "x"}]}]}, []),
    (
        "array-alone-null",
        {**P, "name": [{"_given": [{"id": "x"}, None]}]},
        [("structure", "Patient.name[0].given[1]")],
    ),
    (
        "array-empty",
        {**P, "name": [{"given": ["a"], "_given": []}]},
        [("structure", "Patient.name[0].given")],
    ),
    (
        "array-item-content",
        {**P, "name": [{"given": ["a", "b"], "_given": [None, {"extension": [{"url": "u"}]}]}]},
        [("structure", "Patient.name[0].given[1].extension[0]")],
    ),
]

OBJECTS: list[Case] = [
    ("empty-object", {**P, "meta": {}}, [("structure", "Patient.meta")]),
    ("empty-in-array", {**P, "name": [{}]}, [("structure", "Patient.name[0]")]),
    ("empty-backbone", {**P, "contact": [{}]}, [("structure", "Patient.contact[0]")]),
    ("null-value", {**P, "gender": None}, [("required", "Patient.gender")]),
    ("null-array", {**P, "name": None}, [("required", "Patient.name")]),
    ("null-object", {**OBS, "code": None}, [("required", "Observation.code")]),
    ("string-for-object", {**OBS, "code": "8480-6"}, [("structure", "Observation.code")]),
    (
        "array-in-array",
        {**OBS, "category": [[{"text": "a"}]]},
        [("structure", "Observation.category[0]")],
    ),
]

RESOURCES: list[Case] = [
    (
        "bundle-entry",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": {"resourceType": "Patient"}},
                {
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"text": "x"},
                    }
                },
                {"resource": {"resourceType": "Patient", "birthDate": "1974-13-01"}},
            ],
        },
        [("value", "Bundle.entry[2].resource.ofType(Patient).birthDate")],
    ),
    (
        "bundle-entry-unknown-type",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {"resourceType": "Foo"}}],
        },
        [("invalid", "Bundle.entry[0].resource")],
    ),
    (
        "bundle-entry-no-type",
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "1"}}]},
        [("structure", "Bundle.entry[0].resource")],
    ),
    (
        "bundle-entry-not-object",
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": "Patient/1"}]},
        [("structure", "Bundle.entry[0].resource")],
    ),
    (
        "bundle-in-bundle",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Bundle",
                        "type": "batch",
                        "entry": [{"resource": {**P, "x": 1}}],
                    }
                }
            ],
        },
        [
            (
                "structure",
                "Bundle.entry[0].resource.ofType(Bundle).entry[0].resource.ofType(Patient).x",
            )
        ],
    ),
    (
        "bundle-response-outcome",
        {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {
                    "response": {
                        "status": "400",
                        "outcome": {
                            "resourceType": "OperationOutcome",
                            "issue": [{"severity": "fatal", "code": "bogus code "}],
                        },
                    }
                }
            ],
        },
        [("value", "Bundle.entry[0].response.outcome.ofType(OperationOutcome).issue[0].code")],
    ),
    (
        "contained",
        {
            **OBS,
            "contained": [{"resourceType": "Practitioner", "name": [{"family": "x", "foo": 1}]}],
        },
        [("structure", "Observation.contained[0].ofType(Practitioner).name[0].foo")],
    ),
    (
        "contained-resourceType-kept",
        {**OBS, "contained": [{"resourceType": "Patient", "id": "p"}]},
        [],
    ),
    (
        "parameters-resource",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "p", "resource": {**P, "gender": 1}}],
        },
        [("invalid", "Parameters.parameter[0].resource.ofType(Patient).gender")],
    ),
    (
        "parameters-part",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "a", "part": [{"name": "b", "valueFoo": 1}]}],
        },
        [("structure", "Parameters.parameter[0].part[0].valueFoo")],
    ),
]

EXTENSIONS: list[Case] = [
    (
        "ok-value",
        {**OBS, "extension": [{"url": "http://x", "valueCodeableConcept": {"text": "a"}}]},
        [],
    ),
    (
        "ok-nested",
        {**OBS, "extension": [{"url": "http://x", "extension": [{"url": "a", "valueInteger": 1}]}]},
        [],
    ),
    (
        "missing-url",
        {**OBS, "extension": [{"valueString": "a"}]},
        [("required", "Observation.extension[0].url")],
    ),
    (
        "both",
        {
            **OBS,
            "extension": [
                {
                    "url": "http://x",
                    "valueString": "a",
                    "extension": [{"url": "b", "valueString": "c"}],
                }
            ],
        },
        [("structure", "Observation.extension[0]")],
    ),
    (
        "neither",
        {**OBS, "extension": [{"url": "http://x", "id": "e"}]},
        [("structure", "Observation.extension[0]")],
    ),
    (
        "url-number",
        {**OBS, "extension": [{"url": 5, "valueString": "a"}]},
        [("invalid", "Observation.extension[0].url")],
    ),
    (
        "url-no-underscore",
        {**OBS, "extension": [{"url": "u", "_url": {"id": "a"}, "valueString": "a"}]},
        [("structure", "Observation.extension[0]._url")],
    ),
    (
        "nested-missing-url",
        {**OBS, "extension": [{"url": "http://x", "extension": [{"valueInteger": 1}]}]},
        [("required", "Observation.extension[0].extension[0].url")],
    ),
    (
        "value-content",
        {**OBS, "extension": [{"url": "http://x", "valueQuantity": {"value": "1"}}]},
        [("invalid", "Observation.extension[0].valueQuantity.value")],
    ),
    (
        "modifier-extension",
        {**OBS, "component": [{"code": {"text": "a"}, "modifierExtension": [{"url": "http://x"}]}]},
        [("structure", "Observation.component[0].modifierExtension[0]")],
    ),
    (
        "two-values",
        {**OBS, "extension": [{"url": "u", "valueString": "a", "valueBoolean": True}]},
        [("structure", "Observation.extension[0].valueBoolean")],
    ),
]

BRIEF_EXAMPLES: list[Case] = [
    (
        "component-unit",
        {
            **OBS,
            "component": [
                {"code": {"text": "a"}},
                {"code": {"text": "b"}, "valueQuantity": {"value": 1, "unit": ""}},
            ],
        },
        [("value", "Observation.component[1].valueQuantity.unit")],
    ),
    ("given", {**P, "name": [{"given": ["a", 1]}]}, [("invalid", "Patient.name[0].given[1]")]),
    (
        "extension-url",
        {**OBS, "extension": [{"valueString": "a"}]},
        [("required", "Observation.extension[0].url")],
    ),
]

RULES = {
    "top-level": TOP_LEVEL,
    "unknown": UNKNOWN,
    "choice": CHOICE,
    "arrays": ARRAYS,
    "primitives": PRIMITIVES,
    "companions": COMPANIONS,
    "objects": OBJECTS,
    "resources": RESOURCES,
    "extensions": EXTENSIONS,
    "brief": BRIEF_EXAMPLES,
}
CASES = [
    pytest.param(resource, expected, id=f"{rule}-{name}")
    for rule, cases in RULES.items()
    for name, resource, expected in cases
]


@pytest.mark.parametrize(("resource", "expected"), CASES)
def test_rule(checker: StructureChecker, resource: Json, expected: list[tuple[str, str]]) -> None:
    assert found(checker, resource) == expected


def test_issues_are_errors_with_diagnostics(checker: StructureChecker) -> None:
    issues = checker.check({**P, "foo": 1, "valueX": 2})
    assert [i.diagnostics for i in issues] == ["Unknown element 'foo'", "Unknown element 'valueX'"]
    assert all(i.severity == "error" for i in issues)


def test_choice_diagnostic_names_allowed_types(checker: StructureChecker) -> None:
    [issue] = checker.check({**OBS, "valueFoo": 1})
    assert issue.diagnostics.startswith("Unknown element 'valueFoo': value[x] allows valueQuantity")


def test_several_issues_in_document_order(checker: StructureChecker) -> None:
    resource = {
        **P,
        "gender": "x y  z",
        "name": [{"given": [1]}],
        "birthDate": "2021-02-30",
        "zzz": 0,
    }
    assert found(checker, resource) == [
        ("value", "Patient.gender"),
        ("invalid", "Patient.name[0].given[0]"),
        ("value", "Patient.birthDate"),
        ("structure", "Patient.zzz"),
    ]


def test_expressions_are_fhirpath(checker: StructureChecker) -> None:
    """The reported expressions select the offending node when evaluated as FHIRPath."""
    fhirpathpy = pytest.importorskip("fhirpathpy")
    from fhirpathpy.models import models

    bundle = transaction()
    bundle["entry"][2]["resource"]["birthDate"] = "1974-13-01"
    bundle["entry"][1]["resource"]["valueQuantity"]["unit"] = ""
    issues = checker.check(bundle)
    assert [i.expression for i in issues] == [
        "Bundle.entry[1].resource.ofType(Observation).valueQuantity.unit",
        "Bundle.entry[2].resource.ofType(Patient).birthDate",
    ]
    values = [fhirpathpy.evaluate(bundle, i.expression, {}, models["r4"]) for i in issues]
    assert values == [[""], ["1974-13-01"]]


def test_input_is_not_modified(checker: StructureChecker) -> None:
    resource = transaction()
    before = copy.deepcopy(resource)
    checker.check(resource)
    assert resource == before


# --------------------------------------------------------------------------- the compiled tree


def test_element_tree(checker: StructureChecker) -> None:
    model = checker.models.model("Observation")
    assert model is not None
    component = model.by_path["Observation.component"]
    assert component.is_array and component.max == "*" and component.types == ("BackboneElement",)
    assert list(component.children)[:4] == ["id", "extension", "modifierExtension", "code"]
    value = component.children["value[x]"]
    assert value.is_choice and "Quantity" in value.types and not value.is_array
    assert model.root.children["id"].types == ("id",)
    item = checker.models.model("Questionnaire")
    assert item is not None
    assert item.by_path["Questionnaire.item.item"].content_reference == "#Questionnaire.item"
    assert checker.models.model("Observation") is model  # compiled once


def test_slices_hang_off_the_sliced_element() -> None:
    sd = {
        "resourceType": "StructureDefinition",
        "url": "http://example.org/bp",
        "type": "Observation",
        "kind": "resource",
        "snapshot": {
            "element": [
                {"id": "Observation", "path": "Observation", "min": 0, "max": "*"},
                {
                    "id": "Observation.component",
                    "path": "Observation.component",
                    "min": 2,
                    "max": "*",
                    "base": {"path": "Observation.component", "min": 0, "max": "*"},
                    "type": [{"code": "BackboneElement"}],
                },
                {
                    "id": "Observation.component:systolic",
                    "path": "Observation.component",
                    "sliceName": "systolic",
                    "min": 1,
                    "max": "1",
                    "base": {"path": "Observation.component", "min": 0, "max": "*"},
                    "type": [{"code": "BackboneElement"}],
                },
                {
                    "id": "Observation.component:systolic.code",
                    "path": "Observation.component.code",
                    "min": 1,
                    "max": "1",
                    "type": [{"code": "CodeableConcept"}],
                },
            ]
        },
    }
    model = compile_structure(sd)
    component = model.root.children["component"]
    systolic = component.slices["systolic"]
    assert systolic.min == 1 and systolic.max == "1"
    assert systolic.is_array  # JSON shape comes from the base definition
    assert list(systolic.children) == ["code"]
    assert model.by_path["Observation.component"] is component


# --------------------------------------------------------------------------- robustness

ELEMENT_NAMES = sorted(
    {
        "resourceType",
        "id",
        "extension",
        "url",
        "valueString",
        "valueQuantity",
        "value",
        "name",
        "given",
        "_given",
        "family",
        "birthDate",
        "_birthDate",
        "gender",
        "code",
        "coding",
        "system",
        "component",
        "entry",
        "resource",
        "contained",
        "item",
        "linkId",
        "status",
        "meta",
        "text",
        "div",
        "parameter",
        "part",
        "multipleBirthInteger",
        "rank",
    }
)
RESOURCE_TYPES = ["Patient", "Observation", "Bundle", "Questionnaire", "Parameters", "Foo", ""]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from([*RESOURCE_TYPES, "2021-02-30", "1974-12-25", "male"])
)
keys = st.sampled_from(ELEMENT_NAMES) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=40,
)
resources = st.builds(
    lambda kind, body: {**body, "resourceType": kind},
    st.sampled_from(RESOURCE_TYPES),
    st.dictionaries(keys, json_values, max_size=6),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, resources))
def test_random_json_never_raises(checker: StructureChecker, document: Json) -> None:
    issues = checker.check(document)
    assert all(issue.severity == "error" and issue.code for issue in issues)
