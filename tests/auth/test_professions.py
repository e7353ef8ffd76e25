"""A user account's registration number and profession: the rules both the pages and the
command line apply, and the profession codes kept in step with the IG CodeSystem."""

from __future__ import annotations

import json

import pytest

from screening.auth.models import UserAccount
from screening.auth.professions import PROFESSION_SYSTEM, PROFESSIONS, set_details
from screening.auth.service import AccountError
from screening.paths import data_dir


def test_the_professions_are_the_codes_of_the_ig_code_system() -> None:
    path = data_dir("fhir_profiles") / "CodeSystem-health-profession.json"
    code_system = json.loads(path.read_text(encoding="utf-8"))
    assert code_system["url"] == PROFESSION_SYSTEM
    assert tuple(c["code"] for c in code_system["concept"]) == PROFESSIONS
    for concept in code_system["concept"]:
        [persian] = [d for d in concept["designation"] if d["language"] == "fa"]
        assert concept["display"] and persian["value"], concept["code"]


def test_details_are_set_trimmed_left_alone_or_cleared() -> None:
    user = UserAccount(registration="", profession="")
    set_details(user, "  MoPH-PT-10482 ", "physiotherapist")
    assert (user.registration, user.profession) == ("MoPH-PT-10482", "physiotherapist")
    set_details(user, None, None)  # not given: unchanged
    assert (user.registration, user.profession) == ("MoPH-PT-10482", "physiotherapist")
    set_details(user, "", "")
    assert (user.registration, user.profession) == ("", "")


@pytest.mark.parametrize(
    ("registration", "profession", "message"),
    [
        ("MoPH-PT-1", "surgeon", "Unknown profession 'surgeon'; professions: physiotherapist,"),
        ("MoPH-PT-1", "Physiotherapist", "Unknown profession"),  # codes are case-sensitive
        ("x" * 65, "nurse", "A registration number has at most 64 characters"),
        ("MoPH\tPT", "nurse", "A registration number must not hold control characters"),
        ("MoPH-PT\n", "nurse", None),  # trimmed first: a trailing line break is whitespace
        ("MoPH\x00PT", "", "A registration number must not hold control characters"),
    ],
)
def test_broken_rules_change_nothing(
    registration: str, profession: str, message: str | None
) -> None:
    user = UserAccount(registration="old", profession="nurse")
    if message is None:
        set_details(user, registration, profession)
        assert user.registration == registration.strip()
        return
    with pytest.raises(AccountError) as refused:
        set_details(user, registration, profession)
    assert str(refused.value).startswith(message)
    assert (user.registration, user.profession) == ("old", "nurse")


def test_sixty_four_printable_characters_are_enough() -> None:
    user = UserAccount(registration="", profession="")
    set_details(user, "ش" * 64, "other")
    assert user.registration == "ش" * 64
