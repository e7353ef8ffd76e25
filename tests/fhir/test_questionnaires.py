"""The screening instruments as data: the IG's Questionnaires (`fhir_profiles/Questionnaire-*`).

Each instrument is one Questionnaire holding one group (`tug`, `barthel`, ...) whose first item
says whether the instrument was done; `field-screening` holds the same groups, optional, with
the same linkIds. These tests hold the Questionnaires to the validator, to the IG's codes and
Observation profiles (SDC observation-based extraction), to the scoring rules, and check that
QuestionnaireResponses are validated against them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest

from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry, default_registry
from screening.fhir.validation import build_validator
from screening.fhir.validator import Validator
from screening.paths import data_dir
from screening.screenings import scoring

Json = dict[str, Any]

IG_DIR = data_dir("fhir_profiles")
BASE = "https://fhir.rehab-screening.example"
CONCEPTS = f"{BASE}/CodeSystem/screening-concepts"
EXT = "http://hl7.org/fhir/StructureDefinition/"
TRANSLATION, ORDINAL, UNIT = EXT + "translation", EXT + "ordinalValue", EXT + "questionnaire-unit"
ITEM_CONTROL = EXT + "questionnaire-itemControl"
EXTRACT = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract"
SNOMED, LOINC, ICF = "http://snomed.info/sct", "http://loinc.org", "http://hl7.org/fhir/sid/icf"
PERSIAN = re.compile(r"[\u0600-\u06ff]")

# The only SNOMED CT, LOINC and ICF codes a Questionnaire may use: those that
# ../shared/CONTENT.md (section "Screening instruments") lists as verified. Everything else is a
# concept of the IG's own CodeSystems. Never add a code here that CONTENT.md does not verify.
VERIFIED_CODES: dict[str, frozenset[str]] = {
    SNOMED: frozenset(
        {"444680009", "404933001", "1144649008", "450738001", "273302005"}
        | {"81723002", "397117006", "79733001", "88312006"}
    ),
    LOINC: frozenset(
        {"64098-7", "83184-2", "83181-8", "96767-9", "83182-6", "96759-6", "96760-4"}
        | {"83183-4", "83185-9", "83186-7", "96758-8", "96761-2", "72514-3"}
    ),
    ICF: frozenset({"d4", "d450", "b7"}),
}

# Questionnaire id -> its instrument group's linkId (field-screening holds them in this order)
SINGLE = {
    "wgss-mobility": "wgss",
    "tug": "tug",
    "berg": "berg",
    "walk-10m": "walk10m",
    "walk-6min": "walk6min",
    "chair-stand-30s": "chair-stand",
    "barthel": "barthel",
    "pain": "pain",
    "limb-absence": "limb-absence",
    "assistive-device": "device",
    "cause-of-impairment": "cause",
}
FIELD = "field-screening"
# linkId prefixes of question sets nested in an instrument group: the optional Washington Group
# Extended Set questions (`wges.*`) sit in the Short Set group `wgss`.
NESTED_SETS = {"wgss": ("wges",)}

# The IG Observation profile each extracted item's Observation must conform to (README).
BARTHEL_LINKS = {f"barthel.{name}" for name in scoring.BARTHEL_ITEMS}
EXTRACTED: dict[str, str] = {
    "wgss.mobility": "wgss-mobility",
    "tug.seconds": "tug",
    "berg.total": "berg-total",
    "walk10m.speed": "walk-10m-speed",
    "walk6min.metres": "walk-6min-distance",
    "chair-stand.count": "chair-stand-30s",
    "barthel.total": "barthel-total",
    "pain.score": "pain-score",
    "device.type": "assistive-device-use",
} | dict.fromkeys(sorted(BARTHEL_LINKS), "barthel-item")


# --------------------------------------------------------------------------- loading


@cache
def registry() -> Registry:
    """The process-wide registry: the core package and the IG, Questionnaires included."""
    return default_registry()


@cache
def validator() -> Validator:
    """The project's validator over that registry."""
    return build_validator(registry())


@cache
def questionnaires() -> dict[str, Json]:
    """The IG's Questionnaires by id, as the files hold them."""
    found = {}
    for path in sorted(IG_DIR.glob("Questionnaire-*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        found[resource["id"]] = resource
    return found


def questionnaire(qid: str) -> Json:
    """A deep copy of one Questionnaire."""
    return copy.deepcopy(questionnaires()[qid])


def items(owner: Json) -> Iterator[Json]:
    """Every item below a Questionnaire or item, depth first, in document order."""
    for child in owner.get("item", []):
        yield child
        yield from items(child)


def ig_resource(kind: str, ident: str) -> Json:
    """An IG conformance resource by type and id."""
    found = registry().get(f"{BASE}/{kind}/{ident}")
    assert found is not None, f"{kind}/{ident}"
    return found


def errors(issues: list[Issue]) -> list[tuple[str, str | None]]:
    """(diagnostics, location) of the errors among issues."""
    return [(i.diagnostics, i.expression) for i in issues if i.is_error]


def extension_values(owner: Json, url: str) -> list[Any]:
    """The value[x] of every extension with this url on an element."""
    return [
        value
        for extension in owner.get("extension", [])
        if extension.get("url") == url
        for key, value in extension.items()
        if key.startswith("value")
    ]


def persian(element: Json | None) -> str | None:
    """The Persian translation held by a `_text` / `_display` / `_title` element."""
    for extension in (element or {}).get("extension", []):
        if extension.get("url") != TRANSLATION:
            continue
        parts = {e["url"]: e for e in extension.get("extension", [])}
        if parts.get("lang", {}).get("valueCode") == "fa":
            return str(parts.get("content", {}).get("valueString", ""))
    return None


def concept_displays(url: str) -> dict[str, str]:
    """Code -> display of every concept of a CodeSystem (nested ones too)."""
    cs = registry().get(url)
    assert cs is not None and cs["resourceType"] == "CodeSystem", url
    found: dict[str, str] = {}
    pending = list(cs["concept"])
    while pending:
        concept = pending.pop()
        found[concept["code"]] = concept["display"]
        pending.extend(concept.get("concept", []))
    return found


def item_codings(q: Json) -> Iterator[tuple[str, Json]]:
    """(where, Coding) of every item.code and answerOption.valueCoding."""
    for item in items(q):
        for coding in item.get("code", []):
            yield f"{item['linkId']}.code", coding
        for option in item.get("answerOption", []):
            if "valueCoding" in option:
                yield f"{item['linkId']}.answerOption", option["valueCoding"]


def profile_element(profile: str, path: str) -> Json | None:
    """The differential element with this path of an IG profile (or its IG ancestors)."""
    sd: Json | None = ig_resource("StructureDefinition", profile)
    while sd is not None:
        for element in sd["differential"]["element"]:
            if element["id"] == path:
                return element
        parent = registry().get(sd["baseDefinition"])
        sd = parent if parent is not None and parent["url"].startswith(BASE) else None
    return None


# --------------------------------------------------------------------------- the files


def test_every_instrument_has_a_questionnaire() -> None:
    assert set(questionnaires()) == {*SINGLE, FIELD}


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_questionnaire_validates(qid: str) -> None:
    assert errors(validator().validate(questionnaire(qid))) == []


def lifted(q: Json) -> Json:
    """The Questionnaire with every item moved to the top level, children removed (a group
    keeps one display child, as que-1 asks)."""
    flat = []
    for item in items(q):
        copied = {k: v for k, v in copy.deepcopy(item).items() if k != "item"}
        if copied["type"] == "group":
            copied["item"] = [{"linkId": f"{item['linkId']}.x", "text": "x", "type": "display"}]
        flat.append(copied)
    return q | {"item": flat}


def unknown_sdc(diagnostics: str) -> bool:
    """The error the validator gives for the SDC extension, whose IG is not loaded."""
    return EXTRACT in diagnostics and "could not be found" in diagnostics


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_every_item_validates_at_the_top_level(qid: str) -> None:
    """The validator checks only top-level items (it does not follow the content reference of
    Questionnaire.item.item), so each item is also validated lifted to the top: the only error
    allowed is the unknown SDC observationExtract extension, and only on extracted items."""
    issues = validator().validate(lifted(questionnaire(qid)))
    assert [e for e in errors(issues) if not unknown_sdc(e[0])] == []
    flagged = {e[1] for e in errors(issues) if unknown_sdc(e[0])}
    extracted = [i for i in items(questionnaire(qid)) if extension_values(i, EXTRACT)]
    assert len(flagged) <= len(extracted)


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_root_metadata(qid: str) -> None:
    q = questionnaire(qid)
    assert q["url"] == f"{BASE}/Questionnaire/{qid}"
    assert (q["version"], q["status"], q["date"]) == ("0.1.0", "active", "2026-11-24")
    assert q["subjectType"] == ["Patient"]
    assert q["publisher"] == "Rehabilitation screening network (Red Crescent society and ICRC)"
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", q["name"]) and q["title"]
    assert PERSIAN.search(persian(q.get("_title")) or "")
    assert q["purpose"] and "useContext" not in q
    for item in items(q):
        if item["linkId"] in EXTRACTED:
            assert f"{BASE}/StructureDefinition/{EXTRACTED[item['linkId']]}" in q["description"]


@pytest.mark.parametrize(
    ("qid", "words"),
    [
        ("tug", ["13.5 s", "12 s", "STEADI"]),
        ("berg", ["below 45", "0 to 56"]),
        ("walk-10m", ["0.40 m/s", "0.80 m/s", "household", "limited community", "community"]),
        ("chair-stand-30s", ["65 to 69", "12", "11", "hands scores 0"]),
        ("barthel", ["0 to 100", "transfers 0/5/10/15"]),
        ("wgss-mobility", ["a lot of difficulty", "cannot do at all"]),
        ("walk-6min", ["no universal cut-off"]),
    ],
)
def test_purpose_states_the_interpretation(qid: str, words: list[str]) -> None:
    for word in words:
        assert word in questionnaire(qid)["purpose"]
        assert word in questionnaire(FIELD)["purpose"]


# --------------------------------------------------------------------------- items


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_link_ids_are_unique(qid: str) -> None:
    links = [item["linkId"] for item in items(questionnaire(qid))]
    assert len(links) == len(set(links))


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_enable_when_asks_an_earlier_question_with_a_matching_answer(qid: str) -> None:
    seen: dict[str, Json] = {}
    for item in items(questionnaire(qid)):
        conditions = item.get("enableWhen", [])
        if len(conditions) > 1:
            assert item["enableBehavior"] in ("all", "any"), item["linkId"]
        for condition in conditions:
            target = seen.get(condition["question"])
            assert target is not None, f"{item['linkId']}: {condition['question']} comes later"
            (key,) = [k for k in condition if k.startswith("answer")]
            expected = {"boolean": "answerBoolean", "choice": "answerCoding"}[target["type"]]
            assert key == expected, item["linkId"]
            if key == "answerCoding":
                allowed = concept_displays(condition[key]["system"])
                assert condition[key]["code"] in allowed
                vs = registry().get(target["answerValueSet"])
                assert vs is not None and condition[key]["system"] in json.dumps(vs["compose"])
        seen[item["linkId"]] = item


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_answer_value_sets_resolve(qid: str) -> None:
    for item in items(questionnaire(qid)):
        if item["type"] == "choice":
            assert ("answerValueSet" in item) != ("answerOption" in item), item["linkId"]
        if "answerValueSet" in item:
            found = registry().get(item["answerValueSet"])
            assert found is not None and found["resourceType"] == "ValueSet", item["linkId"]
            assert item["answerValueSet"].startswith(f"{BASE}/ValueSet/")


FHIR_CODE_SYSTEMS = frozenset({"http://hl7.org/fhir/request-priority"})


def core_codes(system: str) -> set[str]:
    """The codes of a core FHIR CodeSystem."""
    found = registry().get(system)
    assert found is not None, system
    return {str(c["code"]) for c in found.get("concept", [])}


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_codes_are_ig_concepts_or_verified(qid: str) -> None:
    for where, coding in item_codings(questionnaire(qid)):
        system, code = coding["system"], coding["code"]
        if system in VERIFIED_CODES:
            assert code in VERIFIED_CODES[system], f"{where}: {system}|{code} is not verified"
            assert "display" not in coding, where  # CONTENT.md gives no preferred terms
            continue
        if system in FHIR_CODE_SYSTEMS:  # workflow codes of FHIR itself, not clinical terms
            assert code in core_codes(system), f"{where}: {code} is not in {system}"
            continue
        assert system.startswith(f"{BASE}/CodeSystem/"), f"{where}: {system}"
        displays = concept_displays(system)
        assert code in displays, f"{where}: {code} is not in {system}"
        assert coding.get("display", displays[code]) == displays[code], where


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_every_text_has_a_persian_translation(qid: str) -> None:
    for item in items(questionnaire(qid)):
        assert item["text"].strip(), item["linkId"]
        assert PERSIAN.search(persian(item.get("_text")) or ""), item["linkId"]
        for option in item.get("answerOption", []):
            coding = option["valueCoding"]
            assert PERSIAN.search(persian(coding.get("_display")) or ""), coding["code"]
        for unit in extension_values(item, UNIT):
            assert PERSIAN.search(persian(unit.get("_display")) or ""), item["linkId"]


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_display_items_are_help_text(qid: str) -> None:
    for item in items(questionnaire(qid)):
        if item["type"] != "display":
            continue
        (control,) = extension_values(item, ITEM_CONTROL)
        assert control["coding"][0]["code"] == "help"
        assert "code" not in item and "required" not in item


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_units_and_bounds_of_numbers(qid: str) -> None:
    """Numbers carry a UCUM unit and both bounds of their own type."""
    for item in items(questionnaire(qid)):
        if item["type"] not in ("decimal", "integer"):
            continue
        (unit,) = extension_values(item, UNIT)
        assert unit["system"] == "http://unitsofmeasure.org"
        assert re.fullmatch(r"s|m|m/s|\{[a-z]+\}", unit["code"]), unit["code"]
        value_key = "valueDecimal" if item["type"] == "decimal" else "valueInteger"
        for url in (EXT + "minValue", EXT + "maxValue"):
            (extension,) = [e for e in item["extension"] if e["url"] == url]
            assert set(extension) == {"url", value_key}, item["linkId"]


def test_instruments_share_the_scoring_rules_values() -> None:
    """Answer options carry the values the scoring rules take (ordinalValue)."""
    barthel = {i["linkId"]: i for i in items(questionnaire("barthel"))}
    for name, allowed in scoring.BARTHEL_ITEMS.items():
        options = barthel[f"barthel.{name}"]["answerOption"]
        assert [extension_values(o, ORDINAL) for o in options] == [[v] for v in allowed]
    berg = [i for i in items(questionnaire("berg")) if "answerOption" in i]
    assert len(berg) == 14
    for task in berg:
        assert sorted(v for o in task["answerOption"] for v in extension_values(o, ORDINAL)) == [
            0,
            1,
            2,
            3,
            4,
        ]


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize("qid", sorted(questionnaires()))
def test_extracted_items_are_the_profiled_ones(qid: str) -> None:
    marked = {i["linkId"] for i in items(questionnaire(qid)) if extension_values(i, EXTRACT)}
    assert all(extension_values(i, EXTRACT) in ([], [True]) for i in items(questionnaire(qid)))
    present = {i["linkId"] for i in items(questionnaire(qid))}
    assert marked == set(EXTRACTED) & present


def extracted_items() -> list[tuple[str, Json]]:
    """(Questionnaire id, item) of every extracted item."""
    return [
        (qid, item)
        for qid, q in sorted(questionnaires().items())
        for item in items(q)
        if extension_values(item, EXTRACT)
    ]


@pytest.mark.parametrize(
    ("qid", "item"), extracted_items(), ids=[f"{q}-{i['linkId']}" for q, i in extracted_items()]
)
def test_extracted_code_and_value_fit_the_profile(qid: str, item: Json) -> None:
    profile = EXTRACTED[item["linkId"]]
    codes = {(c["system"], c["code"]) for c in item["code"]}
    code = profile_element(profile, "Observation.code")
    assert code is not None
    if "patternCodeableConcept" in code:
        fixed = {(c["system"], c["code"]) for c in code["patternCodeableConcept"]["coding"]}
        assert fixed <= codes, profile
        instruments = value_set_codes(f"{BASE}/ValueSet/screening-observation-code")
        assert codes - fixed <= instruments, profile
    else:  # barthel-item: a required binding to the ten item codes
        assert len(codes) == 1 and codes <= value_set_codes(code["binding"]["valueSet"])
        comment = value_set_comment(code["binding"]["valueSet"], item["code"][0]["code"])
        allowed = [int(v) for v in re.findall(r"\d+", comment.split("(", 1)[1])]
        ordinals = [extension_values(o, ORDINAL)[0] for o in item["answerOption"]]
        assert ordinals == allowed and item["linkId"].split(".")[1] in comment.lower()
    value = profile_element(profile, "Observation.value[x]")
    assert value is not None
    assert_value_fits(item, value)


def assert_value_fits(item: Json, value: Json) -> None:
    """The item's answer maps onto the profile's value[x] type, unit and binding."""
    (kind,) = [t["code"] for t in value["type"]]
    if kind == "Quantity":
        assert item["type"] == "decimal"
        (unit,) = extension_values(item, UNIT)
        pattern = value["patternQuantity"]
        assert (unit["system"], unit["code"]) == (pattern["system"], pattern["code"])
    elif kind == "integer":
        ordinal = item["type"] == "choice" and all(
            extension_values(o, ORDINAL) for o in item["answerOption"]
        )
        assert item["type"] == "integer" or ordinal
    else:
        assert kind == "CodeableConcept" and item["type"] == "choice"
        assert item["answerValueSet"] == value["binding"]["valueSet"]


def value_set_codes(url: str) -> set[tuple[str, str]]:
    """(system, code) of an IG ValueSet made of enumerated concepts."""
    vs = registry().get(url)
    assert vs is not None
    return {
        (include["system"], concept["code"])
        for include in vs["compose"]["include"]
        for concept in include.get("concept", [])
    }


def value_set_comment(url: str, code: str) -> str:
    """The valueset-concept-comments text of one code of an IG ValueSet."""
    vs = registry().get(url)
    assert vs is not None
    for include in vs["compose"]["include"]:
        for concept in include.get("concept", []):
            if concept["code"] == code:
                (comment,) = extension_values(concept, EXT + "valueset-concept-comments")
                return str(comment)
    raise AssertionError(code)


# --------------------------------------------------------------------------- groups


@pytest.mark.parametrize("qid", sorted(SINGLE))
def test_instrument_group_is_gated_by_performed(qid: str) -> None:
    (group,) = questionnaire(qid)["item"]
    assert (group["linkId"], group["type"], group["required"]) == (SINGLE[qid], "group", True)
    gate, *rest = group["item"]
    assert gate["linkId"] == f"{group['linkId']}.performed"
    assert (gate["type"], gate["required"]) == ("boolean", True)
    for item in rest:
        assert item.get("enableWhen"), f"{item['linkId']} is asked even when not performed"
    prefixes = (group["linkId"], *NESTED_SETS.get(group["linkId"], ()))
    for item in items(group):
        assert item["linkId"].split(".")[0] in prefixes, item["linkId"]


def test_field_screening_holds_every_instrument_group_with_the_same_link_ids() -> None:
    *field, conclusion = questionnaire(FIELD)["item"]
    assert [g["linkId"] for g in field] == list(SINGLE.values())
    assert (conclusion["linkId"], conclusion["required"]) == ("conclusion", False)
    for group, qid in zip(field, SINGLE, strict=True):
        assert group["required"] is False
        (single,) = questionnaire(qid)["item"]
        assert group == single | {"required": False}, qid


# --------------------------------------------------------------------------- responses


def response(qid: str, *groups: Json, status: str = "completed") -> Json:
    """A QuestionnaireResponse to one of the IG's Questionnaires."""
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"example-{qid}",
        "questionnaire": f"{BASE}/Questionnaire/{qid}",
        "status": status,
        "subject": {"reference": "Patient/example-ahmad-karimi"},
        "authored": "2026-10-14T09:30:00+04:30",
        "item": list(groups),
    }


def answer(link: str, **value: Any) -> Json:
    """A response item with one answer: answer("tug.seconds", valueDecimal=14.2)."""
    return {"linkId": link, "answer": [value]}


def group(link: str, *children: Json) -> Json:
    """A response group."""
    return {"linkId": link, "item": list(children)}


def coding(code_system: str, code: str) -> Json:
    """A Coding of an IG CodeSystem."""
    return {"system": f"{BASE}/CodeSystem/{code_system}", "code": code}


def tug_group() -> Json:
    """A performed TUG: 14.2 s with crutches."""
    return group(
        "tug",
        answer("tug.performed", valueBoolean=True),
        answer("tug.seconds", valueDecimal=14.2),
        answer("tug.aid", valueCoding=coding("assistive-device-type", "crutches")),
    )


BARTHEL_ANSWERS = {
    "feeding": 10,
    "bathing": 5,
    "grooming": 5,
    "dressing": 10,
    "bowels": 10,
    "bladder": 10,
    "toilet": 10,
    "transfers": 15,
    "mobility": 10,
    "stairs": 5,
}


def barthel_group() -> Json:
    """A Barthel Index of 90: the answers above, and the total the scoring rule gives."""
    options = {
        option["valueCoding"]["code"]: option["valueCoding"]
        for item in items(questionnaire("barthel"))
        for option in item.get("answerOption", [])
    }
    chosen = [
        answer(f"barthel.{name}", valueCoding=copy.deepcopy(options[f"barthel-{name}-{points}"]))
        for name, points in BARTHEL_ANSWERS.items()
    ]
    total = scoring.barthel(BARTHEL_ANSWERS).value
    return group(
        "barthel",
        answer("barthel.performed", valueBoolean=True),
        *chosen,
        answer("barthel.total", valueInteger=total),
    )


def validate(resource: Json) -> list[tuple[str, str | None]]:
    """The errors of the validator on a resource."""
    return errors(validator().validate(resource))


def test_valid_tug_response() -> None:
    assert validate(response("tug", tug_group())) == []


def test_valid_barthel_response() -> None:
    assert scoring.barthel(BARTHEL_ANSWERS).value == 90
    assert validate(response("barthel", barthel_group())) == []


def test_skipped_instrument_asks_nothing() -> None:
    skipped = group(
        "tug",
        answer("tug.performed", valueBoolean=False),
        answer("tug.reason-not-done", valueString="cannot stand without help"),
    )
    assert validate(response("tug", skipped)) == []


def test_field_screening_response_with_some_instruments() -> None:
    limbs = group(
        "limb-absence",
        answer("limb-absence.performed", valueBoolean=True),
        answer("limb-absence.present", valueBoolean=True),
        group(
            "limb-absence.limb",
            answer("limb-absence.limb.side", valueCoding=coding("laterality", "left")),
            answer("limb-absence.limb.level", valueCoding=coding("limb-level", "transtibial")),
            answer(
                "limb-absence.limb.cause",
                valueCoding=coding("cause-of-impairment", "landmine-erw"),
            ),
            answer("limb-absence.limb.date", valueDate="2019"),
        ),
        group(
            "limb-absence.limb",
            answer("limb-absence.limb.side", valueCoding=coding("laterality", "right")),
            answer("limb-absence.limb.level", valueCoding=coding("limb-level", "partial-foot")),
            answer(
                "limb-absence.limb.cause",
                valueCoding=coding("cause-of-impairment", "congenital"),
            ),
        ),
    )
    wgss = group(
        "wgss",
        answer("wgss.performed", valueBoolean=True),
        answer("wgss.mobility", valueCoding=coding("wg-difficulty", "a-lot-of-difficulty")),
    )
    qr = response(FIELD, wgss, tug_group(), barthel_group(), limbs)
    assert validate(qr) == []


def _drop(link: str) -> Callable[[Json], None]:
    """Remove a response item (anywhere)."""

    def mutate(qr: Json) -> None:
        for owner in [qr, *items(qr)]:
            owner["item"] = [i for i in owner.get("item", []) if i["linkId"] != link]

    return mutate


def _set(link: str, **value: Any) -> Callable[[Json], None]:
    """Replace the answer of a response item (anywhere)."""

    def mutate(qr: Json) -> None:
        for item in items(qr):
            if item["linkId"] == link:
                item["answer"] = [value]

    return mutate


def _add(parent: str, child: Json) -> Callable[[Json], None]:
    """Append a response item to a group."""

    def mutate(qr: Json) -> None:
        for item in items(qr):
            if item["linkId"] == parent:
                item["item"].append(child)

    return mutate


def _chain(*mutations: Callable[[Json], None]) -> Callable[[Json], None]:
    def mutate(qr: Json) -> None:
        for mutation in mutations:
            mutation(qr)

    return mutate


BROKEN: list[tuple[str, str, Callable[[Json], None], str]] = [
    ("tug-missing-seconds", "tug", _drop("tug.seconds"), "required item 'tug.seconds'"),
    ("tug-missing-performed", "tug", _drop("tug.performed"), "required item 'tug.performed'"),
    ("tug-below-min", "tug", _set("tug.seconds", valueDecimal=0.4), "less than the allowed"),
    ("tug-above-max", "tug", _set("tug.seconds", valueDecimal=900), "greater than the allowed"),
    ("tug-decimals", "tug", _set("tug.seconds", valueDecimal=14.125), "too many decimal places"),
    ("tug-wrong-type", "tug", _set("tug.seconds", valueInteger=14), "must be of the type"),
    (
        "tug-aid-not-in-value-set",
        "tug",
        _set("tug.aid", valueCoding=coding("assistive-device-type", "skateboard")),
        "not in the options value set",
    ),
    (
        "tug-answered-when-not-performed",
        "tug",
        _set("tug.performed", valueBoolean=False),
        "not enabled",
    ),
    (
        "barthel-wrong-option",
        "barthel",
        _set("barthel.feeding", valueCoding=coding("screening-concepts", "barthel-transfers-15")),
        "not in the set of permitted values",
    ),
    (
        "barthel-option-of-another-system",
        "barthel",
        _set("barthel.bathing", valueCoding=coding("wg-difficulty", "no-difficulty")),
        "not in the set of permitted values",
    ),
    (
        "barthel-integer-instead-of-option",
        "barthel",
        _set("barthel.stairs", valueInteger=5),
        "no option values of type integer",
    ),
    ("barthel-missing-item", "barthel", _drop("barthel.bathing"), "'barthel.bathing'"),
    (
        "barthel-total-above-max",
        "barthel",
        _set("barthel.total", valueInteger=105),
        "greater than the allowed",
    ),
    (
        "barthel-unknown-item",
        "barthel",
        _add("barthel", answer("barthel.eating", valueBoolean=True)),
        "LinkId 'barthel.eating' not found",
    ),
    (
        "barthel-two-answers",
        "barthel",
        _chain(
            _drop("barthel.total"),
            _add("barthel", answer("barthel.total", valueInteger=90)),
            _add("barthel", answer("barthel.total", valueInteger=90)),
        ),
        "Only one response item",
    ),
]


@pytest.mark.parametrize(
    ("qid", "mutate", "expected"),
    [(qid, mutate, expected) for _, qid, mutate, expected in BROKEN],
    ids=[name for name, *_ in BROKEN],
)
def test_broken_response_gives_errors(
    qid: str, mutate: Callable[[Json], None], expected: str
) -> None:
    qr = response(qid, tug_group() if qid == "tug" else barthel_group())
    assert validate(qr) == []
    mutate(qr)
    found = validate(qr)
    assert any(expected in diagnostics for diagnostics, _ in found), found


def test_broken_field_screening_group_gives_errors() -> None:
    """A group that is present must say whether the instrument was done."""
    qr = response(FIELD, group("pain", answer("pain.score", valueInteger=4)))
    found = validate(qr)
    assert any("required item 'pain.performed'" in d for d, _ in found), found
    assert any("not enabled" in d for d, _ in found), found
    qr = response(
        FIELD,
        group(
            "pain",
            answer("pain.performed", valueBoolean=True),
            answer("pain.score", valueInteger=11),
        ),
    )
    assert any("greater than the allowed maximum" in d for d, _ in validate(qr))
