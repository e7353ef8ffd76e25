"""Scores and flags against worked examples (CONTENT.md cut-offs)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from screening.paths import data_dir
from screening.screenings.scoring import (
    ScoreError,
    barthel,
    berg,
    chair_stand,
    pain,
    tug,
    walk_6min,
    walk_speed,
    wgss_mobility,
)
from screening.screenings.suggestions import RULE_CODES, Facts, reason_codes, suggest

FULL_BARTHEL = {
    "feeding": 10,
    "bathing": 5,
    "grooming": 5,
    "dressing": 10,
    "bowels": 10,
    "bladder": 10,
    "toilet": 10,
    "transfers": 15,
    "mobility": 15,
    "stairs": 10,
}


@pytest.mark.parametrize(
    ("answer", "flagged"),
    [
        ("no-difficulty", False),
        ("some-difficulty", False),
        ("a-lot-of-difficulty", True),
        ("cannot-do-at-all", True),
    ],
)
def test_wgss_disability_identifier(answer: str, flagged: bool) -> None:
    """A lot of difficulty or cannot do at all identifies disability."""
    assert wgss_mobility(answer).flagged is flagged


@pytest.mark.parametrize(
    ("seconds", "cutoff", "flagged"),
    [
        ("18.4", "13.5", True),  # Ahmad Karimi, the IG example
        ("13.5", "13.5", True),  # at the cut-off: at risk
        ("13.4", "13.5", False),
        ("12.5", "12", True),  # STEADI cut-off
        ("12.5", "13.5", False),
    ],
)
def test_tug_fall_risk(seconds: str, cutoff: str, flagged: bool) -> None:
    """At risk from the cut-off (13.5 s by default, 12 s STEADI), noted in the reason."""
    finding = tug(Decimal(seconds), Decimal(cutoff))
    assert finding.flagged is flagged
    assert f"cut-off {Decimal(cutoff)} s" in finding.reason


def test_tug_default_mentions_steadi() -> None:
    """The default reason names the 12 s STEADI value beside the 13.5 s cut-off."""
    assert "STEADI cut-off 12 s" in tug(Decimal("14")).reason


def test_berg_total_and_flag() -> None:
    """14 items 0-4: 38/56 (the IG example) is below 45; 45 is not."""
    items = [3, 3, 3, 3, 3, 2, 3, 3, 3, 3, 3, 2, 2, 2]
    assert sum(items) == 38
    assert berg(items).value == 38 and berg(items).flagged
    assert not berg([4] * 11 + [1, 0, 0]).flagged  # 45


@pytest.mark.parametrize(
    ("metres", "seconds", "speed", "category"),
    [
        ("6", "20", "0.30", "household"),
        ("6", "15", "0.40", "limited-community"),
        ("10", "12.6", "0.79", "limited-community"),
        ("6", "7.5", "0.80", "community"),
    ],
)
def test_walk_speed_categories(metres: str, seconds: str, speed: str, category: str) -> None:
    """Speed = distance / time to two decimals; < 0.40 household, < 0.80 limited."""
    finding = walk_speed(Decimal(metres), Decimal(seconds))
    assert finding.value == Decimal(speed) and finding.category == category
    assert finding.flagged is (category != "community")


@pytest.mark.parametrize(
    ("count", "age", "sex", "flagged"),
    [
        (11, 67, "male", True),  # CONTENT.md: age 65-69, men < 12
        (12, 67, "male", False),
        (10, 67, "female", True),  # women < 11
        (11, 67, "female", False),
        (13, 62, "male", True),  # 60-64: men < 14
        (3, 91, "female", True),  # 90-94: women < 4
        (5, 40, "male", False),  # no norm under 60
        (5, 70, None, False),  # no norm without sex
    ],
)
def test_chair_stand_norms(count: int, age: int, sex: str | None, flagged: bool) -> None:
    """Below average against the age and sex band; no norm outside 60-94."""
    assert chair_stand(count, age, sex).flagged is flagged


def test_barthel_total() -> None:
    """All independent is 100; transfers 5 and stairs 0 gives 80."""
    assert barthel(FULL_BARTHEL).value == 100 and not barthel(FULL_BARTHEL).flagged
    assert barthel({**FULL_BARTHEL, "transfers": 5, "stairs": 0}).value == 80


@pytest.mark.parametrize(
    "items",
    [
        {**FULL_BARTHEL, "bathing": 10},  # bathing is 0 or 5
        {**FULL_BARTHEL, "feeding": 7},
        {k: v for k, v in FULL_BARTHEL.items() if k != "stairs"},
    ],
)
def test_barthel_refuses_impossible_values(items: dict[str, int]) -> None:
    """Values an item does not have, and missing items, are refused."""
    with pytest.raises(ScoreError):
        barthel(items)


def test_bounds_are_refused() -> None:
    """Out-of-range entries raise ScoreError, never a score."""
    for call in (
        lambda: tug(Decimal(0)),
        lambda: berg([5] * 14),
        lambda: berg([1] * 13),
        lambda: walk_speed(Decimal(0), Decimal(5)),
        lambda: walk_6min(Decimal(-1)),
        lambda: chair_stand(61, 70, "male"),
        lambda: pain(11),
        lambda: wgss_mobility("maybe"),
    ):
        with pytest.raises(ScoreError):
            call()


def test_pain_severe_from_seven() -> None:
    """Pain 7/10 and more is flagged."""
    assert pain(7).flagged and not pain(6).flagged


def test_suggestions_for_the_ig_example() -> None:
    """Ahmad Karimi: transtibial amputation by landmine, no prosthesis, TUG 18.4 s, Berg 38,
    crutches: prosthetics, physiotherapy and psychosocial support, each with reasons."""
    facts = Facts(
        findings=[tug(Decimal("18.4")), berg([3] * 10 + [2] * 4)],
        limb_absence=True,
        prosthetic_potential="K3",
        devices={"crutches"},
        causes={"landmine-erw"},
    )
    found = {s.service: s.reasons for s in suggest(facts)}
    assert list(found) == ["prosthetics-orthotics", "physiotherapy", "psychosocial-support"]
    assert "prosthetic potential K3" in found["prosthetics-orthotics"][0]
    assert len(found["physiotherapy"]) == 2
    assert "landmine erw" in found["psychosocial-support"][0]


def test_suggestions_wheelchair_and_none() -> None:
    """Cannot walk: wheelchair service; nothing found: nothing suggested; K0: no prosthesis."""
    facts = Facts(findings=[wgss_mobility("cannot-do-at-all")], devices={"wheelchair"})
    (only,) = suggest(facts)
    assert only.service == "wheelchair-service" and len(only.reasons) == 2
    assert suggest(Facts(findings=[tug(Decimal("9"))])) == []
    assert suggest(Facts(limb_absence=True, prosthetic_potential="K0")) == []


def test_suggestion_codes_for_the_ig_example() -> None:
    """Ahmad Karimi's reasons carry referral-reason codes: limb, falls (TUG and Berg, one
    code), survivor; the IG example referral codes limb-absence-no-prosthesis and fall-risk."""
    facts = Facts(
        findings=[tug(Decimal("18.4")), berg([3] * 10 + [2] * 4)],
        limb_absence=True,
        prosthetic_potential="K3",
        devices={"crutches"},
        causes={"landmine-erw"},
    )
    found = suggest(facts)
    assert {s.service: s.codes for s in found} == {
        "prosthetics-orthotics": ("limb-absence-no-prosthesis",),
        "physiotherapy": ("fall-risk",),
        "psychosocial-support": ("conflict-survivor",),
    }
    physiotherapy = next(s for s in found if s.service == "physiotherapy")
    assert [r.code for r in physiotherapy.why] == ["fall-risk", "fall-risk"]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(limb_absence=True), {"prosthetics-orthotics": ("limb-absence-no-prosthesis",)}),
        (Facts(findings=[tug(Decimal("14"))]), {"physiotherapy": ("fall-risk",)}),
        (Facts(findings=[berg([2] * 14)]), {"physiotherapy": ("fall-risk",)}),
        (Facts(findings=[chair_stand(10, 67, "female")]), {"physiotherapy": ("fall-risk",)}),
        (
            Facts(findings=[walk_speed(Decimal("10"), Decimal("12.6"))]),  # 0.79 m/s
            {"physiotherapy": ("slow-walking",)},
        ),
        (
            Facts(findings=[walk_speed(Decimal("6"), Decimal("20"))]),  # 0.30 m/s: household
            {"physiotherapy": ("slow-walking",), "wheelchair-service": ("cannot-walk",)},
        ),
        (Facts(findings=[pain(7)]), {"physiotherapy": ("severe-pain",)}),
        (
            Facts(findings=[wgss_mobility("cannot-do-at-all")]),
            {"wheelchair-service": ("cannot-walk",)},
        ),
        (Facts(findings=[wgss_mobility("a-lot-of-difficulty")]), {}),
        (Facts(devices={"wheelchair"}), {"wheelchair-service": ("wheelchair-user",)}),
        (
            Facts(causes={"conflict-injury-other", "road-traffic"}),
            {"psychosocial-support": ("conflict-survivor",)},
        ),
        (Facts(causes={"road-traffic"}), {}),
    ],
)
def test_each_rule_gives_its_reason_code(
    facts: Facts, expected: dict[str, tuple[str, ...]]
) -> None:
    """Every rule codes its reason; the household walk gives two services, two codes."""
    assert {s.service: s.codes for s in suggest(facts)} == expected


def test_reason_codes_are_distinct_and_in_order_per_service() -> None:
    """reason_codes: one service's codes in rule order, each once; () for a service that is
    not suggested."""
    facts = Facts(
        findings=[
            tug(Decimal("14")),
            berg([2] * 14),
            walk_speed(Decimal("6"), Decimal("20")),
            pain(8),
            wgss_mobility("cannot-do-at-all"),
        ],
        devices={"wheelchair"},
    )
    found = suggest(facts)
    assert reason_codes(found, "physiotherapy") == ("fall-risk", "slow-walking", "severe-pain")
    assert reason_codes(found, "wheelchair-service") == ("cannot-walk", "wheelchair-user")
    assert reason_codes(found, "prosthetics-orthotics") == ()
    assert reason_codes([], "physiotherapy") == ()
    assert reason_codes(iter(found), "wheelchair-service") == ("cannot-walk", "wheelchair-user")


def _referral_reason_codes() -> set[str]:
    """The codes of the IG CodeSystem referral-reason."""
    path = data_dir("fhir_profiles") / "CodeSystem-referral-reason.json"
    code_system = json.loads(path.read_text(encoding="utf-8"))
    return {c["code"] for c in code_system["concept"]}


def test_rule_codes_exist_in_the_referral_reason_code_system() -> None:
    """The rules and the IG cannot drift: facts that fire every rule emit exactly RULE_CODES,
    and each of them is a code of CodeSystem-referral-reason.json (which adds only
    clinical-judgement, the clinician's own)."""
    everything = Facts(
        findings=[
            tug(Decimal("14")),
            berg([2] * 14),
            chair_stand(10, 67, "female"),
            walk_speed(Decimal("6"), Decimal("20")),
            pain(9),
            wgss_mobility("cannot-do-at-all"),
        ],
        limb_absence=True,
        devices={"wheelchair"},
        causes={"landmine-erw"},
    )
    found = suggest(everything)
    emitted = {r.code for s in found for r in s.why}
    assert emitted == set(RULE_CODES)
    assert len(found) == 4
    assert set(RULE_CODES) <= _referral_reason_codes()
    assert _referral_reason_codes() - set(RULE_CODES) == {"clinical-judgement"}
