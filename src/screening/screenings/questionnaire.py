"""A Questionnaire read once into typed items: what the form renderer, the form schema,
the QuestionnaireResponse builder and the extraction need, in both languages. No Flask.

Texts come from the item and its `translation` extensions; answer options from
`answerOption` or from the expansion of `answerValueSet`, labelled with the CodeSystem's
display and its designations in other languages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from screening.fhir.packages import Registry
from screening.fhir.terminology import Terminology

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_DECIMALS = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OBSERVATION_EXTRACT = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract"
)
ANSWER_FIELDS = {
    "boolean": "valueBoolean",
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "string": "valueString",
    "text": "valueString",
    "choice": "valueCoding",
    "open-choice": "valueCoding",
    "quantity": "valueQuantity",
}
Texts = dict[str, str]  # language -> text ("en" is the Questionnaire's own text)


class QuestionnaireError(ValueError):
    """A Questionnaire this project cannot turn into a form (a definition error)."""


@dataclass(frozen=True)
class Option:
    """One answer option: its key in the form, its FHIR answer value, labels, ordinal."""

    key: str
    value: dict[str, Any]  # e.g. {"valueCoding": {...}}
    labels: Texts
    ordinal: Decimal | None = None

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels.get("en") or self.key


@dataclass(frozen=True)
class EnableWhen:
    """One condition of `enableWhen`: the question, the operator, the expected answer as a
    form key ("true", an option key, a number) or, for `exists`, "true"/"false"."""

    question: str
    operator: str
    answer: str


@dataclass(frozen=True)
class Item:
    """One item of the Questionnaire."""

    link_id: str
    type: str
    texts: Texts
    required: bool = False
    repeats: bool = False
    options: tuple[Option, ...] = ()
    unit: dict[str, Any] | None = None  # the UCUM Coding
    unit_texts: Texts = field(default_factory=dict)
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    max_decimals: int | None = None
    max_length: int | None = None
    help: Texts = field(default_factory=dict)
    enable_when: tuple[EnableWhen, ...] = ()
    enable_any: bool = False
    codes: tuple[dict[str, Any], ...] = ()
    extract: bool = False
    items: tuple[Item, ...] = ()

    def text(self, lang: str) -> str:
        return self.texts.get(lang) or self.texts.get("en") or self.link_id

    def help_text(self, lang: str) -> str:
        return self.help.get(lang) or self.help.get("en", "")

    def unit_text(self, lang: str) -> str:
        return self.unit_texts.get(lang) or self.unit_texts.get("en", "")

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    @property
    def answer_field(self) -> str:
        """The `value[x]` of this item's answers."""
        return ANSWER_FIELDS[self.type]


@dataclass(frozen=True)
class Form:
    """A Questionnaire as items, with every item by linkId."""

    url: str
    version: str | None
    titles: Texts
    items: tuple[Item, ...]
    resource: dict[str, Any]
    by_link_id: dict[str, Item] = field(default_factory=dict)

    def title(self, lang: str) -> str:
        return self.titles.get(lang) or self.titles.get("en") or self.url

    @property
    def canonical(self) -> str:
        """`url|version`, as QuestionnaireResponse.questionnaire cites it."""
        return f"{self.url}|{self.version}" if self.version else self.url

    @cached_property
    def options_by_code(self) -> dict[str, Option]:
        """The first answer option of each code (their labels name codes on the pages)."""
        found: dict[str, Option] = {}
        for item in self.by_link_id.values():
            for option in item.options:
                found.setdefault(option.key, option)
        return found

    @cached_property
    def extracted_by_code(self) -> dict[tuple[str, str], Item]:
        """The extracted items by (system, code) of their codes."""
        found: dict[tuple[str, str], Item] = {}
        for item in self.by_link_id.values():
            if item.extract:
                for code in item.codes:
                    found.setdefault((str(code.get("system")), str(code.get("code"))), item)
        return found


def translations(element: dict[str, Any], name: str) -> Texts:
    """The text of `element[name]` and its translations, by language."""
    texts: Texts = {}
    if isinstance(element.get(name), str):
        texts["en"] = element[name]
    for ext in element.get(f"_{name}", {}).get("extension", []):
        if ext.get("url") != TRANSLATION:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", [])}
        lang = parts.get("lang", {}).get("valueCode")
        content = parts.get("content", {}).get("valueString")
        if isinstance(lang, str) and isinstance(content, str):
            texts[lang] = content
    return texts


def _extension(element: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in element.get("extension", []) if e.get("url") == url), None)


def _number(ext: dict[str, Any] | None) -> Decimal | None:
    if ext is None:
        return None
    for key, value in ext.items():
        if key.startswith("value") and isinstance(value, int | float | str):
            return Decimal(str(value))
    return None


class FormBuilder:
    """Reads Questionnaires of a registry into Forms (expanding answer ValueSets)."""

    def __init__(self, registry: Registry, terminology: Terminology | None = None) -> None:
        self.registry = registry
        self.terminology = terminology or Terminology(registry)

    def build(self, questionnaire: dict[str, Any]) -> Form:
        items = tuple(self._item(raw) for raw in questionnaire.get("item", []))
        by_link_id: dict[str, Item] = {}
        _index(items, by_link_id)
        return Form(
            url=str(questionnaire.get("url", "")),
            version=questionnaire.get("version"),
            titles=translations(questionnaire, "title"),
            items=items,
            resource=questionnaire,
            by_link_id=by_link_id,
        )

    def _item(self, raw: dict[str, Any]) -> Item:
        kind = str(raw.get("type"))
        if kind not in ANSWER_FIELDS and kind not in ("group", "display"):
            raise QuestionnaireError(f"Item {raw.get('linkId')}: type '{kind}' is not supported")
        children = [c for c in raw.get("item", []) if not _is_help(c)]
        helps = [c for c in raw.get("item", []) if _is_help(c)]
        unit = _extension(raw, UNIT)
        unit_coding = unit.get("valueCoding") if unit else None
        decimals = _extension(raw, MAX_DECIMALS)
        return Item(
            link_id=str(raw["linkId"]),
            type=kind,
            texts=translations(raw, "text"),
            required=bool(raw.get("required")),
            repeats=bool(raw.get("repeats")),
            options=self._options(raw),
            unit={k: v for k, v in unit_coding.items() if not k.startswith("_")}
            if unit_coding
            else None,
            unit_texts=translations(unit_coding, "display") if unit_coding else {},
            min_value=_number(_extension(raw, MIN_VALUE)),
            max_value=_number(_extension(raw, MAX_VALUE)),
            max_decimals=int(decimals["valueInteger"]) if decimals else None,
            max_length=raw.get("maxLength"),
            help=translations(helps[0], "text") if helps else {},
            enable_when=tuple(_condition(c) for c in raw.get("enableWhen", [])),
            enable_any=raw.get("enableBehavior") == "any",
            codes=tuple(raw.get("code", [])),
            extract=bool((_extension(raw, OBSERVATION_EXTRACT) or {}).get("valueBoolean")),
            items=tuple(self._item(child) for child in children),
        )

    def _options(self, raw: dict[str, Any]) -> tuple[Option, ...]:
        if "answerOption" in raw:
            return tuple(_answer_option(o) for o in raw["answerOption"])
        url = raw.get("answerValueSet")
        if not url:
            return ()
        expansion = self.terminology.expand(url)
        if expansion is None:
            raise QuestionnaireError(f"Item {raw.get('linkId')}: cannot expand {url}")
        return tuple(self._concept_option(c.system, c.code, c.display) for c in expansion)

    def _concept_option(self, system: str, code: str, display: str | None) -> Option:
        coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        labels: Texts = {"en": display or code}
        labels.update(self._designations(system, code))
        return Option(code, {"valueCoding": coding}, labels)

    def _designations(self, system: str, code: str) -> Texts:
        codesystem = self.registry.get(system)
        concept = _find_concept(codesystem.get("concept", []) if codesystem else [], code)
        found: Texts = {}
        for designation in (concept or {}).get("designation", []):
            lang = designation.get("language")
            if isinstance(lang, str) and isinstance(designation.get("value"), str):
                found.setdefault(lang.split("-")[0], designation["value"])
        return found


def _find_concept(concepts: list[dict[str, Any]], code: str) -> dict[str, Any] | None:
    for concept in concepts:
        if concept.get("code") == code:
            return concept
        nested = _find_concept(concept.get("concept", []), code)
        if nested is not None:
            return nested
    return None


def _answer_option(raw: dict[str, Any]) -> Option:
    ordinal = _number(_extension(raw, ORDINAL))
    value_key = next(k for k in raw if k.startswith("value"))
    value = raw[value_key]
    if value_key == "valueCoding":
        labels = translations(value, "display") or {"en": value.get("code", "")}
        plain = {k: v for k, v in value.items() if not k.startswith("_")}
        return Option(str(value.get("code")), {"valueCoding": plain}, labels, ordinal)
    return Option(str(value), {value_key: value}, {"en": str(value)}, ordinal)


def _condition(raw: dict[str, Any]) -> EnableWhen:
    operator = str(raw.get("operator"))
    key = next(k for k in raw if k.startswith("answer"))
    value = raw[key]
    if key == "answerCoding":
        answer = str(value.get("code"))
    elif key == "answerBoolean":
        answer = "true" if value else "false"
    else:
        answer = str(value)
    return EnableWhen(str(raw.get("question")), operator, answer)


def _is_help(raw: dict[str, Any]) -> bool:
    control = _extension(raw, ITEM_CONTROL)
    codes = (control or {}).get("valueCodeableConcept", {}).get("coding", [])
    return raw.get("type") == "display" and any(c.get("code") == "help" for c in codes)


def _index(items: tuple[Item, ...], found: dict[str, Item]) -> None:
    for item in items:
        if item.link_id in found:
            raise QuestionnaireError(f"linkId {item.link_id} is used twice")
        found[item.link_id] = item
        _index(item.items, found)


_FORMS: dict[tuple[int, str], Form] = {}
_LOCK = threading.Lock()


def form_of(registry: Registry, url: str) -> Form:
    """The Form of the Questionnaire at `url` in `registry` (read once per process)."""
    key = (id(registry), url)
    with _LOCK:
        found = _FORMS.get(key)
        if found is None:
            questionnaire = registry.get(url)
            if questionnaire is None or questionnaire.get("resourceType") != "Questionnaire":
                raise QuestionnaireError(f"No Questionnaire {url}")
            found = _FORMS[key] = FormBuilder(registry).build(questionnaire)
    return found
