"""Scores and flags of the screening instruments (CONTENT.md), as pure functions.

Each function takes the entered values and returns a `Finding`: the value, whether it is
flagged, and a sentence that says why, in words a clinician can check. Cut-offs are the
ones CONTENT.md lists; where a cut-off is a choice (TUG), it is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

TUG_CUTOFF = Decimal("13.5")  # seconds; research cut-off (default)
TUG_STEADI = Decimal("12")  # seconds; CDC STEADI "at risk of falls"
BERG_CUTOFF = 45  # total below this: increased fall risk
WALK_HOUSEHOLD = Decimal("0.40")  # m/s: below, household ambulator
WALK_COMMUNITY = Decimal("0.80")  # m/s: from here, community ambulator
WG_POSITIVE = frozenset({"a-lot-of-difficulty", "cannot-do-at-all"})
BARTHEL_ITEMS = {
    "feeding": (0, 5, 10),
    "bathing": (0, 5),
    "grooming": (0, 5),
    "dressing": (0, 5, 10),
    "bowels": (0, 5, 10),
    "bladder": (0, 5, 10),
    "toilet": (0, 5, 10),
    "transfers": (0, 5, 10, 15),
    "mobility": (0, 5, 10, 15),
    "stairs": (0, 5, 10),
}
# 30-second chair stand, below-average scores by age band (CDC STEADI, after Rikli & Jones):
# a count below the number is below average for the age and sex.
CHAIR_STAND_BELOW = {
    "male": ((60, 14), (65, 12), (70, 12), (75, 11), (80, 10), (85, 8), (90, 7)),
    "female": ((60, 12), (65, 11), (70, 10), (75, 10), (80, 9), (85, 8), (90, 4)),
}


class ScoreError(ValueError):
    """Values an instrument cannot be scored from (the text says which and why)."""


@dataclass(frozen=True)
class Note:
    """A sentence for the pages: a message key of the screenings catalogue and its values."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One computed result: value, category code, whether it is flagged, and why (in
    English for records, and as a Note for the pages)."""

    instrument: str
    value: Decimal | int | str
    flagged: bool
    reason: str
    category: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the numbers the verdict used

    @property
    def note(self) -> Note:
        """The page's sentence: `finding.<instrument>.<category, flagged or ok>`."""
        state = self.category or ("flagged" if self.flagged else "ok")
        return Note(f"finding.{self.instrument}.{state}", {"value": self.value, **self.values})


def wgss_mobility(answer: str) -> Finding:
    """Washington Group mobility question: the disability identifier (a lot / cannot)."""
    if answer not in ("no-difficulty", "some-difficulty", *WG_POSITIVE):
        raise ScoreError(f"'{answer}' is not a Washington Group answer")
    positive = answer in WG_POSITIVE
    text = answer.replace("-", " ")
    reason = f"Walking or climbing steps: {text}" + (
        " (disability identifier: a lot of difficulty or cannot do at all)" if positive else ""
    )
    return Finding("wgss-mobility", answer, positive, reason, "disability" if positive else None)


def tug(seconds: Decimal, cutoff: Decimal = TUG_CUTOFF) -> Finding:
    """Timed Up and Go: at risk of falls from `cutoff` seconds (STEADI uses 12 s)."""
    if not Decimal(0) < seconds < Decimal(600):
        raise ScoreError("TUG time must be more than 0 and less than 600 seconds")
    risk = seconds >= cutoff
    steadi = "" if cutoff == TUG_STEADI else f"; STEADI cut-off {TUG_STEADI} s"
    verdict = "at risk of falls" if risk else "below the fall-risk cut-off"
    reason = f"TUG {seconds} s: {verdict} (cut-off {cutoff} s{steadi})"
    values = {"cutoff": cutoff, "steadi": TUG_STEADI}
    return Finding("tug", seconds, risk, reason, "fall-risk" if risk else None, values)


def berg(items: list[int]) -> Finding:
    """Berg Balance Scale: 14 tasks scored 0-4, total 0-56; below 45 increased fall risk."""
    if len(items) != 14 or any(not 0 <= i <= 4 for i in items):
        raise ScoreError("The Berg Balance Scale needs 14 item scores, each 0 to 4")
    return berg_total(sum(items))


def berg_total(total: int) -> Finding:
    """A Berg total (0-56) and its flag: below 45 increased fall risk."""
    if not 0 <= total <= 56:
        raise ScoreError("A Berg total must be 0 to 56")
    risk = total < BERG_CUTOFF
    verdict = "increased fall risk" if risk else "no increased fall risk"
    reason = f"Berg {total}/56: {verdict} (below {BERG_CUTOFF})"
    category = "fall-risk" if risk else None
    return Finding("berg", total, risk, reason, category, {"cutoff": BERG_CUTOFF})


def walk_speed(metres: Decimal, seconds: Decimal) -> Finding:
    """10-metre walk: speed in m/s (two decimals) and the ambulation category."""
    if metres <= 0 or seconds <= 0:
        raise ScoreError("Distance and time of the walk test must be more than 0")
    speed = (metres / seconds).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if speed < WALK_HOUSEHOLD:
        category, label = "household", "household ambulator"
    elif speed < WALK_COMMUNITY:
        category, label = "limited-community", "limited community ambulator"
    else:
        category, label = "community", "community ambulator"
    reason = f"Walking speed {speed} m/s: {label}"
    return Finding("walk-10m", speed, category != "community", reason, category)


def walk_6min(metres: Decimal) -> Finding:
    """6-minute walk distance (no universal cut-off: recorded, never flagged)."""
    if not Decimal(0) <= metres <= Decimal(1500):
        raise ScoreError("6-minute walk distance must be 0 to 1500 metres")
    return Finding("walk-6min", metres, False, f"6-minute walk: {metres} m (no cut-off)")


def chair_stand(count: int, age: int | None, sex: str | None) -> Finding:
    """30-second chair stand against the age and sex norms (60 to 94 years)."""
    if not 0 <= count <= 60:
        raise ScoreError("Chair stands in 30 seconds must be 0 to 60")
    norm = _chair_norm(age, sex)
    if norm is None:
        reason = f"{count} stands in 30 s (no norm for this age or sex)"
        return Finding("chair-stand", count, False, reason, "no-norm")
    below = count < norm
    verdict = "below average" if below else "average or better"
    reason = f"{count} stands in 30 s: {verdict} for a {sex} aged {age} (below {norm})"
    values = {"norm": norm, "age": age, "sex": sex}
    category = "below-average" if below else None
    return Finding("chair-stand", count, below, reason, category, values)


def _chair_norm(age: int | None, sex: str | None) -> int | None:
    """The below-average count of the age band, or None out of 60-94 or without sex."""
    if age is None or sex not in CHAIR_STAND_BELOW or not 60 <= age <= 94:
        return None
    found = None
    for start, below in CHAIR_STAND_BELOW[sex]:
        if age >= start:
            found = below
    return found


def barthel(items: dict[str, int]) -> Finding:
    """Barthel Index: 10 items with their allowed values, total 0-100 (lower: more
    dependent); flagged when any help is needed (below 100)."""
    if set(items) != set(BARTHEL_ITEMS):
        missing = ", ".join(sorted(set(BARTHEL_ITEMS) - set(items)))
        raise ScoreError(f"Barthel items missing or unknown: {missing or 'unknown items'}")
    for name, value in items.items():
        if value not in BARTHEL_ITEMS[name]:
            allowed = ", ".join(str(v) for v in BARTHEL_ITEMS[name])
            raise ScoreError(f"Barthel {name} must be one of {allowed}")
    return barthel_total(sum(items.values()))


def barthel_total(total: int) -> Finding:
    """A Barthel Index total (0-100); flagged when any help is needed (below 100)."""
    if not 0 <= total <= 100:
        raise ScoreError("A Barthel Index total must be 0 to 100")
    reason = f"Barthel Index {total}/100" + (
        ": needs help in daily activities" if total < 100 else ""
    )
    return Finding("barthel", total, total < 100, reason)


def pain(score: int) -> Finding:
    """Pain numeric rating 0-10; flagged from 7 (severe)."""
    if not 0 <= score <= 10:
        raise ScoreError("Pain must be 0 to 10")
    severe = score >= 7
    return Finding("pain", score, severe, f"Pain {score}/10" + (" (severe)" if severe else ""))
