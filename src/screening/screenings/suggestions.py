"""Suggested referral services: a documented rule table the clinician confirms or overrides.

Each rule gives a service and a reason coded from the IG's CodeSystem `referral-reason`
(`fhir_profiles/CodeSystem-referral-reason.json`):

- limb -> prosthetics-orthotics, `limb-absence-no-prosthesis`: a limb absence is recorded and
  no prosthesis is in use (prosthetic potential K1-K4 or not assessed; K0 means no potential,
  so no suggestion);
- falls -> physiotherapy, `fall-risk`: TUG, Berg or 30-second chair stand flagged;
- walking -> physiotherapy, `slow-walking`: walking speed below 0.80 m/s; below 0.40 m/s
  (household ambulator) also -> wheelchair-service, `cannot-walk`;
- pain -> physiotherapy, `severe-pain`: pain 7/10 or more;
- cannot-walk -> wheelchair-service, `cannot-walk`: WG-SS "cannot do at all" (or walking
  speed below 0.40 m/s, above);
- wheelchair -> wheelchair-service, `wheelchair-user`: a wheelchair in use;
- survivor -> psychosocial-support, `conflict-survivor`: cause of impairment landmine /
  explosive remnant of war or other conflict injury.

No rule gives `clinical-judgement`: that code is the clinician's, for a referral no rule
suggested. Each suggestion lists every rule that fired, so the clinician sees why;
`reason_codes` gives the distinct codes of one service for the referral's reasonCode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from screening.screenings.scoring import Finding, Note

SERVICES = ("prosthetics-orthotics", "physiotherapy", "wheelchair-service", "psychosocial-support")
SURVIVOR_CAUSES = frozenset({"landmine-erw", "conflict-injury-other"})
# The referral-reason codes each rule gives (the IG CodeSystem referral-reason).
LIMB = "limb-absence-no-prosthesis"
FALL_RISK = "fall-risk"
SLOW_WALKING = "slow-walking"
SEVERE_PAIN = "severe-pain"
CANNOT_WALK = "cannot-walk"
WHEELCHAIR_USER = "wheelchair-user"
CONFLICT_SURVIVOR = "conflict-survivor"
RULE_CODES = (
    LIMB,
    FALL_RISK,
    SLOW_WALKING,
    SEVERE_PAIN,
    CANNOT_WALK,
    WHEELCHAIR_USER,
    CONFLICT_SURVIVOR,
)


@dataclass
class Facts:
    """What a screening found, as the rules read it."""

    findings: list[Finding] = field(default_factory=list)
    limb_absence: bool = False
    prosthetic_potential: str | None = None  # K0..K4
    devices: set[str] = field(default_factory=set)  # assistive-device-type codes
    causes: set[str] = field(default_factory=set)  # cause-of-impairment codes


@dataclass(frozen=True)
class Reason:
    """Why a rule fired: in English, as a Note for the pages, and as a referral-reason code."""

    text: str
    note: Note
    code: str


@dataclass(frozen=True)
class Suggestion:
    """A service to refer to, with the reasons (one per rule that fired)."""

    service: str
    why: tuple[Reason, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(r.text for r in self.why)

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct referral-reason codes of the reasons, in order."""
        return tuple(dict.fromkeys(r.code for r in self.why))


def reason_codes(suggestions: Iterable[Suggestion], service: str) -> tuple[str, ...]:
    """The distinct referral-reason codes suggested for one service, in order (none when the
    service is not suggested)."""
    found = (c for s in suggestions if s.service == service for c in s.codes)
    return tuple(dict.fromkeys(found))


class _Reasons(dict[str, list[Reason]]):
    """The reasons gathered per service."""

    def add(self, service: str, code: str, reason: str | Finding, note: Note | None = None) -> None:
        if isinstance(reason, Finding):
            self[service].append(Reason(reason.reason, reason.note, code))
        else:
            self[service].append(Reason(reason, note or Note("suggestion.other"), code))


def suggest(facts: Facts) -> list[Suggestion]:
    """The suggested services in the order of SERVICES, each with its reasons."""
    reasons = _Reasons({service: [] for service in SERVICES})
    by_name = {f.instrument: f for f in facts.findings}
    _limb(facts, reasons)
    for name in ("tug", "berg", "chair-stand"):
        finding = by_name.get(name)
        if finding is not None and finding.flagged:
            reasons.add("physiotherapy", FALL_RISK, finding)
    walk = by_name.get("walk-10m")
    if walk is not None and walk.flagged:
        reasons.add("physiotherapy", SLOW_WALKING, walk)
        if walk.category == "household":
            reasons.add("wheelchair-service", CANNOT_WALK, walk)
    pain = by_name.get("pain")
    if pain is not None and pain.flagged:
        reasons.add("physiotherapy", SEVERE_PAIN, pain)
    wg = by_name.get("wgss-mobility")
    if wg is not None and wg.value == "cannot-do-at-all":
        reasons.add("wheelchair-service", CANNOT_WALK, wg)
    if "wheelchair" in facts.devices:
        text = "Uses a wheelchair: assessment, fitting or repair"
        reasons.add("wheelchair-service", WHEELCHAIR_USER, text, Note("suggestion.wheelchair"))
    survivor = sorted(facts.causes & SURVIVOR_CAUSES)
    if survivor:
        text = ", ".join(c.replace("-", " ") for c in survivor)
        note = Note("suggestion.survivor", {"causes": survivor})
        reasons.add("psychosocial-support", CONFLICT_SURVIVOR, f"Cause of impairment: {text}", note)
    return [Suggestion(s, tuple(r)) for s, r in reasons.items() if r]


def _limb(facts: Facts, reasons: _Reasons) -> None:
    """The limb rule: an absent limb without a prosthesis in use, unless potential K0."""
    if not facts.limb_absence or "prosthesis" in facts.devices:
        return
    if facts.prosthetic_potential == "K0":
        return  # K0: no ability or potential to ambulate with a prosthesis
    level = facts.prosthetic_potential or "not assessed"
    text = f"Limb absence without a prosthesis in use (prosthetic potential {level})"
    note = Note("suggestion.limb", {"potential": facts.prosthetic_potential or ""})
    reasons.add("prosthetics-orthotics", LIMB, text, note)
