"""enableWhen without JavaScript: a stylesheet, generated from the Questionnaire, that hides
the items whose conditions do not hold over the checked inputs (CSS `:has()`). Browsers
without `:has()` show every item with its condition written beside it; the server decides
in any case (answers to disabled items are dropped). No Flask."""

from __future__ import annotations

from screening.screenings.form_schema import QuestionnaireForm, Slot
from screening.screenings.questionnaire import EnableWhen

HIDE = "{display:none}"


def enable_stylesheet(qform: QuestionnaireForm) -> str:
    """The rules of every conditional item of the form."""
    rules = [
        "@supports selector(:has(a)){",
        f".q-condition{HIDE}",
    ]
    for slot in qform.slots:
        rules.extend(_rules(qform, slot))
    rules.append("}")
    return "\n".join(rules) + "\n"


def _rules(qform: QuestionnaireForm, slot: Slot) -> list[str]:
    """The hiding rules of one item: for 'all', one rule per failing condition; for 'any',
    one rule when none holds."""
    conditions = slot.item.enable_when
    if not conditions:
        return []
    target = f'[data-q="{slot.name}"]'
    failing = [f for f in (_fails(qform, slot, c) for c in conditions) if f is not None]
    if len(failing) < len(conditions):
        return []  # a condition CSS cannot test: the item stays visible
    if slot.item.enable_any:
        return [f".q-form{''.join(failing)} {target}{HIDE}"]
    return [f".q-form{f} {target}{HIDE}" for f in failing]


def _fails(qform: QuestionnaireForm, slot: Slot, cond: EnableWhen) -> str | None:
    """A selector part matching the form when the condition does not hold."""
    name = _question(qform, slot, cond.question)
    chosen = (
        f':is(input[name="{name}"][value="{cond.answer}"]:checked,'
        f' select[name="{name}"] option[value="{cond.answer}"]:checked)'
    )
    if cond.operator == "=":
        return f":not(:has({chosen}))"
    if cond.operator == "!=":
        return f":has({chosen})"
    return None


def _question(qform: QuestionnaireForm, slot: Slot, question: str) -> str:
    inner = slot.named(question)
    return inner if inner in qform.by_name else question
