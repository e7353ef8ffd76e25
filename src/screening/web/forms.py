"""Form and query-string input of the pages (marshmallow). Errors are message keys of the
catalogue, so each field's error shows in the page's language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate

from screening.auth.passwords import MIN_LENGTH, password_problem
from screening.auth.roles import Role
from screening.web.account_errors import password_error_key
from screening.web.i18n import LANGUAGES, Message

INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "search-type",
    "search-system",
    "batch",
    "transaction",
    "operation",
)
OUTCOMES = ("0", "4", "8")
ID_PATTERN = r"^(Patient/)?[A-Za-z0-9\-.]{1,64}$"
FormErrors = dict[str, Message]
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]*$")


def text_field(
    max_length: int,
    *,
    required: bool = False,
    control_error: str | None = None,
    multiline: bool = False,
) -> fields.String:
    """A text field of at most `max_length` characters (refusing control characters with
    the message `control_error`, when given; line breaks and tabs too unless `multiline`)."""
    rules: list[Any] = [validate.Length(max=max_length, error="error.length")]
    if control_error:
        rules.append(printable(control_error, allowed="\n\r\t" if multiline else ""))
    return fields.String(
        required=required,
        load_default=missing if required else "",
        validate=rules,
        error_messages={"required": "error.required", "invalid": "error.invalid"},
    )


def printable(error: str, allowed: str = "") -> Callable[[str], None]:
    """A validator refusing control characters (they cannot be stored or shown), but for
    those `allowed` (the line breaks of a text area)."""

    def check(value: str) -> None:
        if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
            raise ValidationError(error)

    return check


def is_phone(text: str) -> bool:
    """Whether `text` (Latin digits) is a phone number: 6 to 15 digits, an optional
    leading +, spaces ( ) -."""
    return bool(PHONE.match(text)) and 6 <= sum(c.isdigit() for c in text) <= 15


def choice_field(values: tuple[str, ...], *, required: bool = True) -> fields.String:
    """One of `values` (or nothing, when not required)."""
    return fields.String(
        required=required,
        load_default=missing if required else "",
        validate=validate.OneOf(values, error="error.choice"),
        error_messages={"required": "error.required", "invalid": "error.invalid"},
    )


def _new_password(value: str) -> None:
    """The accounts service's password rules, checked with the other fields of the form."""
    problem = password_problem(value)
    if problem:
        raise ValidationError(password_error_key(problem))


def _password(*, new: bool) -> fields.String:
    """A password field (a new one must follow the password rules)."""
    rules = [validate.Length(max=1024, error="error.length")]
    return fields.String(
        required=True,
        validate=[*rules, _new_password] if new else rules,
        error_messages={"required": "error.required"},
    )


class PageForm(Schema):
    """Unknown fields (the CSRF token) are left out."""

    class Meta:
        unknown = EXCLUDE


class LoginForm(PageForm):
    """The sign-in form; limits are generous, the service decides."""

    username = text_field(256, required=True)
    password = _password(new=False)
    next = fields.String(load_default="/")


class UserCreateForm(PageForm):
    """A new account."""

    username = text_field(200, required=True)
    full_name = text_field(200)
    role = choice_field(tuple(r.value for r in Role))
    organization = text_field(64)
    language = choice_field(LANGUAGES)
    password = _password(new=True)


class UserEditForm(PageForm):
    """A changed role, centre or language."""

    role = choice_field(tuple(r.value for r in Role))
    organization = text_field(64)
    language = choice_field(LANGUAGES)


class PasswordForm(PageForm):
    """A new password set by an administrator."""

    password = _password(new=True)


class ActiveForm(PageForm):
    """Enable (1) or disable (0) an account or a client."""

    active = choice_field(("0", "1"))


class LanguageForm(PageForm):
    """The language switch of a signed-in user."""

    lang = choice_field(LANGUAGES)
    next = fields.String(load_default="/")


class ClientCreateForm(PageForm):
    """A new API client."""

    name = text_field(100, required=True)
    scopes = text_field(2000, required=True)
    organization = text_field(64)


class AuditFilterForm(PageForm):
    """The filters and paging position of the audit trail page."""

    patient = fields.String(
        load_default="",
        validate=validate.Regexp(ID_PATTERN, error="error.patient_id"),
    )
    user = text_field(100)
    subtype = choice_field(INTERACTIONS, required=False)
    outcome = choice_field(OUTCOMES, required=False)
    date_from = fields.Date(load_default=None, error_messages={"invalid": "error.date"})
    date_to = fields.Date(load_default=None, error_messages={"invalid": "error.date"})
    page = fields.UUID(load_default=None, error_messages={"invalid": "error.invalid"})
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=100_000, error="error.invalid"),
        error_messages={"invalid": "error.invalid"},
    )


def parse_form(schema: Schema, data: Mapping[str, Any]) -> tuple[dict[str, Any], FormErrors]:
    """The loaded values (trimmed text; blank fields count as missing), or the first error
    key of each bad field."""
    cleaned = {k: _trim(k, v) for k, v in data.items()}
    cleaned = {k: v for k, v in cleaned.items() if v != ""}
    try:
        loaded: dict[str, Any] = schema.load(cleaned)
    except ValidationError as error:
        return {}, _first_errors(error.messages)
    return loaded, {}


def _trim(name: str, value: Any) -> Any:
    """Text without surrounding spaces (passwords stay exactly as typed)."""
    if name == "password" or not isinstance(value, str):
        return value
    return value.strip()


def _first_errors(messages: Any) -> FormErrors:
    """{field: its first message}."""
    found: FormErrors = {}
    if not isinstance(messages, dict):
        return {"_": Message("error.invalid")}
    for name, problems in messages.items():
        first = problems[0] if isinstance(problems, list) and problems else problems
        key = first if isinstance(first, str) else "error.invalid"
        found[str(name)] = Message(key, {"n": MIN_LENGTH})
    return found
