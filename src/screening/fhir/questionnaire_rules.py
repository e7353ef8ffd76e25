"""A QuestionnaireResponse against its Questionnaire, after the HL7 Java validator.

`QuestionnaireRules` is the validator's per-type hook for QuestionnaireResponse. It finds the
Questionnaire (`QuestionnaireResponse.questionnaire`: a canonical, `url|version`, or `#id` of a
contained one) and walks the response like the reference validator's QuestionnaireValidator:

* items are matched by linkId, level by level (unknown, misplaced and out-of-order items);
  groups hold items, questions hold answers and nested questions under `answer.item`;
* `required` (a warning only while the response is `in-progress`), `repeats`, the
  questionnaire-minOccurs / maxOccurs extensions, and enableWhen / enableBehavior (and the SDC
  enableWhenExpression): a disabled item must not be answered, and is not required;
* the answer's value type per item type, answerOption and answerValueSet membership,
  `maxLength` and the minLength, regex, minValue / maxValue, maxDecimalPlaces, unitOption,
  unitValueSet, min/maxQuantity, maxSize and mimeType extensions;
* `authored` inside the Questionnaire's effectivePeriod (a warning).

Issue locations are FHIRPath like the reference's: `QuestionnaireResponse.item[0]` for an item,
`....answer[1]` for an answer, `....answer[1].value.ofType(integer)` for its value.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from screening.fhir.datetimes import parse_fhir_date_range
from screening.fhir.fhirpath import evaluate
from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry
from screening.fhir.terminology import Terminology

Json = dict[str, Any]
Typed = tuple[str, Any]  # (FHIR type code, JSON value) of a value[x] / answer[x]

EXT = "http://hl7.org/fhir/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
MIN_VALUE, MAX_VALUE = EXT + "minValue", EXT + "maxValue"
MIN_QUANTITY, MAX_QUANTITY = (
    SDC + "sdc-questionnaire-minQuantity",
    SDC + "sdc-questionnaire-maxQuantity",
)
MIN_OCCURS, MAX_OCCURS = EXT + "questionnaire-minOccurs", EXT + "questionnaire-maxOccurs"
MIN_LENGTH, REGEX, ENTRY_FORMAT = EXT + "minLength", EXT + "regex", EXT + "entryFormat"
MAX_DECIMALS = EXT + "maxDecimalPlaces"
UNIT_OPTION, UNIT_VALUESET = EXT + "questionnaire-unitOption", EXT + "questionnaire-unitValueSet"
MAX_SIZE, MIME_TYPE = EXT + "maxSize", EXT + "mimeType"
ENABLE_EXPRESSION = SDC + "sdc-questionnaire-enableWhenExpression"
UCUM = "http://unitsofmeasure.org"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# the answer value types each item type takes (`text` answers are strings, `url` ones uris)
ANSWER_TYPES: dict[str, tuple[str, ...]] = {
    "boolean": ("boolean",),
    "decimal": ("decimal",),
    "integer": ("integer",),
    "date": ("date",),
    "dateTime": ("dateTime",),
    "time": ("time",),
    "string": ("string",),
    "text": ("string",),
    "url": ("uri",),
    "attachment": ("Attachment",),
    "reference": ("Reference",),
    "quantity": ("Quantity",),
    "choice": ("Coding", "date", "time", "integer", "string"),
    "open-choice": ("Coding", "date", "time", "integer", "string"),
}
PRIMITIVES = frozenset(
    {"base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id"}
    | {"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt"}
    | {"uri", "url", "uuid"}
)
NO_ANSWERS = frozenset({"group", "display", "question"})
CHOICES = frozenset({"choice", "open-choice"})
R4_ANSWER_VALUES = frozenset(
    {"boolean", "decimal", "integer", "date", "dateTime", "time", "string", "uri"}
    | {"Attachment", "Coding", "Quantity", "Reference"}
)
OPTION_TYPES = frozenset({"integer", "date", "time", "string"})
NUMBERS = frozenset({"integer", "decimal"})
MOMENTS = frozenset({"date", "dateTime", "instant"})


class QuestionnaireRules:
    """The QuestionnaireResponse rules of the validator (`Validator.resource_rules`)."""

    def __init__(self, registry: Registry, terminology: Terminology) -> None:
        """Questionnaires and ValueSets come from `registry`, code checks from `terminology`."""
        self.registry = registry
        self.terminology = terminology

    def check(self, resource: Json, path: str, targets: dict[str, Json]) -> list[Issue]:
        """Every issue of a QuestionnaireResponse against its Questionnaire."""
        reference = resource.get("questionnaire")
        if not isinstance(reference, str) or not reference:
            text = "No questionnaire is identified, so no validation can be performed"
            return [Issue("information", "required", text, path)]
        questionnaire, container = self._find(reference, resource)
        if questionnaire is None:
            return [_unresolved(reference, path)]
        walk = _Walk(self, questionnaire, resource, container)
        walk.period(path)
        walk.items(resource, _items(questionnaire), path, ())
        return walk.issues

    def _find(self, reference: str, resource: Json) -> tuple[Json | None, Json | None]:
        """The Questionnaire, and the resource that contains it (None for a registry one)."""
        if reference.startswith("#"):
            found = _contained(resource, reference[1:], "Questionnaire")
            return found, resource if found is not None else None
        found = self.registry.get(reference)
        if found is None or found.get("resourceType") != "Questionnaire":
            return None, None
        return found, None


def _unresolved(reference: str, path: str) -> Issue:
    """The Questionnaire is unknown: a hint for example.org ones, a warning otherwise."""
    example = reference.startswith(("http://example.org", "https://example.org"))
    text = (
        f"The questionnaire '{reference}' could not be resolved, so no validation can be"
        " performed against the base questionnaire"
    )
    return Issue("information" if example else "warning", "required", text, path)


# --- the walk over the response ----------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """One enclosing level of the walk: a Questionnaire item and the response item for it."""

    q_item: Json
    element: Json


Stack = tuple[_Frame, ...]


@dataclass
class _Walk:
    """The state of one response's validation: its Questionnaire and the issues so far."""

    rules: QuestionnaireRules
    questionnaire: Json
    response: Json
    container: Json | None  # the resource holding a contained Questionnaire
    issues: list[Issue] = field(default_factory=list)
    parents: dict[int, Json | None] = field(default_factory=dict)
    by_link: dict[str, Json] = field(default_factory=dict)
    expressions: dict[str, bool] = field(default_factory=dict)
    in_progress: bool = False

    def __post_init__(self) -> None:
        """Index the Questionnaire's items; note whether the response is in progress."""
        _index(_items(self.questionnaire), None, self.parents, self.by_link)
        self.in_progress = self.response.get("status") == "in-progress"

    def add(self, severity: str, code: str, text: str, where: str) -> None:
        """Record one issue."""
        self.issues.append(Issue(severity, code, text, where))

    def demand(self, code: str, text: str, where: str) -> None:
        """An unmet requirement: an error, or a warning while the response is in progress."""
        self.add("warning" if self.in_progress else "error", code, text, where)

    # the Questionnaire as a whole

    def period(self, path: str) -> None:
        """`authored` must fall inside the Questionnaire's effectivePeriod."""
        authored = _span(self.response.get("authored"))
        period = self.questionnaire.get("effectivePeriod")
        if authored is None or not isinstance(period, dict):
            return
        start, end = _span(period.get("start")), _span(period.get("end"))
        where = f"{path}.authored"
        shown = self.response["authored"]
        if end is not None and authored[0] >= end[1]:
            text = (
                f"The authored date '{shown}' is after the end of the permitted period defined"
                f" in the Questionnaire ('{period['end']}')"
            )
            self.add("warning", "business-rule", text, where)
        if start is not None and authored[1] <= start[0]:
            text = (
                f"The authored date '{shown}' is before the start of the permitted period"
                f" defined in the Questionnaire ('{period['start']}')"
            )
            self.add("warning", "business-rule", text, where)

    # items

    def items(self, owner: Json, q_items: list[Json], path: str, stack: Stack) -> None:
        """The response items under `owner` against the Questionnaire items of that level."""
        found = self._sort(owner, q_items, path, stack)
        for q_item in q_items:
            self._question(q_item, found.get(id(q_item), []), path, stack)

    def _sort(
        self, owner: Json, q_items: list[Json], path: str, stack: Stack
    ) -> dict[int, list[tuple[Json, str]]]:
        """The response items by the Questionnaire item they answer; stray ones reported."""
        found: dict[int, list[tuple[Json, str]]] = {}
        last = -1
        for index, element in enumerate(_dicts(owner.get("item"))):
            where = f"{path}.item[{index}]"
            link = element.get("linkId")
            if not isinstance(link, str) or not link:
                self.add("error", "required", "No LinkId, so can't be validated", path)
                continue
            position = _position(q_items, link)
            if position < 0:
                self._stray(element, link, path, where, stack)
                continue
            if position < last:
                self.add("error", "structure", "Structural Error: items are out of order", path)
            last = position
            found.setdefault(id(q_items[position]), []).append((element, where))
        return found

    def _stray(self, element: Json, link: str, path: str, where: str, stack: Stack) -> None:
        """An item not defined at this level: misplaced (then checked anyway) or unknown."""
        q_item = self.by_link.get(link)
        if q_item is None:
            self.add("error", "not-found", f"LinkId '{link}' not found in questionnaire", path)
            return
        text = f"Structural Error: item with linkid {link} is in the wrong place"
        self.add("error", "structure", text, path)
        enabled = self.enabled(q_item, stack)
        self.item(q_item, element, where, (*stack, _Frame(q_item, element)), enabled)

    def _question(
        self, q_item: Json, found: list[tuple[Json, str]], path: str, stack: Stack
    ) -> None:
        """One Questionnaire item: its response items, or whether it may be missing."""
        enabled = self.enabled(q_item, stack)
        link = q_item.get("linkId")
        if not found:
            if enabled and q_item.get("required") is True:
                self.demand(
                    "required", f"No response answer found for required item '{link}'", path
                )
            return
        if len(found) > 1 and q_item.get("repeats") is not True:
            text = f"Only one response item with linkId '{link}' allowed (found {len(found)})"
            self.add("error", "invalid", text, path)
        for element, where in found:
            if not enabled and (element.get("answer") or element.get("item")):
                text = f"Item has answer, even though it is not enabled (item id = '{link}')"
                self.add("error", "invalid", text, where)
            self.item(q_item, element, where, (*stack, _Frame(q_item, element)), enabled)

    def item(self, q_item: Json, element: Json, path: str, stack: Stack, enabled: bool) -> None:
        """One response item against its Questionnaire item."""
        link = q_item.get("linkId")
        text = element.get("text")
        if isinstance(text, str) and text and text != q_item.get("text"):
            message = (
                f"If text exists, it must match the questionnaire definition for linkId {link}"
            )
            self.add("error", "invalid", message, path)
        answers = _dicts(element.get("answer"))
        self._answer_count(q_item, answers, path, enabled)
        for index, answer in enumerate(answers):
            self.answer(q_item, answer, f"{path}.answer[{index}]", path, stack)
        self._nested(q_item, element, path, stack, enabled)

    def _answer_count(self, q_item: Json, answers: list[Json], path: str, enabled: bool) -> None:
        """required, repeats and the questionnaire-minOccurs / maxOccurs extensions."""
        link, count = q_item.get("linkId"), len(answers)
        kind = q_item.get("type")
        if q_item.get("required") is True and not answers and kind != "group":
            text = f"No response answer found for required item '{link}'"
            if self.in_progress:
                self.add("warning", "required", text, path)
            elif enabled:
                self.add("error", "required", text, path)
        if count > 1 and q_item.get("repeats") is not True:
            self.add(
                "error", "invalid", "Only one response answer item with this linkId allowed", path
            )
        if kind in NO_ANSWERS:
            return
        least, most = _ext_int(q_item, MIN_OCCURS), _ext_int(q_item, MAX_OCCURS)
        if least is not None and count < least:
            text = f"The minimum number of answers is {least} but this has {count} answers"
            self.demand("invalid", text, path)
        if most is not None and count > most:
            text = f"The maximum number of answers is {most} but this has {count} answers"
            self.add("error", "invalid", text, path)

    def _nested(self, q_item: Json, element: Json, path: str, stack: Stack, enabled: bool) -> None:
        """Items inside a response item: a group's own items; none for anything else."""
        kind, link = q_item.get("type"), q_item.get("linkId")
        children = _dicts(element.get("item"))
        if kind == "group":
            if not children and q_item.get("required") is True and enabled:
                self.demand("required", "No sub-items found for required group", path)
            self.items(element, _items(q_item), path, stack)
        elif children and kind == "display":
            text = f"Items of type display should not have items - linkId {link}"
            self.add("error", "structure", text, path)
        elif children:
            text = (
                "Items not of type group should not have items outside answers"
                " (use answer.item not .item)"
            )
            self.add("error", "structure", text, path)

    # answers

    def answer(self, q_item: Json, answer: Json, path: str, item_path: str, stack: Stack) -> None:
        """One answer: allowed at all, its value's type and constraints, its nested items."""
        kind = q_item.get("type")
        if kind in NO_ANSWERS:
            text = f"Items of type {kind} should not have answers"
            self.add("error", "structure", text, item_path)
            if kind == "group":
                return
        else:
            typed = _answer_value(answer)
            allowed = ANSWER_TYPES.get(str(kind))
            if typed is not None and allowed is not None and self._type_ok(typed, allowed, path):
                _Values(self, q_item, path).check(typed)
        if _items(q_item) or answer.get("item"):
            self.items(answer, _items(q_item), path, stack)

    def _type_ok(self, typed: Typed, allowed: tuple[str, ...], path: str) -> bool:
        """Is the answer's value of a type the item type takes?"""
        found = typed[0]
        if found in allowed:
            return True
        if found in R4_ANSWER_VALUES:  # other value[x] names are the structure layer's
            names = ", ".join(allowed)
            kind = "the type" if len(allowed) == 1 else "one of the types"
            text = f"Answer value must be of {kind} {names} not {found}"
            self.add("error", "structure", text, f"{path}.value.ofType({found})")
        return False

    # enableWhen

    def enabled(self, q_item: Json, stack: Stack) -> bool:
        """Is the item enabled, given the answers around it (enableWhen / the SDC expression)?"""
        expression = _enable_expression(q_item)
        if expression is not None:
            return self._expression(expression)
        conditions = _dicts(q_item.get("enableWhen"))
        if not conditions:
            return True
        results = [self._condition(c, q_item, stack) for c in conditions]
        behavior = q_item.get("enableBehavior")
        if behavior == "any" or len(results) == 1:
            return any(results)
        if behavior == "all":
            return all(results)
        return True  # several conditions and no enableBehavior (que-12): undecided, enabled

    def _expression(self, expression: str) -> bool:
        """An enableWhenExpression on the response (evaluated once per response)."""
        if expression not in self.expressions:
            self.expressions[expression] = self._evaluate(expression)
        return self.expressions[expression]

    def _evaluate(self, expression: str) -> bool:
        """FHIRPath on the response, as a boolean (errors count as enabled, with a warning)."""
        try:
            result = evaluate(
                expression, self.response, resource=self.response, root_resource=self.response
            )
        except Exception as exc:  # fhirpathpy raises many kinds
            text = f"The enableWhenExpression '{expression}' could not be evaluated: {exc}"
            self.add("warning", "processing", text, str(self.response.get("resourceType")))
            return True
        if len(result) == 1 and isinstance(result[0], bool):
            return result[0]
        return bool(result)

    def _condition(self, condition: Json, q_item: Json, stack: Stack) -> bool:
        """One enableWhen condition against the answers to its question."""
        answers = self._target_answers(condition.get("question"), q_item, stack)
        expected = _prefixed_value(condition, "answer")
        if condition.get("operator") == "exists":
            return expected is not None and expected[1] is bool(answers)
        operator = str(condition.get("operator"))
        return any(_answer_matches(_answer_value(a), expected, operator) for a in answers)

    def _target_answers(self, question: Any, source: Json, stack: Stack) -> list[Json]:
        """The answers to `question` in the scope nearest to the item asking (as Java does)."""
        target = self.by_link.get(question) if isinstance(question, str) else None
        if target is None:
            return []
        group = self._common_group(source, target)
        if group is None:
            return _find_answers(self.response, str(question))
        for frame in reversed(stack):
            if frame.q_item is group:
                return _find_answers(frame.element, str(question))
        return []

    def _common_group(self, source: Json, target: Json) -> Json | None:
        """The innermost Questionnaire item enclosing `source` that holds (or is) `target`."""
        around: set[int] = set()
        node: Json | None = target
        while node is not None:
            around.add(id(node))
            node = self.parents.get(id(node))
        node = self.parents.get(id(source))
        while node is not None and id(node) not in around:
            node = self.parents.get(id(node))
        return node


# --- answer values -----------------------------------------------------------------------


@dataclass
class _Values:
    """The checks of one answer's value against its Questionnaire item."""

    walk: _Walk
    q_item: Json
    path: str  # the answer's location

    def where(self, type_code: str) -> str:
        """The location of the answer's value of this type."""
        return f"{self.path}.value.ofType({type_code})"

    def error(self, text: str, where: str, code: str = "invariant") -> None:
        """Record an error."""
        self.walk.add("error", code, text, where)

    def check(self, typed: Typed) -> None:
        """Every rule that applies to a value of this type."""
        type_code, value = typed
        if value is None:
            return
        if type_code == "Coding" and isinstance(value, dict):
            self.coding(value)
        if type_code in OPTION_TYPES:
            self.option(type_code, value)
        if type_code in NUMBERS or type_code in MOMENTS or type_code == "time":
            self.bounds(type_code, value)
        if type_code == "decimal":
            self.decimals(value)
        if type_code in ("string", "uri") and isinstance(value, str):
            self.text(type_code, value)
        if type_code == "uri" and isinstance(value, str):
            self.uuid(value)
        if type_code == "Attachment" and isinstance(value, dict):
            self.attachment(value)
        if type_code == "Quantity" and isinstance(value, dict):
            self.quantity(value)

    # options

    def option(self, type_code: str, value: Any) -> None:
        """A date, time, integer or string answer must be one of the item's answerOptions."""
        open_choice = self.q_item.get("type") == "open-choice"
        options = _dicts(self.q_item.get("answerOption"))
        if not options:
            if self.q_item.get("type") in CHOICES:
                text = (
                    f"Cannot validate {type_code} answer option because no option list is provided"
                )
                self.walk.add("information", "structure", text, self.path)
            return
        key = "value" + type_code[0].upper() + type_code[1:]
        allowed = [o[key] for o in options if key in o]
        if not allowed:
            if not open_choice:
                self.error(f"Option list has no option values of type {type_code}", self.path)
            return
        if any(_same(type_code, value, a) for a in allowed) or (
            open_choice and type_code == "string"
        ):
            return
        text = f"The {type_code} {_show(value)} is not in the set of permitted values"
        self.error(text, self.where(type_code))

    def coding(self, coding: Json) -> None:
        """A Coding answer: from the answerOptions, or from the answerValueSet."""
        open_choice = self.q_item.get("type") == "open-choice"
        if self.q_item.get("answerOption"):
            self.coding_option(coding, open_choice)
        elif isinstance(self.q_item.get("answerValueSet"), str):
            self.coding_valueset(coding, str(self.q_item["answerValueSet"]), open_choice)
        else:
            text = "Cannot validate options because no option or options are provided"
            self.walk.add("information", "structure", text, self.path)

    def coding_option(self, coding: Json, open_choice: bool) -> None:
        """The Coding must match an answerOption's system and code."""
        answer_options = _dicts(self.q_item.get("answerOption"))
        options = [
            o["valueCoding"] for o in answer_options if isinstance(o.get("valueCoding"), dict)
        ]
        if not options:
            if not open_choice:
                self.error("Option list has no option values of type coding", self.path)
            return
        system, code = coding.get("system"), coding.get("code")
        if any(o.get("system") == system and o.get("code") == code for o in options):
            return
        text = f"The code {_coding_key(coding)} is not in the set of permitted values"
        self.walk.add("warning" if open_choice else "error", "invariant", text, self.path)

    def coding_valueset(self, coding: Json, reference: str, open_choice: bool) -> None:
        """The Coding must be in the answerValueSet (as far as can be told offline)."""
        system, code = coding.get("system"), coding.get("code")
        if open_choice and not system and not code and coding.get("display"):
            return  # free text in a Coding
        valueset = self.valueset(reference)
        if valueset is None:
            text = f"The ValueSet {reference} is not known, so the answer cannot be checked"
            self.walk.add("warning", "code-invalid", text, self.path)
            return
        if not isinstance(system, str) or not system:
            text = (
                "Coding has no system. A code with no system has no defined meaning, and it"
                " cannot be validated. A system should be provided"
            )
            self.walk.add("warning", "code-invalid", text, self.path)
            return
        self.membership(valueset, system, str(code or ""), coding, reference)

    def valueset(self, reference: str) -> str | Json | None:
        """The answerValueSet: a registry URL, a contained ValueSet, or None if unknown."""
        if reference.startswith("#"):
            found = _contained(self.walk.questionnaire, reference[1:], "ValueSet")
            if found is None and self.walk.container is not None:
                found = _contained(self.walk.container, reference[1:], "ValueSet")
            url = found.get("url") if found is not None else None
            if isinstance(url, str) and self.walk.rules.registry.get(url) is not None:
                return url
            return found
        return reference if self.walk.rules.registry.get(reference) is not None else None

    def membership(
        self, valueset: str | Json, system: str, code: str, coding: Json, reference: str
    ) -> None:
        """Report a code the value set does not hold (or cannot be checked against)."""
        display = coding.get("display") if isinstance(coding.get("display"), str) else None
        if isinstance(valueset, str):
            check = self.walk.rules.terminology.validate_code(valueset, system, code, display)
            valid, message = check.valid, check.message
            if valid is True and check.display_ok is False:
                self.walk.add("warning", "code-invalid", message, self.path)
        else:
            valid = _listed(valueset, system, code)
            message = f"Cannot tell offline whether {system}#{code} is in {reference}"
        if valid is False:
            text = (
                f"The code {_coding_key(coding)} is not in the options value set ({reference})"
                " in the questionnaire"
            )
            self.walk.add("error", "code-invalid", text, self.path)
        elif valid is None:
            self.walk.add("information", "code-invalid", message, self.path)

    # numbers, dates and times

    def bounds(self, type_code: str, value: Any) -> None:
        """The minValue / maxValue extensions (for numbers, dates, dateTimes and times)."""
        for url, sign, word in ((MIN_VALUE, -1, "less"), (MAX_VALUE, 1, "greater")):
            limit = _ext_value(self.q_item, url)
            if limit is None:
                continue
            order = _compare(type_code, value, limit)
            if order == sign:
                bound = "minimum" if sign < 0 else "maximum"
                text = (
                    f"The value {_show(value)} is {word} than the allowed {bound} of"
                    f" {_show(limit[1])}"
                )
                self.error(text, self.where(type_code))

    def decimals(self, value: Any) -> None:
        """The maxDecimalPlaces extension."""
        limit = _ext_int(self.q_item, MAX_DECIMALS)
        number = _decimal(value)
        if limit is None or number is None:
            return
        places = max(0, -int(number.as_tuple().exponent))
        if places > limit:
            text = f"The value {_show(value)} has too many decimal places (limit = {limit})"
            self.error(text, self.where("decimal"))

    # strings

    def text(self, type_code: str, value: str) -> None:
        """maxLength, the minLength and regex extensions, and no new lines in `string` items."""
        where = self.where(type_code)
        most, least = self.q_item.get("maxLength"), _ext_int(self.q_item, MIN_LENGTH)
        if isinstance(most, int) and len(value) > most:
            self.error(f"The answer '{value}' is longer than the maximum length of {most}", where)
        if least is not None and len(value) < least:
            self.error(f"The answer '{value}' is shorter than the minimum length of {least}", where)
        self.regex(value, where)
        if self.q_item.get("type") == "string" and ("\n" in value or "\r" in value):
            text = "The answer should not contain new line characters"
            self.walk.add("warning", "business-rule", text, where)

    def uuid(self, value: str) -> None:
        """A `urn:uuid:` answer must hold a valid lowercase UUID."""
        if value.startswith("urn:uuid:") and not UUID.fullmatch(value[9:]):
            text = f"UUIDs must be valid and lowercase ({value[9:]})"
            self.error(text, self.where("uri"), "invalid")

    def regex(self, value: str, where: str) -> None:
        """The regex extension (the whole answer must match)."""
        found = _ext_value(self.q_item, REGEX)
        pattern = _regex(found[1]) if found is not None and isinstance(found[1], str) else None
        if pattern is None or pattern.fullmatch(value):
            return
        fmt = _ext_value(self.q_item, ENTRY_FORMAT)
        expected = f"the expected format '{fmt[1]}' (regex" if fmt is not None else "the (regex"
        text = f"The answer '{value}' does not conform to {expected} '{pattern.pattern}')"
        self.error(text, where)

    # attachments

    def attachment(self, attachment: Json) -> None:
        """The stated size, and the maxSize and mimeType extensions."""
        actual = _data_size(attachment.get("data"))
        stated = attachment.get("size")
        stated = stated if isinstance(stated, int) and not isinstance(stated, bool) else None
        if actual is not None and stated is not None and actual != stated:
            text = (
                f"Stated Attachment Size {stated:,} does not match actual attachment size"
                f" {actual:,}"
            )
            self.error(text, self.where("Attachment"), "structure")
        size = actual if actual is not None else stated
        limit = _ext_value(self.q_item, MAX_SIZE)
        most = _decimal(limit[1]) if limit is not None else None
        if size is not None and most is not None and size > most:
            text = f"The attachment is too large (allowed = {most}, found = {size})"
            self.error(text, self.path, "required")
        self.mime_type(attachment)

    def mime_type(self, attachment: Json) -> None:
        """The attachment's contentType must be one the mimeType extensions allow."""
        allowed = [v for t, v in _ext_values(self.q_item, MIME_TYPE) if isinstance(v, str)]
        content = attachment.get("contentType")
        if not allowed or not isinstance(content, str):
            return
        if content in allowed or content.split(";")[0].strip() in allowed:
            return
        text = f"The content type '{content}' is not allowed (allowed = {', '.join(allowed)})"
        self.error(text, self.path)

    # quantities

    def quantity(self, quantity: Json) -> None:
        """Units (unitOption, unitValueSet) and the min/max limits of a Quantity answer."""
        self.unit_options(quantity)
        self.unit_valueset(quantity)
        for url in (MIN_VALUE, MIN_QUANTITY, MAX_VALUE, MAX_QUANTITY):
            limit = _ext_value(self.q_item, url)
            if limit is not None and limit[0] == "Quantity" and isinstance(limit[1], dict):
                self.quantity_limit(quantity, limit[1], url in (MIN_VALUE, MIN_QUANTITY))

    def unit_options(self, quantity: Json) -> None:
        """The unit must be one of the questionnaire-unitOption codings."""
        options = [v for t, v in _ext_values(self.q_item, UNIT_OPTION) if isinstance(v, dict)]
        if not options or any(_unit_matches(quantity, o) for o in options):
            return
        allowed = ",".join(_describe_unit(o) for o in options)
        text = (
            f"The value {_describe_quantity(quantity)} has a unit that is not valid"
            f" (allowed = {allowed})"
        )
        self.error(text, self.where("Quantity"))

    def unit_valueset(self, quantity: Json) -> None:
        """The unit must be in the questionnaire-unitValueSet."""
        found = _ext_value(self.q_item, UNIT_VALUESET)
        system, code = quantity.get("system"), quantity.get("code")
        if found is None or not isinstance(found[1], str):
            return
        if not isinstance(system, str) or not isinstance(code, str):
            return
        check = self.walk.rules.terminology.validate_code(found[1], system, code)
        if check.valid is False:
            text = (
                f"The value {_describe_quantity(quantity)} has a unit that is not in the"
                f" value set {found[1]}"
            )
            self.error(text, self.where("Quantity"))
        elif check.valid is None:
            self.walk.add("information", "code-invalid", check.message, self.where("Quantity"))

    def quantity_limit(self, quantity: Json, limit: Json, minimum: bool) -> None:
        """One min or max limit on a Quantity answer (same units only: no UCUM conversion)."""
        value, bound = _decimal(quantity.get("value")), _decimal(limit.get("value"))
        if value is None or bound is None:
            return
        word = "minimum" if minimum else "maximum"
        shown, limit_shown = _describe_quantity(quantity), _describe_quantity(limit)
        head = f"The quantity {shown} cannot be compared to the allowed {word} of {limit_shown}"
        if not _formal_unit(quantity) or not _formal_unit(limit):
            self.error(f"{head} because no formal units are specified", self.where("Quantity"))
        elif _formal_unit(quantity) != _formal_unit(limit):
            text = f"{head} offline: the units differ and no UCUM conversion is available"
            self.walk.add("information", "processing", text, self.where("Quantity"))
        elif (value < bound) if minimum else (value > bound):
            relation = "less" if minimum else "greater"
            text = f"The value {shown} is {relation} than the allowed {word} of {limit_shown}"
            self.error(text, self.where("Quantity"))


# --- helpers: the Questionnaire ----------------------------------------------------------


def _items(owner: Json) -> list[Json]:
    """The `item` list of a Questionnaire or Questionnaire item."""
    return _dicts(owner.get("item"))


def _dicts(value: Any) -> list[Json]:
    """The objects of a JSON array (anything else gives none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _index(
    q_items: list[Json],
    parent: Json | None,
    parents: dict[int, Json | None],
    links: dict[str, Json],
) -> None:
    """Each Questionnaire item's parent item, and the (first) item of each linkId."""
    for q_item in q_items:
        parents[id(q_item)] = parent
        link = q_item.get("linkId")
        if isinstance(link, str):
            links.setdefault(link, q_item)
        _index(_items(q_item), q_item, parents, links)


def _position(q_items: list[Json], link: str) -> int:
    """The index of the item with this linkId at one level, or -1."""
    for index, q_item in enumerate(q_items):
        if q_item.get("linkId") == link:
            return index
    return -1


def _contained(resource: Json, local_id: str, resource_type: str) -> Json | None:
    """A contained resource of one type by id."""
    for found in _dicts(resource.get("contained")):
        if found.get("id") == local_id and found.get("resourceType") == resource_type:
            return found
    return None


def _ext_values(owner: Json, url: str) -> list[Typed]:
    """The (type, value) of every extension with this url."""
    found: list[Typed] = []
    for extension in _dicts(owner.get("extension")):
        if extension.get("url") == url:
            typed = _prefixed_value(extension, "value")
            if typed is not None:
                found.append(typed)
    return found


def _ext_value(owner: Json, url: str) -> Typed | None:
    """The (type, value) of the first extension with this url."""
    found = _ext_values(owner, url)
    return found[0] if found else None


def _ext_int(owner: Json, url: str) -> int | None:
    """An integer-valued extension."""
    found = _ext_value(owner, url)
    if found is None or isinstance(found[1], bool) or not isinstance(found[1], int):
        return None
    return found[1]


def _enable_expression(q_item: Json) -> str | None:
    """The FHIRPath of an SDC enableWhenExpression, if the item has one."""
    found = _ext_value(q_item, ENABLE_EXPRESSION)
    if found is None or not isinstance(found[1], dict):
        return None
    expression = found[1].get("expression")
    language = found[1].get("language")
    if language != "text/fhirpath" or not isinstance(expression, str):
        return None
    return expression


def _listed(valueset: Json, system: str, code: str) -> bool | None:
    """Membership in a contained ValueSet made only of enumerated concepts (None: unknown)."""
    compose = valueset.get("compose")
    includes = _dicts(compose.get("include")) if isinstance(compose, dict) else []
    if not includes or any("concept" not in i or i.get("filter") for i in includes):
        return None
    if isinstance(compose, dict) and compose.get("exclude"):
        return None
    return any(
        i.get("system") == system and any(c.get("code") == code for c in _dicts(i.get("concept")))
        for i in includes
    )


# --- helpers: the response ---------------------------------------------------------------


def _prefixed_value(owner: Json, prefix: str) -> Typed | None:
    """The (type, value) of a choice element (`valueDate` -> ("date", ...))."""
    for key, value in owner.items():
        bare = key[1:] if key.startswith("_") else key
        if not bare.startswith(prefix) or not bare[len(prefix) : len(prefix) + 1].isupper():
            continue
        if key.startswith("_") and bare in owner:
            continue
        suffix = bare[len(prefix) :]
        lowered = suffix[0].lower() + suffix[1:]
        type_code = lowered if lowered in PRIMITIVES else suffix
        return type_code, None if key.startswith("_") else value
    return None


def _answer_value(answer: Json) -> Typed | None:
    """The (type, value) of an answer's value[x]."""
    return _prefixed_value(answer, "value")


def _find_answers(focus: Json, link: str) -> list[Json]:
    """The answers of every response item with this linkId at or below `focus`."""
    found = _dicts(focus.get("answer")) if focus.get("linkId") == link else []
    below = _dicts(focus.get("item"))
    for answer in _dicts(focus.get("answer")):
        below.extend(_dicts(answer.get("item")))
    for child in below:
        found.extend(_find_answers(child, link))
    return found


def _answer_matches(actual: Typed | None, expected: Typed | None, operator: str) -> bool:
    """Does one answer satisfy an enableWhen comparison? (types must agree)"""
    if actual is None or expected is None or actual[0] != expected[0]:
        return False
    if actual[1] is None or expected[1] is None:
        return False
    if actual[0] in ("Coding", "Reference"):
        same = _same(actual[0], actual[1], expected[1])
        return {"=": same, "!=": not same}.get(operator, False)
    order = _compare(actual[0], actual[1], expected)
    if order is None:
        return False
    tests = {"=": order == 0, "!=": order != 0, ">": order > 0, "<": order < 0}
    tests |= {">=": order >= 0, "<=": order <= 0}
    return tests.get(operator, False)


# --- helpers: values ---------------------------------------------------------------------


def _same(type_code: str, value: Any, other: Any) -> bool:
    """Equality of two values of one type (an expected Coding's missing system matches any)."""
    if type_code == "Coding" and isinstance(value, dict) and isinstance(other, dict):
        system = other.get("system")
        return other.get("code") == value.get("code") and (
            system is None or system == value.get("system")
        )
    if type_code == "Reference" and isinstance(value, dict) and isinstance(other, dict):
        return bool(value.get("reference") == other.get("reference"))
    if type_code in NUMBERS:
        return _compare(type_code, value, (type_code, other)) == 0
    return bool(value == other)


def _compare(type_code: str, value: Any, limit: Typed) -> int | None:
    """-1, 0 or 1 for a value against another, or None when they are not comparable."""
    left: Any = _order_key(type_code, value)
    right: Any = _order_key(limit[0], limit[1])
    if left is None or right is None or type(left) is not type(right):
        return None
    return int(left > right) - int(left < right)


def _order_key(type_code: str, value: Any) -> Decimal | datetime | str | None:
    """A sortable form of a value: numbers, dates by their start, times and strings as text."""
    if type_code in NUMBERS or type_code == "Quantity":
        number = value.get("value") if isinstance(value, dict) else value
        return _decimal(number)
    if type_code in MOMENTS:
        span = _span(value)
        return span[0] if span is not None else None
    if type_code == "boolean" and isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def _span(value: Any) -> tuple[datetime, datetime] | None:
    """The range a date/dateTime string covers, or None."""
    if not isinstance(value, str):
        return None
    try:
        return parse_fhir_date_range(value)
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    """A JSON number as a Decimal (None for anything else)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _show(value: Any) -> str:
    """A value as the messages show it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _describe_quantity(value) if "value" in value else str(value)
    return str(value)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    """A compiled regex extension (None when Python cannot read it)."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _data_size(data: Any) -> int | None:
    """The number of bytes of base64 `data` (None when absent or not base64)."""
    if not isinstance(data, str):
        return None
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return None


def _coding_key(coding: Json) -> str:
    """`system::code` as the messages show a Coding."""
    system, code = coding.get("system"), coding.get("code")
    return f"{system}::{code}" if system else str(code)


def _formal_unit(quantity: Json) -> tuple[str, str] | None:
    """A quantity's (system, code), or None when it has no coded unit."""
    system, code = quantity.get("system"), quantity.get("code")
    if isinstance(system, str) and system and isinstance(code, str) and code:
        return system, code
    return None


def _unit_matches(quantity: Json, option: Json) -> bool:
    """Does a quantity's unit match a unitOption coding? (by system and code)"""
    unit = _formal_unit(quantity)
    if unit is not None:
        return unit == (option.get("system"), option.get("code"))
    return quantity.get("unit") in (option.get("code"), option.get("display"))


def _describe_unit(coding: Json) -> str:
    """A unit coding as the messages show it: `kilometer (UCUM#km)`."""
    system = coding.get("system")
    label = "UCUM" if system == UCUM else str(system)
    key = f"{label}#{coding.get('code')}"
    display = coding.get("display")
    return f"{display} ({key})" if isinstance(display, str) else key


def _describe_quantity(quantity: Json) -> str:
    """A quantity as the messages show it: `10 Kg (UCUM#kg)`."""
    value = quantity.get("value")
    unit = quantity.get("unit") if isinstance(quantity.get("unit"), str) else None
    text = " ".join(str(p) for p in (value, unit) if p is not None)
    if _formal_unit(quantity) is not None:
        system = quantity["system"]
        text += f" ({'UCUM' if system == UCUM else system}#{quantity['code']})"
    return text
