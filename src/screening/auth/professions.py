"""What a printed referral letter tells of a health worker besides the name: the profession
(a code of the IG CodeSystem health-profession) and the registration number (professional
council or staff number). Both are optional on a user account ("" when not given)."""

from __future__ import annotations

import unicodedata

from screening.auth.models import UserAccount
from screening.auth.service import AccountError
from screening.fhir.searchset import CANONICAL

PROFESSION_SYSTEM = f"{CANONICAL}/CodeSystem/health-profession"
REGISTRATION_SYSTEM = f"{CANONICAL}/sid/professional-registration"
# the codes of fhir_profiles/CodeSystem-health-profession.json (a test keeps the two in step)
PROFESSIONS = (
    "physiotherapist",
    "prosthetist-orthotist",
    "physician",
    "nurse",
    "wheelchair-technician",
    "psychosocial-worker",
    "community-health-worker",
    "other",
)
REGISTRATION_LENGTH = 64


def set_details(user: UserAccount, registration: str | None, profession: str | None) -> None:
    """Set a user's registration number and profession (None leaves one as it is, "" clears
    it); AccountError when a rule is broken, before anything is set."""
    registration = registration.strip() if registration is not None else None
    if registration is not None:
        _check_registration(registration)
    if profession is not None and profession not in ("", *PROFESSIONS):
        raise AccountError(
            f"Unknown profession '{profession[:40]}'; professions: {', '.join(PROFESSIONS)}"
        )
    if registration is not None:
        user.registration = registration
    if profession is not None:
        user.profession = profession


def _check_registration(text: str) -> None:
    """The rules of the registration number form field, for the command line too."""
    if len(text) > REGISTRATION_LENGTH:
        raise AccountError(f"A registration number has at most {REGISTRATION_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise AccountError("A registration number must not hold control characters")
