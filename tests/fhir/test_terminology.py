"""Tests of offline ValueSet expansion and code validation (src/screening/fhir/terminology.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screening.fhir.packages import Registry, default_registry
from screening.fhir.terminology import (
    UCUM,
    Terminology,
    language_tag_error,
    mime_type_error,
    ucum_error,
)
from screening.paths import core_package

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER = "http://hl7.org/fhir/administrative-gender"
ENCOUNTER_VS = "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
BCP47 = "urn:ietf:bcp:47"
CASES = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared" / "conformance" / "cases",
            Path("/work/shared/conformance/cases"),
        )
        if p.is_dir()
    ),
    None,
)


@pytest.fixture(scope="module")
def core() -> Terminology:
    """Terminology over the official R4 core package."""
    return Terminology(default_registry())


def local(*resources: dict[str, Any]) -> Terminology:
    """Terminology over a fresh registry holding only the given resources."""
    registry = Registry()
    for resource in resources:
        registry.add(resource)
    return Terminology(registry)


def codesystem(url: str, concepts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A minimal CodeSystem resource."""
    return {"resourceType": "CodeSystem", "url": url, "content": "complete", **extra} | {
        "concept": concepts
    }


def valueset(url: str, compose: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal ValueSet resource."""
    resource = {"resourceType": "ValueSet", "url": url, **extra}
    if compose is not None:
        resource["compose"] = compose
    return resource


# --- core value sets -----------------------------------------------------------------


def test_administrative_gender(core: Terminology) -> None:
    expansion = core.expand(GENDER_VS)
    assert expansion is not None
    assert [c.code for c in expansion] == ["male", "female", "other", "unknown"]
    assert core.expansion_problem(GENDER_VS) is None
    check = core.validate_code(GENDER_VS, GENDER, "male", "Male")
    assert (check.valid, check.display_ok, check.system_known) == (True, True, True)


def test_unknown_code_in_local_codesystem(core: Terminology) -> None:
    check = core.validate_code(GENDER_VS, GENDER, "mal")
    assert check.valid is False
    assert check.message == f"Unknown code 'mal' in CodeSystem {GENDER}"


def test_code_from_other_system_is_not_in_valueset(core: Terminology) -> None:
    check = core.validate_code(GENDER_VS, SNOMED, "248153007")
    assert check.valid is False
    assert "is not in ValueSet" in check.message


def test_bare_code_matches_within_valueset_systems(core: Terminology) -> None:
    assert core.validate_code(GENDER_VS, None, "female").valid is True
    assert core.validate_code(GENDER_VS, None, "Female").valid is False  # case-sensitive
    assert core.validate_code(GENDER_VS, None, "F").valid is False


@pytest.mark.parametrize(
    ("url", "system", "good", "bad"),
    [
        (
            "http://hl7.org/fhir/ValueSet/observation-status",
            "http://hl7.org/fhir/observation-status",
            "final",
            "done",
        ),
        (
            "http://hl7.org/fhir/ValueSet/request-priority",
            "http://hl7.org/fhir/request-priority",
            "stat",
            "urgentish",
        ),
        (
            "http://hl7.org/fhir/ValueSet/task-status",
            "http://hl7.org/fhir/task-status",
            "ready",
            "x",
        ),
        (
            "http://hl7.org/fhir/ValueSet/condition-clinical",
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "remission",
            "cured",
        ),
    ],
)
def test_core_required_bindings(
    core: Terminology, url: str, system: str, good: str, bad: str
) -> None:
    assert core.validate_code(url, system, good).valid is True
    check = core.validate_code(url, system, bad)
    assert check.valid is False
    assert check.message == f"Unknown code '{bad}' in CodeSystem {system}"


def test_v3_is_a_filter_with_exclude(core: Terminology) -> None:
    expansion = core.expand(ENCOUNTER_VS)
    assert expansion is not None
    codes = {c.code for c in expansion}
    assert {"AMB", "EMER", "IMP", "ACUTE", "NONAC", "VR"} <= codes
    assert "_ActEncounterCode" not in codes  # excluded explicitly
    assert "CASH" not in codes  # another branch of ActCode
    assert core.validate_code(ENCOUNTER_VS, ACT_CODE, "AMB", "ambulatory").display_ok is True
    assert core.validate_code(ENCOUNTER_VS, ACT_CODE, "_ActEncounterCode").valid is False
    assert core.validate_code(ENCOUNTER_VS, ACT_CODE, "CASH").valid is False


def test_abstract_codes_are_flagged(core: Terminology) -> None:
    expansion = core.expand("http://terminology.hl7.org/ValueSet/v3-ActCode")
    assert expansion is not None
    concept = expansion.lookup(ACT_CODE, "_ActAccountCode")
    assert concept is not None and concept.abstract
    check = core.validate_code(
        "http://terminology.hl7.org/ValueSet/v3-ActCode", ACT_CODE, "_ActAccountCode"
    )
    assert check.valid is True and check.abstract


def test_is_not_a_filter(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/patient-contactrelationship"
    expansion = core.expand(url)
    assert expansion is not None
    codes = {c.code for c in expansion}
    assert "O" not in codes and {"C", "E", "N", "U"} <= codes


def test_descendent_of_filter_and_inactive_codes(core: Terminology) -> None:
    expansion = core.expand("http://hl7.org/fhir/ValueSet/inactive")
    assert expansion is not None
    by_code = {c.code: c for c in expansion}
    assert "_ActMoodPredicate" not in by_code  # descendent-of excludes the concept itself
    assert {"EXPEC", "GOL", "RSK", "OPT", "CRT"} <= set(by_code)
    assert by_code["GOL.CRT"].inactive  # status retired
    assert not by_code["GOL"].inactive


def test_valueset_importing_another(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/yesnodontknow"
    expansion = core.expand(url)
    assert expansion is not None
    assert {(c.system.rsplit("/", 1)[-1], c.code) for c in expansion} == {
        ("v2-0136", "Y"),
        ("v2-0136", "N"),
        ("data-absent-reason", "asked-unknown"),
    }
    assert core.validate_code(url, None, "Y").valid is True
    assert core.validate_code(url, None, "masked").valid is False


def test_languages_enumerated_without_bcp47(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/languages"
    expansion = core.expand(url)
    assert expansion is not None and len(expansion) > 40
    assert core.validate_code(url, BCP47, "en-US").valid is True
    assert core.validate_code(url, BCP47, "en-us").valid is True  # BCP-47 is case-insensitive
    assert core.validate_code(url, BCP47, "tlh").valid is False  # not in the list
    assert core.validate_code(url, BCP47, "ar", "Arabisk").display_ok is True  # designation
    assert core.validate_code(url, BCP47, "ar", "Klingon").display_ok is None  # not authoritative


def test_all_languages_syntax_only(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/all-languages"
    assert core.expand(url) is None
    assert core.validate_code(url, BCP47, "de-CH-1996").valid is None
    check = core.validate_code(url, BCP47, "english please")
    assert check.valid is False and "BCP-47" in check.message


def test_loinc_valueset_is_not_expandable(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/observation-codes"
    assert core.expand(url) is None
    assert core.expansion_problem(url) == f"CodeSystem {LOINC} (LOINC) is not available offline"
    check = core.validate_code(url, LOINC, "29463-7")
    assert check.valid is None and check.system_known and "LOINC" in check.message
    assert core.validate_code(url, SNOMED, "27113001").valid is False  # wrong system


def test_loinc_filter_reason(core: Terminology) -> None:
    reason = core.expansion_problem("http://hl7.org/fhir/ValueSet/doc-typecodes")
    assert reason is not None and "SCALE_TYP = Doc" in reason and "LOINC" in reason


def test_ucum_units_valueset(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/ucum-units"
    assert core.expand(url) is None
    assert "UCUM" in (core.expansion_problem(url) or "")
    assert core.validate_code(url, UCUM, "mm[Hg]").valid is True
    assert core.validate_code(url, UCUM, "mg/dL").valid is True
    check = core.validate_code(url, UCUM, "kg/m^2")
    assert check.valid is False and "Invalid UCUM unit" in check.message


def test_external_regex_filter_can_say_no(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/iso3166-1-3"
    assert core.validate_code(url, "urn:iso:std:iso:3166", "US").valid is False
    assert core.validate_code(url, "urn:iso:std:iso:3166", "USA").valid is None


def test_mime_types_bare_code(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/mimetypes"
    assert core.validate_code(url, None, "application/fhir+json").valid is None
    assert core.validate_code(url, None, "text/plain; charset=UTF-8").valid is None
    assert core.validate_code(url, None, "fhir json").valid is False


def test_example_codesystem_is_partial(core: Terminology) -> None:
    url = "http://hl7.org/fhir/ValueSet/service-category"
    system = "http://terminology.hl7.org/CodeSystem/service-category"
    assert core.expand(url) is None
    assert "content 'example'" in (core.expansion_problem(url) or "")
    assert core.validate_code(url, system, "1").valid is True
    assert core.validate_code(url, system, "not-an-example").valid is None


def test_unknown_valueset(core: Terminology) -> None:
    url = "http://example.org/ValueSet/nope"
    assert core.expand(url) is None
    assert core.expansion_problem(url) == f"ValueSet {url} is unknown (not loaded)"
    check = core.validate_code(url, GENDER, "male")
    assert check.valid is None and "unknown" in check.message


def test_valueset_version(core: Terminology) -> None:
    assert core.expand(f"{GENDER_VS}|4.0.1") is not None
    assert core.expand(f"{GENDER_VS}|3.0.2") is None
    assert "version 3.0.2" in (core.expansion_problem(f"{GENDER_VS}|3.0.2") or "")


def test_coding_version_mismatch(core: Terminology) -> None:
    assert core.validate_code(GENDER_VS, GENDER, "male", version="4.0.1").valid is True
    check = core.validate_code(GENDER_VS, GENDER, "male", version="1.0")
    assert check.valid is None and "version '1.0'" in check.message


def test_display_mismatch_is_not_invalid(core: Terminology) -> None:
    check = core.validate_code(GENDER_VS, GENDER, "female", "Woman")
    assert check.valid is True and check.display_ok is False and check.display == "Female"
    assert "Wrong display 'Woman'" in check.message
    assert core.validate_code(GENDER_VS, GENDER, "female", "  FEMALE ").display_ok is True
    issue = check.issue("Patient.gender")
    assert issue is not None and issue.severity == "warning"


def test_issue_severity_follows_binding_strength(core: Terminology) -> None:
    check = core.validate_code(GENDER_VS, GENDER, "mal")
    for strength, severity in [("required", "error"), ("extensible", "warning")]:
        issue = check.issue("Patient.gender", strength)
        assert issue is not None and issue.severity == severity
    assert check.issue(None, "example") is None
    assert core.validate_code(GENDER_VS, GENDER, "male").issue() is None


def test_memoised(core: Terminology) -> None:
    assert core.expand(GENDER_VS) is core.expand(GENDER_VS)
    first = core.validate_code(GENDER_VS, GENDER, "other")
    assert core.validate_code(GENDER_VS, GENDER, "other") is first


def test_every_core_valueset_expands_or_says_why(core: Terminology) -> None:
    urls = [vs["url"] for vs in default_registry().all_of("ValueSet")]
    expanded = 0
    for url in urls:
        expansion = core.expand(url)
        if expansion is None:
            assert core.expansion_problem(url), url
        else:
            expanded += 1
            assert core.expansion_problem(url) is None
    assert expanded > len(urls) * 0.8


# --- check_coding --------------------------------------------------------------------


def test_check_coding_local(core: Terminology) -> None:
    assert core.check_coding(GENDER, "male").valid is True
    assert core.check_coding(GENDER, "male", "Mâle").display_ok is False
    check = core.check_coding(GENDER, "nope")
    assert check.valid is False and check.message == f"Unknown code 'nope' in CodeSystem {GENDER}"


def test_check_coding_incomplete_codesystems(core: Terminology) -> None:
    fragment = "http://terminology.hl7.org/CodeSystem/insurance-plan-type"
    assert core.check_coding(fragment, "medical").valid is True
    assert core.check_coding(fragment, "space-travel").valid is None


@pytest.mark.parametrize("system", [SNOMED, LOINC, "http://hl7.org/fhir/sid/icd-10"])
def test_check_coding_external(core: Terminology, system: str) -> None:
    check = core.check_coding(system, "12345")
    assert check.valid is None and check.system_known
    assert "not available offline" in check.message


def test_check_coding_unknown_system(core: Terminology) -> None:
    check = core.check_coding("http://example.org/codes", "a")
    assert check.valid is None and not check.system_known


def test_check_coding_syntax_systems(core: Terminology) -> None:
    assert core.check_coding(UCUM, "mmol/L").valid is True
    assert core.check_coding(UCUM, "mmol/l/").valid is False
    assert core.check_coding(BCP47, "en-GB").valid is None
    assert core.check_coding(BCP47, "en_GB").valid is False
    assert core.check_coding("urn:ietf:bcp:13", "image/png").valid is None
    assert core.check_coding("urn:ietf:bcp:13", "png").valid is False


# --- compose rules on local resources ------------------------------------------------

CS = "http://example.org/CodeSystem/body"
PROPS = [{"code": "colour", "type": "code"}, {"code": "weight", "type": "integer"}]
TREE = [
    {
        "code": "limb",
        "display": "Limb",
        "property": [{"code": "notSelectable", "valueBoolean": True}],
        "concept": [
            {
                "code": "arm",
                "display": "Arm",
                "designation": [{"language": "de", "value": "Arm (oberer)"}],
                "property": [{"code": "colour", "valueCode": "red"}],
                "concept": [{"code": "hand", "display": "Hand"}],
            },
            {
                "code": "leg",
                "display": "Leg",
                "property": [
                    {"code": "colour", "valueCode": "blue"},
                    {"code": "weight", "valueInteger": 12},
                ],
            },
        ],
    },
    {
        "code": "tail",
        "display": "Tail",
        "property": [{"code": "status", "valueCode": "retired"}],
    },
]


def body(*valuesets: dict[str, Any], **cs_extra: Any) -> Terminology:
    """Terminology with the body-part CodeSystem and some ValueSets."""
    return local(codesystem(CS, TREE, property=PROPS, **cs_extra), *valuesets)


def filtered(prop: str, op: str, value: str) -> set[str]:
    """Codes of the body CodeSystem that pass one filter."""
    vs = valueset(
        "http://example.org/vs", {"include": [{"system": CS, "filter": [_f(prop, op, value)]}]}
    )
    expansion = body(vs).expand("http://example.org/vs")
    assert expansion is not None
    return {c.code for c in expansion}


def _f(prop: str, op: str, value: str) -> dict[str, str]:
    return {"property": prop, "op": op, "value": value}


@pytest.mark.parametrize(
    ("prop", "op", "value", "codes"),
    [
        ("concept", "is-a", "limb", {"limb", "arm", "hand", "leg"}),
        ("concept", "descendent-of", "limb", {"arm", "hand", "leg"}),
        ("concept", "is-not-a", "arm", {"limb", "leg", "tail"}),
        ("concept", "generalizes", "hand", {"hand", "arm", "limb"}),
        ("concept", "is-a", "wing", set()),
        ("colour", "=", "red", {"arm"}),
        ("weight", "=", "12", {"leg"}),
        ("status", "=", "retired", {"tail"}),
        ("inactive", "=", "true", {"tail"}),
        ("notSelectable", "=", "true", {"limb"}),
        ("notSelectable", "=", "false", {"arm", "hand", "leg", "tail"}),
        ("parent", "=", "arm", {"hand"}),
        ("child", "=", "hand", {"arm"}),
        ("display", "=", "Leg", {"leg"}),
        ("code", "=", "tail", {"tail"}),
        ("code", "regex", "[a-h].*", {"arm", "hand"}),
        ("concept", "in", "arm, leg,zzz", {"arm", "leg"}),
        ("concept", "not-in", "arm,leg", {"limb", "hand", "tail"}),
        ("colour", "exists", "true", {"arm", "leg"}),
        ("colour", "exists", "false", {"limb", "hand", "tail"}),
    ],
)
def test_filters(prop: str, op: str, value: str, codes: set[str]) -> None:
    assert filtered(prop, op, value) == codes


def test_filter_problems_are_reasons() -> None:
    for f in (_f("colour", "regex", "(("), _f("smell", "=", "x"), _f("concept", "~", "x")):
        vs = valueset("http://example.org/vs", {"include": [{"system": CS, "filter": [f]}]})
        terminology = body(vs)
        assert terminology.expand("http://example.org/vs") is None
        assert terminology.expansion_problem("http://example.org/vs")


def test_filters_are_intersected() -> None:
    filters = [_f("concept", "is-a", "limb"), _f("colour", "exists", "true")]
    vs = valueset("http://example.org/vs", {"include": [{"system": CS, "filter": filters}]})
    expansion = body(vs).expand("http://example.org/vs")
    assert expansion is not None and {c.code for c in expansion} == {"arm", "leg"}


def test_whole_codesystem_flattens_hierarchy() -> None:
    vs = valueset("http://example.org/vs", {"include": [{"system": CS}]})
    expansion = body(vs).expand("http://example.org/vs")
    assert expansion is not None
    assert [c.code for c in expansion] == ["limb", "arm", "hand", "leg", "tail"]
    limb = expansion.lookup(CS, "limb")
    assert limb is not None and limb.abstract and not limb.inactive


def test_compose_inactive_false_drops_inactive_codes() -> None:
    vs = valueset("http://example.org/vs", {"inactive": False, "include": [{"system": CS}]})
    expansion = body(vs).expand("http://example.org/vs")
    assert expansion is not None and "tail" not in {c.code for c in expansion}


def test_exclude_codes_and_valuesets() -> None:
    arms = valueset(
        "http://example.org/arms",
        {"include": [{"system": CS, "filter": [_f("concept", "is-a", "arm")]}]},
    )
    vs = valueset(
        "http://example.org/vs",
        {
            "include": [{"system": CS}],
            "exclude": [
                {"valueSet": ["http://example.org/arms"]},
                {"system": CS, "concept": [{"code": "tail"}]},
            ],
        },
    )
    terminology = body(arms, vs)
    expansion = terminology.expand("http://example.org/vs")
    assert expansion is not None and {c.code for c in expansion} == {"limb", "leg"}
    assert terminology.validate_code("http://example.org/vs", CS, "hand").valid is False
    assert terminology.validate_code("http://example.org/vs", CS, "leg").valid is True


def test_include_intersects_system_and_valuesets() -> None:
    arms = valueset(
        "http://example.org/arms",
        {"include": [{"system": CS, "filter": [_f("concept", "is-a", "arm")]}]},
    )
    vs = valueset(
        "http://example.org/vs",
        {"include": [{"system": CS, "valueSet": ["http://example.org/arms"]}]},
    )
    expansion = body(arms, vs).expand("http://example.org/vs")
    assert expansion is not None and {c.code for c in expansion} == {"arm", "hand"}


def test_import_cycle_is_reported() -> None:
    a = valueset("http://example.org/a", {"include": [{"valueSet": ["http://example.org/b"]}]})
    b = valueset(
        "http://example.org/b",
        {"include": [{"valueSet": ["http://example.org/a"]}, {"system": CS}]},
    )
    terminology = body(a, b)
    assert terminology.expand("http://example.org/a") is None
    assert "cycle" in (terminology.expansion_problem("http://example.org/a") or "")
    assert terminology.validate_code("http://example.org/a", CS, "arm").valid is True
    assert terminology.validate_code("http://example.org/a", CS, "wing").valid is False


def test_case_insensitive_codesystem() -> None:
    vs = valueset("http://example.org/vs", {"include": [{"system": CS}]})
    terminology = body(vs, caseSensitive=False)
    check = terminology.validate_code("http://example.org/vs", CS, "ARM", "arm (OBERER)")
    assert check.valid is True and check.display_ok is True  # designation, case-folded
    assert terminology.validate_code("http://example.org/vs", None, "Hand").valid is True
    assert terminology.check_coding(CS, "LEG").valid is True
    assert body(vs).validate_code("http://example.org/vs", CS, "ARM").valid is False


def test_explicit_external_codes_need_no_codesystem() -> None:
    url = "http://example.org/vs"
    concepts = [
        {"code": "271649006", "display": "Systolic blood pressure"},
        {"code": "271650006", "display": "Diastolic blood pressure"},
        {"code": "8499008", "display": "Pulse"},
    ]
    terminology = local(valueset(url, {"include": [{"system": SNOMED, "concept": concepts}]}))
    expansion = terminology.expand(url)
    assert expansion is not None and len(expansion) == 3
    assert terminology.validate_code(url, SNOMED, "8499008").valid is True
    assert terminology.validate_code(url, SNOMED, "8499008", "pulse").display_ok is True
    assert terminology.validate_code(url, SNOMED, "8499008", "Heart beat").display_ok is None
    check = terminology.validate_code(url, SNOMED, "386725007")
    assert check.valid is False and check.system_known
    assert terminology.validate_code(url, None, "271649006").valid is True


def test_explicit_codes_of_local_codesystem_must_exist() -> None:
    url = "http://example.org/vs"
    vs = valueset(url, {"include": [{"system": CS, "concept": [{"code": "arm"}, {"code": "x"}]}]})
    terminology = body(vs)
    expansion = terminology.expand(url)
    assert expansion is not None and [c.code for c in expansion] == ["arm"]
    assert expansion.concepts[0].display == "Arm"  # display taken from the CodeSystem
    assert terminology.validate_code(url, CS, "x").message == f"Unknown code 'x' in CodeSystem {CS}"


def test_stored_expansion_without_compose() -> None:
    url = "http://example.org/vs"
    contains = [
        {"system": "http://x", "code": "a", "contains": [{"system": "http://x", "code": "b"}]}
    ]
    terminology = local(valueset(url, expansion={"contains": contains}))
    expansion = terminology.expand(url)
    assert expansion is not None and [c.code for c in expansion] == ["a", "b"]
    assert terminology.validate_code(url, "http://x", "c").valid is False


def test_partial_stored_expansion() -> None:
    url = "http://example.org/vs"
    stored = {"total": 10, "contains": [{"system": LOINC, "code": "1-8"}]}
    compose = {"include": [{"system": LOINC, "filter": [_f("parent", "=", "LP1")]}]}
    terminology = local(valueset(url, compose, expansion=stored))
    assert terminology.expand(url) is None
    assert "partial" in (terminology.expansion_problem(url) or "")
    assert terminology.validate_code(url, LOINC, "1-8").valid is True
    assert terminology.validate_code(url, LOINC, "2-6").valid is None


def test_implicit_codesystem_valueset() -> None:
    terminology = body(valueSet="http://example.org/ValueSet/body-all")
    expansion = terminology.expand("http://example.org/ValueSet/body-all")
    assert expansion is not None and len(expansion) == 5


def test_fragment_codesystem_and_unknown_system() -> None:
    url = "http://example.org/vs"
    compose = {"include": [{"system": CS}, {"system": "http://example.org/unknown"}]}
    terminology = local(codesystem(CS, TREE, content="fragment"), valueset(url, compose))
    assert terminology.expand(url) is None
    assert terminology.validate_code(url, CS, "arm").valid is True
    assert terminology.validate_code(url, CS, "wing").valid is None
    check = terminology.validate_code(url, "http://example.org/unknown", "q")
    assert check.valid is None and not check.system_known


@pytest.mark.parametrize(
    "bad",
    [
        {"resourceType": "ValueSet", "url": "http://example.org/vs", "compose": "nonsense"},
        {"resourceType": "ValueSet", "url": "http://example.org/vs", "compose": {"include": 3}},
        {
            "resourceType": "ValueSet",
            "url": "http://example.org/vs",
            "compose": {"include": [{"system": CS, "filter": [{"op": "="}]}]},
        },
        {"resourceType": "CodeSystem", "url": "http://example.org/vs", "concept": "x"},
    ],
)
def test_malformed_resources_never_raise(bad: dict[str, Any]) -> None:
    terminology = local(bad)
    terminology.expand("http://example.org/vs")
    terminology.validate_code("http://example.org/vs", CS, "arm")
    terminology.check_coding("http://example.org/vs", "arm")


# --- the conformance suite's value sets and code systems ------------------------------


def _case_folders() -> list[Path]:
    if CASES is None:
        return []
    folders = []
    for folder in sorted(CASES.iterdir()):
        if any(_terminology_resources(folder)):
            folders.append(folder)
    return folders


def _terminology_resources(folder: Path) -> list[dict[str, Any]]:
    """ValueSets and CodeSystems of a case's support files (and those they contain)."""
    found: list[dict[str, Any]] = []
    for path in sorted((folder / "support").glob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(resource, dict):
            continue
        for item in [resource, *resource.get("contained", [])]:
            if isinstance(item, dict) and item.get("resourceType") in ("ValueSet", "CodeSystem"):
                found.append(item)
    return found


@pytest.mark.skipif(CASES is None, reason="conformance cases not present")
@pytest.mark.parametrize("folder", _case_folders(), ids=lambda p: p.name)
def test_conformance_support_valuesets(folder: Path) -> None:
    registry = Registry()
    registry.load_package(core_package())
    for resource in _terminology_resources(folder):
        registry.add(resource)
    terminology = Terminology(registry)
    for resource in _terminology_resources(folder):
        url = resource.get("url")
        if resource["resourceType"] == "ValueSet" and url:
            expansion = terminology.expand(url)
            assert expansion is not None or terminology.expansion_problem(url)
        elif url:
            for concept in resource.get("concept", []):
                assert terminology.check_coding(url, concept["code"]).valid is not False


@pytest.mark.skipif(CASES is None, reason="conformance cases not present")
def test_conformance_ucum_valueset() -> None:
    assert CASES is not None
    folder = CASES / "bb-obs-value-is-not-in-valueset-profile"
    terminology = local(*_terminology_resources(folder))
    url = "https://bb/ValueSet/BBDemographicAgeUnit"
    expansion = terminology.expand(url)
    assert expansion is not None and [c.code for c in expansion] == ["a", "mo", "wk", "d"]
    assert terminology.validate_code(url, UCUM, "wk", "weeks").display_ok is True
    assert terminology.validate_code(url, UCUM, "min").valid is False


# --- syntax checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    [
        "mg/dL",
        "10*3/uL",
        "10*-3",
        "10^6",
        "%",
        "[in_i]",
        "mm[Hg]",
        "cm[H2O]",
        "kg/m2",
        "kg.m-2",
        "kg/(m.s2)",
        "/min",
        "1/min",
        "{score}",
        "{beats}/min",
        "mL/{h'b}",
        "[iU]/L",
        "[IU]/mL",
        "umol/L",
        "mmol/mol",
        "[lb_av]",
        "km/h",
        "Cel",
        "[degF]",
        "'",
        "''",
        "ug/(24.h)",
        "[arb'U]",
        "B[10.nV]",
        "[m/s2/Hz^(1/2)]",
        "%[slope]",
        "KiBy",
        "a",
        "mo",
        "wk",
        "d",
        "s+2",
    ],
)
def test_valid_ucum(unit: str) -> None:
    assert ucum_error(unit) is None


@pytest.mark.parametrize(
    "unit",
    [
        "",
        "mg/",
        "/",
        "m2 ",
        "kg / m2",
        "k[in_i]",
        "kg/m^2",
        "foo",
        "(mg",
        "mg)",
        "[in_i",
        "{unclosed",
        "mg{a}b",
        "2m",
        "mg//L",
        "µg",
        "m.",
        "()",
        "{a{b}",
    ],
)
def test_invalid_ucum(unit: str) -> None:
    error = ucum_error(unit)
    assert error is not None and error.startswith("Invalid UCUM unit")


def test_ucum_deep_nesting_is_an_error_not_a_crash() -> None:
    assert ucum_error("(" * 5000 + "m" + ")" * 5000) is not None


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("en", True),
        ("en-US", True),
        ("zh-Hant-TW", True),
        ("de-CH-1996", True),
        ("es-419", True),
        ("x-private", True),
        ("en-GB-oed", True),
        ("i-klingon", True),
        ("sl-rozaj-biske", True),
        ("en-a-bbb-x-a-ccc", True),
        ("", False),
        ("e", False),
        ("en_US", False),
        ("english", True),  # syntactically a 5-8 letter language subtag
        ("en-", False),
        ("toolonglanguage", False),
        ("en US", False),
    ],
)
def test_language_tags(tag: str, ok: bool) -> None:
    assert (language_tag_error(tag) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("text/plain", True),
        ("application/fhir+json", True),
        ("application/vnd.ms-excel", True),
        ('text/html; charset="utf-8"', True),
        ("image/svg+xml;charset=UTF-8", True),
        ("text", False),
        ("text/", False),
        ("/plain", False),
        ("text/plain text", False),
        ("", False),
    ],
)
def test_mime_types(value: str, ok: bool) -> None:
    assert (mime_type_error(value) is None) is ok


# --- robustness ----------------------------------------------------------------------

SAMPLE_VALUESETS = [
    GENDER_VS,
    ENCOUNTER_VS,
    "http://hl7.org/fhir/ValueSet/languages",
    "http://hl7.org/fhir/ValueSet/all-languages",
    "http://hl7.org/fhir/ValueSet/ucum-units",
    "http://hl7.org/fhir/ValueSet/observation-codes",
    "http://hl7.org/fhir/ValueSet/mimetypes",
    "http://hl7.org/fhir/ValueSet/iso3166-1-3",
    "http://hl7.org/fhir/ValueSet/yesnodontknow",
    "http://hl7.org/fhir/ValueSet/service-category",
    "http://example.org/ValueSet/unknown",
]
SYSTEMS = st.one_of(
    st.none(),
    st.sampled_from([GENDER, ACT_CODE, SNOMED, LOINC, UCUM, BCP47, "urn:ietf:bcp:13", ""]),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(
    url=st.one_of(st.sampled_from(SAMPLE_VALUESETS), st.text(max_size=40)),
    system=SYSTEMS,
    code=st.text(max_size=40),
    display=st.one_of(st.none(), st.text(max_size=20)),
    version=st.one_of(st.none(), st.text(max_size=8)),
)
def test_random_codes_never_raise(
    core: Terminology,
    url: str,
    system: str | None,
    code: str,
    display: str | None,
    version: str | None,
) -> None:
    check = core.validate_code(url, system, code, display, version)
    assert check.valid in (True, False, None)
    assert check.valid is not None or check.message
    if system is not None:
        coding = core.check_coding(system, code, display)
        assert coding.valid in (True, False, None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("mgkL/.()[]{}*^0123-+_'%iu dsHg"), max_size=30))
def test_ucum_parser_never_raises(unit: str) -> None:
    error = ucum_error(unit)
    assert error is None or error.startswith("Invalid UCUM unit")
