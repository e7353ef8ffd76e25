"""QuestionnaireResponse items from checked form answers, and answers read back out of a
QuestionnaireResponse (for scoring and display). No Flask."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from screening.screenings.form_schema import GROUP_SLOTS, Checked, Slot
from screening.screenings.questionnaire import Form, Item

Answers = dict[str, list[Any]]  # linkId -> answer values (Python values, codes for codings)


def response_items(form: Form, checked: Checked) -> list[dict[str, Any]]:
    """The `item` tree of a QuestionnaireResponse: answered enabled items only, groups
    that hold at least one answer, one item per used instance of a repeating group."""
    return _items(form.items, None, checked)


def _items(items: tuple[Item, ...], instance: int | None, checked: Checked) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in items:
        if item.type == "display":
            continue
        if item.type == "group":
            instances = range(1, GROUP_SLOTS + 1) if item.repeats else [instance]
            for n in instances:
                children = _items(item.items, n, checked)
                if children:
                    found.append(_node(item, children=children))
            continue
        answers = checked.answers.get(Slot(item, instance).name)
        if answers:
            node = _node(item, answers=[_answer(item, v) for v in answers])
            nested = _items(item.items, instance, checked)
            if nested:
                node["answer"][0]["item"] = nested
            found.append(node)
    return found


def _node(
    item: Item, *, children: list[dict[str, Any]] | None = None,
    answers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    node: dict[str, Any] = {"linkId": item.link_id}
    if "en" in item.texts:
        node["text"] = item.texts["en"]
    if children is not None:
        node["item"] = children
    if answers is not None:
        node["answer"] = answers
    return node


def _answer(item: Item, value: Any) -> dict[str, Any]:
    """One answer in the item's value[x]."""
    if item.type == "boolean":
        return {"valueBoolean": value == "true" or value is True}
    if item.type in ("choice", "open-choice"):
        option = item.option(str(value))
        if option is None:
            raise ValueError(f"{item.link_id}: '{value}' is not an option")
        return dict(option.value)
    if item.type == "decimal":
        return {"valueDecimal": json_number(Decimal(value))}
    if item.type == "integer":
        return {"valueInteger": int(value)}
    if item.type == "date":
        return {"valueDate": value.isoformat() if isinstance(value, date) else str(value)}
    return {item.answer_field: str(value)}


def json_number(value: Decimal) -> int | float:
    """A decimal as a JSON number (whole numbers without a fraction)."""
    return int(value) if value == value.to_integral_value() else float(value)


def answers_of(response: dict[str, Any]) -> Answers:
    """Every answer of a QuestionnaireResponse by linkId (all instances of repeating groups
    together; codings as their code)."""
    found: Answers = {}
    _collect(response.get("item", []), found)
    return found


def group_instances(response: dict[str, Any], link_id: str) -> list[Answers]:
    """The answers of each instance of a (repeating) group, by linkId."""
    found: list[Answers] = []
    _instances(response.get("item", []), link_id, found)
    return found


def _instances(items: list[dict[str, Any]], link_id: str, found: list[Answers]) -> None:
    for node in items:
        if node.get("linkId") == link_id:
            answers: Answers = {}
            _collect(node.get("item", []), answers)
            found.append(answers)
            continue
        _instances(node.get("item", []), link_id, found)
        for answer in node.get("answer", []):
            _instances(answer.get("item", []), link_id, found)


def _collect(items: list[dict[str, Any]], found: Answers) -> None:
    for node in items:
        for answer in node.get("answer", []):
            found.setdefault(str(node.get("linkId")), []).append(answer_value(answer))
            _collect(answer.get("item", []), found)
        _collect(node.get("item", []), found)


def answer_value(answer: dict[str, Any]) -> Any:
    """The Python value of one answer (a coding as its code, decimals as Decimal)."""
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding":
            return value.get("code")
        if key == "valueDecimal":
            return Decimal(str(value))
        return value
    return None
