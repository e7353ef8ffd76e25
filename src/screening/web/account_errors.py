"""Where an AccountError of the accounts service belongs on a form, and its message key."""

from __future__ import annotations

from screening.auth.passwords import MIN_LENGTH
from screening.auth.service import AccountError
from screening.web.i18n import Message

# (how the service's message starts, the form field, the catalogue key)
RULES: tuple[tuple[str, str, str], ...] = (
    ("A username has", "username", "error.username_format"),
    ("The username '", "username", "error.username_taken"),
    ("Centre staff need", "organization", "error.centre_required"),
    ("Only centre staff belong", "organization", "error.centre_only"),
    ("Centre staff, and only they", "organization", "error.centre_rule"),
    ("A password needs at least", "password", "error.password_short"),
    ("A password may have at most", "password", "error.length"),
    ("A password must not start", "password", "error.password_chars"),
    ("Language must be", "language", "error.choice"),
    ("Unknown role", "role", "error.choice"),
    ("No such user", "_", "error.no_user"),
    ("A client name has", "name", "error.client_name"),
    ("A client named", "name", "error.client_taken"),
    ("No such client", "_", "error.no_client"),
    ("You cannot disable your own", "_", "error.self_lockout"),
)


def form_error(error: AccountError, fallback_field: str) -> dict[str, Message]:
    """{field: message} for an AccountError; a message not in RULES goes to
    `fallback_field` and shows the service's own text."""
    text = str(error)
    for start, field, key in RULES:
        if text.startswith(start):
            return {field: Message(key, {"n": MIN_LENGTH})}
    return {fallback_field: Message("error.account", {"text": text})}


def password_error_key(problem: str) -> str:
    """The message key of a password problem of the accounts service."""
    return next(
        (key for start, field, key in RULES if field == "password" and problem.startswith(start)),
        "error.invalid",
    )
