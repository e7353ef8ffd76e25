"""SDC observation-based extraction of a field screening: which resources, their profiles,
values and links, that each one validates, and that one response always gives one Bundle."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from screening.fhir.packages import default_registry
from screening.fhir.validation import shared_validator
from screening.screenings.extraction import (
    Entry,
    ExtractionError,
    extract,
    profiles_of,
    response_bundle,
    screening_encounter,
    transaction,
)
from screening.screenings.questionnaire import form_of
from screenings.responses import (
    BARTHEL_SCORES,
    ENCOUNTER,
    FIELD_SCREENING,
    IG,
    PATIENT,
    PRACTITIONER,
    boolean,
    decimal,
    field_screening,
    find_item,
    group,
    question,
    response,
)

REGISTRY = default_registry()
SOURCE = "QuestionnaireResponse/qr-1"
SD = f"{IG}/StructureDefinition/"
CS = f"{IG}/CodeSystem/"
UUID_URL = re.compile(
    r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
Json = dict[str, Any]

# (resource type, profile id, value) of a complete field screening, in item order
EXPECTED = [
    ("Observation", "wgss-mobility", ("wg-difficulty", "a-lot-of-difficulty")),
    ("Observation", "tug", (18.4, "s")),
    ("Observation", "berg-total", 36),
    ("Observation", "walk-10m-speed", (0.62, "m/s")),
    ("Observation", "walk-6min-distance", (240, "m")),
    ("Observation", "chair-stand-30s", 6),
    *(("Observation", "barthel-item", score) for score in BARTHEL_SCORES.values()),
    ("Observation", "barthel-total", 70),
    ("Observation", "pain-score", 4),
    ("Condition", "limb-absence", ("left", "transtibial")),
    ("Condition", "limb-absence", ("right", "partial-hand")),
    ("Observation", "assistive-device-use", ("assistive-device-type", "crutches")),
    ("Observation", "assistive-device-use", ("assistive-device-type", "prosthesis")),
]


def extracted(qr: Json, source: str = SOURCE) -> list[Entry]:
    return extract(form_of(REGISTRY, FIELD_SCREENING), qr, REGISTRY, source)


def summary(resource: Json) -> tuple[str, str, Any]:
    """(type, profile id, value) of an extracted resource."""
    profile = resource["meta"]["profile"][0].removeprefix(SD)
    if resource["resourceType"] == "Condition":
        side = resource["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
        return "Condition", profile, (side, resource["bodySite"][0]["coding"][0]["code"])
    if "valueQuantity" in resource:
        quantity = resource["valueQuantity"]
        return "Observation", profile, (quantity["value"], quantity["code"])
    if "valueCodeableConcept" in resource:
        coding = resource["valueCodeableConcept"]["coding"][0]
        return "Observation", profile, (coding["system"].removeprefix(CS), coding["code"])
    return "Observation", profile, resource["valueInteger"]


def errors(resource: Json) -> list[str]:
    issues = shared_validator(REGISTRY).validate(resource)
    return [f"{i.expression}: {i.diagnostics}" for i in issues if i.is_error]


def by_profile(entries: list[Entry], profile: str) -> list[Json]:
    return [e.resource for e in entries if e.resource["meta"]["profile"] == [SD + profile]]


# ------------------------------------------------------------------------- what is made


def test_a_complete_field_screening_gives_exactly_the_expected_resources() -> None:
    entries = extracted(field_screening())
    assert [summary(e.resource) for e in entries] == EXPECTED


def test_every_extracted_resource_is_valid_against_its_profile() -> None:
    qr = field_screening()
    entries = extracted(qr)
    assert entries
    for entry in entries:
        assert errors(entry.resource) == [], entry.resource["meta"]["profile"]
    bundle = response_bundle(form_of(REGISTRY, FIELD_SCREENING), qr, REGISTRY)
    assert errors(bundle) == []  # references resolved inside the Bundle, targets checked


def test_observations_carry_the_response_context_and_point_back_at_it() -> None:
    for entry in extracted(field_screening()):
        resource = entry.resource
        assert resource["subject"] == {"reference": PATIENT}
        assert resource["encounter"] == {"reference": ENCOUNTER}
        if resource["resourceType"] == "Observation":
            assert resource["status"] == "final"
            assert resource["effectiveDateTime"] == "2026-10-12T10:30:00+04:30"
            assert resource["performer"] == [{"reference": PRACTITIONER}]
            assert resource["derivedFrom"] == [{"reference": SOURCE}]
        else:
            assert resource["recorder"] == {"reference": PRACTITIONER}
            assert resource["recordedDate"] == "2026-10-12T10:30:00+04:30"
            assert resource["evidence"] == [{"detail": [{"reference": SOURCE}]}]


def test_codes_and_categories_come_from_the_item_and_the_profile() -> None:
    entries = extracted(field_screening())
    tug = by_profile(entries, "tug")[0]
    assert tug["code"] == {"coding": [{"system": "http://snomed.info/sct", "code": "444680009"}]}
    assert [c["coding"][0]["code"] for c in tug["category"]] == ["exam", "d4"]
    walk = by_profile(entries, "walk-6min-distance")[0]
    assert [c["code"] for c in walk["code"]["coding"]] == ["64098-7", "1144649008"]
    assert [c["coding"][0]["code"] for c in walk["category"]] == ["exam", "d450"]
    device = by_profile(entries, "assistive-device-use")[0]
    assert [c["coding"][0]["code"] for c in device["category"]] == ["survey"]  # no ICF slice


def test_barthel_items_are_the_ordinals_and_the_total_has_them_as_members() -> None:
    entries = extracted(field_screening())
    items = [e for e in entries if e.resource["meta"]["profile"] == [SD + "barthel-item"]]
    assert [e.resource["valueInteger"] for e in items] == list(BARTHEL_SCORES.values())
    assert all("valueCodeableConcept" not in e.resource for e in items)
    assert [e.resource["code"]["coding"][0]["code"] for e in items][:2] == ["83184-2", "83181-8"]
    total = by_profile(entries, "barthel-total")[0]
    assert total["valueInteger"] == 70
    assert total["hasMember"] == [{"reference": e.full_url} for e in items]


def test_limb_absences_become_conditions_of_the_limb_absence_profile() -> None:
    left, right = by_profile(extracted(field_screening()), "limb-absence")
    assert {
        e["url"].removeprefix(SD): e["valueCodeableConcept"]["coding"][0]["code"]
        for e in left["extension"]
    } == {
        "laterality": "left",
        "cause-of-impairment": "landmine-erw",
        "prosthetic-potential": "K3",
    }
    assert "prosthetic-potential" not in str(right["extension"])  # not answered
    assert left["code"]["coding"] == [
        {"system": f"{CS}screening-concepts", "code": "limb-absence", "display": "Absence of limb"}
    ]
    assert left["bodySite"] == [
        {"coding": [{"system": f"{CS}limb-level", "code": "transtibial", "display": "Transtibial"}]}
    ]
    assert left["clinicalStatus"]["coding"][0]["code"] == "active"
    assert left["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert left["onsetDateTime"] == "2019-04"


def test_a_repeating_choice_gives_one_observation_per_answer() -> None:
    entries = extracted(field_screening(devices=("cane", "wheelchair", "orthosis")))
    devices = by_profile(entries, "assistive-device-use")
    assert [d["valueCodeableConcept"]["coding"][0]["code"] for d in devices] == [
        "cane",
        "wheelchair",
        "orthosis",
    ]
    assert len({e.full_url for e in entries}) == len(entries)


# ------------------------------------------------------------------------- what is not made


def test_skipped_instruments_give_nothing() -> None:
    qr = field_screening(skip={"tug", "berg", "barthel", "limb-absence", "device"})
    profiles = [summary(e.resource)[1] for e in extracted(qr)]
    assert profiles == [
        "wgss-mobility",
        "walk-10m-speed",
        "walk-6min-distance",
        "chair-stand-30s",
        "pain-score",
    ]


def test_unanswered_and_disabled_items_give_nothing() -> None:
    qr = field_screening()
    del find_item(qr, "pain.score")["answer"]  # unanswered
    find_item(qr, "tug.performed")["answer"] = [boolean(False)]  # tug.seconds now disabled
    find_item(qr, "limb-absence.present")["answer"] = [boolean(False)]  # both limbs disabled
    find_item(qr, "walk10m.speed")["answer"] = []
    profiles = {summary(e.resource)[1] for e in extracted(qr)}
    assert not profiles & {"pain-score", "tug", "limb-absence", "walk-10m-speed"}
    assert "berg-total" in profiles


def test_a_limb_group_without_answers_gives_no_condition() -> None:
    qr = field_screening(limbs=())
    present = find_item(qr, "limb-absence")
    present["item"][1]["answer"] = [boolean(True)]
    present["item"].append(group("limb-absence.limb"))
    assert by_profile(extracted(qr), "limb-absence") == []
    assert by_profile(extracted(field_screening(limbs=())), "limb-absence") == []


def test_a_limb_date_disabled_by_a_congenital_cause_is_not_the_onset() -> None:
    qr = field_screening(
        limbs=({"side": "left", "level": "transradial", "cause": "congenital", "date": "2001"},)
    )
    (condition,) = by_profile(extracted(qr), "limb-absence")
    assert "onsetDateTime" not in condition
    assert errors(condition) == []


# ------------------------------------------------------------------------- determinism


def test_the_same_response_always_gives_the_same_resources_and_urls() -> None:
    qr = field_screening()
    first, again = extracted(qr), extracted(copy.deepcopy(qr))
    assert first == again
    assert all(UUID_URL.fullmatch(e.full_url) for e in first)
    other = extracted(qr, "QuestionnaireResponse/qr-2")
    assert not {e.full_url for e in first} & {e.full_url for e in other}


def test_response_bundle_creates_the_response_first_and_is_deterministic() -> None:
    form = form_of(REGISTRY, FIELD_SCREENING)
    qr = field_screening()
    qr.update(id="draft-7", meta={"versionId": "3", "lastUpdated": "2026-10-12T06:00:00Z"})
    bundle = response_bundle(form, qr, REGISTRY)
    assert bundle["type"] == "transaction"
    first, *rest = bundle["entry"]
    assert first["request"] == {"method": "POST", "url": "QuestionnaireResponse"}
    assert "id" not in first["resource"] and "meta" not in first["resource"]
    assert UUID_URL.fullmatch(first["fullUrl"])
    assert len(rest) == len(EXPECTED)
    assert all(
        e["request"] == {"method": "POST", "url": e["resource"]["resourceType"]} for e in rest
    )
    assert all(first["fullUrl"] in str(e["resource"]) for e in rest)
    assert response_bundle(form, copy.deepcopy(qr), REGISTRY) == bundle
    qr["item"][0]["item"][1]["answer"] = [
        {"valueCoding": {"system": f"{CS}wg-difficulty", "code": "no-difficulty"}}
    ]
    assert response_bundle(form, qr, REGISTRY)["entry"][0]["fullUrl"] != first["fullUrl"]


# ------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"status": "in-progress"}, "QuestionnaireResponse.status"),
        ({"author": None}, "QuestionnaireResponse.author"),
        ({"authored": None}, "QuestionnaireResponse.authored"),
        ({"subject": None}, "QuestionnaireResponse.subject"),
    ],
)
def test_a_response_that_cannot_be_extracted_says_why(change: Json, where: str) -> None:
    qr = {k: v for k, v in {**field_screening(), **change}.items() if v is not None}
    with pytest.raises(ExtractionError) as caught:
        extracted(qr)
    assert caught.value.expression == where


def test_without_an_encounter_the_resources_have_none() -> None:
    entries = extracted(field_screening(encounter=None))
    assert entries and all("encounter" not in e.resource for e in entries)
    assert all(errors(e.resource) == [] for e in entries)


# ------------------------------------------------------------------------- the definitions


def test_every_extracted_item_of_every_ig_questionnaire_has_its_profile() -> None:
    profiles = profiles_of(REGISTRY)
    seen = 0
    for questionnaire in REGISTRY.all_of("Questionnaire"):
        if not str(questionnaire.get("url")).startswith(IG):
            continue
        form = form_of(REGISTRY, questionnaire["url"])
        for item in form.by_link_id.values():
            if item.extract:
                assert profiles.target(item, "Observation") is not None, item.link_id
                seen += 1
    assert seen > 30


def test_a_single_instrument_questionnaire_is_extracted_the_same_way() -> None:
    url = f"{IG}/Questionnaire/tug"
    qr = response(
        url,
        group(
            "tug", question("tug.performed", boolean(True)), question("tug.seconds", decimal(9.5))
        ),
    )
    (entry,) = extract(
        form_of(REGISTRY, url), qr, REGISTRY, "urn:uuid:0b7c1f6e-4f1e-4a53-9d1e-1f0a4c2f3e10"
    )
    assert summary(entry.resource) == ("Observation", "tug", (9.5, "s"))
    assert errors(entry.resource) == []


def test_the_screening_encounter_conforms_to_its_profile() -> None:
    encounter = screening_encounter(
        PATIENT,
        PRACTITIONER,
        "Location/example-village-deh-e-naw",
        "2026-10-12T09:15:00+04:30",
        "2026-10-12T10:30:00+04:30",
    )
    assert encounter["meta"]["profile"] == [SD + "screening-encounter"]
    assert encounter["status"] == "finished"
    assert errors(encounter) == []
    ongoing = screening_encounter(PATIENT, PRACTITIONER, "Location/x", "2026-10-12")
    assert ongoing["status"] == "in-progress" and "end" not in ongoing["period"]
    assert errors(ongoing) == []


def test_transaction_posts_every_entry_under_its_full_url() -> None:
    encounter = screening_encounter(PATIENT, PRACTITIONER, "Location/x", "2026-10-12")
    bundle = transaction(
        [Entry("urn:uuid:1", encounter), Entry("urn:uuid:2", {"resourceType": "Basic"})]
    )
    assert bundle == {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": encounter,
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": "urn:uuid:2",
                "resource": {"resourceType": "Basic"},
                "request": {"method": "POST", "url": "Basic"},
            },
        ],
    }
