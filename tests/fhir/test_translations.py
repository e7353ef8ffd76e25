"""Persian on the forms: every concept of the IG's CodeSystems has one Persian designation, and
every text of the IG's Questionnaires (title, item text, help text, answer option, unit) has one
Persian translation extension, so a Persian page never falls back to English.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from screening.fhir.packages import default_registry
from screening.paths import data_dir
from screening.screenings.questionnaire import FormBuilder, Item

Json = dict[str, Any]

IG_DIR = data_dir("fhir_profiles")
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
DISPLAY_USE = {
    "system": "http://terminology.hl7.org/CodeSystem/designation-usage",
    "code": "display",
}
# Arabic-script letters (hamza .. yeh, and the Persian peh, tcheh, jeh, keheh, gaf, Farsi yeh),
# not digits or punctuation: a translation must contain words.
LETTER = re.compile(r"[\u0621-\u063a\u0641-\u064a\u067e\u0686\u0698\u06a9\u06af\u06cc]")
# Arabic kaf and yeh (and alef maksura) where Persian writes keheh and Farsi yeh.
ARABIC_ONLY = re.compile(r"[\u0643\u064a\u0649]")


def read(path: Path) -> Json:
    resource: Json = json.loads(path.read_text(encoding="utf-8"))
    return resource


@cache
def code_systems() -> dict[str, Json]:
    return {p.name: read(p) for p in sorted(IG_DIR.glob("CodeSystem-*.json"))}


@cache
def questionnaires() -> dict[str, Json]:
    return {p.name: read(p) for p in sorted(IG_DIR.glob("Questionnaire-*.json"))}


def concepts(owner: Json) -> Iterator[Json]:
    """Every concept of a CodeSystem, nested ones too, in document order."""
    for concept in owner.get("concept", []):
        yield concept
        yield from concepts(concept)


def items(owner: Json) -> Iterator[Json]:
    """Every item of a Questionnaire, depth first."""
    for item in owner.get("item", []):
        yield item
        yield from items(item)


def persian_translations(element: Json | None) -> list[str]:
    """The Persian contents of the translation extensions of a `_text`-style element."""
    found = []
    for extension in (element or {}).get("extension", []):
        if extension.get("url") != TRANSLATION:
            continue
        parts = {e.get("url"): e for e in extension.get("extension", [])}
        if parts.get("lang", {}).get("valueCode") == "fa":
            found.append(str(parts.get("content", {}).get("valueString", "")))
    return found


def assert_persian(text: str, where: str) -> None:
    assert text.strip() == text and text, f"{where}: empty or padded {text!r}"
    assert LETTER.search(text), f"{where}: no Persian letters in {text!r}"
    assert not ARABIC_ONLY.search(text), f"{where}: Arabic kaf or yeh in {text!r}"
    assert "  " not in text, f"{where}: double space in {text!r}"


def assert_one_translation(element: Json | None, where: str) -> None:
    found = persian_translations(element)
    assert len(found) == 1, f"{where}: {len(found)} Persian translations"
    assert_persian(found[0], where)


def test_there_are_code_systems_and_questionnaires() -> None:
    assert len(code_systems()) >= 10 and len(questionnaires()) >= 10


@pytest.mark.parametrize("name", sorted(code_systems()))
def test_every_concept_has_one_persian_designation(name: str) -> None:
    all_concepts = list(concepts(code_systems()[name]))
    assert all_concepts, name
    for concept in all_concepts:
        where = f"{name} {concept['code']}"
        persian = [d for d in concept.get("designation", []) if d.get("language") == "fa"]
        assert len(persian) == 1, f"{where}: {len(persian)} Persian designations"
        designation = persian[0]
        assert list(designation) == ["language", "use", "value"], where
        assert designation["use"] == DISPLAY_USE, where
        assert isinstance(designation["value"], str), where
        assert_persian(designation["value"], where)
        assert designation["value"] != concept["display"], where


@pytest.mark.parametrize("name", sorted(code_systems()))
def test_persian_designations_differ_between_siblings(name: str) -> None:
    """Two answers of one list never read the same in Persian."""
    values = [
        d["value"]
        for c in concepts(code_systems()[name])
        for d in c.get("designation", [])
        if d.get("language") == "fa"
    ]
    assert len(values) == len(set(values)), name


@pytest.mark.parametrize("name", sorted(code_systems()))
def test_code_system_files_keep_their_format(name: str) -> None:
    text = (IG_DIR / name).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n", name


@pytest.mark.parametrize("name", sorted(questionnaires()))
def test_questionnaire_title_has_a_persian_translation(name: str) -> None:
    assert_one_translation(questionnaires()[name].get("_title"), f"{name} title")


@pytest.mark.parametrize("name", sorted(questionnaires()))
def test_every_questionnaire_text_has_a_persian_translation(name: str) -> None:
    """Item texts (help texts are display items), answer options and units."""
    for item in items(questionnaires()[name]):
        where = f"{name} {item['linkId']}"
        assert_one_translation(item.get("_text"), f"{where} text")
        for option in item.get("answerOption", []):
            assert list(k for k in option if k.startswith("value")) == ["valueCoding"], where
            coding = option["valueCoding"]
            assert_one_translation(coding.get("_display"), f"{where} option {coding['code']}")
        for extension in item.get("extension", []):
            if extension.get("url") == UNIT:
                unit = extension["valueCoding"]
                assert_one_translation(unit.get("_display"), f"{where} unit")


def form_items(owner: tuple[Item, ...]) -> Iterator[Item]:
    for item in owner:
        yield item
        yield from form_items(item.items)


@pytest.mark.parametrize("name", sorted(questionnaires()))
def test_forms_have_persian_for_every_label(name: str) -> None:
    """Through the form reader: options from answerValueSet are labelled from the
    designations, so no label falls back to English on a Persian page."""
    form = FormBuilder(default_registry()).build(questionnaires()[name])
    assert LETTER.search(form.title("fa"))
    for item in form_items(form.items):
        assert LETTER.search(item.text("fa")), item.link_id
        if item.help:
            assert LETTER.search(item.help_text("fa")), item.link_id
        if item.unit:
            assert LETTER.search(item.unit_text("fa")), item.link_id
        for option in item.options:
            assert "fa" in option.labels, f"{item.link_id} {option.key}"
            assert LETTER.search(option.label("fa")), f"{item.link_id} {option.key}"
            assert option.label("fa") != option.label("en"), f"{item.link_id} {option.key}"
