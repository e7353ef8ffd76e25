"""A screening's values in the words of one language: numbers in its digits, codes as the
labels of the form or the catalogue, findings as sentences. The pages and the printed letter
both say things this way. No Flask."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from screening.screenings.questionnaire import Form, Item
from screening.screenings.scoring import Note
from screening.web.i18n import Catalogue, localize_digits


@dataclass(frozen=True)
class Wording:
    """How screening values read in `lang`."""

    catalogue: Catalogue
    form: Form
    lang: str

    def value(self, value: Any) -> str:
        """One value of a finding's sentence (a number, a code, a list of them)."""
        if isinstance(value, list | tuple):
            separator = "، " if self.lang == "fa" else ", "
            return separator.join(self.value(v) for v in value)
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            text = format(value, "f") if isinstance(value, Decimal) else str(value)
            return localize_digits(text.replace(".", "٫") if self.lang == "fa" else text, self.lang)
        if value is None:
            return ""
        text = str(value)
        for prefix in ("sex.", "service."):
            key = prefix + text
            if key in self.catalogue.keys(self.lang):
                return self.catalogue.text(self.lang, key)
        option = self.form.options_by_code.get(text)
        return option.label(self.lang) if option else text

    def note_values(self, note: Note) -> dict[str, str]:
        """The values of a finding's sentence, in words."""
        return {name: self.value(value) for name, value in note.values.items()}

    def sentence(self, note: Note) -> str:
        """A finding's sentence."""
        return self.catalogue.text(self.lang, note.key, **self.note_values(note))

    def observation_label(self, observation: dict[str, Any]) -> str:
        """What an Observation records, named by the form item it was extracted from."""
        item = self._item_of(observation)
        if item is not None:
            return item.text(self.lang)
        code = observation.get("code", {})
        return str(code.get("text") or (code.get("coding") or [{}])[0].get("code", ""))

    def observation_value(self, observation: dict[str, Any]) -> str:
        """An Observation's value with its unit."""
        if "valueQuantity" in observation:
            quantity = observation["valueQuantity"]
            number = self.value(Decimal(str(quantity.get("value", 0))))
            item = self._item_of(observation)
            unit = (
                item.unit_text(self.lang)
                if item is not None and item.unit
                else quantity.get("unit", "")
            )
            return f"{number} {unit}".strip()
        if "valueInteger" in observation:
            return localize_digits(observation["valueInteger"], self.lang)
        if "valueCodeableConcept" in observation:
            concept = observation["valueCodeableConcept"]
            coding = (concept.get("coding") or [{}])[0]
            code = coding.get("code")
            return self.value(code) if code else str(concept.get("text", ""))
        return ""

    def condition_value(self, condition: dict[str, Any]) -> str:
        """A limb-absence Condition in words: side and level."""
        side = extension_code(condition, "laterality")
        level = ((condition.get("bodySite") or [{}])[0].get("coding") or [{}])[0].get("code", "")
        return " · ".join(self.value(c) for c in (side, level) if c)

    def _item_of(self, observation: dict[str, Any]) -> Item | None:
        """The extracted form item whose code the Observation carries."""
        extracted = self.form.extracted_by_code
        for coding in observation.get("code", {}).get("coding", []):
            item = extracted.get((str(coding.get("system")), str(coding.get("code"))))
            if item is not None:
                return item
        return None


def extension_code(resource: dict[str, Any], name: str) -> str:
    """The code of the resource's extension whose URL ends with `/name` ('' if none)."""
    for ext in resource.get("extension", []):
        if str(ext.get("url", "")).endswith("/" + name):
            return str(
                (ext.get("valueCodeableConcept", {}).get("coding") or [{}])[0].get("code", "")
            )
    return ""
