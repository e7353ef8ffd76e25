"""What a screening means: the findings of each instrument answered and the suggested
services, read from the answers of a field-screening QuestionnaireResponse. No Flask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from screening.screenings import scoring
from screening.screenings.response import Answers, answers_of, group_instances
from screening.screenings.scoring import Finding, ScoreError
from screening.screenings.suggestions import Facts, Suggestion, suggest


@dataclass(frozen=True)
class Person:
    """What the norms need to know about the person screened."""

    age: int | None = None
    sex: str | None = None  # FHIR administrative gender


@dataclass(frozen=True)
class Reading:
    """The findings and suggestions of one screening."""

    findings: tuple[Finding, ...]
    suggestions: tuple[Suggestion, ...]
    facts: Facts

    @property
    def suggested_services(self) -> tuple[str, ...]:
        return tuple(s.service for s in self.suggestions)


def _first(answers: Answers, link_id: str) -> Any:
    found = answers.get(link_id)
    return found[0] if found else None


def _performed(answers: Answers, group: str) -> bool:
    return _first(answers, f"{group}.performed") is True


def _wgss(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    answer = _first(a, "wgss.mobility")
    return scoring.wgss_mobility(answer) if answer else None


def _tug(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    seconds = _first(a, "tug.seconds")
    return scoring.tug(Decimal(seconds), cutoff) if seconds is not None else None


def _berg(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    total = _first(a, "berg.total")
    return scoring.berg_total(int(total)) if total is not None else None


def _walk10m(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    metres, seconds = _first(a, "walk10m.distance"), _first(a, "walk10m.seconds")
    if metres is None or seconds is None:
        return None
    return scoring.walk_speed(Decimal(metres), Decimal(seconds))


def _walk6min(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    metres = _first(a, "walk6min.metres")
    return scoring.walk_6min(Decimal(metres)) if metres is not None else None


def _chair(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    count = _first(a, "chair-stand.count")
    return scoring.chair_stand(int(count), person.age, person.sex) if count is not None else None


def _barthel(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    total = _first(a, "barthel.total")
    return scoring.barthel_total(int(total)) if total is not None else None


def _pain(a: Answers, person: Person, cutoff: Decimal) -> Finding | None:
    score = _first(a, "pain.score")
    return scoring.pain(int(score)) if score is not None else None


INSTRUMENTS: dict[str, Callable[[Answers, Person, Decimal], Finding | None]] = {
    "wgss": _wgss,
    "tug": _tug,
    "berg": _berg,
    "walk10m": _walk10m,
    "walk6min": _walk6min,
    "chair-stand": _chair,
    "barthel": _barthel,
    "pain": _pain,
}


def read_screening(
    response: dict[str, Any], person: Person, tug_cutoff: Decimal = scoring.TUG_CUTOFF
) -> Reading:
    """The findings of every instrument performed, and the services the rules suggest."""
    answers = answers_of(response)
    findings: list[Finding] = []
    for group, score in INSTRUMENTS.items():
        if not _performed(answers, group):
            continue
        try:
            found = score(answers, person, tug_cutoff)
        except ScoreError:
            found = None  # the form and the validator refuse such values before this
        if found is not None:
            findings.append(found)
    facts = _facts(response, answers, findings)
    return Reading(tuple(findings), tuple(suggest(facts)), facts)


def _facts(response: dict[str, Any], answers: Answers, findings: list[Finding]) -> Facts:
    """What the suggestion rules read: findings, limbs, devices, causes."""
    limbs = (
        group_instances(response, "limb-absence.limb")
        if _performed(answers, "limb-absence")
        else []
    )
    potentials = sorted(
        str(_first(limb, "limb-absence.limb.prosthetic-potential") or "") for limb in limbs
    )
    causes = {str(c) for limb in limbs for c in limb.get("limb-absence.limb.cause", [])}
    if _performed(answers, "cause"):
        causes |= {str(c) for c in answers.get("cause.code", [])}
    devices = (
        {str(d) for d in answers.get("device.type", [])} if _performed(answers, "device") else set()
    )
    known = [p for p in potentials if p]
    return Facts(
        findings=findings,
        limb_absence=bool(limbs),
        prosthetic_potential=max(known) if known else None,
        devices=devices,
        causes=causes,
    )
