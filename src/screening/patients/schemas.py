"""The register/edit form and the search box of the patient pages (marshmallow). No Flask.

Errors are message keys (`patients.error.*`), shown next to their field in the page's
language. Numbers, dates, phone numbers and identifiers accept Persian (۰-۹) and
Arabic-Indic (٠-٩) digits and are kept with Latin digits; a date is read in the page's
calendar (Solar Hijri on Persian pages) and kept Gregorian.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from screening.patients.provinces import PROVINCES
from screening.patients.resource import RELATIONSHIPS, SEXES, PatientValues, is_minor
from screening.web.calendar import DateEntryError, entry_text, latin_digits, parse_date
from screening.web.forms import (
    FormErrors,
    PageForm,
    choice_field,
    is_phone,
    parse_form,
    printable,
)
from screening.web.i18n import Message, localize_digits

CASE_CODE = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")
NATIONAL_ID = re.compile(r"^[0-9A-Z][0-9A-Z /-]*$")
OLDEST = date(1900, 1, 1)
MAX_AGE = 120
NAME_LENGTH = 100
TYPED_LENGTH = 64
# the form's fields in page order (the error summary lists them so)
FIELDS = (
    "given_fa",
    "family_fa",
    "given_latn",
    "family_latn",
    "case_code",
    "national_id",
    "sex",
    "birth_date",
    "estimated_age",
    "province",
    "district",
    "village",
    "phone",
    "guardian_name",
    "guardian_relationship",
    "guardian_phone",
    "confirm_duplicate",
)
VALUE_FIELDS = FIELDS[:-1]
GUARDIAN_FIELDS = ("guardian_name", "guardian_relationship", "guardian_phone")


class _Typed(fields.String):
    """Text typed with any digits, kept with Latin digits and single spaces."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = " ".join(latin_digits(str(super()._deserialize(value, attr, data))).split())
        if len(text) > TYPED_LENGTH:
            raise ValidationError("error.length")
        return self.check(text)

    def check(self, text: str) -> Any:
        """The value of the text, or a ValidationError with the field's message key."""
        return text


class _CaseCode(_Typed):
    """A case code: Latin letters and digits in groups joined by hyphens (upper case)."""

    def check(self, text: str) -> Any:
        code = text.upper().replace(" ", "")
        if not 3 <= len(code) <= 32 or not CASE_CODE.match(code):
            raise ValidationError("patients.error.case_code_format")
        return code


class _NationalId(_Typed):
    """A national ID number (Tazkira): Latin letters, digits, spaces, / and -."""

    def check(self, text: str) -> Any:
        value = text.upper()
        if not 3 <= len(value) <= 32 or not NATIONAL_ID.match(value):
            raise ValidationError("patients.error.national_id_format")
        return value


class _Phone(_Typed):
    """A phone number: 6 to 15 digits, an optional leading +, spaces ( ) -."""

    def check(self, text: str) -> Any:
        if not is_phone(text):
            raise ValidationError("patients.error.phone_format")
        return text


class _Age(_Typed):
    """An estimated age in whole years."""

    def check(self, text: str) -> Any:
        if not text.isdigit() or int(text) > MAX_AGE:
            raise ValidationError("patients.error.age")
        return int(text)


class _BirthDate(_Typed):
    """A date of birth in the page's calendar, not in the future nor before 1900."""

    def check(self, text: str) -> Any:
        form = self.parent
        lang, today = getattr(form, "lang", "en"), getattr(form, "today", date.today())
        try:
            found = parse_date(text, lang)
        except DateEntryError as error:
            raise ValidationError("patients.error.date_format") from error
        if found > today:
            raise ValidationError("patients.error.date_future")
        if found < OLDEST:
            raise ValidationError("patients.error.date_old")
        return found


def _name(max_length: int = NAME_LENGTH) -> fields.String:
    """A name: printable text (no control characters) of at most `max_length`."""
    return fields.String(
        load_default="",
        validate=[
            validate.Length(max=max_length, error="error.length"),
            printable("patients.error.characters"),
        ],
        error_messages={"invalid": "error.invalid"},
    )


def _typed(field: type[_Typed]) -> _Typed:
    """An optional field of a typed kind."""
    return field(load_default=None, error_messages={"invalid": "error.invalid"})


class PatientForm(PageForm):
    """A person's details, in the page's language and calendar."""

    given_fa = _name()
    family_fa = _name()
    given_latn = _name()
    family_latn = _name()
    case_code = _typed(_CaseCode)
    national_id = _typed(_NationalId)
    sex = choice_field(SEXES)
    birth_date = _typed(_BirthDate)
    estimated_age = _typed(_Age)
    province = choice_field(tuple(p.code for p in PROVINCES))
    district = _name()
    village = _name()
    phone = _typed(_Phone)
    guardian_name = _name(200)
    guardian_relationship = choice_field(tuple(RELATIONSHIPS), required=False)
    guardian_phone = _typed(_Phone)
    confirm_duplicate = fields.Boolean(load_default=False)
    version = fields.Integer(load_default=None, validate=validate.Range(min=1))

    def __init__(self, lang: str, today: date) -> None:
        super().__init__()
        self.lang = lang
        self.today = today

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _birth_and_guardian(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        """A date of birth or an age (not both); a guardian for a minor; a relationship for
        any guardian."""
        errors: dict[str, list[str]] = {}
        typed = {name for name in ("birth_date", "estimated_age") if name in original}
        if typed == {"birth_date", "estimated_age"}:
            errors["estimated_age"] = ["patients.error.birth_or_age_both"]
        elif not typed:
            errors["birth_date"] = ["patients.error.birth_or_age"]
        minor = is_minor(data.get("birth_date"), data.get("estimated_age"), self.today)
        given = any(name in original for name in GUARDIAN_FIELDS)
        needed: tuple[str, ...] = ("guardian_name", "guardian_relationship") if minor else ()
        if given and not minor:
            needed = ("guardian_relationship",)
        for name in needed:
            if name not in original:
                errors[name] = ["patients.error.guardian_required" if minor else "error.required"]
        if errors:
            raise ValidationError(errors)


@dataclass(frozen=True)
class Posted:
    """A checked form: the values (None when there are errors), the errors, whether the user
    confirmed a likely duplicate, and the version the form was loaded from."""

    values: PatientValues | None
    errors: FormErrors
    confirmed: bool = False
    version: int | None = None


def read_form(form: Mapping[str, Any], lang: str, today: date) -> Posted:
    """Check a posted register or edit form."""
    loaded, errors = parse_form(PatientForm(lang, today), form)
    if errors:
        return Posted(None, errors)
    dated = ("birth_date", "estimated_age")  # typed values, None when not given
    text: dict[str, Any] = {k: str(loaded.get(k) or "") for k in VALUE_FIELDS if k not in dated}
    values = PatientValues(
        **text, birth_date=loaded["birth_date"], estimated_age=loaded["estimated_age"]
    )
    return Posted(values, {}, bool(loaded["confirm_duplicate"]), loaded.get("version"))


def form_values(values: PatientValues, lang: str) -> dict[str, str]:
    """What the form's fields show for stored values (dates in the page's calendar, digits
    of the page's language in the age)."""
    shown = {k: str(getattr(values, k) or "") for k in VALUE_FIELDS}
    shown["birth_date"] = entry_text(values.birth_date, lang)
    age = values.estimated_age
    shown["estimated_age"] = "" if age is None else localize_digits(age, lang)
    return shown


def kept_values(form: Mapping[str, Any]) -> dict[str, str]:
    """What the user typed, to show again with the errors (never the CSRF token)."""
    return {k: str(form.get(k, ""))[:300] for k in (*VALUE_FIELDS, "confirm_duplicate", "version")}


def search_text(args: Mapping[str, Any]) -> tuple[str, FormErrors]:
    """The search box's text (at most 100 characters), or an error."""
    text = " ".join(str(args.get("q", "")).split())
    if len(text) > NAME_LENGTH:
        return "", {"q": Message("error.length")}
    if any(unicodedata.category(c) == "Cc" for c in text):
        return "", {"q": Message("patients.error.characters")}
    return latin_digits(text), {}
