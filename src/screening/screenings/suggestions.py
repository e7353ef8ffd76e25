"""Suggested referral services: a documented rule table the clinician confirms or overrides.

- limb -> prosthetics-orthotics: a limb absence is recorded and no prosthesis is in use
  (prosthetic potential K1-K4 or not assessed; K0 means no potential, so no suggestion);
- falls -> physiotherapy: TUG, Berg or 30-second chair stand flagged;
- walking -> physiotherapy: walking speed below 0.80 m/s;
- pain -> physiotherapy: pain 7/10 or more;
- cannot-walk -> wheelchair-service: WG-SS "cannot do at all", walking speed below
  0.40 m/s (household ambulator), or a wheelchair in use;
- survivor -> psychosocial-support: cause of impairment landmine / explosive remnant of
  war or other conflict injury.

Each suggestion lists every rule that fired, so the clinician sees why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from screening.screenings.scoring import Finding, Note

SERVICES = ("prosthetics-orthotics", "physiotherapy", "wheelchair-service", "psychosocial-support")
SURVIVOR_CAUSES = frozenset({"landmine-erw", "conflict-injury-other"})


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
    """Why a rule fired: in English, and as a Note for the pages."""

    text: str
    note: Note


@dataclass(frozen=True)
class Suggestion:
    """A service to refer to, with the reasons (one per rule that fired)."""

    service: str
    why: tuple[Reason, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(r.text for r in self.why)


class _Reasons(dict[str, list[Reason]]):
    """The reasons gathered per service."""

    def add(self, service: str, reason: str | Finding, note: Note | None = None) -> None:
        if isinstance(reason, Finding):
            self[service].append(Reason(reason.reason, reason.note))
        else:
            self[service].append(Reason(reason, note or Note("suggestion.other")))


def suggest(facts: Facts) -> list[Suggestion]:
    """The suggested services in the order of SERVICES, each with its reasons."""
    reasons = _Reasons({service: [] for service in SERVICES})
    by_name = {f.instrument: f for f in facts.findings}
    _limb(facts, reasons)
    for name in ("tug", "berg", "chair-stand"):
        finding = by_name.get(name)
        if finding is not None and finding.flagged:
            reasons.add("physiotherapy", finding)
    walk = by_name.get("walk-10m")
    if walk is not None and walk.flagged:
        reasons.add("physiotherapy", walk)
        if walk.category == "household":
            reasons.add("wheelchair-service", walk)
    pain = by_name.get("pain")
    if pain is not None and pain.flagged:
        reasons.add("physiotherapy", pain)
    wg = by_name.get("wgss-mobility")
    if wg is not None and wg.value == "cannot-do-at-all":
        reasons.add("wheelchair-service", wg)
    if "wheelchair" in facts.devices:
        text = "Uses a wheelchair: assessment, fitting or repair"
        reasons.add("wheelchair-service", text, Note("suggestion.wheelchair"))
    survivor = sorted(facts.causes & SURVIVOR_CAUSES)
    if survivor:
        text = ", ".join(c.replace("-", " ") for c in survivor)
        note = Note("suggestion.survivor", {"causes": survivor})
        reasons.add("psychosocial-support", f"Cause of impairment: {text}", note)
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
    reasons.add("prosthetics-orthotics", text, note)
