"""The calculated items of the screening Questionnaires: totals and speeds the screener does
not type. `complete` fills them into a QuestionnaireResponse, so the form and the FHIR door
store the same answers; a total sent that disagrees with its items is refused. No Flask.

Adding an instrument with a calculated item means adding its rule to RULES.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from screening.screenings.questionnaire import Form, Item
from screening.screenings.response import Answers, answers_of, json_number
from screening.screenings.scoring import ScoreError, walk_speed


class CalculationError(ValueError):
    """A calculated answer given in a response that differs from the calculation."""

    def __init__(self, link_id: str, message: str) -> None:
        super().__init__(message)
        self.link_id = link_id


def _ordinal_sum(group: str) -> Callable[[Form, Answers], Decimal | None]:
    """The sum of the ordinal values of the group's scored items, once all are answered."""

    def total(form: Form, answers: Answers) -> Decimal | None:
        scored = [i for i in _group(form, group).items if any(o.ordinal for o in i.options)]
        points: list[Decimal] = []
        for item in scored:
            given = answers.get(item.link_id, [])
            option = item.option(str(given[0])) if given else None
            if option is None or option.ordinal is None:
                return None
            points.append(option.ordinal)
        return sum(points, Decimal(0)) if points else None

    return total


def _walk_speed(form: Form, answers: Answers) -> Decimal | None:
    """Metres over seconds of the 10-metre walk, two decimals."""
    metres, seconds = answers.get("walk10m.distance"), answers.get("walk10m.seconds")
    if not metres or not seconds:
        return None
    try:
        return Decimal(walk_speed(Decimal(metres[0]), Decimal(seconds[0])).value)
    except ScoreError:
        return None


RULES: dict[str, Callable[[Form, Answers], Decimal | None]] = {
    "berg.total": _ordinal_sum("berg"),
    "barthel.total": _ordinal_sum("barthel"),
    "walk10m.speed": _walk_speed,
}


def complete(form: Form, response: dict[str, Any]) -> dict[str, Any]:
    """A copy of `response` with every calculated item of `form` answered (or refused)."""
    completed = copy.deepcopy(response)
    answers = answers_of(completed)
    for link_id, rule in RULES.items():
        item = form.by_link_id.get(link_id)
        if item is None:
            continue
        value = rule(form, answers)
        given = answers.get(link_id)
        if value is None:
            continue
        if given and Decimal(str(given[0])) != value:
            raise CalculationError(
                link_id, f"{link_id} is {given[0]}, but its items give {_plain(value)}"
            )
        if not given:
            _place(form, completed, item, value)
    return completed


def _place(form: Form, response: dict[str, Any], item: Item, value: Decimal) -> None:
    """Add the answer to the item's group node, keeping the Questionnaire's order."""
    group_id = item.link_id.split(".")[0]
    node = next((n for n in response.get("item", []) if n.get("linkId") == group_id), None)
    if node is None:
        return
    answer_key = "valueInteger" if item.type == "integer" else "valueDecimal"
    answer = int(value) if item.type == "integer" else json_number(value)
    entry: dict[str, Any] = {"linkId": item.link_id, "answer": [{answer_key: answer}]}
    if "en" in item.texts:
        entry["text"] = item.texts["en"]
    order = [i.link_id for i in _group(form, group_id).items]
    node["item"] = sorted(
        [*node.get("item", []), entry],
        key=lambda n: order.index(n["linkId"]) if n.get("linkId") in order else len(order),
    )


def _group(form: Form, link_id: str) -> Item:
    return form.by_link_id[link_id]


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
