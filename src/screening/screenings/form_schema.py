"""The posted screening form, checked by a marshmallow schema built from the Questionnaire,
and turned into QuestionnaireResponse items. No Flask.

Field names: an item's linkId; inside instance n (1-based) of a repeating group,
`<linkId>@<n>`. Every field is optional to marshmallow; whether an item is required
depends on `enableWhen`, which the schema evaluates over the posted answers: answers to
disabled items are dropped (SDC), a required enabled item without an answer is an error.
Numbers and dates accept Persian and Arabic-Indic digits; dates are read in the page's
calendar (Solar Hijri on Persian pages) and kept Gregorian.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from screening.screenings.questionnaire import EnableWhen, Form, Item
from screening.web.calendar import (
    DateEntryError,
    date_hint,
    latin_digits,
    parse_date,
    parse_year,
)
from screening.web.i18n import Message

GROUP_SLOTS = 4  # instances offered for a repeating group (four limbs at most)
MAX_TEXT = 2000
Posted = Mapping[str, list[str]]


@dataclass(frozen=True)
class Slot:
    """One field of the form: an item, in one instance of its repeating group (or None)."""

    item: Item
    instance: int | None = None

    @property
    def name(self) -> str:
        return (
            self.item.link_id if self.instance is None else f"{self.item.link_id}@{self.instance}"
        )

    def named(self, link_id: str) -> str:
        """The field name of another item in the same group instance."""
        return link_id if self.instance is None else f"{link_id}@{self.instance}"


@dataclass
class Checked:
    """The outcome of checking a posted form: typed answers of enabled items, and errors
    (message keys with their values) by field name."""

    answers: dict[str, list[Any]] = field(default_factory=dict)
    errors: dict[str, Message] = field(default_factory=dict)
    enabled: set[str] = field(default_factory=set)

    @property
    def valid(self) -> bool:
        return not self.errors


class _Number(fields.Field[Decimal | int]):
    """A decimal or whole number typed with any digits, within the item's limits."""

    def __init__(self, item: Item) -> None:
        super().__init__()
        self.item = item

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = latin_digits(str(value)).strip().replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation as error:
            raise ValidationError("error.number") from error
        if not number.is_finite():
            raise ValidationError("error.number")
        item = self.item
        if item.type == "integer" and number != number.to_integral_value():
            raise ValidationError("error.integer")
        exponent = number.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if item.max_decimals is not None and places > item.max_decimals:
            raise ValidationError("error.decimals")
        low, high = item.min_value, item.max_value
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValidationError("error.range")
        return int(number) if item.type == "integer" else number


class _CalendarDate(fields.Field[date | str]):
    """A date in the page's calendar."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date | str:
        """A whole date, or a year alone (a FHIR partial date, e.g. the year of an injury)."""
        try:
            if len(latin_digits(str(value)).strip()) == 4:
                year = parse_year(str(value), self.lang)
                if year > date.today().year:
                    raise ValidationError("error.future_date")
                return str(year)
            entered = parse_date(str(value), self.lang)
        except DateEntryError as error:
            raise ValidationError("error.date_or_year") from error
        if entered > date.today():
            raise ValidationError("error.future_date")
        return entered


def _field(item: Item, lang: str) -> fields.Field[Any]:
    """The marshmallow field of one item (lists for repeating items)."""
    one: fields.Field[Any]
    if item.type == "boolean":
        one = fields.String(validate=validate.OneOf(("true", "false"), error="error.choice"))
    elif item.type in ("decimal", "integer"):
        one = _Number(item)
    elif item.type == "date":
        one = _CalendarDate(lang)
    elif item.type in ("choice", "open-choice"):
        keys = tuple(o.key for o in item.options)
        one = fields.String(validate=validate.OneOf(keys, error="error.choice"))
    else:
        limit = item.max_length or MAX_TEXT
        one = fields.String(validate=validate.Length(max=limit, error="error.length"))
    if item.repeats:
        return fields.List(one, validate=validate.Length(max=len(item.options) or 20))
    return one


class QuestionnaireForm:
    """The fields, the marshmallow schema and the enableWhen rules of one Questionnaire."""

    def __init__(self, form: Form, lang: str) -> None:
        self.form = form
        self.lang = lang
        self.slots = list(_slots(form.items, None))
        answerable = [s for s in self.slots if _answerable(s.item)]
        # attribute names without dots (marshmallow reads dots as nesting); data keys the names
        self.attributes = {f"f{n}": s.name for n, s in enumerate(answerable)}
        schema_fields = {}
        for attribute, slot in zip(self.attributes, answerable, strict=True):
            schema_fields[attribute] = _field(slot.item, lang)
            schema_fields[attribute].data_key = slot.name
        self.schema: Schema = Schema.from_dict(schema_fields, name="QuestionnaireSchema")()
        self.by_name = {s.name: s for s in self.slots}

    def check(self, posted: Posted, only: frozenset[str] | None = None) -> Checked:
        """Load the answers of the enabled items (of the top-level groups `only`, when
        given) and say what is wrong, field by field."""
        raw = self._raw(posted)
        result = Checked()
        try:
            loaded = self.schema.load(raw)
        except ValidationError as error:
            loaded = error.valid_data if isinstance(error.valid_data, dict) else {}
            for name, problems in _flat_messages(error.messages).items():
                result.errors[name] = self._message(name, problems)
        loaded = {self.attributes[k]: v for k, v in loaded.items() if k in self.attributes}
        enabled = self._enabled(raw)
        result.enabled = enabled
        for slot in self.slots:
            if only is not None and slot.item.link_id.split(".")[0] not in only:
                result.errors.pop(slot.name, None)
                continue
            self._settle(slot, loaded, raw, enabled, result)
        return result

    def _settle(
        self, slot: Slot, loaded: dict[str, Any], raw: dict[str, Any], enabled: set[str],
        result: Checked,
    ) -> None:  # fmt: skip
        """Keep the answer of an enabled field; drop a disabled one; require as needed."""
        name = slot.name
        if name not in enabled:
            result.errors.pop(name, None)
            return
        if name in result.errors:
            return
        value = loaded.get(name)
        values = value if isinstance(value, list) else [] if value is None else [value]
        if values:
            result.answers[name] = values
        elif slot.item.required and _answerable(slot.item) and self._instance_started(slot, raw):
            result.errors[name] = Message("error.required")
        elif (
            slot.item.required
            and slot.item.type == "group"
            and not self._group_answered(slot, raw, enabled)
        ):
            result.errors[name] = Message("error.group_required")

    def _raw(self, posted: Posted) -> dict[str, Any]:
        """The posted values of known fields: trimmed, blanks left out, lists for repeats."""
        raw: dict[str, Any] = {}
        for slot in self.slots:
            if not _answerable(slot.item):
                continue
            given = [v.strip() for v in posted.get(slot.name, []) if v.strip()]
            if not given:
                continue
            raw[slot.name] = given if slot.item.repeats else given[0]
        return raw

    def _enabled(self, raw: dict[str, Any]) -> set[str]:
        """The fields whose item is enabled (its own conditions and all its parents')."""
        enabled: set[str] = set()
        self._walk_enabled(self.form.items, None, True, raw, enabled)
        return enabled

    def _walk_enabled(
        self, items: tuple[Item, ...], instance: int | None, parent_on: bool,
        raw: dict[str, Any], enabled: set[str],
    ) -> None:  # fmt: skip
        for item in items:
            instances = range(1, GROUP_SLOTS + 1) if _repeating_group(item) else [instance]
            for n in instances:
                slot = Slot(item, n)
                on = parent_on and self._conditions_hold(slot, raw, enabled)
                if on:
                    enabled.add(slot.name)
                self._walk_enabled(item.items, n, on, raw, enabled)

    def _conditions_hold(self, slot: Slot, raw: dict[str, Any], enabled: set[str]) -> bool:
        """Whether the item's enableWhen holds over the posted answers."""
        item = slot.item
        if not item.enable_when:
            return True
        results = [self._holds(slot, c, raw, enabled) for c in item.enable_when]
        return any(results) if item.enable_any else all(results)

    def _holds(self, slot: Slot, cond: EnableWhen, raw: dict[str, Any], enabled: set[str]) -> bool:
        name = self._question_name(slot, cond.question)
        given = raw.get(name) if name in enabled else None
        answers = given if isinstance(given, list) else [] if given is None else [given]
        if cond.operator == "exists":
            return bool(answers) == (cond.answer == "true")
        if not answers:
            return cond.operator == "!="
        if cond.operator == "=":
            return any(_same(a, cond.answer) for a in answers)
        if cond.operator == "!=":
            return not any(_same(a, cond.answer) for a in answers)
        return any(_compare(a, cond.operator, cond.answer) for a in answers)

    def _question_name(self, slot: Slot, question: str) -> str:
        """The field of the question an item depends on: in the same group instance when the
        question is in the group, else the top-level field."""
        inner = slot.named(question)
        return inner if inner in self.by_name else question

    def _instance_started(self, slot: Slot, raw: dict[str, Any]) -> bool:
        """Outside repeating groups always; in instance n only once something in it was
        entered, or for the first instance (a required group needs one)."""
        if slot.instance is None or slot.instance == 1:
            return True
        suffix = f"@{slot.instance}"
        return any(name.endswith(suffix) for name in raw)

    def _group_answered(self, slot: Slot, raw: dict[str, Any], enabled: set[str]) -> bool:
        """Whether a group (any of its instances) has an answered enabled item."""
        prefixes = {slot.item.link_id + "."}
        return any(name in enabled and any(name.startswith(p) for p in prefixes) for name in raw)

    def _message(self, name: str, problems: list[str]) -> Message:
        """The first problem of a field as a catalogue message with the item's limits."""
        key = problems[0] if problems and problems[0].startswith("error.") else "error.invalid"
        item = self.by_name[name].item if name in self.by_name else None
        values: dict[str, Any] = {}
        if item is not None:
            values = {
                "min": _plain(item.min_value),
                "max": _plain(item.max_value),
                "n": item.max_decimals or 0,
                "limit": item.max_length or MAX_TEXT,
                "example": date_hint(self.lang),
            }
        return Message(key, values)


def _slots(items: tuple[Item, ...], instance: int | None) -> list[Slot]:
    """Every field of the form, repeating groups unrolled into GROUP_SLOTS instances."""
    found: list[Slot] = []
    for item in items:
        if _repeating_group(item):
            if instance is not None:
                raise ValueError(f"{item.link_id}: repeating groups cannot be nested")
            found.append(Slot(item, None))
            for n in range(1, GROUP_SLOTS + 1):
                found.extend(_slots(item.items, n))
            continue
        found.append(Slot(item, instance))
        found.extend(_slots(item.items, instance))
    return found


def _repeating_group(item: Item) -> bool:
    return item.type == "group" and item.repeats


def _answerable(item: Item) -> bool:
    return item.type not in ("group", "display")


def _same(answer: Any, expected: str) -> bool:
    return str(answer) == expected


def _compare(answer: Any, operator: str, expected: str) -> bool:
    try:
        left, right = Decimal(latin_digits(str(answer))), Decimal(expected)
    except InvalidOperation:
        left_text, right_text = str(answer), expected
        return _ordered(left_text, operator, right_text)
    return _ordered(left, operator, right)


def _ordered(left: Any, operator: str, right: Any) -> bool:
    checks = {
        ">": left > right,
        "<": left < right,
        ">=": left >= right,
        "<=": left <= right,
    }
    return bool(checks.get(operator, False))


def _plain(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _flat_messages(messages: Any) -> dict[str, list[str]]:
    """{field: [message keys]} from marshmallow's messages (lists give per-index dicts)."""
    flat: dict[str, list[str]] = {}
    if not isinstance(messages, dict):
        return flat
    for name, problems in messages.items():
        if isinstance(problems, dict):  # a List field: {index: [messages]}
            inner = [m for ms in problems.values() for m in (ms if isinstance(ms, list) else [])]
            flat[str(name)] = [str(m) for m in inner]
        elif isinstance(problems, list):
            flat[str(name)] = [str(m) for m in problems]
    return flat


_FORMS: dict[tuple[int, str], QuestionnaireForm] = {}
_LOCK = threading.Lock()


def questionnaire_form(form: Form, lang: str) -> QuestionnaireForm:
    """The fields and schema of a Form in a language, built once per process (Forms are
    themselves read once, see `questionnaire.form_of`)."""
    key = (id(form), lang)
    with _LOCK:
        found = _FORMS.get(key)
        if found is None or found.form is not form:
            found = _FORMS[key] = QuestionnaireForm(form, lang)
    return found
