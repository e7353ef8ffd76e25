"""Tests of the profile validator (src/screening/fhir/validator*.py, slicing, value rules).

Each rule is shown on a valid and an invalid resource, with the exact issue expected
(severity, code, expression). The rules come from the project IG (`fhir_profiles/`), the core
profiles (vitalsigns, bp) and a few small test profiles below, written as differentials.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.fhir.fhirpath import InvariantRunner, evaluate_nodes
from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry, default_registry
from screening.fhir.validation import build_validator
from screening.fhir.validator import Validator
from screening.fhir.validator_fhirpath import Unsupported, compile_native
from screening.fhir.validator_invariants import Invariant, InvariantEngine, Where
from screening.paths import data_dir

Json = Any
IG = "https://fhir.rehab-screening.example/StructureDefinition/"
CS = "https://fhir.rehab-screening.example/CodeSystem/"
VS = "https://fhir.rehab-screening.example/ValueSet/"
T = "http://example.org/test/StructureDefinition/"
UCUM = "http://unitsofmeasure.org"
EXAMPLES = data_dir("fhir_profiles") / "examples"
CASES = Path(__file__).resolve().parents[1] / "conformance" / "cases"


# --------------------------------------------------------------------------- test profiles


def sd(name: str, base: str, elements: list[Json], kind: str = "resource") -> Json:
    """A differential-only StructureDefinition constraining `base`."""
    type_name = base.rsplit("/", 1)[-1]
    return {
        "resourceType": "StructureDefinition",
        "url": T + name,
        "name": name,
        "status": "active",
        "kind": kind,
        "abstract": False,
        "type": type_name,
        "baseDefinition": base,
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def el(path: str, **rules: Any) -> Json:
    """One differential element (`id` like its path unless given)."""
    return {"id": rules.pop("id", path), "path": path, **rules}


CORE = "http://hl7.org/fhir/StructureDefinition/"
TEST_VS = "http://example.org/test/ValueSet/colours"
TEST_CS = "http://example.org/test/CodeSystem/colours"

TEST_RESOURCES: list[Json] = [
    {
        "resourceType": "CodeSystem",
        "url": TEST_CS,
        "status": "active",
        "content": "complete",
        "concept": [{"code": "red"}, {"code": "green"}, {"code": "blue"}],
    },
    {
        "resourceType": "ValueSet",
        "url": TEST_VS,
        "status": "active",
        "compose": {
            "include": [{"system": TEST_CS, "concept": [{"code": "red"}, {"code": "green"}]}]
        },
    },
    sd(
        "values",
        CORE + "Observation",
        [
            el("Observation.status", fixedCode="final"),
            el("Observation.identifier", patternIdentifier={"system": "urn:test:ids"}),
            el("Observation.code", patternCodeableConcept={"coding": [{"system": UCUM}]}),
            el("Observation.code.coding", patternCoding={"system": UCUM}),
            el(
                "Observation.value[x]",
                type=[{"code": "Quantity"}],
                patternQuantity={"system": UCUM, "code": "s"},
                minValueQuantity={"value": 1, "system": UCUM, "code": "s"},
                maxValueQuantity={"value": 2, "system": UCUM, "code": "min"},
            ),
            el("Observation.note"),
            el("Observation.note.text", maxLength=10),
            el(
                "Observation.interpretation",
                binding={"strength": "required", "valueSet": TEST_VS},
            ),
            el("Observation.bodySite", binding={"strength": "extensible", "valueSet": TEST_VS}),
            el("Observation.method", binding={"strength": "preferred", "valueSet": TEST_VS}),
            el("Observation.focus", max="1"),
            el("Observation.performer", min=1),
        ],
    ),
    sd(
        "dates",
        CORE + "Patient",
        [
            el("Patient.birthDate", minValueDate="1900-01-01", maxValueDate="2030-12-31"),
            el("Patient.language", binding={"strength": "required", "valueSet": TEST_VS}),
            el("Patient.maritalStatus"),
            el(
                "Patient.maritalStatus.coding",
                binding={"strength": "required", "valueSet": TEST_VS},
            ),
        ],
    ),
    sd(
        "components",
        CORE + "Observation",
        [
            el(
                "Observation.component",
                slicing={
                    "discriminator": [{"type": "pattern", "path": "code"}],
                    "rules": "closed",
                    "ordered": True,
                },
                min=1,
            ),
            el(
                "Observation.component", id="Observation.component:a", sliceName="a", min=1, max="1"
            ),
            el(
                "Observation.component.code",
                id="Observation.component:a.code",
                patternCodeableConcept={"coding": [{"system": TEST_CS, "code": "red"}]},
            ),
            el("Observation.component", id="Observation.component:b", sliceName="b", max="2"),
            el(
                "Observation.component.code",
                id="Observation.component:b.code",
                patternCodeableConcept={"coding": [{"system": TEST_CS, "code": "green"}]},
            ),
            el(
                "Observation.component.value[x]",
                id="Observation.component:b.value[x]",
                type=[{"code": "string"}],
            ),
        ],
    ),
    sd(
        "ranges",
        CORE + "Observation",
        [
            el(
                "Observation.referenceRange",
                slicing={"discriminator": [{"type": "exists", "path": "low"}], "rules": "open"},
            ),
            el(
                "Observation.referenceRange",
                id="Observation.referenceRange:withLow",
                sliceName="withLow",
                min=1,
                max="1",
            ),
            el(
                "Observation.referenceRange.low", id="Observation.referenceRange:withLow.low", min=1
            ),
            el(
                "Observation.referenceRange",
                id="Observation.referenceRange:noLow",
                sliceName="noLow",
                max="1",
            ),
            el(
                "Observation.referenceRange.low", id="Observation.referenceRange:noLow.low", max="0"
            ),
        ],
    ),
    sd(
        "typed",
        CORE + "Observation",
        [
            el(
                "Observation.value[x]",
                slicing={"discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"},
            ),
            el(
                "Observation.value[x]",
                id="Observation.value[x]:valueQuantity",
                sliceName="valueQuantity",
                type=[{"code": "Quantity"}],
            ),
            el(
                "Observation.value[x]",
                id="Observation.value[x]:valueString",
                sliceName="valueString",
                type=[{"code": "string"}],
            ),
        ],
    ),
    sd(
        "contained-profiled",
        CORE + "Observation",
        [
            el(
                "Observation.contained",
                slicing={"discriminator": [{"type": "profile", "path": "$this"}], "rules": "open"},
            ),
            el(
                "Observation.contained",
                id="Observation.contained:patient",
                sliceName="patient",
                min=1,
                max="1",
                type=[{"code": "Patient", "profile": [T + "named-patient"]}],
            ),
        ],
    ),
    sd("named-patient", CORE + "Patient", [el("Patient.name", min=1)]),
    sd(
        "resliced",
        CORE + "Observation",
        [
            el(
                "Observation.category",
                slicing={
                    "discriminator": [{"type": "value", "path": "coding.system"}],
                    "rules": "open",
                },
            ),
            el("Observation.category", id="Observation.category:colour", sliceName="colour"),
            el(
                "Observation.category.coding",
                id="Observation.category:colour.coding",
                slicing={"discriminator": [{"type": "value", "path": "code"}], "rules": "closed"},
            ),
            el(
                "Observation.category.coding.system",
                id="Observation.category:colour.coding.system",
                fixedUri=TEST_CS,
            ),
            el(
                "Observation.category.coding",
                id="Observation.category:colour.coding:red",
                sliceName="red",
                min=1,
                max="1",
            ),
            el(
                "Observation.category.coding.code",
                id="Observation.category:colour.coding:red.code",
                fixedCode="red",
            ),
        ],
    ),
]


_base: Registry | None = None
_base_lock = threading.Lock()


def fresh_registry() -> Registry:
    """A copy of the default registry's indexes (core + IG), private to one test module."""
    global _base
    with _base_lock:
        if _base is None:
            _base = default_registry()
    fresh = copy.copy(_base)
    fresh.__dict__.update(
        _by_url=dict(_base._by_url),
        _by_type={k: list(v) for k, v in _base._by_type.items()},
        _sp_index=None,
        _lock=threading.Lock(),
        packages=list(_base.packages),
    )
    return fresh


@pytest.fixture(scope="module")
def validator() -> Validator:
    """A validator over core, the IG and the test profiles above."""
    registry = fresh_registry()
    for resource in TEST_RESOURCES:
        registry.add(copy.deepcopy(resource))
    return build_validator(registry)


def example(name: str) -> Json:
    """An IG example by file name (without `.json`)."""
    data: Json = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def found(
    v: Validator, resource: Json, profiles: tuple[str, ...] = ()
) -> set[tuple[str, str, str | None]]:
    """(severity, code, expression) of every error and warning."""
    return {
        (i.severity, i.code, i.expression)
        for i in v.validate(resource, profiles)
        if i.severity in ("error", "fatal", "warning")
    }


def errors(v: Validator, resource: Json, profiles: tuple[str, ...] = ()) -> list[Issue]:
    """The error issues."""
    return [i for i in v.validate(resource, profiles) if i.is_error]


def only_error(v: Validator, resource: Json, profiles: tuple[str, ...] = ()) -> Issue:
    """The one error the resource has."""
    found_errors = errors(v, resource, profiles)
    assert len(found_errors) == 1, [(e.expression, e.diagnostics) for e in found_errors]
    return found_errors[0]


def observation(**extra: Any) -> Json:
    """A minimal valid Observation (with narrative)."""
    resource = {
        "resourceType": "Observation",
        "id": "o1",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
        "status": "final",
        "code": {"coding": [{"system": UCUM, "code": "s"}]},
    }
    resource.update(extra)
    return resource


def patient(**extra: Any) -> Json:
    """A minimal valid Patient (with narrative)."""
    resource = {
        "resourceType": "Patient",
        "id": "p1",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    }
    resource.update(extra)
    return resource


# --------------------------------------------------------------------------- IG examples


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_ig_example_is_valid(validator: Validator, path: Path) -> None:
    """The IG's own examples have no errors against their profiles."""
    resource = json.loads(path.read_text())
    assert errors(validator, resource) == []


# --------------------------------------------------------------------------- cardinality


def test_min_cardinality_of_an_ig_profile(validator: Validator) -> None:
    """tug requires a performer (from screening-observation)."""
    tug = example("Observation-example-tug-karimi")
    assert errors(validator, tug) == []
    del tug["performer"]
    issue = only_error(validator, tug)
    assert (issue.severity, issue.code, issue.expression) == ("error", "structure", "Observation")
    assert "Observation.performer: minimum required = 1, but only found 0" in issue.diagnostics


def test_max_cardinality(validator: Validator) -> None:
    """`values` allows one focus."""
    ok = observation(performer=[{"display": "x"}], focus=[{"display": "a"}])
    assert errors(validator, ok, (T + "values",)) == []
    bad = observation(performer=[{"display": "x"}], focus=[{"display": "a"}, {"display": "b"}])
    issue = only_error(validator, bad, (T + "values",))
    assert (issue.code, issue.expression) == ("structure", "Observation")
    assert "Observation.focus: max allowed = 1, but found 2" in issue.diagnostics


def test_core_min_cardinality(validator: Validator) -> None:
    """Observation.status is 1..1 in the core definition."""
    bad = observation()
    del bad["status"]
    issue = only_error(validator, bad)
    assert (issue.severity, issue.code, issue.expression) == ("error", "structure", "Observation")


def test_slice_cardinality(validator: Validator) -> None:
    """tug's icfDomain category slice is 1..1."""
    tug = example("Observation-example-tug-karimi")
    tug["category"] = tug["category"][:1]
    issue = only_error(validator, tug)
    assert issue.expression == "Observation"
    assert "Observation.category:icfDomain: minimum required = 1" in issue.diagnostics


# --------------------------------------------------------------------------- types


def test_choice_type_allowed_by_profile(validator: Validator) -> None:
    """tug's value[x] is Quantity only: a valueString is an error at its key."""
    tug = example("Observation-example-tug-karimi")
    del tug["valueQuantity"]
    tug["valueString"] = "fast"
    found_errors = {(e.code, e.expression) for e in errors(validator, tug)}
    assert ("structure", "Observation.valueString") in found_errors


def test_profile_for_another_type(validator: Validator) -> None:
    """A Patient profile asked for an Observation."""
    issue = only_error(validator, observation(), (IG + "screened-person",))
    assert (issue.severity, issue.code, issue.expression) == ("error", "invalid", "Observation")
    assert "is for Patient, not Observation" in issue.diagnostics


def test_unknown_profile_is_an_error_naming_it(validator: Validator) -> None:
    """An unknown meta.profile is an error (product rule), at the meta.profile entry."""
    resource = observation(meta={"profile": ["http://example.org/nowhere"]})
    issue = only_error(validator, resource)
    assert (issue.severity, issue.code) == ("error", "not-found")
    assert issue.expression == "Observation.meta.profile[0]"
    assert "http://example.org/nowhere" in issue.diagnostics


# --------------------------------------------------------------------------- fixed and pattern

VALUES = (T + "values",)


def valued(**extra: Any) -> Json:
    """An Observation valid against the `values` test profile."""
    base = observation(
        performer=[{"display": "x"}],
        identifier=[{"system": "urn:test:ids", "value": "1"}],
        valueQuantity={"value": 1.5, "system": UCUM, "code": "s"},
    )
    base.update(extra)
    return base


def test_valid_against_values_profile(validator: Validator) -> None:
    """The baseline resource of the value-rule tests is valid."""
    assert errors(validator, valued(), VALUES) == []


def test_fixed_value(validator: Validator) -> None:
    """status is fixed to final."""
    issue = only_error(validator, valued(status="amended"), VALUES)
    assert (issue.code, issue.expression) == ("value", "Observation.status")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"identifier": [{"system": "urn:other", "value": "1"}]}, "Observation.identifier[0]"),
        ({"code": {"coding": [{"system": "http://loinc.org", "code": "1"}]}}, "Observation.code"),
        (
            {"valueQuantity": {"value": 1.5, "system": UCUM, "code": "ms"}},
            "Observation.valueQuantity",
        ),
    ],
    ids=["Identifier", "CodeableConcept", "Quantity"],
)
def test_pattern_values(validator: Validator, change: Json, where: str) -> None:
    """patternIdentifier, patternCodeableConcept and patternQuantity."""
    issues = {(e.code, e.expression) for e in errors(validator, valued(**change), VALUES)}
    assert ("value", where) in issues


def test_pattern_coding(validator: Validator) -> None:
    """patternCoding on code.coding: each Coding must hold the system."""
    bad = valued(code={"coding": [{"system": UCUM, "code": "s"}, {"code": "x"}]})
    issue = only_error(validator, bad, VALUES)
    assert (issue.code, issue.expression) == ("value", "Observation.code.coding[1]")


@pytest.mark.parametrize(
    ("quantity", "ok"),
    [
        ({"value": 1, "system": UCUM, "code": "s"}, True),
        ({"value": 0.5, "system": UCUM, "code": "s"}, False),
        ({"value": 119, "system": UCUM, "code": "s"}, True),
        ({"value": 121, "system": UCUM, "code": "s"}, False),
    ],
)
def test_min_and_max_value_quantity_with_ucum_conversion(
    validator: Validator, quantity: Json, ok: bool
) -> None:
    """1 s <= value <= 2 min, compared after converting minutes to seconds."""
    issues = errors(validator, valued(valueQuantity=quantity), VALUES)
    assert [(e.code, e.expression) for e in issues] == (
        [] if ok else [("value", "Observation.valueQuantity")]
    )


def test_min_and_max_value_date(validator: Validator) -> None:
    """birthDate between 1900 and 2030."""
    profile = (T + "dates",)
    assert errors(validator, patient(birthDate="1980-05-01"), profile) == []
    for value in ("1899-12-31", "2031-01-01"):
        issue = only_error(validator, patient(birthDate=value), profile)
        assert (issue.code, issue.expression) == ("value", "Patient.birthDate")


def test_max_length(validator: Validator) -> None:
    """note.text is at most 10 characters."""
    assert errors(validator, valued(note=[{"text": "short"}]), VALUES) == []
    issue = only_error(validator, valued(note=[{"text": "far too long a note"}]), VALUES)
    assert (issue.code, issue.expression) == ("value", "Observation.note[0].text")


# --------------------------------------------------------------------------- bindings


def coded(code: str) -> Json:
    """A CodeableConcept in the test colour system."""
    return {"coding": [{"system": TEST_CS, "code": code}]}


@pytest.mark.parametrize(
    ("element", "severity"),
    [("interpretation", "error"), ("bodySite", "warning"), ("method", "information")],
)
def test_binding_strengths(validator: Validator, element: str, severity: str) -> None:
    """required -> error, extensible -> warning, preferred -> information."""
    value = [coded("blue")] if element == "interpretation" else coded("blue")
    where = f"Observation.{element}[0]" if element == "interpretation" else f"Observation.{element}"
    good = [coded("red")] if element == "interpretation" else coded("red")
    mine = [
        i for i in validator.validate(valued(**{element: good}), VALUES) if TEST_VS in i.diagnostics
    ]
    assert mine == []
    issues = [
        i
        for i in validator.validate(valued(**{element: value}), VALUES)
        if TEST_VS in i.diagnostics
    ]
    assert [(i.severity, i.code, i.expression) for i in issues] == [
        (severity, "code-invalid", where)
    ]


REASON = CS + "referral-reason"
SNOMED_REASON = {"system": "http://snomed.info/sct", "code": "282145008"}  # as test_search_extract


@pytest.mark.parametrize(
    ("codings", "expected"),
    [
        ([], set()),  # text only: nothing to check
        ([{"system": REASON, "code": "fall-risk", "display": "Risk of falls"}], set()),
        ([{"system": REASON, "code": "fall-risk"}, SNOMED_REASON], set()),  # one of ours will do
        ([SNOMED_REASON], {("warning", "code-invalid", "ServiceRequest.reasonCode[0]")}),
        (
            [{"system": CS + "rehab-service-type", "code": "physiotherapy"}],
            {("warning", "code-invalid", "ServiceRequest.reasonCode[0]")},
        ),
        (
            [{"system": REASON, "code": "not-a-code"}],
            {
                ("error", "code-invalid", "ServiceRequest.reasonCode[0].coding[0]"),
                ("warning", "code-invalid", "ServiceRequest.reasonCode[0]"),
            },
        ),
    ],
)
def test_referral_reason_is_an_extensible_binding(
    validator: Validator, codings: list[Json], expected: set[tuple[str, str, str]]
) -> None:
    """rehab-referral binds reasonCode to referral-reason (extensible): a reason given as text
    only or with one of its codes is valid; other codes only warn; an unknown code of the
    referral-reason system is an error (of the CodeSystem, not the binding)."""
    referral = example("ServiceRequest-example-referral-karimi")
    reason: Json = {"coding": codings} if codings else {}
    referral["reasonCode"] = [{**reason, "text": "Prosthetic fitting"}]
    issues = found(validator, referral)
    assert {i for i in issues if "reasonCode" in (i[2] or "")} == expected
    assert {i for i in issues if i[0] == "error"} <= expected


def test_required_binding_on_a_code(validator: Validator) -> None:
    """Patient.gender is bound (required) to administrative-gender."""
    assert errors(validator, patient(gender="female")) == []
    issues = {(i.code, i.expression) for i in errors(validator, patient(gender="woman"))}
    assert issues == {("code-invalid", "Patient.gender"), ("not-found", "Patient.gender")}


def test_required_binding_on_a_coding(validator: Validator) -> None:
    """A Coding-typed element with a required binding (maritalStatus.coding in `dates`)."""
    profile = (T + "dates",)
    ok = patient(maritalStatus={"coding": [{"system": TEST_CS, "code": "red"}]})
    assert errors(validator, ok, profile) == []
    bad = patient(maritalStatus={"coding": [{"system": TEST_CS, "code": "blue"}]})
    issue = only_error(validator, bad, profile)
    assert (issue.code, issue.expression) == ("code-invalid", "Patient.maritalStatus.coding[0]")


def test_required_binding_on_a_quantity(validator: Validator) -> None:
    """Quantity.comparator is a code bound (required) to quantity-comparator."""
    quantity = {"value": 1, "comparator": "<<", "system": UCUM, "code": "s"}
    issues = {
        (i.code, i.expression) for i in errors(validator, valued(valueQuantity=quantity), VALUES)
    }
    where = "Observation.valueQuantity.comparator"
    assert issues == {("code-invalid", where), ("not-found", where)}


def test_required_code_unknown_to_every_system_of_the_value_set(validator: Validator) -> None:
    """A bare code no system of the value set has: its system cannot be determined either."""
    issues = {
        (i.code, i.expression)
        for i in errors(validator, patient(language="purple"), (T + "dates",))
    }
    assert issues == {("code-invalid", "Patient.language"), ("not-found", "Patient.language")}


def test_unknown_code_in_a_local_code_system(validator: Validator) -> None:
    """A Coding whose code its (complete, local) CodeSystem lacks."""
    bad = observation(method={"coding": [{"system": TEST_CS, "code": "purple"}]})
    issue = only_error(validator, bad)
    assert (issue.code, issue.expression) == ("code-invalid", "Observation.method.coding[0]")


# --------------------------------------------------------------------------- slicing


def component(code: str, value: Json | None = None) -> Json:
    """An Observation.component with a colour code."""
    found_component: Json = {"code": coded(code)}
    if value is not None:
        found_component.update(value)
    return found_component


COMPONENTS = (T + "components",)


def test_slicing_by_pattern(validator: Validator) -> None:
    """Components sliced by code: a (1..1) then b (0..2)."""
    ok = observation(component=[component("red"), component("green", {"valueString": "x"})])
    assert errors(validator, ok, COMPONENTS) == []
    issue = only_error(validator, observation(component=[component("green")]), COMPONENTS)
    assert issue.expression == "Observation"
    assert "Observation.component:a: minimum required = 1" in issue.diagnostics


def test_slice_rules_apply_to_its_members(validator: Validator) -> None:
    """Slice b allows only valueString."""
    bad = observation(component=[component("red"), component("green", {"valueInteger": 1})])
    issue = only_error(validator, bad, COMPONENTS)
    assert (issue.code, issue.expression) == ("structure", "Observation.component[1].valueInteger")


def test_closed_slicing(validator: Validator) -> None:
    """A component in no slice is an error when slicing is closed."""
    bad = observation(component=[component("red"), component("blue")])
    issue = only_error(validator, bad, COMPONENTS)
    assert (issue.code, issue.expression) == ("structure", "Observation.component[1]")


def test_ordered_slicing(validator: Validator) -> None:
    """Slice a must come before slice b."""
    bad = observation(component=[component("green"), component("red")])
    issue = only_error(validator, bad, COMPONENTS)
    assert (issue.code, issue.expression) == ("structure", "Observation")
    assert "not in the order of the slices" in issue.diagnostics


def test_slicing_by_value_on_an_ig_profile(validator: Validator) -> None:
    """screened-person slices identifier by system: caseCode is required."""
    person = example("Patient-example-ahmad-karimi")
    person["identifier"] = [i for i in person["identifier"] if "case-code" not in i["system"]]
    found_errors = errors(validator, person)
    assert any(
        "Patient.identifier:caseCode: minimum required" in e.diagnostics for e in found_errors
    )


def test_slicing_by_exists(validator: Validator) -> None:
    """referenceRange sliced by whether low exists: withLow is 1..1."""
    profile = (T + "ranges",)
    low = {"low": {"value": 1, "system": UCUM, "code": "s"}}
    ok = observation(referenceRange=[low, {"text": "normal"}])
    assert errors(validator, ok, profile) == []
    issue = only_error(validator, observation(referenceRange=[{"text": "normal"}]), profile)
    assert "Observation.referenceRange:withLow: minimum required = 1" in issue.diagnostics


def test_slicing_by_type(validator: Validator) -> None:
    """value[x] sliced by type, closed: Quantity and string only."""
    profile = (T + "typed",)
    assert errors(validator, observation(valueString="x"), profile) == []
    issue = only_error(validator, observation(valueBoolean=True), profile)
    assert (issue.code, issue.expression) == ("structure", "Observation.valueBoolean")


def test_slicing_by_profile(validator: Validator) -> None:
    """contained sliced by profile: one contained Patient must have a name."""
    profile = (T + "contained-profiled",)
    named = patient(id="p9", name=[{"text": "A"}])
    ok = observation(contained=[named], subject={"reference": "#p9"})
    assert errors(validator, ok, profile) == []
    unnamed = patient(id="p9")
    bad = observation(contained=[unnamed], subject={"reference": "#p9"})
    issue = only_error(validator, bad, profile)
    assert "Observation.contained:patient: minimum required = 1" in issue.diagnostics


def test_slicing_by_resolved_type(validator: Validator) -> None:
    """rehab-referral slices supportingInfo by the resolved type: a Consent is required."""
    referral = example("ServiceRequest-example-referral-karimi")
    assert errors(validator, referral) == []
    referral["supportingInfo"] = [{"reference": "Observation/x"}]
    found_errors = errors(validator, referral)
    assert any("supportingInfo:consent: minimum required" in e.diagnostics for e in found_errors)


def test_reslicing(validator: Validator) -> None:
    """category:colour is re-sliced by code (closed): red is required, blue is not allowed."""
    profile = (T + "resliced",)
    ok = observation(category=[{"coding": [{"system": TEST_CS, "code": "red"}]}])
    assert errors(validator, ok, profile) == []
    bad = observation(
        category=[
            {"coding": [{"system": TEST_CS, "code": "red"}, {"system": TEST_CS, "code": "blue"}]}
        ]
    )
    issue = only_error(validator, bad, profile)
    assert (issue.code, issue.expression) == ("structure", "Observation.category[0].coding[1]")


# --------------------------------------------------------------------------- extensions

LATERALITY = IG + "laterality"


def condition(*extensions: Json) -> Json:
    """The IG's limb-absence Condition with other extensions."""
    resource = example("Condition-example-limb-absence-karimi")
    resource["extension"] = list(extensions) + resource["extension"][1:]
    return resource


def side(code: str = "left") -> Json:
    """A laterality extension."""
    return {
        "url": LATERALITY,
        "valueCodeableConcept": {"coding": [{"system": CS + "laterality", "code": code}]},
    }


def test_known_extension(validator: Validator) -> None:
    """laterality on a Condition is valid; a code outside its value set is not."""
    assert errors(validator, condition(side())) == []
    issue = only_error(validator, condition(side("middle")))
    assert issue.code == "code-invalid"
    assert issue.expression == "Condition.extension[0].valueCodeableConcept"


def test_unknown_extension(validator: Validator) -> None:
    """An extension nobody defines is an error (example domains only a note)."""
    unknown = {"url": "http://unknown.org/ext", "valueString": "x"}
    issue = only_error(validator, condition(side(), unknown))
    assert (issue.severity, issue.code, issue.expression) == (
        "error",
        "structure",
        "Condition.extension[1]",
    )
    example_ext = {"url": "http://example.org/ext", "valueString": "x"}
    assert errors(validator, condition(side(), example_ext)) == []


def test_extension_context(validator: Validator) -> None:
    """laterality may sit on a Condition only."""
    bad = patient(extension=[side()])
    issue = only_error(validator, bad)
    assert (issue.code, issue.expression) == ("structure", "Patient.extension[0]")
    assert "not allowed to be used at this point" in issue.diagnostics


def test_extension_value_type(validator: Validator) -> None:
    """laterality's value is a CodeableConcept."""
    issue = only_error(validator, condition({"url": LATERALITY, "valueString": "left"}))
    assert (issue.code, issue.expression) == ("structure", "Condition.extension[0].valueString")


# --------------------------------------------------------------------------- references


def test_reference_target_type(validator: Validator) -> None:
    """Observation.subject of a tug points at a screened person, not a Practitioner."""
    tug = example("Observation-example-tug-karimi")
    tug["subject"] = {"reference": "Practitioner/example-zahra-ahmadi"}
    issues = errors(validator, tug)  # both the core definition and the profile object
    assert {(i.code, i.expression) for i in issues} == {("structure", "Observation.subject")}
    assert any("Found Practitioner, but expected one of (Patient)" in i.diagnostics for i in issues)


def test_contained_resources_are_validated_and_resolved(validator: Validator) -> None:
    """A contained Patient is checked; `#id` resolves to its type."""
    tug = example("Observation-example-tug-karimi")
    tug["contained"] = [patient(id="pp", gender="woman")]
    tug["performer"] = [{"reference": "#pp"}]
    found_errors = {(e.code, e.expression) for e in errors(validator, tug)}
    assert ("code-invalid", "Observation.contained[0].gender") in found_errors
    assert ("structure", "Observation.performer[0]") in found_errors  # a Patient cannot perform


def test_bundle_entries_are_validated_and_references_resolved(validator: Validator) -> None:
    """Entries of a transaction are validated against their profiles; urn:uuid references
    resolve to the entry's type."""
    tug = example("Observation-example-tug-karimi")
    person = example("Patient-example-ahmad-karimi")
    tug["subject"] = {"reference": "urn:uuid:0b0e3b1a-5c5d-4c1e-9d6a-0d5c2a8e7f01"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b0e3b1a-5c5d-4c1e-9d6a-0d5c2a8e7f01",
                "resource": person,
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:0b0e3b1a-5c5d-4c1e-9d6a-0d5c2a8e7f02",
                "resource": tug,
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    assert errors(validator, bundle) == []
    tug["subject"]["reference"] = "urn:uuid:0b0e3b1a-5c5d-4c1e-9d6a-0d5c2a8e7f02"
    issues = {(i.code, i.expression) for i in errors(validator, bundle)}
    assert issues == {("structure", "Bundle.entry[1].resource.subject")}


# --------------------------------------------------------------------------- invariants


def test_core_invariant(validator: Validator) -> None:
    """obs-6: no dataAbsentReason when there is a value."""
    absent = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "unknown",
            }
        ]
    }
    bad = observation(valueString="x", dataAbsentReason=absent)
    issue = only_error(validator, bad)
    assert (issue.code, issue.expression) == ("invariant", "Observation")
    assert "obs-6" in issue.diagnostics


def test_core_invariant_empty_result_fails_as_in_java(validator: Validator) -> None:
    """per-1: a start of another precision than the end cannot be compared, and fails."""
    period = {"start": "2023-06-21", "end": "2023-06-21T06:20:00Z"}
    issue = only_error(validator, observation(effectivePeriod=period))
    assert (issue.code, issue.expression) == ("invariant", "Observation.effectivePeriod")
    ok = {"start": "2023-06-20", "end": "2023-06-21"}
    assert errors(validator, observation(effectivePeriod=ok)) == []


def test_ig_invariant(validator: Validator) -> None:
    """tug-1: the time is more than 0 s."""
    tug = example("Observation-example-tug-karimi")
    tug["valueQuantity"]["value"] = 0
    issue = only_error(validator, tug)
    assert (issue.code, issue.expression) == ("invariant", "Observation")
    assert "tug-1" in issue.diagnostics


def test_core_profile_invariant(validator: Validator) -> None:
    """The vital-signs profile's own invariant vs-3 runs on a profile pass."""
    bp = json.loads(json.dumps(BLOOD_PRESSURE))
    assert errors(validator, bp, (CORE + "bp",)) == []
    del bp["component"][1]["valueQuantity"]
    found_errors = {(e.code, e.expression) for e in errors(validator, bp, (CORE + "bp",))}
    assert ("invariant", "Observation.component[1]") in found_errors


BLOOD_PRESSURE: Json = {
    "resourceType": "Observation",
    "id": "bp",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">bp</div>'},
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
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/example"},
    "effectiveDateTime": "2024-01-20T09:30:00+01:00",
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {"value": 80, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
    ],
}


# --------------------------------------------------------------------------- prose rules


def test_attachment_size(validator: Validator) -> None:
    """An Attachment's size must be its data's."""
    media = {
        "resourceType": "Media",
        "id": "m",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">m</div>'},
        "status": "completed",
        "content": {"contentType": "text/plain", "data": "aGVsbG8=", "size": 5},
    }
    assert errors(validator, media) == []
    media["content"]["size"] = 6
    issue = only_error(validator, media)
    assert (issue.code, issue.expression) == ("structure", "Media.content")


def test_xhtml_entities(validator: Validator) -> None:
    """Only the XML entities may appear in a narrative."""
    ok = observation(
        text={
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">a &amp; b</div>',
        }
    )
    assert errors(validator, ok) == []
    bad = observation(
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">&reg;</div>'}
    )
    issue = only_error(validator, bad)
    assert (issue.code, issue.expression) == ("invalid", "Observation.text.div")


def test_structure_definition_snapshot_problems(validator: Validator) -> None:
    """A profile whose differential gives no snapshot is reported."""
    broken = sd(
        "broken", CORE + "Observation", [el("Observation.valueBla", id="Observation.valueQuantity")]
    )
    issue = only_error(validator, broken)
    assert (issue.code, issue.expression) == ("exception", "StructureDefinition")


# --------------------------------------------------------------------------- robustness


def mutations(resource: Json) -> list[tuple[str, Json]]:
    """Single-rule breakages of a valid IG example: (what, mutated resource)."""
    found_mutations: list[tuple[str, Json]] = []
    if "status" in resource and resource["resourceType"] in REQUIRED_STATUS:
        broken = copy.deepcopy(resource)
        del broken["status"]
        found_mutations.append(("drop required", broken))
        broken = copy.deepcopy(resource)
        broken["status"] = "not-a-status"
        found_mutations.append(("unknown code", broken))
    for key, value in resource.items():
        if isinstance(value, str) and key not in ("resourceType", "id"):
            broken = copy.deepcopy(resource)
            broken[key] = {"wrong": "type"}
            found_mutations.append(("wrong type", broken))
            break
    broken = copy.deepcopy(resource)
    broken["unknownElement"] = 1
    found_mutations.append(("unknown element", broken))
    if resource.get("resourceType") == "ServiceRequest":
        broken = copy.deepcopy(resource)
        broken["intent"] = "plan"
        found_mutations.append(("break fixed value", broken))
    return found_mutations


REQUIRED_STATUS = frozenset(
    {"Observation", "Encounter", "ServiceRequest", "Task", "Consent", "Condition"}
) - {"Condition"}
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(EXAMPLE_NAMES), index=st.integers(min_value=0, max_value=10))
def test_mutations_break_required_rules(validator: Validator, name: str, index: int) -> None:
    """Every single-rule breakage of a valid example is an error."""
    options = mutations(example(name))
    what, mutated = options[index % len(options)]
    assert errors(validator, mutated), what


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(EXAMPLE_NAMES),
    key=st.sampled_from(
        [
            "status",
            "code",
            "subject",
            "extension",
            "meta",
            "text",
            "category",
            "valueQuantity",
            "contained",
            "identifier",
        ]
    ),
    value=JSON_VALUES,
)
def test_validator_never_raises(validator: Validator, name: str, key: str, value: Json) -> None:
    """Any JSON under any key of an example: issues, never an exception."""
    resource = example(name)
    resource[key] = value
    issues = validator.validate(resource)
    assert all(isinstance(i, Issue) for i in issues)


# --------------------------------------------------------------------------- native invariants


def invariant_calls(
    validator: Validator, resources: list[Json]
) -> list[tuple[Invariant, Json, str, Where]]:
    """Every (invariant, node, location, scope) the validator evaluates on the resources."""
    calls: list[tuple[Invariant, Json, str, Where]] = []
    engine = validator.engine
    original = engine.check

    def record(inv: Invariant, node: Json, location: str, where: Where) -> Issue | None:
        calls.append((inv, node, location, where))
        return original(inv, node, location, where)

    engine.check = record  # type: ignore[method-assign]
    try:
        for resource in resources:
            validator.validate(resource)
    finally:
        engine.check = original  # type: ignore[method-assign]
    return calls


def corpus() -> list[Json]:
    """IG examples and the conformance inputs that are resources."""
    found_resources = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    for case in sorted(CASES.glob("*/expected.json")):
        meta = json.loads(case.read_text())
        try:
            resource = json.loads((case.parent / meta["input"]).read_text())
        except ValueError:
            continue
        if isinstance(resource, dict):
            found_resources.append(resource)
    return found_resources


def test_native_invariants_agree_with_fhirpathpy(validator: Validator) -> None:
    """Wherever the native evaluator answers, fhirpathpy gives the same result."""
    compared = 0
    for inv, node, location, where in invariant_calls(validator, corpus()):
        validator.engine.prepare(inv)
        if inv.native is None or inv.tree is None:
            continue
        try:
            native = inv.native([node], (where.resource, where.root, node))
        except Unsupported:
            continue
        result = evaluate_nodes(
            inv.tree,
            node,
            resource=where.resource,
            root_resource=where.root,
            context_path=location,
            bundle=where.bundle,
        )
        reference = [getattr(r, "data", r) for r in result]
        assert native == reference, (inv.key, inv.expression, location)
        compared += 1
    assert compared > 500


@pytest.mark.parametrize(
    "expression",
    [
        "value.exists() or dataAbsentReason.exists() or hasMember.exists()",
        "value.ofType(integer).all($this >= 0 and $this mod 5 = 0)",
        "code.empty() or system.exists()",
        "(identifier.count() + name.count()) > 0",
        "name.exists() implies name.matches('^[A-Z]([A-Za-z0-9_]){0,254}$')",
    ],
)
def test_common_expressions_compile_natively(expression: str) -> None:
    """The invariants profiles use most are in the native subset."""
    compile_native(expression)


def test_unsupported_parts_fail_only_when_reached() -> None:
    """An unsupported function is left to fhirpathpy only when an evaluation reaches it."""
    fn = compile_native("reference.exists() implies reference.substring(1) = 'x'")
    assert fn([{"display": "no reference"}], ({}, {}, {})) == [True]
    with pytest.raises(Unsupported):
        fn([{"reference": "#x"}], ({}, {}, {}))


def test_engine_reads_results_as_java(validator: Validator) -> None:
    """Empty fails, except for expressions that call undecidable functions."""
    engine = InvariantEngine(InvariantRunner(validator.registry))
    empty = engine.compile({"key": "t-1", "severity": "error", "human": "h", "expression": "{}"})
    undecided = engine.compile(
        {"key": "t-2", "severity": "error", "human": "h", "expression": "code.memberOf('x')"}
    )
    assert empty is not None and undecided is not None
    where = Where({}, {}, None)
    assert engine.check(empty, {}, "X", where) is not None
    assert engine.check(undecided, {"code": "a"}, "X", where) is None
